"""The radial kernels that lattice sums are made of, each with its splitting and its a-priori
truncation-error bounds.

A kernel k defines, for a pair vector r in a cell of volume V, the lattice sum
``S_k(r) = sum over lattice vectors L, r + L != 0, of k(|r + L|)`` (plus, for some kernels, the
value at the origin when r is itself a lattice vector). Two families:

* :class:`InversePower` — ``|r+L|^(-2p)``, by the Crandall / Ewald splitting of DESIGN.md
  section 2: a short-ranged real-space sum, a reciprocal-space sum, a constant, and an origin
  correction. p = 1/2 is the (regularised, neutralising-background) Coulomb sum.
* :class:`Exponential` — ``exp(-alpha |r+L|)`` (optionally divided by |r+L|), by a Gaussian
  splitting of the same shape, so slowly decaying exponentials stay cheap.

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
from scipy.special import erfc, erfcinv, erfcx

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

    def real(self, distance: torch.Tensor, eta: torch.Tensor, volume: torch.Tensor) -> torch.Tensor:
        """Real-space term Gamma(p, eta^2 d^2) / (Gamma(p) d^(2p)) for each image distance d."""
        if self.p == 0.5:  # Gamma(1/2, x^2) / Gamma(1/2) = erfc(x): three operations
            return torch.special.erfc(eta * distance) / distance
        squared = distance * distance
        if float(self.p).is_integer():  # integer powers are multiplications, pow is slow
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

    def reciprocal_error(
        self, eta: np.ndarray, k_cut: np.ndarray, volume: np.ndarray
    ) -> np.ndarray:
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

    def reciprocal_cutoff(self, eta: np.ndarray, volume: np.ndarray, budget: float) -> np.ndarray:
        """Smallest |G| cutoff (1/Angstrom) whose reciprocal bound is within `budget`."""
        ratio = budget * self._gamma_p / (2 * eta ** (2 * self.p))
        return 2 * eta * erfcinv(np.minimum(ratio, 1.0))


@dataclass(frozen=True)
class Exponential:
    """``sum_L exp(-alpha |r+L|)`` (over |r+L| > 0 unless `include_origin`), or
    ``exp(-alpha d) / d`` when `over_distance` (the screened Coulomb / Yukawa sum, 1/Angstrom).

    Summed by the same Gaussian splitting as the inverse powers, so a slowly decaying
    exponential (PotNet's alpha V^(-1/6) is about 1/Angstrom) costs no more than a fast one.
    From ``e^(-a r) = a / (2 sqrt(pi)) int_0^inf t^(-3/2) exp(-a^2/(4t) - r^2 t) dt`` (and
    ``e^(-a r)/r = pi^(-1/2) int t^(-1/2) ...``), split at t = eta^2, with beta = a / (2 eta):

    * real space: ``[e^(-a r) erfc(eta r - beta) - e^(a r) erfc(eta r + beta)] / 2``
      (Yukawa: ``[e^(-a r) erfc(eta r - beta) + e^(a r) erfc(eta r + beta)] / (2 r)``);
    * reciprocal space: ``(a pi / 2) exp(-c / eta^2) (1 / (eta^2 c) + 1 / c^2)`` with
      c = (a^2 + G^2) / 4 (Yukawa: ``4 pi exp(-c / eta^2) / (4 c)``), G = 0 included, per volume.

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

    def decay(self, volume: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
        """Decay constant (1/Angstrom) of crystals of the given volumes (tensor or array)."""
        if self.volume_scaled:
            return self.alpha * volume ** (-1.0 / 6.0)
        if isinstance(volume, torch.Tensor):
            return torch.full_like(volume, self.alpha)
        return np.full_like(volume, self.alpha)

    def real(self, distance: torch.Tensor, eta: torch.Tensor, volume: torch.Tensor) -> torch.Tensor:
        a = self.decay(volume)
        beta = a / (2 * eta)
        gaussian = torch.exp(-((eta * distance) ** 2) - beta**2)
        near, far = eta * distance - beta, eta * distance + beta
        # e^(-a r) erfc(near) written through erfcx where near > 0, so nothing overflows;
        # the clamp keeps the branch torch.where discards finite (and its gradient too).
        outgoing = torch.where(
            near > 0,
            gaussian * torch.special.erfcx(near.clamp(min=0)),
            torch.exp(-a * distance) * torch.special.erfc(near),
        )
        incoming = gaussian * torch.special.erfcx(far)  # = e^(a r) erfc(far)
        if self.over_distance:
            return (outgoing + incoming) / (2 * distance)
        return 0.5 * (outgoing - incoming)

    def reciprocal_weight(
        self, g_norm: torch.Tensor, eta: torch.Tensor, volume: torch.Tensor
    ) -> torch.Tensor:
        a = self.decay(volume)
        c = (a * a + g_norm * g_norm) / 4
        damping = torch.exp(-c / (eta * eta))
        if self.over_distance:
            return math.pi * damping / (c * volume)
        return a * math.pi / 2 * damping * (1 / (eta * eta * c) + 1 / (c * c)) / volume

    def constant(self, eta: torch.Tensor, volume: torch.Tensor) -> torch.Tensor:
        """The G = 0 term, added to every pair."""
        return self.reciprocal_weight(torch.zeros_like(volume), eta, volume)

    def origin(self, eta: torch.Tensor, volume: torch.Tensor) -> torch.Tensor:
        """Diagonal correction: the real-space sum skips d = 0, whose kernel value is split
        between the (missing) real part and the long-range part already in reciprocal space."""
        beta = self.decay(volume) / (2 * eta)
        if self.over_distance:  # minus the long-range part at r = 0 (the origin is excluded)
            return -(2 * eta / math.sqrt(math.pi) * torch.exp(-beta * beta)) + self.decay(
                volume
            ) * torch.special.erfc(beta)
        # the real part at r = 0 is erf(beta); the whole kernel there is exp(0) = 1
        return torch.special.erf(beta) - (0.0 if self.include_origin else 1.0)

    def _log_real_prefactor(
        self, eta: np.ndarray, radius: np.ndarray, volume: np.ndarray
    ) -> np.ndarray:
        """log of the real-space bound times exp(eta^2 R^2) (logs: beta^2 may exceed 700).

        The bound integrates over |x| > R the majorant from erfc(z) <= e^(-z^2)/(sqrt(pi) z),
        z = eta R - beta, which is claimed for z > 0 only (+inf below)."""
        beta = self.decay(volume) / (2 * eta)
        z = eta * radius - beta
        log_factor = -(beta**2) - np.log(math.sqrt(math.pi) * np.maximum(z, 1e-300))
        if self.over_distance:
            moment = 4 * math.pi / volume / (2 * eta**2)
        else:
            # int_R^inf r^2 exp(-eta^2 r^2) dr
            #   = exp(-eta^2 R^2) [R / (2 eta^2) + sqrt(pi) erfcx(eta R) / (4 eta^3)]
            second = radius / (2 * eta**2) + math.sqrt(math.pi) * erfcx(eta * radius) / (4 * eta**3)
            moment = 2 * math.pi / volume * second
        return np.where(z > 0, log_factor + np.log(moment), np.inf)

    def _plain_tail(self, radius: np.ndarray, volume: np.ndarray) -> np.ndarray:
        """Integral over |x| > radius of the whole kernel, which bounds its real part too (the
        real part is a piece of a positive integral representation of the kernel). For fast
        decays it beats the split bound, which needs eta R > beta."""
        a = self.decay(volume)
        if self.over_distance:
            moment = radius / a + 1 / a**2
        else:
            moment = radius**2 / a + 2 * radius / a**2 + 2 / a**3
        return 4 * math.pi / volume * np.exp(-a * radius) * moment

    def real_error(self, eta: np.ndarray, radius: np.ndarray, volume: np.ndarray) -> np.ndarray:
        """Bound on the real-space terms beyond `radius`: the better of the two bounds."""
        split = np.exp(self._log_real_prefactor(eta, radius, volume) - (eta * radius) ** 2)
        return np.minimum(split, self._plain_tail(radius, volume))

    def _reciprocal_prefactor(
        self, eta: np.ndarray, k_cut: np.ndarray, volume: np.ndarray
    ) -> np.ndarray:
        """The reciprocal bound divided by erfc(k_cut / (2 eta)); claimed for k_cut >= 2 eta,
        where 1/(eta^2 c) + 1/c^2 <= (4 / (eta^2 k^2)) (1 + 4 eta^2 / k^2) <= 8 / (eta k)^2."""
        damping = np.exp(-((self.decay(volume) / (2 * eta)) ** 2))
        if self.over_distance:
            return 2 * eta / math.sqrt(math.pi) * damping
        k = np.maximum(k_cut, 2 * eta)
        slack = 1 + 4 * eta**2 / k**2
        return self.decay(volume) / (math.sqrt(math.pi) * eta) * slack * damping

    def reciprocal_error(
        self, eta: np.ndarray, k_cut: np.ndarray, volume: np.ndarray
    ) -> np.ndarray:
        """Bound on the reciprocal terms with |G| > k_cut (k_cut >= 2 eta)."""
        return self._reciprocal_prefactor(eta, k_cut, volume) * erfc(k_cut / (2 * eta))

    def real_cutoff(self, eta: np.ndarray, volume: np.ndarray, budget: float) -> np.ndarray:
        """Smallest R (Angstrom) meeting `budget` under either bound: the plain tail (see
        :meth:`direct_cutoff`) or the split one (:meth:`split_cutoff`)."""
        return np.minimum(
            self.split_cutoff(eta, volume, budget), self.direct_cutoff(volume, budget)
        )

    def split_cutoff(self, eta: np.ndarray, volume: np.ndarray, budget: float) -> np.ndarray:
        """Smallest R (Angstrom) meeting `budget` under the split bound: the fixed point of
        eta R = sqrt(log(prefactor(R) / budget)), the prefactor varying slowly with R."""
        beta = self.decay(volume) / (2 * eta)
        split = (beta + 3.0) / eta
        for _ in range(2 * _REFINEMENTS):
            log_ratio = self._log_real_prefactor(eta, split, volume) - math.log(budget)
            split = np.maximum(np.sqrt(np.maximum(log_ratio, 0.0)), beta + 0.5) / eta
        return split

    def direct_cutoff(self, volume: np.ndarray, budget: float) -> np.ndarray:
        """Smallest R (Angstrom) beyond which the whole, unsplit kernel sums to at most
        `budget`: the fixed point of a R = log(tail prefactor(R) / budget)."""
        a = self.decay(volume)
        plain = np.zeros_like(volume)
        for _ in range(2 * _REFINEMENTS):
            tail = self._plain_tail(plain, volume) * np.exp(a * plain)
            plain = np.log(np.maximum(tail / budget, 1.0)) / a
        return plain

    def direct(self, distance: torch.Tensor, volume: torch.Tensor) -> torch.Tensor:
        """The whole kernel at each image distance, for sums taken in real space alone (no
        reciprocal part, no constant) when :meth:`direct_cutoff` is within the real-space
        cutoff anyway: one exponential instead of the split's four special functions."""
        value = torch.exp(-self.decay(volume) * distance)
        return value / distance if self.over_distance else value

    def direct_origin(self) -> float:
        """Diagonal term of a direct sum: exp(0) = 1 where the origin is included."""
        return 1.0 if self.include_origin else 0.0

    def reciprocal_cutoff(self, eta: np.ndarray, volume: np.ndarray, budget: float) -> np.ndarray:
        """Smallest |G| cutoff (1/Angstrom) whose reciprocal bound is within `budget`."""
        k_cut = 6.0 * eta
        for _ in range(_REFINEMENTS):
            prefactor = self._reciprocal_prefactor(eta, k_cut, volume)
            ratio = np.clip(budget / np.maximum(prefactor, 1e-300), 1e-300, 1.0)
            k_cut = np.maximum(2 * eta * erfcinv(ratio), 2 * eta)
        return k_cut


Kernel = InversePower | Exponential
