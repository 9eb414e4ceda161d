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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Sequence

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


def _read_raw(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    if name.endswith(".csv") or name.endswith(".csv.gz"):
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt") as handle:
            first = handle.readline()
        return pd.read_csv(path, skiprows=1 if first.startswith("#") else 0)
    if name.endswith(".json") or name.endswith(".json.gz"):
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt") as handle:
            records = json.load(handle)
        if isinstance(records, dict):
            records = records.get("data", records.get("records", [records]))
        return pd.DataFrame.from_records(records)
    if name.endswith(".parquet"):
        return pd.read_parquet(path)
    raise ValueError(
        f"cannot read {path}: unknown table format; use CSV, JSON(.gz), parquet, extxyz, "
        "an ASE database (.db) or a VASP OUTCAR"
    )


def _atoms_table(path: Path, fmt: str) -> pd.DataFrame:
    """One row per frame of an ASE-readable file: structure, energy and the info keys."""
    rows = []
    for k, atoms in enumerate(read_frames(path, fmt=fmt)):
        row: dict[str, Any] = {"id": f"{path.name}:{k}", "structure": atoms}
        row.update({key: v for key, v in atoms.info.items() if np.isscalar(v)})
        if atoms.calc is not None and "energy" in atoms.calc.results:
            row["energy"] = float(atoms.calc.results["energy"])
            row["energy_per_atom"] = row["energy"] / len(atoms)
        rows.append(row)
    return pd.DataFrame(rows)


def read_table(
    path: str | Path,
    structure_column: str | None = None,
    id_column: str | None = None,
    targets: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read a table of structures and labels.

    Args:
        path: CSV, JSON(.gz), parquet, extxyz, ASE ``.db`` or OUTCAR file.
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
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such data file: {path}")
    fmt = _is_ase_format(path)
    table = _atoms_table(path, fmt) if fmt else _read_raw(path)
    if table.columns[0].startswith("Unnamed"):
        table = table.drop(columns=table.columns[0])
    if structure_column is None:
        structure_column = next((c for c in STRUCTURE_COLUMNS if c in table.columns), None)
        if structure_column is None:
            raise KeyError(
                f"{path}: no structure column among {list(table.columns)}; pass structure_column="
            )
    elif structure_column not in table.columns:
        raise KeyError(f"{path}: no column {structure_column!r}; columns: {list(table.columns)}")
    structures, errors = _parse_column(table[structure_column].tolist())
    table = table.drop(columns=[structure_column])
    if id_column is None:
        id_column = next((c for c in ID_COLUMNS if c in table.columns), None)
    elif id_column not in table.columns:
        raise KeyError(f"{path}: no id column {id_column!r}; columns: {list(table.columns)}")
    ids = table[id_column].astype(str) if id_column else pd.Series(range(len(table))).astype(str)
    # Columns that would clash with the output layout keep their data under another name.
    table = table.rename(
        columns={c: f"{c}_original" for c in ("id", "structure", "structure_error") if c in table}
    )
    table.insert(0, "id", ids.to_numpy())
    table.insert(1, "structure", pd.Series(structures, index=table.index, dtype=object))
    table.insert(2, "structure_error", pd.Series(errors, index=table.index, dtype=object))
    for target in targets or ():
        if target not in table.columns:
            raise KeyError(f"{path}: no target column {target!r}; columns: {list(table.columns)}")
        table[target] = pd.to_numeric(table[target], errors="coerce").astype(float)
    return table.reset_index(drop=True)


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
    import ase.io

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such data file: {path}")
    fmt = fmt or _is_ase_format(path)
    if fmt is None:
        if path.name.lower().endswith((".json", ".json.gz")):
            return _mlearn_frames(path)
        raise ValueError(f"cannot read frames from {path}: use mlearn JSON, extxyz, .db or OUTCAR")
    frames = ase.io.read(path, index=":", format=fmt)
    default_group = path.parent.name if fmt == "vasp-out" else path.stem
    for atoms in frames:
        info = atoms.info
        info.setdefault("group", info.get("subset", info.get("config_type", default_group)))
    return frames
