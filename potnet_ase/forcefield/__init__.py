"""Smooth PotNet force fields: model, smooth radial functions, ZBL prior, training, I/O.

Public names::

    PotNetForceField             the energy model (torch.nn.Module)
    energy_forces_stress         energy, forces and stress of a batch by autograd
    build_graph, CrystalGraph    periodic radius graphs in the flat batch layout
    load_forcefield              by shipped name or directory (weights_only loading)
    list_forcefields             names of the shipped force fields
    train_forcefield             training from a JSON-style config (see training.py)
"""

from potnet_ase.forcefield.graph import CrystalGraph, build_graph
from potnet_ase.forcefield.io import list_forcefields, load_forcefield, save_forcefield
from potnet_ase.forcefield.model import (
    ARCHITECTURE,
    ForceFieldOutput,
    PotNetForceField,
    energy_forces_stress,
)

__all__ = [
    "ARCHITECTURE",
    "CrystalGraph",
    "ForceFieldOutput",
    "PotNetForceField",
    "build_graph",
    "energy_forces_stress",
    "list_forcefields",
    "load_forcefield",
    "save_forcefield",
    "train_forcefield",
]


def train_forcefield(config: dict) -> dict:
    """See :func:`potnet_ase.forcefield.training.train_forcefield` (imported lazily)."""
    from potnet_ase.forcefield.training import train_forcefield as train

    return train(config)
