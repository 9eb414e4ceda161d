"""Lattice geometry on the host (numpy, float64), vectorised over a batch of cells: basis
reduction, image enumeration and reciprocal vectors. These choose *which* integer translations
and reciprocal indices enter a sum; the differentiable arithmetic on them happens in torch
(see ``engine.py``).

Conventions: a cell is a (3, 3) array whose rows are the lattice vectors a1, a2, a3 (ASE and
pymatgen). Reciprocal rows are ``B = 2 pi inv(cell).T`` so that ``a_i . b_j = 2 pi delta_ij``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pymatgen.optimization.neighbors import find_points_in_spheres

from potnet_ase.errors import ResourceLimitError

# Largest integer box enumerated for one crystal (2e7 points, ~0.5 GB of temporaries).
MAX_BOX_POINTS = 20_000_000
# Passes of pairwise reduction; each pass shortens vectors like a step of Euclid's algorithm,
# so even bases skewed by multiples in the thousands settle in a few dozen.
_MAX_REDUCTION_PASSES = 200


def reduce_bases(cells: np.ndarray) -> np.ndarray:
    """Integer unimodular matrices U such that ``U @ cell`` is a pairwise-reduced basis of the
    same lattice (no vector can be shortened by adding an integer multiple of another).

    A reduced basis makes the wrapped fractional differences near-minimum-image vectors and the
    index boxes of :func:`points_within` tight. Only efficiency depends on how well a basis is
    reduced: image enumeration is rigorous for any basis.

    Args:
        cells: (B, 3, 3) bases (rows).

    Returns:
        (B, 3, 3) float arrays with integer entries and determinant +-1.
    """
    basis = np.array(cells, dtype=np.float64)
    transform = np.broadcast_to(np.eye(3), basis.shape).copy()
    for _ in range(_MAX_REDUCTION_PASSES):
        changed = False
        for i in range(3):
            for j in range(3):
                if i == j:
                    continue
                projection = np.einsum("bk,bk->b", basis[:, i], basis[:, j])
                multiple = np.round(projection / np.einsum("bk,bk->b", basis[:, j], basis[:, j]))
                if np.any(multiple != 0):
                    basis[:, i] -= multiple[:, None] * basis[:, j]
                    transform[:, i] -= multiple[:, None] * transform[:, j]
                    changed = True
        if not changed:
            break
    return np.round(transform)


def reciprocal(cell: np.ndarray) -> np.ndarray:
    """Reciprocal basis rows b_i (1/Angstrom, including 2 pi); works on (..., 3, 3)."""
    return 2.0 * np.pi * np.swapaxes(np.linalg.inv(cell), -1, -2)


def points_within(
    bases: np.ndarray, radii: np.ndarray, dual: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Integer index vectors n with |n @ basis| <= radius, for each of B bases at once.

    Args:
        bases: (B, 3, 3) basis rows.
        radii: (B,) radii, same length unit as the bases.
        dual: (B, 3, 3) dual rows without 2 pi (``inv(basis).T``), whose lengths are the
            inverse plane spacings: |n_i| <= radius |dual_i| bounds every point in the ball.

    Returns:
        indices (M, 3) int64, grouped by basis in order (the origin included in each), and
        counts (B,) of points per basis.
    """
    radii = np.asarray(radii, dtype=np.float64)
    limits = np.floor(radii[:, None] * np.linalg.norm(dual, axis=-1) + 1e-9).astype(np.int64)
    # |n @ basis|^2 = n^T (basis basis^T) n: one matrix product of the six distinct monomials
    # n_i n_j of a cube of indices with the Gram entries of all bases of a group.
    gram = bases @ np.swapaxes(bases, -1, -2)
    coefficients = gram[:, _GRAM_ROWS, _GRAM_COLUMNS] * _GRAM_FACTORS  # (B, 6)
    # Points on the sphere must not be lost to rounding: the bound is widened by 1e-12
    # relative, which only ever adds a term past the cutoff.
    limit_squared = radii * radii * (1 + 1e-12)
    owners, points = [], []
    # Crystals that need the same cube of indices share one vectorised pass; batches of
    # similar density fall into a handful of such groups.
    span = limits.max(axis=1)
    for size in np.unique(span):
        members = np.flatnonzero(span == size)
        if (2 * size + 1) ** 3 > MAX_BOX_POINTS:
            raise ResourceLimitError(
                f"summing to {radii[members].max():.1f} A needs {(2 * size + 1) ** 3:.3g} "
                f"lattice points per crystal, above the limit of {MAX_BOX_POINTS:.0e}: the cell "
                "has an extremely short lattice vector or plane spacing for this tolerance. "
                "Check the cell, or loosen tol."
            )
        grid, monomials = _cube(int(size))
        squared = coefficients[members] @ monomials  # (b, G)
        row, column = np.nonzero(squared <= limit_squared[members, None])
        owners.append(members[row])
        points.append(grid[column])
    owner = np.concatenate(owners)
    order = np.argsort(owner, kind="stable")
    return np.concatenate(points)[order], np.bincount(owner, minlength=len(bases))


# Gram entries (i, j) paired with the monomials n_i n_j; off-diagonal ones appear twice.
_GRAM_ROWS = np.array([0, 1, 2, 0, 0, 1])
_GRAM_COLUMNS = np.array([0, 1, 2, 1, 2, 2])
_GRAM_FACTORS = np.array([1.0, 1.0, 1.0, 2.0, 2.0, 2.0])
# Cubes up to this half-width are kept between calls (~11 MB at the largest).
_CACHED_CUBE = 30


def _cube(size: int) -> tuple[np.ndarray, np.ndarray]:
    """The integer points of [-size, size]^3, (G, 3) int64, and their monomials n_i n_j in
    Gram order, (6, G) float64."""
    if size <= _CACHED_CUBE:
        return _cached_cube(size)
    return _make_cube(size)


def _make_cube(size: int) -> tuple[np.ndarray, np.ndarray]:
    axis = np.arange(-size, size + 1)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    as_float = grid.astype(np.float64)
    monomials = np.ascontiguousarray((as_float[:, _GRAM_ROWS] * as_float[:, _GRAM_COLUMNS]).T)
    grid.flags.writeable = monomials.flags.writeable = False  # shared through the cache
    return grid, monomials


_cached_cube = lru_cache(maxsize=_CACHED_CUBE + 1)(_make_cube)


def half_space(indices: np.ndarray) -> np.ndarray:
    """Mask keeping one of each pair (m, -m) of nonzero integer vectors (first nonzero > 0)."""
    m0, m1, m2 = indices.T
    return (m0 > 0) | ((m0 == 0) & (m1 > 0)) | ((m0 == 0) & (m1 == 0) & (m2 > 0))


def periodic_neighbours(
    positions: np.ndarray, cell: np.ndarray, cutoff: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All ordered pairs (i, j, shift) with ``|x_j - x_i + shift @ cell| <= cutoff``, except
    each atom with itself (i == j, shift == 0).

    Periodic images of an atom itself are neighbours; the atom itself is not. Any basis,
    positions inside or outside the cell. Uses pymatgen's compiled cell list, linear in the
    number of pairs: for 4,096 Si atoms within 8 A it took 0.03 s where ASE's numpy
    ``primitive_neighbor_list`` took 5 s (same set of pairs, tested).

    Args:
        positions: (N, 3) Cartesian positions, Angstrom.
        cell: (3, 3) lattice vectors as rows, Angstrom.
        cutoff: Angstrom.

    Returns:
        first (P,) int64, second (P,) int64, shift (P, 3) float64 (integer values).
    """
    first, second, shift, _ = find_points_in_spheres(
        np.ascontiguousarray(positions, dtype=np.float64),
        np.ascontiguousarray(positions, dtype=np.float64),
        float(cutoff),
        np.ones(3, dtype=np.int64),
        np.ascontiguousarray(cell, dtype=np.float64),
        tol=1e-8,
    )
    # pymatgen lists each atom as its own neighbour; coincident distinct atoms stay in the list
    # (validation rejects them before any sum is taken).
    keep = (first != second) | np.any(shift != 0, axis=1)
    return first[keep].astype(np.int64), second[keep].astype(np.int64), shift[keep]
