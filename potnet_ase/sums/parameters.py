"""Per-crystal choice of the splitting parameter eta and the two cutoffs from a-priori error
bounds, vectorised over a batch of crystals (numpy, float64).

Rules:
* Every kernel gets the budget ``ERROR_SAFETY * tol / c`` for its real part and the same for
  its reciprocal part, c being the largest coefficient it carries in a requested potential.
  The safety factor covers the gap between the continuum estimate of a tail and the actual
  lattice points, which is largest when a whole shell of a symmetric lattice sits just past
  the cutoff (zincblende at tol 1e-10 needed more than 0.1); it costs little because the
  tails fall like erfc / exp (0.01 lengthens the cutoffs by about 4 %).
* eta is ``ETA_SCALE * sqrt(pi) / V^(1/3)``, the classical balance point shifted towards
  reciprocal space, whose terms are cheap rows of a matrix product, whereas each real-space
  term costs special functions per image and pair. All kernels (inverse powers and
  exponentials) are split with the same eta, so one set of images and G vectors serves all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from potnet_ase.errors import ResourceLimitError
from potnet_ase.sums.kernels import Kernel

ERROR_SAFETY = 0.01
ETA_SCALE = 2.0


@dataclass(frozen=True)
class SumParameters:
    """Per-crystal parameters, each an array of shape (B,).

    Attributes:
        eta: splitting parameter, 1/Angstrom.
        real_cutoff: largest image distance summed in real space, Angstrom.
        reciprocal_cutoff: largest |G| summed, 1/Angstrom.
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
    eta = ETA_SCALE * np.sqrt(np.pi) / np.cbrt(volumes)
    budget = {k: ERROR_SAFETY * tol / weight for k, weight in budgets.items()}
    # Never less than one cell length: the continuum tail estimates behind every bound assume
    # the cutoff sphere holds at least a cell's worth of images.
    real_cutoff = np.max(
        [np.cbrt(volumes)] + [k.real_cutoff(eta, volumes, budget[k]) for k in budgets], axis=0
    )
    reciprocal_cutoff = np.max(
        [k.reciprocal_cutoff(eta, volumes, budget[k]) for k in budgets], axis=0
    )
    if not (np.all(np.isfinite(real_cutoff)) and np.all(np.isfinite(reciprocal_cutoff))):
        raise ResourceLimitError(
            f"no finite cutoff meets tol={tol:g} for cells of volume {volumes.min():.3g} to "
            f"{volumes.max():.3g} A^3 with these potential parameters; loosen tol or check them."
        )
    return SumParameters(eta=eta, real_cutoff=real_cutoff, reciprocal_cutoff=reciprocal_cutoff)
