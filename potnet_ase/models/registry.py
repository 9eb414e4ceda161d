"""Architecture registry: the ``architecture`` name in a model's config.json selects a builder.

A builder takes the ``model`` section of the config (a dict) and returns a
``torch.nn.Module``; the wrapper class turns module + config into the user-facing object that
:func:`potnet_ase.models.load_model` returns (``.predict(structures, batch_size=64)``).

Registering a new architecture (e.g. a force field)::

    from potnet_ase.models.registry import register_architecture

    register_architecture("forcefield", build_forcefield, wrapper=ForceFieldModel,
                          module="potnet_ase.forcefield")

``module`` names the Python module that performs the registration, so configs naming the
architecture can be loaded without the caller importing it first.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from potnet_ase.errors import CheckpointError


@dataclass(frozen=True)
class Architecture:
    """A registered architecture.

    Attributes:
        builder: ``model`` config section -> ``torch.nn.Module``.
        wrapper: class with ``wrapper(module, config, device)`` giving the loaded model.
    """

    builder: Callable[[dict[str, Any]], torch.nn.Module]
    wrapper: type


_ARCHITECTURES: dict[str, Architecture] = {}
# Architectures registered by modules that are imported on first use.
_LAZY_MODULES: dict[str, str] = {
    "potnet": "potnet_ase.models.potnet",
    "potnet-ff": "potnet_ase.forcefield.registration",
}


def register_architecture(
    name: str,
    builder: Callable[[dict[str, Any]], torch.nn.Module],
    wrapper: type | None = None,
    module: str | None = None,
) -> None:
    """Register `builder` (and the user-facing `wrapper`, default the property predictor)
    under `name`; `module` is imported on demand when a config names `name`."""
    if wrapper is None:
        from potnet_ase.models.predictor import PropertyModel

        wrapper = PropertyModel
    _ARCHITECTURES[name] = Architecture(builder=builder, wrapper=wrapper)
    if module is not None:
        _LAZY_MODULES[name] = module


def declare_architecture_module(name: str, module: str) -> None:
    """Tell the registry that importing `module` registers architecture `name`."""
    _LAZY_MODULES[name] = module


def get_architecture(name: str) -> Architecture:
    """The registered architecture `name` (importing its module if declared)."""
    if name not in _ARCHITECTURES and name in _LAZY_MODULES:
        importlib.import_module(_LAZY_MODULES[name])
    if name not in _ARCHITECTURES:
        known = sorted(set(_ARCHITECTURES) | set(_LAZY_MODULES))
        raise CheckpointError(
            f"unknown model architecture {name!r}; registered: {known}. The checkpoint comes "
            "from another package or a newer version of potnet-ase."
        )
    return _ARCHITECTURES[name]


def build_module(model_config: dict[str, Any]) -> torch.nn.Module:
    """Build the network named by ``model_config["architecture"]``."""
    return get_architecture(model_config.get("architecture", "potnet")).builder(model_config)
