"""Named complete potentials as linear combinations of kernels.

=================  ===========================================  =================
name               lattice sum over images (r+L != 0 unless     units
                   noted)
=================  ===========================================  =================
coulomb            regularised sum of 1/|r+L| (Ewald, zero      1/Angstrom
                   cell average)
london             sum of |r+L|^-6                              1/Angstrom^6
pauli (physical)   sum of exp(-alpha |r+L|)                     dimensionless
pauli (potnet)     sum over ALL L of exp(-alpha V^(-1/6)|r+L|)  dimensionless
lennard_jones      sigma^12 Z12 - sigma^6 Z6                    dimensionless
morse              sum of e^(-2a(d-r0)) - 2 e^(-a(d-r0))        dimensionless
screened_coulomb   sum of exp(-kappa d) / d                     1/Angstrom
=================  ===========================================  =================

Coulomb and London are the same in both conventions; only Pauli differs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from potnet_ase.sums.kernels import Exponential, InversePower, Kernel

POTENTIALS = ("coulomb", "london", "pauli", "lennard_jones", "morse", "screened_coulomb")
DEFAULT_POTENTIALS = ("coulomb", "london", "pauli")
CONVENTIONS = ("physical", "potnet")
UNITS = {
    "coulomb": "1/Angstrom",
    "london": "1/Angstrom^6",
    "pauli": "dimensionless",
    "lennard_jones": "dimensionless (sigma in Angstrom)",
    "morse": "dimensionless (depth 1)",
    "screened_coulomb": "1/Angstrom",
}


@dataclass(frozen=True)
class PotentialParameters:
    """Parameters of the named potentials (lengths in Angstrom, decay constants in 1/Angstrom).

    Attributes:
        convention: ``"physical"`` or ``"potnet"`` (PotNet's published Pauli sum; see module doc).
        pauli_alpha: Pauli decay constant alpha (PotNet's default 3.0).
        lj_sigma: Lennard-Jones length sigma.
        morse_alpha: Morse width parameter a.
        morse_r0: Morse equilibrium distance r0.
        screening_kappa: inverse screening length of the screened Coulomb sum.
    """

    convention: str = "physical"
    pauli_alpha: float = 3.0
    lj_sigma: float = 1.0
    morse_alpha: float = 1.0
    morse_r0: float = 1.0
    screening_kappa: float = 1.0

    def __post_init__(self) -> None:
        if self.convention not in CONVENTIONS:
            raise ValueError(f"convention must be one of {CONVENTIONS}; got {self.convention!r}")
        for field in ("pauli_alpha", "lj_sigma", "morse_alpha", "screening_kappa"):
            if not getattr(self, field) > 0:
                raise ValueError(f"{field} must be positive; got {getattr(self, field)!r}")


def check_potentials(potentials: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Validate potential names; returns them as a tuple without duplicates, order kept."""
    if isinstance(potentials, str):
        potentials = (potentials,)
    unknown = [p for p in potentials if p not in POTENTIALS]
    if unknown or not potentials:
        raise ValueError(f"unknown potentials {unknown}; choose from {POTENTIALS}")
    return tuple(dict.fromkeys(potentials))


def decompose(name: str, params: PotentialParameters) -> list[tuple[float, Kernel]]:
    """The named potential as ``sum coefficient * kernel``."""
    if name == "coulomb":
        return [(1.0, InversePower(0.5))]
    if name == "london":
        return [(1.0, InversePower(3.0))]
    if name == "pauli":
        potnet = params.convention == "potnet"
        kernel = Exponential(params.pauli_alpha, volume_scaled=potnet, include_origin=potnet)
        return [(1.0, kernel)]
    if name == "lennard_jones":
        s6 = params.lj_sigma**6
        return [(s6 * s6, InversePower(6.0)), (-s6, InversePower(3.0))]
    if name == "morse":
        a, r0 = params.morse_alpha, params.morse_r0
        return [
            (math.exp(2 * a * r0), Exponential(2 * a)),
            (-2 * math.exp(a * r0), Exponential(a)),
        ]
    if name == "screened_coulomb":
        return [(1.0, Exponential(params.screening_kappa, over_distance=True))]
    raise ValueError(f"unknown potential {name!r}; choose from {POTENTIALS}")
