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
  term costs special functions per image and pair; lowered where the real-space cutoff is held
  at its floor of one cell length anyway (loose tolerances), which shrinks reciprocal space
  for free.
* A short-ranged exponential (Pauli with the physical alpha) whose unsplit tail beyond that
  cutoff is already within budget is summed in real space alone. The other kernels (inverse
  powers and exponentials) are split with the same eta, so one set of images and G vectors
  serves all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from potnet_ase.errors import ResourceLimitError
from potnet_ase.sums.kernels import Exponential, Kernel

ERROR_SAFETY = 0.01
ETA_SCALE = 2.0
_ETA_REFINEMENTS = 2


@dataclass(frozen=True)
class SumParameters:
    """Per-crystal parameters, each an array of shape (B,).

    Attributes:
        eta: splitting parameter, 1/Angstrom.
        real_cutoff: largest image distance summed in real space, Angstrom.
        reciprocal_cutoff: largest |G| summed, 1/Angstrom.
        direct: kernels summed in real space alone, unsplit, for the whole batch (see
            :func:`choose_parameters`).
    """

    eta: np.ndarray
    real_cutoff: np.ndarray
    reciprocal_cutoff: np.ndarray
    direct: frozenset[Kernel] = field(default_factory=frozenset)


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
    budget = {k: ERROR_SAFETY * tol / weight for k, weight in budgets.items()}
    # Never less than one cell length: the continuum tail estimates behind every bound assume
    # the cutoff sphere holds at least a cell's worth of images.
    floor = np.cbrt(volumes)

    # The unsplit tail of an exponential does not depend on eta: computed once.
    direct_cutoff = {
        k: k.direct_cutoff(volumes, budget[k]) for k in budgets if isinstance(k, Exponential)
    }

    def needed(eta: np.ndarray) -> np.ndarray:
        """The largest real-space cutoff the kernels' bounds need at this eta."""
        return np.max(
            [
                np.minimum(k.split_cutoff(eta, volumes, budget[k]), direct_cutoff[k])
                if k in direct_cutoff
                else k.real_cutoff(eta, volumes, budget[k])
                for k in budgets
            ],
            axis=0,
        )

    balanced = ETA_SCALE * np.sqrt(np.pi) / floor
    # Where one cell length is more than the real-space bounds need (loose tolerances), a
    # smaller eta moves work from reciprocal space, whose size grows as eta^3, into a real-space
    # sum of the same length: lower eta until the bounds need the floor. The bounds go as
    # x(eta) / eta with x slowly varying, so this fixed-point iteration converges in a few steps.
    eta = balanced
    required = needed(eta)
    if np.any(required < floor):  # else (tight tolerances) there is nothing to gain
        for _ in range(_ETA_REFINEMENTS):
            eta = np.minimum(balanced, eta * required / floor)
            required = needed(eta)
    real_cutoff = np.maximum(floor, required)
    # A short-ranged exponential whose whole tail beyond the real-space cutoff is within its
    # budget is summed there directly: one exponential per image instead of four special
    # functions, and nothing in reciprocal space.
    direct = frozenset(k for k, cutoff in direct_cutoff.items() if np.all(cutoff <= real_cutoff))
    reciprocal_cutoff = np.max(
        [np.zeros_like(volumes)]
        + [k.reciprocal_cutoff(eta, volumes, budget[k]) for k in budgets if k not in direct],
        axis=0,
    )
    if not (np.all(np.isfinite(real_cutoff)) and np.all(np.isfinite(reciprocal_cutoff))):
        raise ResourceLimitError(
            f"no finite cutoff meets tol={tol:g} for cells of volume {volumes.min():.3g} to "
            f"{volumes.max():.3g} A^3 with these potential parameters; loosen tol or check them."
        )
    return SumParameters(
        eta=eta, real_cutoff=real_cutoff, reciprocal_cutoff=reciprocal_cutoff, direct=direct
    )
