"""Conversion of user structures (``ase.Atoms``, pymatgen ``Structure``) to plain arrays,
with the validation of DESIGN.md section 5 done once, up front.

Everything downstream works on :class:`Crystal`: Cartesian positions (Angstrom), cell rows
(Angstrom) and atomic numbers, in float64 / int64 numpy arrays.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
from ase.data import chemical_symbols
from scipy.spatial import cKDTree

from potnet_ase.errors import StructureError
from potnet_ase.sums.lattice import reduce_bases

# Two atoms closer than this (Angstrom, after periodic wrapping) are treated as the same site.
MIN_SEPARATION = 1e-3
# A cell whose volume is below this fraction of the product of its edge lengths is degenerate
# (the three vectors are nearly coplanar); 1e-6 still admits absurdly skewed but valid cells.
MIN_RELATIVE_VOLUME = 1e-6
# Up to this many atoms the overlap check tests every pair directly (cheaper than a k-d tree
# at this size); larger cells take candidate pairs from a periodic k-d tree.
ALL_PAIRS_UP_TO = 48


@dataclass(frozen=True)
class Crystal:
    """A validated 3D-periodic crystal.

    Attributes:
        positions: (N, 3) Cartesian coordinates, Angstrom.
        cell: (3, 3) lattice vectors as rows, Angstrom, right-handed (det > 0).
        numbers: (N,) atomic numbers.
        name: how error messages name this structure; ``None`` builds :attr:`label` from
            `index` and the formula when a message first needs it.
        index: position in a batch (for :attr:`label`).
        charges: (N,) formal charges (e) the input carried (pymatgen oxidation states on every
            site, or an ASE ``initial_charges`` array), else ``None``.
    """

    positions: np.ndarray
    cell: np.ndarray
    numbers: np.ndarray
    name: str | None = None
    index: int | None = None
    charges: np.ndarray | None = None

    @cached_property
    def label(self) -> str:
        """How error messages name this structure, e.g. ``'structure 3 (Na4Cl4)'``."""
        if self.name is not None:
            return self.name
        return _named(self.index, formula_of(self.numbers))

    @property
    def n_atoms(self) -> int:
        return len(self.numbers)

    @property
    def volume(self) -> float:
        """Cell volume, Angstrom^3."""
        return _determinant(self.cell)


def site_species(structure: Any, index: int | None = None) -> list[Any]:
    """The species (``Element`` or ``Species``) of every site of an ordered pymatgen
    ``Structure``: pymatgen's ``Structure.species`` in one pass, without its per-site
    property checks (which cost more than validating a small crystal).

    Raises:
        StructureError: a site holds several species or a partial occupancy.
    """
    species = []
    for site in structure.sites:
        # A site is ordered when it holds one species with occupancy 1 (Site.is_ordered).
        items = site.species.items()
        if len(items) == 1:
            ((specie, occupancy),) = items
            if occupancy == 1:
                species.append(specie)
                continue
        raise StructureError(
            f"{describe(structure, index)} is a disordered pymatgen Structure (partial "
            "occupancies); complete potentials need one atom per site. Order it first, "
            "e.g. with pymatgen's OrderDisorderedStructureTransformation, or pick one "
            "configuration."
        )
    return species


_Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]


def _from_pymatgen(structure: Any, index: int | None) -> _Arrays:
    cell = np.asarray(structure.lattice.matrix, dtype=np.float64)
    species = site_species(structure, index)
    states = [getattr(specie, "oxi_state", None) for specie in species]
    # Fractional coordinates are what a pymatgen site stores; its Cartesian ones are computed
    # (and cached) site by site, which costs more than one matrix product for all sites.
    return (
        np.asarray(structure.frac_coords, dtype=np.float64) @ cell,
        cell,
        np.asarray([specie.Z for specie in species], dtype=np.int64),
        None if None in states else np.asarray(states, dtype=np.float64),
    )


def _from_ase(atoms: Any, index: int | None) -> _Arrays:
    if not all(atoms.pbc):
        raise StructureError(
            f"{describe(atoms, index)} is not periodic in all three directions "
            f"(pbc={list(map(bool, atoms.pbc))}); complete potentials are defined for 3D "
            "crystals only. Set atoms.pbc = True with a full cell, or add vacuum and make it "
            "periodic if you mean a slab or molecule."
        )
    charges = atoms.arrays.get("initial_charges")
    return (
        np.asarray(atoms.get_positions(), dtype=np.float64),
        np.asarray(atoms.cell.array, dtype=np.float64),
        np.asarray(atoms.numbers, dtype=np.int64),
        None if charges is None else np.array(charges, dtype=np.float64),
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
    formula = None
    try:
        if hasattr(structure, "numbers"):
            formula = formula_of(structure.numbers)
        elif hasattr(structure, "composition"):
            formula = structure.composition.reduced_formula
    except Exception:  # a name for a message must never raise itself
        formula = None
    return _named(index, formula)


def _named(index: int | None, formula: str | None) -> str:
    where = "structure" if index is None else f"structure {index}"
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
    # Names for messages are built only when a message needs one: a formula costs more than
    # the whole validation of a small crystal.
    if structure is None:
        raise StructureError(
            f"{describe(structure, index)} is None; pass an ase.Atoms or a pymatgen Structure."
        )
    if hasattr(structure, "lattice") and hasattr(structure, "sites"):
        positions, cell, numbers, charges = _from_pymatgen(structure, index)
    elif hasattr(structure, "pbc") and hasattr(structure, "get_positions"):
        positions, cell, numbers, charges = _from_ase(structure, index)
    else:
        raise StructureError(
            f"{describe(structure, index)} is a {type(structure).__name__}; pass an ase.Atoms "
            "or a pymatgen Structure."
        )
    return validate(positions, cell, numbers, index=index, charges=charges)


def validate(
    positions: np.ndarray,
    cell: np.ndarray,
    numbers: np.ndarray,
    label: str | None = None,
    *,
    index: int | None = None,
    charges: np.ndarray | None = None,
) -> Crystal:
    """Check raw arrays and return a :class:`Crystal` with a right-handed cell.

    A left-handed cell (det < 0) describes the same lattice; its rows are negated, which
    changes no lattice sum, rather than rejecting the user's input.

    Args:
        positions: (N, 3) Cartesian coordinates, Angstrom.
        cell: (3, 3) lattice vectors as rows, Angstrom.
        numbers: (N,) atomic numbers.
        label: how errors name the structure; default ``'structure {index} (formula)'``.
        index: position in a batch, for the default label.
        charges: (N,) formal charges carried by the input, if any.

    Raises:
        StructureError: empty, misshapen, non-finite, singular or overlapping input.
    """
    positions = np.asarray(positions, dtype=np.float64)
    cell = np.asarray(cell, dtype=np.float64)
    numbers = np.asarray(numbers, dtype=np.int64)

    def name() -> str:
        return label if label is not None else _named(index, _formula_or_none(numbers))

    if len(numbers) == 0:
        raise StructureError(f"{name()} has no atoms; remove it from the input.")
    if positions.shape != (len(numbers), 3) or cell.shape != (3, 3):
        raise StructureError(
            f"{name()}: positions must be (N, 3) and the cell (3, 3); got {positions.shape} "
            f"and {cell.shape}."
        )
    if not np.isfinite(positions).all():
        raise StructureError(
            f"{name()} has NaN or infinite atomic coordinates; fix the input file."
        )
    if not np.isfinite(cell).all():
        raise StructureError(f"{name()} has NaN or infinite cell vectors; fix the input file.")
    lengths = np.sqrt((cell * cell).sum(axis=1))
    det = _determinant(cell)
    # Degeneracy is a property of the lattice, not of the basis: a cell that fails on its own
    # edge lengths is judged again on its reduced basis, so that an extremely skewed
    # description of a good lattice is accepted.
    reduced_lengths = lengths
    if lengths.all() and det != 0 and abs(det) <= 0.1 * float(lengths.prod()):
        reduced_lengths = np.linalg.norm(reduce_bases(cell[None])[0] @ cell, axis=1)
    if (
        not lengths.all()
        or abs(det) <= MIN_RELATIVE_VOLUME * float(reduced_lengths.prod())
        or reduced_lengths.min() < MIN_SEPARATION  # every atom would sit on its own image
    ):
        raise StructureError(
            f"{name()} has a singular or nearly singular cell (volume {det:.3g} A^3 for edge "
            f"lengths {np.round(lengths, 4).tolist()} A); the three cell vectors must span 3D "
            "space. Check the lattice vectors."
        )
    if det < 0:
        cell = -cell
    overlap = closest_overlap(positions, cell)
    if overlap is not None:
        a, b, distance = overlap
        raise StructureError(
            f"{name()}: atoms {a} and {b} sit at the same position (or a lattice translation "
            f"of each other, {distance:.2e} A apart); remove the duplicate site."
        )
    return Crystal(
        positions=positions, cell=cell, numbers=numbers, name=label, index=index, charges=charges
    )


def _formula_or_none(numbers: np.ndarray) -> str | None:
    try:
        return formula_of(numbers)
    except Exception:  # a name for a message must never raise itself
        return None


def _determinant(cell: np.ndarray) -> float:
    """det of a (3, 3) array as the triple product a1 . (a2 x a3) (a tenth of the cost of
    ``np.linalg.det`` for one small matrix)."""
    a1, a2, a3 = cell
    return float(
        a1[0] * (a2[1] * a3[2] - a2[2] * a3[1])
        - a1[1] * (a2[0] * a3[2] - a2[2] * a3[0])
        + a1[2] * (a2[0] * a3[1] - a2[1] * a3[0])
    )


def closest_overlap(
    positions: np.ndarray, cell: np.ndarray, min_separation: float = MIN_SEPARATION
) -> tuple[int, int, float] | None:
    """The first pair of atoms (a < b, smallest a, then b) closer than `min_separation`
    (Angstrom) at any lattice translation, as ``(a, b, distance)``, or ``None``.

    O(N log N): a periodic k-d tree on fractional coordinates finds candidate pairs (every
    pair for cells of at most ``ALL_PAIRS_UP_TO`` atoms), and an exact Cartesian check keeps
    the real ones. Why the candidates are complete: if
    ``|x_b - x_a + L| = d < min_separation`` for a lattice vector L, the fractional
    difference ``(x_b - x_a + L) @ inv(cell)`` has components ``|f_i| <= d |inv(cell)[:, i]|
    < rho_i``, so the pair's periodic fractional distance along every axis is below rho_i:
    the tree, searched in coordinates scaled by 1 / rho_i with the max-norm and radius 1,
    returns it in any basis. When every rho_i < 1/2 that f is the wrapped fractional
    difference itself, so one distance per candidate is exact; otherwise (only for cells
    that are extremely thin along some direction even after basis reduction) the shifts
    with ``|f_i| < rho_i`` are tried too.

    Args:
        positions: (N, 3) Cartesian coordinates, Angstrom.
        cell: (3, 3) non-singular lattice vectors as rows, Angstrom.
        min_separation: Angstrom.
    """
    if len(positions) < 2:
        return None
    inverse = np.linalg.inv(cell)
    rho = min_separation * np.sqrt((inverse * inverse).sum(axis=0)) * (1 + 1e-9)
    if rho.max() >= 0.5:  # a skewed basis: its reduced form spreads the atoms out again
        cell = reduce_bases(cell[None])[0] @ cell
        inverse = np.linalg.inv(cell)
        rho = min_separation * np.sqrt((inverse * inverse).sum(axis=0)) * (1 + 1e-9)
    fractional = positions @ inverse
    if len(positions) <= ALL_PAIRS_UP_TO:
        first, second = _upper_pairs(len(positions))
    else:
        first, second = _candidate_pairs(fractional, rho)
    difference = fractional[second] - fractional[first]
    difference -= np.round(difference)
    vectors = difference @ cell
    distance = np.sqrt((vectors * vectors).sum(axis=1))
    if rho.max() > 0.5:  # a cell thin along some direction even after reduction
        reach = np.ceil(rho - 0.5).astype(np.int64)
        for shift in itertools.product(*[range(-k, k + 1) for k in reach]):
            vectors = (difference + shift) @ cell
            distance = np.minimum(distance, np.sqrt((vectors * vectors).sum(axis=1)))
    close = np.flatnonzero(distance < min_separation)
    if not close.size:
        return None
    k = close[np.lexsort((second[close], first[close]))[0]]
    return int(first[k]), int(second[k]), float(distance[k])


def _candidate_pairs(fractional: np.ndarray, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (a < b) whose periodic fractional distance is below rho_i along every axis i
    (a superset is fine), from a k-d tree in coordinates scaled by 1 / rho."""
    wrapped = fractional - np.floor(fractional)
    box = 1.0 / rho
    # Scaled into [0, box): rounding may land a coordinate on the box edge, which the tree
    # rejects; the largest float below it is the same point to within rounding.
    scaled = np.minimum(wrapped * box, np.nextafter(box, 0))
    pairs = cKDTree(scaled, boxsize=box).query_pairs(1.0, p=np.inf, output_type="ndarray")
    return pairs[:, 0], pairs[:, 1]


@lru_cache(maxsize=ALL_PAIRS_UP_TO + 1)
def _upper_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    first, second = np.triu_indices(n, k=1)
    first.flags.writeable = second.flags.writeable = False  # shared through the cache
    return first, second
