"""Lattice geometry on the host (numpy, float64): basis reduction, image enumeration and
reciprocal vectors. These choose *which* integer translations and reciprocal indices enter a
sum; the differentiable arithmetic on them happens in torch (see ``engine.py``).

Conventions: a cell is a (3, 3) array whose rows are the lattice vectors a1, a2, a3 (ASE and
pymatgen). Reciprocal rows are ``B = 2 pi inv(cell).T`` so that ``a_i . b_j = 2 pi delta_ij``.
"""

from __future__ import annotations

import numpy as np

from potnet_ase.errors import ResourceLimitError

# Largest integer box enumerated for one crystal (2e7 points, ~0.5 GB of temporaries).
MAX_BOX_POINTS = 20_000_000
# LLL's Lovasz parameter; 0.75 is the classical choice and already gives near-orthogonal
# bases for 3D lattices.
LLL_DELTA = 0.75


def _gram_schmidt(basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ortho = np.zeros_like(basis)
    mu = np.zeros((3, 3))
    for i in range(3):
        ortho[i] = basis[i]
        for j in range(i):
            mu[i, j] = basis[i] @ ortho[j] / (ortho[j] @ ortho[j])
            ortho[i] = ortho[i] - mu[i, j] * ortho[j]
    return ortho, mu


def lll_reduce(cell: np.ndarray) -> np.ndarray:
    """Integer unimodular matrix U such that ``U @ cell`` is an LLL-reduced basis of the same
    lattice (short, nearly orthogonal rows).

    A reduced basis makes the wrapped fractional differences true near-minimum-image vectors and
    makes index boxes tight; the lattice, and so every lattice sum, is unchanged.
    """
    basis = np.array(cell, dtype=np.float64)
    transform = np.eye(3)
    k = 1
    ortho, mu = _gram_schmidt(basis)
    # Each swap strictly decreases a positive potential, so this terminates; the cap only guards
    # against floating-point cycling on absurd inputs.
    for _ in range(10_000):
        if k >= 3:
            break
        for j in range(k - 1, -1, -1):
            q = np.round(mu[k, j])
            if q != 0:
                basis[k] -= q * basis[j]
                transform[k] -= q * transform[j]
                ortho, mu = _gram_schmidt(basis)
        if ortho[k] @ ortho[k] >= (LLL_DELTA - mu[k, k - 1] ** 2) * (ortho[k - 1] @ ortho[k - 1]):
            k += 1
        else:
            basis[[k, k - 1]] = basis[[k - 1, k]]
            transform[[k, k - 1]] = transform[[k - 1, k]]
            ortho, mu = _gram_schmidt(basis)
            k = max(k - 1, 1)
    return np.round(transform)


def reciprocal(cell: np.ndarray) -> np.ndarray:
    """Reciprocal basis rows b_i (1/Angstrom, including 2 pi); works on (..., 3, 3)."""
    return 2.0 * np.pi * np.swapaxes(np.linalg.inv(cell), -1, -2)


def _index_box(radius: np.ndarray, dual_lengths: np.ndarray) -> np.ndarray:
    """Largest |n_i| for which n @ basis can lie within `radius`: |n_i| <= radius |d_i|, where
    d_i are the rows of the dual basis without the 2 pi (so |d_i| = 1 / plane spacing)."""
    return np.floor(radius[:, None] * dual_lengths + 1e-9).astype(np.int64)


def points_within(bases: np.ndarray, radii: np.ndarray, dual: np.ndarray) -> list[np.ndarray]:
    """Integer index vectors n with |n @ basis| <= radius, for each of B bases at once.

    Args:
        bases: (B, 3, 3) basis rows.
        radii: (B,) radii, same length unit as the bases.
        dual: (B, 3, 3) dual rows without 2 pi (``inv(basis).T``).

    Returns:
        For each basis an (M_b, 3) int64 array, the origin included.
    """
    limits = _index_box(radii, np.linalg.norm(dual, axis=-1))  # (B, 3)
    result: list[np.ndarray] = [np.empty((0, 3), np.int64)] * len(bases)
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
        points = np.einsum("gi,bij->bgj", grid.astype(np.float64), bases[members])
        inside &= np.linalg.norm(points, axis=-1) <= radii[members, None]
        for member, row in zip(members, inside, strict=True):
            result[member] = grid[row]
    return result
