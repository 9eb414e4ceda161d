"""Data layer: readers for every format in the shared data manifest, graph building with
cached lattice sums, and seeded splits."""

from potnet_ase.data.readers import (
    TableChunk,
    iter_frames,
    iter_table,
    parse_structure,
    read_frames,
    read_table,
    table_from_structures,
)
from potnet_ase.data.splits import dedupe, split_indices

__all__ = [
    "TableChunk",
    "dedupe",
    "iter_frames",
    "iter_table",
    "parse_structure",
    "read_frames",
    "read_table",
    "split_indices",
    "table_from_structures",
]
