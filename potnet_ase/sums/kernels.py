"""The radial kernels that lattice sums are made of, each with its splitting and its a-priori
truncation-error bounds.

A kernel k defines, for a pair vector r in a cell of volume V, the lattice sum
``S_k(r) = sum over lattice vectors L, r + L != 0, of k(|r + L|)`` (plus, for some kernels, the
value at the origin when r is itself a lattice vector). Two families:

* :class:`InversePower` — ``|r+L|^(-2p)``, by the Crandall / Ewald splitting of DESIGN.md
  section 2: a short-ranged real-space sum, a reciprocal-space sum, a constant, and an origin
  correction. p = 1/2 is the (regularised, neutralising-background) Coulomb sum.
* :class:`Exponential` — ``exp(-alpha |r+L|)`` (optionally divided by |r+L|): short-ranged, a
  real-space sum only.

Error bounds replace the lattice sum beyond a radius by the integral of the kernel over space
with density 1/V (the standard estimate, exact on average); the engine applies them with a
safety factor and the tests check the actual error against the requested tolerance on random,
skewed, elongated and flat cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import erfc, erfcinv

from potnet_ase.sums.special import upper_gamma

# Fixed-point refinements of cutoffs whose bound has a slowly varying prefactor; each step
# gains several digits, far more than a cutoff needs.
_REFINEMENTS = 4


@dataclass(frozen=True)
class InversePower:
    """``sum'_L |r + L|^(-2p)`` by Crandall's splitting with parameter eta (1/Angstrom).

    Units: Angstrom^(-2p). For p = 1/2 the sum diverges and the value is its analytic
    continuation (Epstein zeta), i.e. the Ewald pair potential with a neutralising background.
    """

    p: float

    @property
    def _gamma_p(self) -> float:
        return math.gamma(self.p)

    def real(self, distance: torch.Tensor, eta: torch.Tensor) -> torch.Tensor:
        """Real-space term Gamma(p, eta^2 d^2) / (Gamma(p) d^(2p)) for each image distance d."""
        squared = distance * distance
        if self.p == 0.5:
            power = distance
        elif float(self.p).is_integer():  # integer powers are multiplications, pow is slow
            power = squared ** int(self.p)
        else:
            power = distance ** (2 * self.p)
        return upper_gamma(self.p, eta * eta * squared) / (self._gamma_p * power)

    def reciprocal_weight(
        self, g_norm: torch.Tensor, eta: torch.Tensor, volume: torch.Tensor
    ) -> torch.Tensor:
        """f(G) such that the reciprocal part is ``sum_{G != 0} f(G) cos(G . r)``."""
        x = (g_norm / (2 * eta)) ** 2
        prefactor = math.pi**1.5 / (volume * self._gamma_p)
        return prefactor * (g_norm / 2) ** (2 * self.p - 3) * upper_gamma(1.5 - self.p, x)

    def constant(self, eta: torch.Tensor, volume: torch.Tensor) -> torch.Tensor:
        """The G = 0 term, added to every pair."""
        return math.pi**1.5 / (volume * self._gamma_p) * eta ** (2 * self.p - 3) / (self.p - 1.5)

    def origin(self, eta: torch.Tensor, volume: torch.Tensor) -> torch.Tensor:
        """Added when r is a lattice vector (the diagonal): removes the excluded L with r+L = 0."""
        return -(eta ** (2 * self.p)) / (self.p * self._gamma_p)

    def real_error(self, eta: np.ndarray, radius: np.ndarray, volume: np.ndarray) -> np.ndarray:
        """Bound on the real-space terms beyond `radius` (uses Gamma(p,x) <= g x^(p-1) e^-x)."""
        x = (eta * radius) ** 2
        # The gamma bound holds with slack <= 2 for x >= 2(p-1); below that no bound is
        # claimed (infinite), so parameter searches stay in the region where it is valid.
        excess = max(self.p - 1.0, 0.0)
        slack = np.where(
            x >= 2 * excess * (1 - 1e-12), 1.0 / (1.0 - excess / np.maximum(x, 1e-300)), np.inf
        )
        prefactor = 2 * math.pi**1.5 * slack * eta ** (2 * self.p - 3) / (volume * self._gamma_p)
        return prefactor * erfc(eta * radius)

    def reciprocal_error(self, eta: np.ndarray, k_cut: np.ndarray) -> np.ndarray:
        """Bound on the reciprocal terms with |G| > k_cut (uses Gamma(s,x) <= x^(s-1) e^-x)."""
        return 2 * eta ** (2 * self.p) / self._gamma_p * erfc(k_cut / (2 * eta))

    def _scaled_cutoff(self, eta: np.ndarray, volume: np.ndarray, budget: float) -> np.ndarray:
        """x = eta R at which the real-space bound meets `budget` (fixed point on the slack)."""
        excess = max(self.p - 1.0, 0.0)
        floor = math.sqrt(2 * excess)  # below it the gamma bound is not claimed
        base = 2 * math.pi**1.5 * eta ** (2 * self.p - 3) / (volume * self._gamma_p)
        x = np.full_like(eta, max(floor, 1.0))
        for _ in range(_REFINEMENTS):
            slack = 1.0 / (1.0 - excess / np.maximum(x * x, 1e-300))
            x = np.maximum(erfcinv(np.minimum(budget / (base * slack), 1.0)), floor)
        return x

    def real_cutoff(self, eta: np.ndarray, volume: np.ndarray, budget: float) -> np.ndarray:
        """Smallest R (Angstrom) whose real-space bound is within `budget`, at this eta."""
        return self._scaled_cutoff(eta, volume, budget) / eta

    def eta_for_cutoff(self, radius: np.ndarray, volume: np.ndarray, budget: float) -> np.ndarray:
        """Smallest eta whose real-space bound at cutoff `radius` is within `budget`."""
        eta = 2.0 * np.sqrt(2 * max(self.p - 1.0, 0.5)) / radius
        for _ in range(_REFINEMENTS):
            eta = self._scaled_cutoff(eta, volume, budget) / radius
        return eta

    def reciprocal_cutoff(self, eta: np.ndarray, budget: float) -> np.ndarray:
        """Smallest |G| cutoff (1/Angstrom) whose reciprocal bound is within `budget`."""
        ratio = budget * self._gamma_p / (2 * eta ** (2 * self.p))
        return 2 * eta * erfcinv(np.minimum(ratio, 1.0))


@dataclass(frozen=True)
class Exponential:
    """``sum_L exp(-alpha |r+L|)`` (over |r+L| > 0), or ``exp(-alpha d) / d`` when
    `over_distance` (the screened Coulomb / Yukawa sum, 1/Angstrom).

    Attributes:
        alpha: decay constant, 1/Angstrom; with `volume_scaled` the decay constant of a crystal
            is ``alpha * V^(-1/6)`` (PotNet's published convention, V in Angstrom^3).
        volume_scaled: use PotNet's volume-dependent decay constant.
        include_origin: add the zero-distance term exp(0) = 1 on the diagonal (PotNet's code
            sums over all L, the origin included).
        over_distance: divide each term by the distance.
    """

    alpha: float
    volume_scaled: bool = False
    include_origin: bool = False
    over_distance: bool = False

    def decay(self, volume: torch.Tensor) -> torch.Tensor:
        """Per-crystal decay constant (1/Angstrom)."""
        if self.volume_scaled:
            return self.alpha * volume ** (-1.0 / 6.0)
        return torch.full_like(volume, self.alpha)

    def real(self, distance: torch.Tensor, decay: torch.Tensor) -> torch.Tensor:
        value = torch.exp(-decay * distance)
        return value / distance if self.over_distance else value

    def origin(self, volume: torch.Tensor) -> torch.Tensor:
        return torch.full_like(volume, 1.0 if self.include_origin else 0.0)

    def real_error(self, radius: np.ndarray, volume: np.ndarray) -> np.ndarray:
        """Integral of the kernel over |x| > radius with density 1/V."""
        a = self.alpha * volume ** (-1.0 / 6.0) if self.volume_scaled else self.alpha
        if self.over_distance:
            moment = radius / a + 1 / a**2
        else:
            moment = radius**2 / a + 2 * radius / a**2 + 2 / a**3
        return 4 * math.pi / volume * np.exp(-a * radius) * moment

    def real_cutoff(self, volume: np.ndarray, budget: float) -> np.ndarray:
        """Smallest R (Angstrom) whose tail bound is within `budget`: a fixed point of
        R = log(prefactor(R) / budget) / a, where the prefactor varies slowly with R."""
        a = self.alpha * volume ** (-1.0 / 6.0) if self.volume_scaled else self.alpha
        radius = np.zeros_like(volume)
        for _ in range(2 * _REFINEMENTS):
            tail = self.real_error(radius, volume) * np.exp(a * radius)
            radius = np.maximum(np.log(tail / budget) / a, 0.0)
        return radius


Kernel = InversePower | Exponential
