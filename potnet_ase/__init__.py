"""potnet-ase: PotNet's complete interatomic potentials for ASE, matminer and scikit-learn.

Public API (DESIGN.md section 4)::

    complete_potentials(structure, potentials=("coulomb", "london", "pauli"), *,
                        convention="physical", pauli_alpha=3.0, tol=1e-10, device=None)
    complete_potentials_batch(structures, **same)

    list_pretrained() -> list[dict]
    load_model(name_or_path, device=None)  # .predict(structures, batch_size=64), .embed(...)
    PotNetCalculator(model="default", device="auto")  # ASE calculator

The differentiable torch-level engine is :func:`potnet_ase.sums.lattice_pair_sums`.
"""

from potnet_ase.api import complete_potentials, complete_potentials_batch
from potnet_ase.calculator import PotNetCalculator
from potnet_ase.errors import (
    CheckpointError,
    PotNetInputError,
    ResourceLimitError,
    StructureError,
    UnsupportedElementError,
)
from potnet_ase.models import list_pretrained, load_model

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "PotNetCalculator",
    "PotNetInputError",
    "ResourceLimitError",
    "StructureError",
    "UnsupportedElementError",
    "complete_potentials",
    "complete_potentials_batch",
    "list_pretrained",
    "load_model",
]
