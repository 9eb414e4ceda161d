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
from scipy.special import erfc

from potnet_ase.sums.special import upper_gamma


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
        x = (eta * distance) ** 2
        return upper_gamma(self.p, x) / (self._gamma_p * distance ** (2 * self.p))

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
        slack = np.where(x >= 2 * excess, 1.0 / (1.0 - excess / np.maximum(x, 1e-300)), np.inf)
        prefactor = 2 * math.pi**1.5 * slack * eta ** (2 * self.p - 3) / (volume * self._gamma_p)
        return prefactor * erfc(eta * radius)

    def reciprocal_error(self, eta: np.ndarray, k_cut: np.ndarray) -> np.ndarray:
        """Bound on the reciprocal terms with |G| > k_cut (uses Gamma(s,x) <= x^(s-1) e^-x)."""
        return 2 * eta ** (2 * self.p) / self._gamma_p * erfc(k_cut / (2 * eta))


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


Kernel = InversePower | Exponential
