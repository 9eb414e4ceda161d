"""Readers for structure tables and force-labelled frames.

Two entry points:

* :func:`read_table` -> ``pandas.DataFrame`` with an ``id`` column, a ``structure`` column of
  pymatgen ``Structure`` objects (or ``None``), a ``structure_error`` column (error text or
  ``None``) and the requested target columns as floats. Formats: CSV (an optional first line
  starting with ``#``, e.g. ``# ref: ...``, is skipped), JSON / JSON.gz (a list of records),
  parquet, extxyz, ASE databases and VASP OUTCARs. The structure cell format is detected per
  value: CIF string, POSCAR string, pymatgen dict, or the Python repr of such a dict.
  Nothing is dropped silently: a row whose structure does not parse keeps ``structure=None``
  and the reason in ``structure_error``.
* :func:`iter_table` -> the same layout chunk by chunk (:class:`TableChunk`), so memory is
  bounded by the chunk size: CSV in pandas chunks, JSON / JSON.gz top-level lists and JSON
  lines decoded record by record, parquet in record batches, extxyz / OUTCAR frame by frame
  and ASE databases row by row. :func:`read_table` is the same reader in one chunk.
* :func:`read_frames` -> ``list[ase.Atoms]`` with energy (eV), forces (eV/Angstrom) and, where
  the file has it, stress (eV/Angstrom^3, ASE sign and Voigt order) attached through a
  ``SinglePointCalculator``, and a ``group`` label in ``atoms.info``.

Stress of mlearn records: ``outputs.virial_stress`` is in kBar in VASP order
(xx, yy, zz, xy, yz, zx) with VASP's sign (the "in kB" line of an OUTCAR, positive when the
cell pushes outwards, i.e. compressive). It is converted exactly as ASE converts an OUTCAR:
``stress_ase = -0.1 GPa * virial_stress`` reordered to (xx, yy, zz, yz, xz, xy), so a
compressed cell has negative ASE stress. Check this sign against a finite strain of a fitted
model before relying on it (the shared data manifest asks for that check).
"""

from __future__ import annotations

import ast
import gzip
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from ase import Atoms
    from pymatgen.core import Structure

# Candidate structure / id columns, in order of preference, when the caller names none.
STRUCTURE_COLUMNS = ("structure", "cif", "poscar", "atoms")
ID_COLUMNS = ("material_id", "mp_id", "id", "task_id", "name")
KBAR_TO_EV_PER_A3 = 0.1 / 160.21766208  # 1 kBar = 0.1 GPa; 1 eV/A^3 = 160.21766208 GPa


def _is_ase_format(path: Path) -> str | None:
    """The ASE format name for files ASE reads natively, else None."""
    name = path.name.lower()
    if "outcar" in name:
        return "vasp-out"
    if name.endswith((".xyz", ".extxyz")):
        return "extxyz"
    if name.endswith(".db"):
        return "db"
    return None


def parse_structure(value: Any) -> Structure:
    """Convert one cell of a table to a pymatgen ``Structure``.

    Accepts a ``Structure``, an ``ase.Atoms``, a pymatgen dict, or a string holding a CIF,
    a POSCAR, a JSON dict or the Python repr of a dict.

    Raises:
        ValueError: when the value is empty or in no recognised format.
    """
    from pymatgen.core import Structure

    if isinstance(value, Structure):
        return value
    if hasattr(value, "get_positions") and hasattr(value, "cell"):
        from pymatgen.io.ase import AseAtomsAdaptor

        return AseAtomsAdaptor.get_structure(value)
    if isinstance(value, dict):
        return Structure.from_dict(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"no structure given (got {type(value).__name__} {value!r:.40})")
    text = value.strip()
    with warnings.catch_warnings():
        # pymatgen's CIF parser warns about rounding and missing symmetry for most files.
        warnings.simplefilter("ignore")
        if text.startswith("{"):
            try:
                record = json.loads(text)
            except json.JSONDecodeError:
                record = ast.literal_eval(text)
            return Structure.from_dict(record)
        if "_cell_length_a" in text or text.startswith("data_") or "\ndata_" in text:
            return Structure.from_str(text, fmt="cif")
        return Structure.from_str(text, fmt="poscar")


def _parse_column(values: Sequence[Any]) -> tuple[list[Any], list[str | None]]:
    structures: list[Any] = []
    errors: list[str | None] = []
    for value in values:
        try:
            structures.append(parse_structure(value))
            errors.append(None)
        except Exception as error:  # every failure is kept, with its reason, in the table
            structures.append(None)
            errors.append(f"{type(error).__name__}: {error}")
    return structures, errors


def _opener(name: str):
    return gzip.open if name.endswith(".gz") else open


def _batched(items: Iterable[Any], size: int | None) -> Iterator[list[Any]]:
    """Lists of `size` consecutive items (one list of all for ``None``); none when empty."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if size is not None and len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _csv_chunks(path: Path, chunk_rows: int | None) -> Iterator[pd.DataFrame]:
    with _opener(path.name.lower())(path, "rt") as handle:
        first = handle.readline()
    skip = 1 if first.startswith("#") else 0  # e.g. "# ref: ..." above the header
    if chunk_rows is None:
        yield pd.read_csv(path, skiprows=skip)
        return
    with pd.read_csv(path, skiprows=skip, chunksize=chunk_rows) as reader:
        yield from reader


class _JsonStream:
    """JSON values decoded one at a time from a buffered text stream (``raw_decode`` on a
    buffer refilled as needed), so a file of records is never held whole."""

    def __init__(self, handle: Any, block_chars: int = 1 << 20) -> None:
        self.handle = handle
        self.block_chars = block_chars
        self.buffer = ""
        self.position = 0
        self.at_end = False
        self.decoder = json.JSONDecoder()

    def _fill(self, grow: bool = False) -> None:
        """Append the next block to the unread text. `grow` (a value is still incomplete)
        doubles the block first, so a record larger than a block costs linear time."""
        if grow:
            self.block_chars *= 2
        text = self.handle.read(self.block_chars)
        self.buffer, self.position = self.buffer[self.position :] + text, 0
        self.at_end = not text

    def peek(self) -> str:
        """The next non-space character ('' at the end of the text), not consumed."""
        while True:
            while self.position < len(self.buffer) and self.buffer[self.position].isspace():
                self.position += 1
            if self.position < len(self.buffer) or self.at_end:
                return self.buffer[self.position : self.position + 1]
            self._fill()

    def take(self) -> str:
        """Consume and return the next non-space character."""
        character = self.peek()
        self.position += 1
        return character

    def value(self) -> Any:
        """Decode the next value (after :meth:`peek` has skipped the space before it)."""
        self.peek()
        while True:
            try:
                decoded, end = self.decoder.raw_decode(self.buffer, self.position)
            except json.JSONDecodeError:
                if self.at_end:
                    raise
                self._fill(grow=True)
                continue
            # A number may continue past the buffer; objects and strings end in a delimiter.
            if end == len(self.buffer) and not self.at_end and not isinstance(decoded, dict):
                self._fill(grow=True)
                continue
            self.position = end
            return decoded


def _json_records(path: Path, block_chars: int = 1 << 20) -> Iterator[dict]:
    """Records of a JSON file, one at a time: a top-level list of objects, JSON lines (one
    object per line), or one object (a record, or a wrapper whose ``data`` / ``records``
    list holds them; a wrapper is decoded whole). Text is read `block_chars` at a time."""
    with _opener(path.name.lower())(path, "rt") as handle:
        stream = _JsonStream(handle, block_chars)
        if stream.peek() == "[":
            stream.take()
            if stream.peek() == "]":
                return
            while True:
                yield _record(stream.value(), path)
                separator = stream.take()
                if separator == "]":
                    return
                if separator != ",":
                    raise ValueError(f"{path}: malformed JSON list (found {separator!r})")
        first = stream.value()
        if stream.peek():  # more values follow: JSON lines
            yield _record(first, path)
            while stream.peek():
                yield _record(stream.value(), path)
        elif isinstance(first, dict) and ("data" in first or "records" in first):
            for record in first.get("data", first.get("records")):
                yield _record(record, path)
        else:
            yield _record(first, path)


def _record(value: Any, path: Path) -> dict:
    if not isinstance(value, dict):
        raise ValueError(
            f"{path}: JSON records must be objects (got {type(value).__name__}); use a list "
            "of records, JSON lines, or an object with a 'data' list"
        )
    return value


def _parquet_chunks(path: Path, chunk_rows: int | None) -> Iterator[pd.DataFrame]:
    if chunk_rows is None:
        yield pd.read_parquet(path)
        return
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
        yield batch.to_pandas()


def _frame_row(atoms: Atoms, index: int, path: Path) -> dict[str, Any]:
    """One table row of an ASE frame: structure, energy and the scalar info keys."""
    row: dict[str, Any] = {"id": f"{path.name}:{index}", "structure": atoms}
    row.update({key: v for key, v in atoms.info.items() if np.isscalar(v)})
    if atoms.calc is not None and "energy" in atoms.calc.results:
        row["energy"] = float(atoms.calc.results["energy"])
        row["energy_per_atom"] = row["energy"] / len(atoms)
    return row


def _raw_chunks(path: Path, chunk_rows: int | None) -> Iterator[pd.DataFrame]:
    """The file's rows as read (structures not parsed), `chunk_rows` at a time (``None``: all
    at once), each indexed by its global row numbers."""
    name = path.name.lower()
    fmt = _is_ase_format(path)
    chunks: Iterable[pd.DataFrame]
    if fmt:
        chunks = (
            pd.DataFrame([_frame_row(atoms, k, path) for k, atoms in batch])
            for batch in _batched(enumerate(iter_frames(path, fmt=fmt)), chunk_rows)
        )
    elif name.endswith((".csv", ".csv.gz")):
        chunks = _csv_chunks(path, chunk_rows)
    elif name.endswith((".json", ".json.gz", ".jsonl", ".jsonl.gz")):
        chunks = map(pd.DataFrame.from_records, _batched(_json_records(path), chunk_rows))
    elif name.endswith(".parquet"):
        chunks = _parquet_chunks(path, chunk_rows)
    else:
        raise ValueError(
            f"cannot read {path}: unknown table format; use CSV, JSON(.gz), JSON lines, "
            "parquet, extxyz, an ASE database (.db) or a VASP OUTCAR"
        )
    start = 0
    for chunk in chunks:
        chunk.index = pd.RangeIndex(start, start + len(chunk))
        start += len(chunk)
        yield chunk


@dataclass
class TableChunk:
    """Consecutive rows of a table file, read but with their structures not yet parsed.

    Attributes:
        number: 0 for the first chunk of the file, then 1, 2, ...
        raw: the rows as read, indexed by their global row numbers (0-based).
        path: the file.
        structure_column, id_column, targets: the columns :meth:`table` uses, chosen on the
            first chunk of the file (``id_column=None``: ids are the row numbers).
    """

    number: int
    raw: pd.DataFrame
    path: Path
    structure_column: str
    id_column: str | None
    targets: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.raw)

    def table(self) -> pd.DataFrame:
        """The rows in :func:`read_table`'s layout (structures parsed), indexed by global
        row number."""
        return _table_layout(self)


def _resolve_columns(
    columns: Sequence[str], path: Path, structure_column: str | None, id_column: str | None
) -> tuple[str, str | None]:
    if structure_column is None:
        structure_column = next((c for c in STRUCTURE_COLUMNS if c in columns), None)
        if structure_column is None:
            raise KeyError(
                f"{path}: no structure column among {list(columns)}; pass structure_column="
            )
    elif structure_column not in columns:
        raise KeyError(f"{path}: no column {structure_column!r}; columns: {list(columns)}")
    others = [c for c in columns if c != structure_column]
    if id_column is None:
        id_column = next((c for c in ID_COLUMNS if c in others), None)
    elif id_column not in others:
        raise KeyError(f"{path}: no id column {id_column!r}; columns: {others}")
    return structure_column, id_column


def _table_layout(chunk: TableChunk) -> pd.DataFrame:
    """Parse the structures of a chunk and arrange its rows in :func:`read_table`'s layout."""
    raw, path = chunk.raw, chunk.path
    for column in (chunk.structure_column, chunk.id_column, *chunk.targets):
        if column is not None and column not in raw.columns:
            raise KeyError(
                f"{path}: no column {column!r} in rows {raw.index[0]} to {raw.index[-1]}; "
                f"columns: {list(raw.columns)}"
            )
    structures, errors = _parse_column(raw[chunk.structure_column].tolist())
    table = raw.drop(columns=[chunk.structure_column])
    if chunk.id_column:
        ids = table[chunk.id_column].astype(str).to_numpy()
    else:
        ids = table.index.astype(str).to_numpy()
    # Columns that would clash with the output layout keep their data under another name.
    table = table.rename(
        columns={c: f"{c}_original" for c in ("id", "structure", "structure_error") if c in table}
    )
    table.insert(0, "id", ids)
    table.insert(1, "structure", pd.Series(structures, index=table.index, dtype=object))
    table.insert(2, "structure_error", pd.Series(errors, index=table.index, dtype=object))
    for target in chunk.targets:
        table[target] = pd.to_numeric(table[target], errors="coerce").astype(float)
    return table


def iter_table(
    path: str | Path,
    chunk_rows: int,
    structure_column: str | None = None,
    id_column: str | None = None,
    targets: Sequence[str] | None = None,
) -> Iterator[TableChunk]:
    """Read a table of structures in chunks of `chunk_rows` rows (the last may be shorter).

    Memory is bounded by the chunk size: no format is read whole, except a JSON object that
    wraps its records (``{"data": [...]}``). :meth:`TableChunk.table` gives a chunk's rows in
    :func:`read_table`'s layout, indexed by global row number, with the ids
    :func:`read_table` gives (default: the global row number); a chunk whose rows are not
    needed (e.g. already processed) can be passed over without parsing its structures. The
    chunks' tables concatenated equal ``read_table(path)``, except that JSON chunks have the
    keys of their own records as columns.

    Args:
        path, structure_column, id_column, targets: as for :func:`read_table`; the columns
            are chosen on the first chunk.
        chunk_rows: rows per chunk, at least 1.

    Raises:
        FileNotFoundError: missing file. KeyError: a named column is absent.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1; got {chunk_rows}")
    yield from _chunks(Path(path), chunk_rows, structure_column, id_column, targets)


def _chunks(
    path: Path,
    chunk_rows: int | None,
    structure_column: str | None,
    id_column: str | None,
    targets: Sequence[str] | None,
) -> Iterator[TableChunk]:
    if not path.exists():
        raise FileNotFoundError(f"no such data file: {path}")
    columns: tuple[str, str | None] | None = None
    drop_first = False
    for number, raw in enumerate(_raw_chunks(path, chunk_rows)):
        if columns is None:
            # A pandas index written to a file comes back as a first "Unnamed: 0" column.
            drop_first = len(raw.columns) > 0 and str(raw.columns[0]).startswith("Unnamed")
            names = [str(c) for c in raw.columns[int(drop_first) :]]
            columns = _resolve_columns(names, path, structure_column, id_column)
        if drop_first:
            raw = raw.drop(columns=raw.columns[0])
        yield TableChunk(number, raw, path, *columns, tuple(targets or ()))


def read_table(
    path: str | Path,
    structure_column: str | None = None,
    id_column: str | None = None,
    targets: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read a table of structures and labels (see :func:`iter_table` for large files).

    Args:
        path: CSV, JSON(.gz) (a list of records, JSON lines, or an object with a ``data``
            list), parquet, extxyz, ASE ``.db`` or OUTCAR file.
        structure_column: column holding the structures; default: the first of
            ``structure, cif, poscar, atoms`` present.
        id_column: column of unique ids, copied to ``id``; default: the first of
            ``material_id, mp_id, id, task_id, name`` present, else the row number.
        targets: label columns, converted to float (unparseable values become NaN).

    Returns:
        DataFrame with ``id``, ``structure`` (pymatgen ``Structure`` or ``None``),
        ``structure_error`` (``None`` or the parse error) and every other column of the
        file; the raw structure column is replaced by the parsed one, and other columns
        named ``id``, ``structure`` or ``structure_error`` get the suffix ``_original``.

    Raises:
        FileNotFoundError: missing file. KeyError: a named column is absent.
    """
    chunks = list(_chunks(Path(path), None, structure_column, id_column, targets))
    if not chunks:
        raise ValueError(f"{path} holds no rows")
    return chunks[0].table().reset_index(drop=True)


def table_from_structures(
    structures: Sequence[Any], targets: dict[str, Sequence[float]] | None = None
) -> pd.DataFrame:
    """The :func:`read_table` layout for an in-memory list of ase.Atoms / Structures."""
    parsed, errors = _parse_column(list(structures))
    table = pd.DataFrame(
        {
            "id": [str(k) for k in range(len(parsed))],
            "structure": pd.Series(parsed, dtype=object),
            "structure_error": pd.Series(errors, dtype=object),
        }
    )
    for name, values in (targets or {}).items():
        table[name] = np.asarray(values, dtype=float)
    return table


def _mlearn_frames(path: Path) -> list[Atoms]:
    from ase.calculators.singlepoint import SinglePointCalculator
    from pymatgen.core import Structure
    from pymatgen.io.ase import AseAtomsAdaptor

    with (gzip.open if path.name.endswith(".gz") else open)(path, "rt") as handle:
        records = json.load(handle)
    frames = []
    for record in records:
        structure = record["structure"]
        if isinstance(structure, str):
            structure = ast.literal_eval(structure)
        atoms = AseAtomsAdaptor.get_atoms(Structure.from_dict(structure))
        outputs = record["outputs"]
        results: dict[str, Any] = {
            "energy": float(outputs["energy"]),
            "forces": np.asarray(outputs["forces"], dtype=np.float64).reshape(len(atoms), 3),
        }
        virial = outputs.get("virial_stress")
        if virial is not None and len(virial) == 6:
            xx, yy, zz, xy, yz, zx = np.asarray(virial, dtype=np.float64)
            results["stress"] = -KBAR_TO_EV_PER_A3 * np.array([xx, yy, zz, yz, zx, xy])
        atoms.calc = SinglePointCalculator(atoms, **results)
        atoms.info["group"] = record.get("group", path.stem)
        for key in ("description", "element", "tag"):
            if key in record:
                atoms.info[key] = record[key]
        frames.append(atoms)
    return frames


def read_frames(path: str | Path, fmt: str | None = None) -> list[Atoms]:
    """Read energy/force-labelled frames.

    Args:
        path: mlearn JSON (records with ``structure`` and ``outputs.energy``, ``.forces``,
            ``.virial_stress``), extxyz, ASE database or VASP OUTCAR (every ionic step).
        fmt: ASE format name to force; default from the file name.

    Returns:
        ``ase.Atoms`` with a ``SinglePointCalculator`` holding ``energy`` (eV, per cell),
        ``forces`` (eV/Angstrom) and ``stress`` (eV/Angstrom^3, ASE sign, Voigt
        xx, yy, zz, yz, xz, xy) where available, and ``atoms.info["group"]``: the record's
        group (mlearn), else ``subset`` / ``config_type`` from the file, else the file's
        parent folder (OUTCAR) or stem.
    """
    return list(iter_frames(path, fmt))


def iter_frames(path: str | Path, fmt: str | None = None) -> Iterator[Atoms]:
    """:func:`read_frames` one frame at a time: ASE formats are read frame by frame
    (``ase.io.iread``); an mlearn JSON file is decoded whole."""
    import ase.io

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such data file: {path}")
    fmt = fmt or _is_ase_format(path)
    if fmt is None:
        if path.name.lower().endswith((".json", ".json.gz")):
            yield from _mlearn_frames(path)
            return
        raise ValueError(f"cannot read frames from {path}: use mlearn JSON, extxyz, .db or OUTCAR")
    default_group = path.parent.name if fmt == "vasp-out" else path.stem
    for atoms in ase.io.iread(path, index=":", format=fmt):
        info = atoms.info
        info.setdefault("group", info.get("subset", info.get("config_type", default_group)))
        yield atoms
