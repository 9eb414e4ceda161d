"""Crystal graphs for PotNet: local radius edges plus "infinite" edges carrying complete sums.

Each graph (:class:`CrystalGraph`, a torch-geometric ``Data``) holds

* ``numbers`` (N,) atomic numbers;
* ``edge_index`` (2, E) local edges j -> i (row 0 source j, row 1 target i) to the
  ``max_neighbors`` nearest neighbours of i within ``cutoff`` (periodic images included,
  ties broken by neighbour index so the graph is deterministic), ``edge_distance`` (E,)
  in Angstrom;
* ``inf_edge_index`` (2, N^2) every ordered pair (b -> a, a == b included), and
  ``inf_values`` (N^2, len(potentials)) the complete lattice sums of that pair from
  :func:`potnet_ase.sums.lattice_pair_sums` (float32 after summation in float64).

Lattice sums are computed batched (many crystals per engine call) and cached on disk, one
file per structure, keyed by a hash of the structure and of the settings, so repeated
epochs and runs never recompute them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm.auto import tqdm

from potnet_ase.api import crystal_batches
from potnet_ase.data.pyg import Data
from potnet_ase.sums import PotentialParameters, lattice_pair_sums

if TYPE_CHECKING:
    from collections.abc import Sequence

    from potnet_ase.structures import Crystal

logger = logging.getLogger(__name__)

PAIRS_PER_CALL = 1 << 16
CACHE_VERSION = 1


@dataclass(frozen=True)
class GraphSettings:
    """How graphs are built (stored in every model config).

    Attributes:
        cutoff: local-edge radius, Angstrom (published: 4).
        max_neighbors: local edges kept per atom, nearest first (published: 16).
        potentials: lattice sums on infinite edges; empty for the "euclidean" ablation.
        convention: Pauli convention passed to the engine ("potnet" as published).
        pauli_alpha: Pauli decay constant (1/Angstrom, or per V^(-1/6) for "potnet").
        tol: absolute tolerance of the lattice sums.
    """

    cutoff: float = 4.0
    max_neighbors: int = 16
    potentials: tuple[str, ...] = ("coulomb", "london", "pauli")
    convention: str = "potnet"
    pauli_alpha: float = 3.0
    tol: float = 1e-8

    @classmethod
    def from_dict(cls, values: dict) -> GraphSettings:
        values = dict(values)
        if "potentials" in values:
            values["potentials"] = tuple(values["potentials"])
        return cls(**values)

    def to_dict(self) -> dict:
        values = asdict(self)
        values["potentials"] = list(self.potentials)
        return values

    def key(self) -> str:
        """Short hash of the settings (cache folder name)."""
        text = json.dumps({"v": CACHE_VERSION, **self.to_dict()}, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:16]


class CrystalGraph(Data):
    """``Data`` whose ``*index`` attributes shift by the node count when batched."""

    def __inc__(self, key, value, *args, **kwargs):
        if key.endswith("index"):
            return self.num_nodes
        return super().__inc__(key, value, *args, **kwargs)


def structure_hash(crystal: Crystal) -> str:
    """Hash of positions, cell and atomic numbers (exact bytes, float64)."""
    digest = hashlib.sha1()
    for array in (crystal.positions, crystal.cell, crystal.numbers):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def local_edges(
    crystal: Crystal, cutoff: float, max_neighbors: int
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-neighbour edges within `cutoff`, at most `max_neighbors` per atom.

    Returns:
        (2, E) int64 [source j, target i] and (E,) distances in Angstrom.
    """
    from ase.neighborlist import primitive_neighbor_list

    i, j, d = primitive_neighbor_list(
        "ijd", (True, True, True), crystal.cell, crystal.positions, cutoff,
        self_interaction=False,
    )  # fmt: skip
    order = np.lexsort((j, np.round(d, 8), i))
    i, j, d = i[order], j[order], d[order]
    starts = np.searchsorted(i, i, side="left")
    keep = np.arange(len(i)) - starts < max_neighbors
    return np.stack([j[keep], i[keep]]).astype(np.int64), d[keep]


def _infinite_values(crystals: Sequence[Crystal], settings: GraphSettings) -> list[np.ndarray]:
    """(N^2, n_potentials) float32 lattice sums per crystal, row-major pairs (a, b)."""
    parameters = PotentialParameters(
        convention=settings.convention, pauli_alpha=settings.pauli_alpha
    )
    out: list[np.ndarray] = []
    for members in crystal_batches(crystals, PAIRS_PER_CALL):
        chosen = [crystals[k] for k in members]
        positions = torch.as_tensor(np.concatenate([c.positions for c in chosen]))
        cells = torch.as_tensor(np.stack([c.cell for c in chosen]))
        with torch.no_grad():
            sums = lattice_pair_sums(
                positions, cells, [c.n_atoms for c in chosen], settings.potentials,
                parameters=parameters, tol=settings.tol,
            )  # fmt: skip
        stacked = torch.stack([sums.values[p] for p in settings.potentials], dim=1).numpy()
        ptr = sums.pair_ptr.numpy()
        out.extend(stacked[ptr[k] : ptr[k + 1]].astype(np.float32) for k in range(len(chosen)))
    return out


def _assemble(crystal: Crystal, settings: GraphSettings, inf: np.ndarray | None) -> CrystalGraph:
    edge_index, distance = local_edges(crystal, settings.cutoff, settings.max_neighbors)
    graph = CrystalGraph(
        numbers=torch.as_tensor(crystal.numbers, dtype=torch.long),
        edge_index=torch.as_tensor(edge_index),
        edge_distance=torch.as_tensor(distance, dtype=torch.float32),
        num_nodes=crystal.n_atoms,
    )
    if inf is not None:
        n = crystal.n_atoms
        a, b = np.divmod(np.arange(n * n), n)
        graph.inf_edge_index = torch.as_tensor(np.stack([b, a]), dtype=torch.long)
        graph.inf_values = torch.as_tensor(inf)
    return graph


def _to_record(graph: CrystalGraph) -> dict[str, torch.Tensor]:
    return {key: graph[key] for key in graph.keys() if isinstance(graph[key], torch.Tensor)}


def build_graphs(
    crystals: Sequence[Crystal],
    settings: GraphSettings,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> list[CrystalGraph]:
    """Graphs for validated crystals, with lattice sums batched and cached.

    Args:
        crystals: from :func:`potnet_ase.structures.to_crystal`.
        settings: graph settings (the cache key includes them).
        cache_dir: folder for the on-disk cache (``<cache_dir>/<settings key>/<hash>.pt``,
            loaded with ``weights_only=True``); ``None`` disables caching.
        progress: show a progress bar.
    """
    folder = Path(cache_dir) / settings.key() if cache_dir is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    graphs: list[CrystalGraph | None] = [None] * len(crystals)
    missing: list[int] = []
    hashes = [structure_hash(c) for c in crystals]
    for k, digest in enumerate(hashes):
        path = folder / f"{digest}.pt" if folder is not None else None
        if path is not None and path.exists():
            try:
                record = torch.load(path, weights_only=True)
                graphs[k] = CrystalGraph(**record, num_nodes=len(record["numbers"]))
                continue
            except Exception:  # a damaged cache entry is rebuilt, not trusted
                logger.warning("rebuilding damaged graph cache entry %s", path)
        missing.append(k)
    step = 256
    bar = tqdm(total=len(missing), desc="graphs", unit="structure", disable=not progress)
    for start in range(0, len(missing), step):
        members = missing[start : start + step]
        chosen = [crystals[k] for k in members]
        values = _infinite_values(chosen, settings) if settings.potentials else [None] * len(chosen)
        for k, crystal, inf in zip(members, chosen, values, strict=True):
            graph = _assemble(crystal, settings, inf)
            graphs[k] = graph
            if folder is not None:
                torch.save(_to_record(graph), folder / f"{hashes[k]}.pt")
        bar.update(len(members))
    bar.close()
    return graphs  # type: ignore[return-value]
