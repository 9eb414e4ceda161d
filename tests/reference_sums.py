"""A slow, independent reference for the lattice sums, written for the tests only.

It shares no code with ``potnet_ase.sums``: pymatgen's LLL reduction instead of ours, plain
numpy image boxes, scipy's regularised gamma for real space and mpmath's incomplete gamma for
reciprocal space, a fixed generous splitting parameter and cutoffs far beyond what the engine
uses (errors < 1e-14 on the cells the tests build), and no minimum-image convention.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
from pymatgen.core import Lattice
from scipy.special import erfc, gamma, gammaincc


def _lattice_points(cell: np.ndarray, radius: float) -> np.ndarray:
    """All lattice vectors of length <= radius (rows of `cell` as basis)."""
    reduced = Lattice(cell).get_lll_reduced_lattice().matrix
    spacing = 1.0 / np.linalg.norm(np.linalg.inv(reduced).T, axis=1)
    top = np.ceil(radius / spacing).astype(int) + 1
    grid = np.stack(
        np.meshgrid(*[np.arange(-t, t + 1) for t in top], indexing="ij"), axis=-1
    ).reshape(-1, 3)
    points = grid @ reduced
    return points[np.linalg.norm(points, axis=1) <= radius]


def _pair_vectors(positions: np.ndarray) -> np.ndarray:
    return positions[:, None, :] - positions[None, :, :]  # (N, N, 3): x_a - x_b


def direct_sum(positions, cell, kernel, radius, include_origin=False) -> np.ndarray:
    """sum over |r+L| <= radius (r+L != 0 unless include_origin) of kernel(|r+L|)."""
    points = _lattice_points(cell, radius + np.ptp(positions, axis=0).sum() + 1.0)
    r = _pair_vectors(positions)
    d = np.linalg.norm(r[:, :, None, :] + points[None, None], axis=-1)  # (N, N, M)
    inside = d <= radius
    zero = d < 1e-12
    values = np.where(inside & ~zero, kernel(np.where(zero, 1.0, d)), 0.0).sum(-1)
    if include_origin:
        values += zero.any(-1) * kernel(np.zeros(1))[0]
    return values


def inverse_power_sum(positions, cell, p: float, eta_scale: float = 1.3) -> np.ndarray:
    """sum' |r+L|^(-2p) by Crandall's splitting (p = 1/2: regularised Coulomb)."""
    volume = abs(np.linalg.det(cell))
    eta = eta_scale / np.cbrt(volume)
    real_radius = 9.0 / eta  # erfc(9) ~ 4e-37
    recip_radius = 18.0 * eta  # exp(-81) ~ 7e-36
    r = _pair_vectors(positions)
    points = _lattice_points(cell, real_radius + np.ptp(positions, axis=0).sum() + 1.0)
    d = np.linalg.norm(r[:, :, None, :] + points[None, None], axis=-1)
    zero = d < 1e-12
    safe = np.where(zero, 1.0, d)
    x = (eta * safe) ** 2
    upper = erfc(np.sqrt(x)) * math.sqrt(math.pi) if p == 0.5 else gammaincc(p, x) * gamma(p)
    real = np.where(zero | (d > real_radius), 0.0, upper / safe ** (2 * p)).sum(-1)

    g_vectors = _lattice_points(2 * np.pi * np.linalg.inv(cell).T, recip_radius)
    g_vectors = g_vectors[np.linalg.norm(g_vectors, axis=1) > 1e-12]
    g = np.linalg.norm(g_vectors, axis=1)
    incomplete = np.array(
        [float(mpmath.gammainc(1.5 - p, (k / (2 * eta)) ** 2)) for k in g], dtype=np.float64
    )
    weights = (g / 2) ** (2 * p - 3) * incomplete
    recip = np.cos(r @ g_vectors.T) @ weights
    constant = eta ** (2 * p - 3) / (p - 1.5)
    total = real / gamma(p) + math.pi**1.5 / (volume * gamma(p)) * (recip + constant)
    total -= np.eye(len(positions)) * eta ** (2 * p) / (p * gamma(p))
    return total
