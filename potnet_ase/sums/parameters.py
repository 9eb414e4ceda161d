"""Per-crystal choice of the splitting parameter eta and the two cutoffs from a-priori error
bounds, vectorised over a batch of crystals (numpy, float64).

Rules:
* Every kernel gets the budget ``ERROR_SAFETY * tol / c`` for its real part and the same for
  its reciprocal part, c being the largest coefficient it carries in a requested potential.
  The safety factor covers the gap between the continuum estimate of a tail and the actual
  lattice points; it costs little because the tails fall like erfc / exp.
* eta starts at ``ETA_SCALE * sqrt(pi) / V^(1/3)``, the classical balance point shifted
  towards reciprocal space, whose terms are cheap rows of a matrix product, whereas each
  real-space term costs a gamma function per image and pair.
* When a short-ranged kernel (Pauli, Morse, ...) already needs a longer real-space cutoff, eta
  is lowered as far as that cutoff allows, which shrinks the reciprocal sum for free.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from potnet_ase.sums.kernels import Exponential, InversePower, Kernel

ERROR_SAFETY = 0.1
ETA_SCALE = 2.0
_BISECTION_STEPS = 64


@dataclass(frozen=True)
class SumParameters:
    """Per-crystal parameters, each an array of shape (B,).

    Attributes:
        eta: splitting parameter, 1/Angstrom (NaN where no inverse-power kernel is summed).
        real_cutoff: largest image distance summed in real space, Angstrom.
        reciprocal_cutoff: largest |G| summed, 1/Angstrom (0 where nothing is summed there).
    """

    eta: np.ndarray
    real_cutoff: np.ndarray
    reciprocal_cutoff: np.ndarray


def _smallest_passing(
    passes: Callable[[np.ndarray], np.ndarray], low: np.ndarray, high: np.ndarray
) -> np.ndarray:
    """Smallest x in [low, high] with passes(x) true, for a predicate that is false below
    some threshold and true above it (elementwise over the batch). Assumes passes(high)."""
    low, high = low.astype(np.float64).copy(), high.astype(np.float64).copy()
    for _ in range(_BISECTION_STEPS):
        middle = 0.5 * (low + high)
        ok = passes(middle)
        high = np.where(ok, middle, high)
        low = np.where(ok, low, middle)
    return high


def _real_error(kernel: Kernel, eta: np.ndarray, radius: np.ndarray, volume: np.ndarray):
    if isinstance(kernel, InversePower):
        return kernel.real_error(eta, radius, volume)
    return kernel.real_error(radius, volume)


def choose_parameters(
    budgets: dict[Kernel, float], volumes: np.ndarray, tol: float
) -> SumParameters:
    """Choose eta, the real-space cutoff and the reciprocal cutoff for each crystal.

    Args:
        budgets: each kernel to sum, mapped to the largest |coefficient| it carries.
        volumes: (B,) cell volumes, Angstrom^3.
        tol: absolute error allowed per matrix entry.
    """
    volumes = np.asarray(volumes, dtype=np.float64)
    size = volumes.shape
    scale = np.cbrt(volumes)  # a typical length of each cell
    inverse_powers = [k for k in budgets if isinstance(k, InversePower)]
    exponentials = [k for k in budgets if isinstance(k, Exponential)]

    def budget(kernel: Kernel) -> float:
        return ERROR_SAFETY * tol / budgets[kernel]

    eta = np.full(size, np.nan)
    real_cutoff = np.zeros(size)
    for kernel in exponentials:
        needed = _smallest_passing(
            lambda r, k=kernel: k.real_error(r, volumes) <= budget(k),
            np.zeros(size),
            1e3 * scale + 1e3,
        )
        real_cutoff = np.maximum(real_cutoff, needed)
    reciprocal_cutoff = np.zeros(size)
    if inverse_powers:
        eta = ETA_SCALE * np.sqrt(np.pi) / scale

        def real_ok(eta_: np.ndarray, radius: np.ndarray) -> np.ndarray:
            ok = np.ones(size, dtype=bool)
            for k in inverse_powers:
                with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                    ok &= _real_error(k, eta_, radius, volumes) <= budget(k)
            return ok

        ewald_cutoff = _smallest_passing(lambda r: real_ok(eta, r), np.zeros(size), 50 * scale)
        longer = real_cutoff > ewald_cutoff
        if np.any(longer):
            lowered = _smallest_passing(lambda e: real_ok(e, real_cutoff), eta / 100, eta)
            eta = np.where(longer, lowered, eta)
        real_cutoff = np.maximum(real_cutoff, ewald_cutoff)
        for kernel in inverse_powers:
            needed = _smallest_passing(
                lambda g, k=kernel: k.reciprocal_error(eta, g) <= budget(k),
                np.zeros(size),
                80 * eta,
            )
            reciprocal_cutoff = np.maximum(reciprocal_cutoff, needed)
    return SumParameters(eta=eta, real_cutoff=real_cutoff, reciprocal_cutoff=reciprocal_cutoff)
