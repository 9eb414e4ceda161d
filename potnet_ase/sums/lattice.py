"""Lattice geometry on the host (numpy, float64), vectorised over a batch of cells: basis
reduction, image enumeration and reciprocal vectors. These choose *which* integer translations
and reciprocal indices enter a sum; the differentiable arithmetic on them happens in torch
(see ``engine.py``).

Conventions: a cell is a (3, 3) array whose rows are the lattice vectors a1, a2, a3 (ASE and
pymatgen). Reciprocal rows are ``B = 2 pi inv(cell).T`` so that ``a_i . b_j = 2 pi delta_ij``.
"""

from __future__ import annotations

import numpy as np

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
    limits = np.floor(radii[:, None] * np.linalg.norm(dual, axis=-1) + 1e-9).astype(np.int64)
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
        axis = np.arange(-size, size + 1)
        grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
        inside = np.all(np.abs(grid)[None] <= limits[members, None, :], axis=-1)  # (b, G)
        lengths = np.linalg.norm(
            np.einsum("gi,bij->bgj", grid.astype(np.float64), bases[members]), axis=-1
        )
        inside &= lengths <= radii[members, None]
        row, column = np.nonzero(inside)
        owners.append(members[row])
        points.append(grid[column])
    owner = np.concatenate(owners)
    order = np.argsort(owner, kind="stable")
    return np.concatenate(points)[order], np.bincount(owner, minlength=len(bases))
