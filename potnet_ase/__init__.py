"""potnet-ase: PotNet's complete interatomic potentials for ASE, matminer and scikit-learn.

Public API (DESIGN.md section 4)::

    complete_potentials(structure, potentials=("coulomb", "london", "pauli"), *,
                        convention="physical", pauli_alpha=3.0, tol=1e-10, device=None)
    complete_potentials_batch(structures, **same)

The differentiable torch-level engine is :func:`potnet_ase.sums.lattice_pair_sums`.
"""

from potnet_ase.api import complete_potentials, complete_potentials_batch
from potnet_ase.errors import (
    CheckpointError,
    PotNetInputError,
    ResourceLimitError,
    StructureError,
    UnsupportedElementError,
)

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "PotNetInputError",
    "ResourceLimitError",
    "StructureError",
    "UnsupportedElementError",
    "complete_potentials",
    "complete_potentials_batch",
]
