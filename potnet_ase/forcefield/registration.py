"""Registers the force-field architecture (``"potnet-ff"``) with the model registry, so
``potnet_ase.load_model`` and ``list_pretrained`` treat shipped force fields like any model.
The registry imports this module on demand (its lazy-module table names it)."""

from __future__ import annotations

from typing import Any

from potnet_ase.forcefield.io import ForceFieldModel
from potnet_ase.forcefield.model import ARCHITECTURE, PotNetForceField
from potnet_ase.models.registry import register_architecture


def build_forcefield_module(options: dict[str, Any]) -> PotNetForceField:
    """Registry builder: the ``model`` section of a force field's config.json."""
    return PotNetForceField(**{k: v for k, v in options.items() if k != "architecture"})


register_architecture(ARCHITECTURE, build_forcefield_module, wrapper=ForceFieldModel)
