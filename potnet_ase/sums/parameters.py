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

from dataclasses import dataclass

import numpy as np

from potnet_ase.sums.kernels import Exponential, InversePower, Kernel

ERROR_SAFETY = 0.1
ETA_SCALE = 2.0


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

    real_cutoff = np.zeros(size)
    for kernel in exponentials:
        real_cutoff = np.maximum(real_cutoff, kernel.real_cutoff(volumes, budget(kernel)))
    if not inverse_powers:
        return SumParameters(np.full(size, np.nan), real_cutoff, np.zeros(size))

    eta = ETA_SCALE * np.sqrt(np.pi) / scale
    ewald_cutoff = np.max([k.real_cutoff(eta, volumes, budget(k)) for k in inverse_powers], axis=0)
    longer = real_cutoff > ewald_cutoff
    if np.any(longer):
        lowered = np.max(
            [k.eta_for_cutoff(real_cutoff, volumes, budget(k)) for k in inverse_powers], axis=0
        )
        eta = np.where(longer, np.minimum(lowered, eta), eta)
    real_cutoff = np.maximum(real_cutoff, ewald_cutoff)
    reciprocal_cutoff = np.max(
        [k.reciprocal_cutoff(eta, budget(k)) for k in inverse_powers], axis=0
    )
    return SumParameters(eta=eta, real_cutoff=real_cutoff, reciprocal_cutoff=reciprocal_cutoff)
