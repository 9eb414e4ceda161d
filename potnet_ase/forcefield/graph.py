"""Periodic radius graphs for the force field, in the flat batch layout of the lattice sums.

The integer parts (which atom pairs and which image shifts lie within the cutoff) are found on
the host with a compiled cell list (pymatgen's, through
:func:`potnet_ase.sums.lattice.periodic_neighbours`) and carry no gradient; the edge
vectors are recomputed in torch from positions and cells, so autograd gives forces and stress.
Every neighbour within the cutoff is kept (no neighbour-count truncation): together with the
smooth envelope this makes the energy a continuous function of the coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from potnet_ase.structures import Crystal
from potnet_ase.sums.lattice import periodic_neighbours


@dataclass
class CrystalGraph:
    """A batch of crystals with their radius-graph edges.

    Attributes:
        numbers: (n,) atomic numbers, int64.
        batch: (n,) crystal index of each atom.
        n_atoms: (B,) atoms per crystal.
        edge_first: (E,) receiving atom (global index) of each ordered edge.
        edge_second: (E,) sending atom.
        edge_shift: (E, 3) integer image offsets (as floats): the edge vector is
            ``x[second] - x[first] + edge_shift @ cell``.
        cutoff: the radius, Angstrom.
    """

    numbers: torch.Tensor
    batch: torch.Tensor
    n_atoms: torch.Tensor
    edge_first: torch.Tensor
    edge_second: torch.Tensor
    edge_shift: torch.Tensor
    cutoff: float

    @property
    def n_crystals(self) -> int:
        return len(self.n_atoms)

    def to(self, device: torch.device | str) -> CrystalGraph:
        return CrystalGraph(
            self.numbers.to(device),
            self.batch.to(device),
            self.n_atoms.to(device),
            self.edge_first.to(device),
            self.edge_second.to(device),
            self.edge_shift.to(device),
            self.cutoff,
        )


def crystal_edges(
    positions: np.ndarray, cell: np.ndarray, cutoff: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All ordered pairs (i, j, shift) with |x_j - x_i + shift @ cell| <= cutoff, i != j or
    shift != 0 (periodic images of an atom itself are neighbours too): the neighbour list of
    the Ewald real space, a compiled cell list
    (:func:`potnet_ase.sums.lattice.periodic_neighbours`)."""
    return periodic_neighbours(positions, cell, cutoff)


def build_graph(crystals: Sequence[Crystal], cutoff: float) -> CrystalGraph:
    """Radius graph of validated crystals (host arrays in, CPU tensors out)."""
    firsts, seconds, shifts, numbers, counts = [], [], [], [], []
    offset = 0
    for crystal in crystals:
        i, j, s = crystal_edges(crystal.positions, crystal.cell, cutoff)
        firsts.append(i + offset)
        seconds.append(j + offset)
        shifts.append(s)
        numbers.append(crystal.numbers)
        counts.append(crystal.n_atoms)
        offset += crystal.n_atoms
    n_atoms = torch.as_tensor(counts, dtype=torch.long)
    return CrystalGraph(
        numbers=torch.as_tensor(np.concatenate(numbers), dtype=torch.long),
        batch=torch.repeat_interleave(torch.arange(len(counts)), n_atoms),
        n_atoms=n_atoms,
        edge_first=torch.as_tensor(np.concatenate(firsts), dtype=torch.long),
        edge_second=torch.as_tensor(np.concatenate(seconds), dtype=torch.long),
        edge_shift=torch.as_tensor(np.concatenate(shifts), dtype=torch.float64),
        cutoff=float(cutoff),
    )
