"""Conversion of user structures (``ase.Atoms``, pymatgen ``Structure``) to plain arrays,
with the validation of DESIGN.md section 5 done once, up front.

Everything downstream works on :class:`Crystal`: Cartesian positions (Angstrom), cell rows
(Angstrom) and atomic numbers, in float64 / int64 numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from ase.data import chemical_symbols

from potnet_ase.errors import StructureError
from potnet_ase.sums.lattice import reduce_bases

if TYPE_CHECKING:
    from collections.abc import Iterable

# Two atoms closer than this (Angstrom, after periodic wrapping) are treated as the same site.
MIN_SEPARATION = 1e-3
# A cell whose volume is below this fraction of the product of its edge lengths is degenerate
# (the three vectors are nearly coplanar); 1e-6 still admits absurdly skewed but valid cells.
MIN_RELATIVE_VOLUME = 1e-6


@dataclass(frozen=True)
class Crystal:
    """A validated 3D-periodic crystal.

    Attributes:
        positions: (N, 3) Cartesian coordinates, Angstrom.
        cell: (3, 3) lattice vectors as rows, Angstrom, right-handed (det > 0).
        numbers: (N,) atomic numbers.
        label: how error messages name this structure (formula and index).
    """

    positions: np.ndarray
    cell: np.ndarray
    numbers: np.ndarray
    label: str

    @property
    def n_atoms(self) -> int:
        return len(self.numbers)

    @property
    def volume(self) -> float:
        return float(np.linalg.det(self.cell))


def _from_pymatgen(structure: Any, label: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not structure.is_ordered:
        raise StructureError(
            f"{label} is a disordered pymatgen Structure (partial occupancies); complete "
            "potentials need one atom per site. Order it first, e.g. with "
            "pymatgen's OrderDisorderedStructureTransformation, or pick one configuration."
        )
    numbers = np.array([site.specie.Z for site in structure], dtype=np.int64)
    return (
        np.asarray(structure.cart_coords, dtype=np.float64),
        np.asarray(structure.lattice.matrix, dtype=np.float64),
        numbers,
    )


def _from_ase(atoms: Any, label: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not all(atoms.pbc):
        raise StructureError(
            f"{label} is not periodic in all three directions (pbc={list(map(bool, atoms.pbc))}); "
            "complete potentials are defined for 3D crystals only. Set atoms.pbc = True with a "
            "full cell, or add vacuum and make it periodic if you mean a slab or molecule."
        )
    return (
        np.asarray(atoms.get_positions(), dtype=np.float64),
        np.asarray(atoms.cell.array, dtype=np.float64),
        np.asarray(atoms.numbers, dtype=np.int64),
    )


def formula_of(numbers: np.ndarray) -> str:
    """Formula in order of first appearance, e.g. ``'SrTiO3'`` (cheap: no parsing)."""
    elements, first, counts = np.unique(numbers, return_index=True, return_counts=True)
    parts = []
    for k in np.argsort(first):
        count = counts[k]
        parts.append(f"{chemical_symbols[elements[k]]}{count if count > 1 else ''}")
    return "".join(parts)


def describe(structure: Any, index: int | None = None) -> str:
    """A short human name for error messages: ``'structure 3 (NaCl)'``."""
    where = "structure" if index is None else f"structure {index}"
    formula = None
    try:
        if hasattr(structure, "numbers"):
            formula = formula_of(structure.numbers)
        elif hasattr(structure, "composition"):
            formula = structure.composition.reduced_formula
    except Exception:  # a name for a message must never raise itself
        formula = None
    return f"{where} ({formula})" if formula else where


def to_crystal(structure: Any, index: int | None = None) -> Crystal:
    """Validate a structure and convert it to a :class:`Crystal`.

    Args:
        structure: ``ase.Atoms`` (fully periodic) or an ordered pymatgen ``Structure``.
        index: position in a batch, used only to name the structure in errors.

    Raises:
        StructureError: for anything DESIGN.md section 5 lists (non-periodic, singular or
            degenerate cell, non-finite coordinates, overlapping atoms, empty, disordered).
    """
    label = describe(structure, index)
    if structure is None:
        raise StructureError(f"{label} is None; pass an ase.Atoms or a pymatgen Structure.")
    if hasattr(structure, "lattice") and hasattr(structure, "is_ordered"):
        positions, cell, numbers = _from_pymatgen(structure, label)
    elif hasattr(structure, "pbc") and hasattr(structure, "get_positions"):
        positions, cell, numbers = _from_ase(structure, label)
    else:
        raise StructureError(
            f"{label} is a {type(structure).__name__}; pass an ase.Atoms or a pymatgen Structure."
        )
    return validate(positions, cell, numbers, label)


def validate(
    positions: np.ndarray, cell: np.ndarray, numbers: np.ndarray, label: str = "structure"
) -> Crystal:
    """Check raw arrays and return a :class:`Crystal` with a right-handed cell.

    A left-handed cell (det < 0) describes the same lattice; its rows are negated, which
    changes no lattice sum, rather than rejecting the user's input.
    """
    positions = np.asarray(positions, dtype=np.float64)
    cell = np.asarray(cell, dtype=np.float64)
    numbers = np.asarray(numbers, dtype=np.int64)
    if len(numbers) == 0:
        raise StructureError(f"{label} has no atoms; remove it from the input.")
    if positions.shape != (len(numbers), 3) or cell.shape != (3, 3):
        raise StructureError(
            f"{label}: positions must be (N, 3) and the cell (3, 3); got {positions.shape} "
            f"and {cell.shape}."
        )
    if not np.all(np.isfinite(positions)):
        raise StructureError(f"{label} has NaN or infinite atomic coordinates; fix the input file.")
    if not np.all(np.isfinite(cell)):
        raise StructureError(f"{label} has NaN or infinite cell vectors; fix the input file.")
    lengths = np.linalg.norm(cell, axis=1)
    det = float(np.linalg.det(cell))
    # Degeneracy is a property of the lattice, not of the basis: a cell that fails on its own
    # edge lengths is judged again on its reduced basis, so that an extremely skewed
    # description of a good lattice is accepted.
    reduced_lengths = lengths
    if np.all(lengths > 0) and det != 0 and abs(det) <= 0.1 * float(np.prod(lengths)):
        reduced_lengths = np.linalg.norm(reduce_bases(cell[None])[0] @ cell, axis=1)
    if (
        np.any(lengths == 0)
        or abs(det) <= MIN_RELATIVE_VOLUME * float(np.prod(reduced_lengths))
        or reduced_lengths.min() < MIN_SEPARATION  # every atom would sit on its own image
    ):
        raise StructureError(
            f"{label} has a singular or nearly singular cell (volume {det:.3g} A^3 for edge "
            f"lengths {np.round(lengths, 4).tolist()} A); the three cell vectors must span 3D "
            "space. Check the lattice vectors."
        )
    if det < 0:
        cell = -cell
    _check_overlaps(positions, cell, label)
    return Crystal(positions=positions, cell=cell, numbers=numbers, label=label)


def _check_overlaps(positions: np.ndarray, cell: np.ndarray, label: str) -> None:
    """Reject two atoms at the same site, or at a lattice translation of each other."""
    n = len(positions)
    if n < 2:
        return
    # Fractional differences wrapped to [-0.5, 0.5): a pair that coincides modulo the lattice
    # wraps to (near) zero in any basis, so this test needs no reduced cell.
    frac = np.linalg.solve(cell.T, positions.T).T
    i, j = np.triu_indices(n, k=1)
    for start in range(0, len(i), 1 << 20):  # bounded memory for large cells
        sl = slice(start, start + (1 << 20))
        d = frac[i[sl]] - frac[j[sl]]
        d -= np.round(d)
        dist = np.linalg.norm(d @ cell, axis=1)
        bad = np.flatnonzero(dist < MIN_SEPARATION)
        if bad.size:
            a, b = int(i[sl][bad[0]]), int(j[sl][bad[0]])
            raise StructureError(
                f"{label}: atoms {a} and {b} sit at the same position (or a lattice translation "
                f"of each other, {dist[bad[0]]:.2e} A apart); remove the duplicate site."
            )


def to_crystals(structures: Iterable[Any]) -> list[Crystal]:
    """Validate many structures; the first bad one raises, naming its index."""
    return [to_crystal(s, index=k) for k, s in enumerate(structures)]
