"""PotNet models: atom encoding, the network, the architecture registry and loading.

Public entry points: :func:`load_model`, :func:`list_pretrained`,
:func:`~potnet_ase.models.registry.register_architecture`. Importing this package does not
import torch-geometric; building or loading a network does.
"""

from potnet_ase.models.loading import list_pretrained, load_model
from potnet_ase.models.registry import register_architecture

__all__ = ["list_pretrained", "load_model", "register_architecture"]
