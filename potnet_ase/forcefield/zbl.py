"""A short-range repulsion prior: the Ziegler-Biersack-Littmark universal screened nuclear
repulsion, switched off smoothly beyond the sum of covalent radii.

    E_ZBL(r) = k_e Z_a Z_b / r * phi(r / a),   a = 0.46850 / (Z_a^0.23 + Z_b^0.23)  (Angstrom)
    phi(x)   = 0.18175 e^(-3.19980 x) + 0.50986 e^(-0.94229 x)
             + 0.28022 e^(-0.40290 x) + 0.02817 e^(-0.20162 x)

(Ziegler, Biersack, Littmark, The Stopping and Range of Ions in Solids, 1985.) Multiplied by the
polynomial envelope with cutoff ``scale * (R_cov(a) + R_cov(b))``, the prior is exact as atoms
collide (the network cannot undo 1/r growth) and leaves bonded distances to the network.
"""

from __future__ import annotations

import torch
from ase.data import covalent_radii

from potnet_ase.forcefield.envelope import polynomial_envelope

COULOMB_CONSTANT = 14.399645  # eV Angstrom / e^2
_SCREENING_AMPLITUDES = (0.18175, 0.50986, 0.28022, 0.02817)
_SCREENING_EXPONENTS = (3.19980, 0.94229, 0.40290, 0.20162)


class ZBLRepulsion(torch.nn.Module):
    """Pair repulsion energy per edge (eV), for ordered edges (count each pair twice; the
    caller halves)."""

    def __init__(self, switch_scale: float = 1.0) -> None:
        super().__init__()
        self.switch_scale = float(switch_scale)
        self.register_buffer(
            "covalent_radii", torch.as_tensor(covalent_radii, dtype=torch.get_default_dtype())
        )

    def forward(
        self, distance: torch.Tensor, z_first: torch.Tensor, z_second: torch.Tensor
    ) -> torch.Tensor:
        """Args: distance (E,) Angstrom; z_first, z_second (E,) atomic numbers (int)."""
        za, zb = z_first.to(distance.dtype), z_second.to(distance.dtype)
        screening_length = 0.46850 / (za**0.23 + zb**0.23)
        x = distance / screening_length
        phi = sum(
            c * torch.exp(-k * x)
            for c, k in zip(_SCREENING_AMPLITUDES, _SCREENING_EXPONENTS, strict=True)
        )
        switch = self.switch_scale * (
            self.covalent_radii[z_first] + self.covalent_radii[z_second]
        ).to(distance.dtype)
        return COULOMB_CONSTANT * za * zb / distance * phi * polynomial_envelope(distance, switch)
