"""Complete lattice sums: the torch-level engine and its building blocks.

The entry point is :func:`lattice_pair_sums` (tensors in, tensors out, autograd intact).
"""

from potnet_ase.sums.engine import PairSums, lattice_pair_sums
from potnet_ase.sums.ewald_energy import coulomb_energy
from potnet_ase.sums.potentials import (
    CONVENTIONS,
    DEFAULT_POTENTIALS,
    POTENTIALS,
    UNITS,
    PotentialParameters,
)

__all__ = [
    "CONVENTIONS",
    "DEFAULT_POTENTIALS",
    "POTENTIALS",
    "UNITS",
    "PairSums",
    "PotentialParameters",
    "coulomb_energy",
    "lattice_pair_sums",
]
