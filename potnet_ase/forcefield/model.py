"""The smooth PotNet force field.

Energy of a crystal (eV)::

    E = sum_a [ e_ref(Z_a) + s * epsilon_a ]                    atomic energies
      + 1/2 sum_{a != b within r_ZBL} E_ZBL(r_ab)               short-range prior
      + 1/2 k_e sum_{a,b} q_a q_b Zc_ab                         long-range (optional)

* ``epsilon_a`` comes from a message-passing network over the periodic radius graph (cutoff
  ``r_c``, every neighbour kept). Edge filters are a Bessel basis times a polynomial envelope
  with vanishing value, slope and curvature at ``r_c``, and carry no bias, so the energy is
  smooth as atoms cross the cutoff.
* With ``vector_features`` each atom carries scalars s (F) and Cartesian vectors v (3, F)
  updated as in PaiNN / LEIGNN (scalar-vector products only, no Clebsch-Gordan tensor products):
  messages ``ds = phi_s(s_j) W_s(r)``, ``dv = v_j phi_vv(s_j) W_vv(r) + u_ij phi_vs(s_j) W_vs(r)``
  and an update mixing s with the squared norms and dot products of two linear maps of v
  (squared, so the energy stays smooth where v vanishes by symmetry). Without it the
  network is scalar-only (a continuous-filter convolution).
* ``e_ref`` are per-element reference energies fitted to the training set by least squares
  before the network is trained; ``s`` is a fixed energy scale (RMS force of the training set).
* ``q_a`` are latent charges predicted from the final scalars, made neutral per crystal, and
  ``Zc`` is the complete Coulomb lattice sum of :func:`potnet_ase.sums.lattice_pair_sums`
  (Ewald, neutralising background). The quadratic form is evaluated without forming Zc, by
  :func:`potnet_ase.sums.coulomb_energy` (real-space neighbour list plus structure factors,
  O(N^1.5) time), so 4,096-atom cells are affordable. The term is linear in the complete sums,
  extensive and independent of the choice of unit cell, and autograd flows through it into
  forces and stress.

Forces and stress come from :func:`energy_forces_stress` by autograd through all three terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from ase.data import atomic_numbers, chemical_symbols
from torch import nn

from potnet_ase.errors import UnsupportedElementError
from potnet_ase.forcefield.envelope import BesselBasis
from potnet_ase.forcefield.graph import CrystalGraph
from potnet_ase.forcefield.zbl import COULOMB_CONSTANT, ZBLRepulsion
from potnet_ase.sums import coulomb_energy as ewald_coulomb_energy

ARCHITECTURE = "potnet-ff"


def _scatter_sum(values: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    out = values.new_zeros((size, *values.shape[1:]))
    return out.index_add(0, index, values)


class Interaction(nn.Module):
    """One message-passing layer (scalar-vector when ``vectors`` is true)."""

    def __init__(self, features: int, basis_size: int, vectors: bool) -> None:
        super().__init__()
        self.features = features
        self.vectors = vectors
        width = 3 * features if vectors else features
        self.phi = nn.Sequential(
            nn.Linear(features, features), nn.SiLU(), nn.Linear(features, width)
        )
        self.filter = nn.Linear(basis_size, width, bias=False)  # no bias: zero at the cutoff
        if vectors:
            self.mix_u = nn.Linear(features, features, bias=False)
            self.mix_v = nn.Linear(features, features, bias=False)
            self.update = nn.Sequential(
                nn.Linear(2 * features, features), nn.SiLU(), nn.Linear(features, 3 * features)
            )
        else:
            self.update = nn.Sequential(
                nn.Linear(features, features), nn.SiLU(), nn.Linear(features, features)
            )

    def forward(
        self,
        scalars: torch.Tensor,
        vectors: torch.Tensor,
        radial: torch.Tensor,
        unit: torch.Tensor,
        first: torch.Tensor,
        second: torch.Tensor,
        neighbour_norm: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n, f = len(scalars), self.features
        message = self.phi(scalars)[second] * self.filter(radial) / neighbour_norm
        if not self.vectors:
            scalars = scalars + _scatter_sum(message, first, n)
            return scalars + self.update(scalars), vectors
        ds, dvv, dvs = message.split(f, dim=-1)
        dv = vectors[second] * dvv.unsqueeze(1) + unit.unsqueeze(-1) * dvs.unsqueeze(1)
        scalars = scalars + _scatter_sum(ds, first, n)
        vectors = vectors + _scatter_sum(dv, first, n)
        u, v = self.mix_u(vectors), self.mix_v(vectors)
        # The squared norm, not the norm: |v| is a cone at v = 0, and v vanishes by symmetry at
        # the sites of high-symmetry crystals (diamond, fcc, bcc), where a norm would put a
        # cusp into the energy (non-zero force at an infinitesimal displacement).
        squared_norm = (v * v).sum(dim=1)
        a_vv, a_sv, a_ss = self.update(torch.cat([scalars, squared_norm], dim=-1)).split(f, dim=-1)
        vectors = vectors + a_vv.unsqueeze(1) * u
        scalars = scalars + a_sv * (u * v).sum(dim=1) + a_ss
        return scalars, vectors


@dataclass
class ForceFieldOutput:
    """Per-crystal energies (B,) eV; forces (n, 3) eV/A; stress (B, 3, 3) eV/A^3 (ASE sign);
    charges (n,) e when the model has a long-range term."""

    energy: torch.Tensor
    forces: torch.Tensor | None = None
    stress: torch.Tensor | None = None
    charges: torch.Tensor | None = None


class PotNetForceField(nn.Module):
    """Smooth PotNet energy model. All constructor arguments are JSON-serialisable and are
    returned by :meth:`config` (stored next to the weights).

    Args:
        elements: chemical symbols the model covers.
        cutoff: radius-graph cutoff, Angstrom.
        features: width F of the atom features.
        basis_size: number of Bessel radial functions.
        layers: message-passing layers.
        vector_features: PaiNN/LEIGNN-style scalar-vector features (else scalar-only).
        zbl: add the ZBL short-range repulsion prior.
        long_range: add latent charges with the complete Coulomb lattice sum.
        long_range_tol: tolerance of that lattice sum, per entry of Zc (1/Angstrom), so the
            long-range energy is within ``1/2 k_e tol (sum |q|)^2`` of its exact value.
        reference_energies: symbol -> eV, per-element atomic reference energies.
        energy_scale: eV, multiplies the network's atomic energies.
        average_neighbours: mean neighbour count in the training set (message normalisation).
        envelope_power: smoothness order of the cutoff envelope.
    """

    def __init__(
        self,
        elements: list[str],
        cutoff: float = 5.0,
        features: int = 32,
        basis_size: int = 8,
        layers: int = 2,
        vector_features: bool = True,
        zbl: bool = True,
        long_range: bool = False,
        long_range_tol: float = 1e-8,
        reference_energies: dict[str, float] | None = None,
        energy_scale: float = 1.0,
        average_neighbours: float = 1.0,
        envelope_power: int = 6,
    ) -> None:
        super().__init__()
        unknown = [e for e in elements if e not in atomic_numbers]
        if unknown or not elements:
            raise ValueError(f"elements must be chemical symbols; got {elements}")
        self.elements = list(elements)
        self.cutoff = float(cutoff)
        self.features = int(features)
        self.basis_size = int(basis_size)
        self.n_layers = int(layers)
        self.vector_features = bool(vector_features)
        self.use_zbl = bool(zbl)
        self.long_range = bool(long_range)
        self.long_range_tol = float(long_range_tol)
        self.energy_scale = float(energy_scale)
        self.average_neighbours = float(average_neighbours)
        self.envelope_power = int(envelope_power)

        index = torch.full((len(chemical_symbols),), -1, dtype=torch.long)
        for k, symbol in enumerate(self.elements):
            index[atomic_numbers[symbol]] = k
        self.register_buffer("species_index", index, persistent=False)
        references = reference_energies or {}
        self.register_buffer(
            "reference_energy",
            torch.tensor([float(references.get(e, 0.0)) for e in self.elements]),
        )
        self.embedding = nn.Embedding(len(self.elements), self.features)
        self.radial = BesselBasis(self.cutoff, self.basis_size, self.envelope_power)
        self.interactions = nn.ModuleList(
            Interaction(self.features, self.basis_size, self.vector_features)
            for _ in range(self.n_layers)
        )
        self.readout = nn.Sequential(
            nn.Linear(self.features, self.features), nn.SiLU(), nn.Linear(self.features, 1)
        )
        self.zbl = ZBLRepulsion() if self.use_zbl else None
        self.charge_head = nn.Linear(self.features, 1) if self.long_range else None

    def config(self) -> dict[str, Any]:
        """The constructor arguments (JSON-serialisable)."""
        return {
            "elements": self.elements,
            "cutoff": self.cutoff,
            "features": self.features,
            "basis_size": self.basis_size,
            "layers": self.n_layers,
            "vector_features": self.vector_features,
            "zbl": self.use_zbl,
            "long_range": self.long_range,
            "long_range_tol": self.long_range_tol,
            "reference_energies": self.reference_energies(),
            "energy_scale": self.energy_scale,
            "average_neighbours": self.average_neighbours,
            "envelope_power": self.envelope_power,
        }

    def reference_energies(self) -> dict[str, float]:
        return {e: float(v) for e, v in zip(self.elements, self.reference_energy, strict=True)}

    def set_reference_energies(self, references: dict[str, float]) -> None:
        with torch.no_grad():
            for k, symbol in enumerate(self.elements):
                self.reference_energy[k] = float(references.get(symbol, 0.0))

    def species(self, numbers: torch.Tensor, label: str = "structure") -> torch.Tensor:
        """Map atomic numbers to model species; unknown elements raise a typed error."""
        species = self.species_index[numbers]
        if bool((species < 0).any()):
            missing = sorted({chemical_symbols[int(z)] for z in numbers[species < 0]})
            raise UnsupportedElementError(
                f"{label} contains {missing}, which this force field does not cover (it knows "
                f"{self.elements}); choose a model trained on these elements."
            )
        return species

    def forward(
        self, positions: torch.Tensor, cells: torch.Tensor, graph: CrystalGraph
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Energies (B,) in eV and latent charges (n,) (or None) of a batch of crystals.

        Args:
            positions: (n, 3) Cartesian positions, Angstrom, in the model's dtype.
            cells: (B, 3, 3) cell rows, Angstrom.
            graph: the batch's radius graph (integer parts only).
        """
        n = len(positions)
        first, second = graph.edge_first, graph.edge_second
        shift = graph.edge_shift.to(positions.dtype)
        offsets = torch.einsum("ei,eij->ej", shift, cells[graph.batch[first]])
        vectors_e = positions[second] - positions[first] + offsets
        distance = vectors_e.norm(dim=-1)
        unit = vectors_e / distance.unsqueeze(-1)
        radial = self.radial(distance)

        species = self.species(graph.numbers)
        scalars = self.embedding(species)
        vectors = scalars.new_zeros(n, 3, self.features)
        for layer in self.interactions:
            scalars, vectors = layer(
                scalars, vectors, radial, unit, first, second, self.average_neighbours
            )
        atomic = self.energy_scale * self.readout(scalars).squeeze(-1)
        atomic = atomic + self.reference_energy[species]
        if self.zbl is not None:
            pair = self.zbl(distance, graph.numbers[first], graph.numbers[second])
            atomic = atomic + 0.5 * _scatter_sum(pair, first, n)
        energy = _scatter_sum(atomic, graph.batch, graph.n_crystals)
        charges = None
        if self.charge_head is not None:
            charges = self.charge_head(scalars).squeeze(-1)
            mean = _scatter_sum(charges, graph.batch, graph.n_crystals) / graph.n_atoms
            charges = charges - mean[graph.batch]
            energy = energy + self.coulomb_energy(positions, cells, graph, charges)
        return energy, charges

    def coulomb_energy(
        self,
        positions: torch.Tensor,
        cells: torch.Tensor,
        graph: CrystalGraph,
        charges: torch.Tensor,
    ) -> torch.Tensor:
        """``1/2 k_e q^T Zc q`` per crystal (B,), eV, by Ewald summation without pair matrices.

        Args:
            positions: (n, 3) Angstrom; cells: (B, 3, 3) rows, Angstrom; charges: (n,) e. Any
                float dtype: the sum runs in float64 and the result has the charges' dtype.
        """
        energy = ewald_coulomb_energy(
            positions.to(torch.float64),
            cells.to(torch.float64),
            graph.n_atoms,
            charges.to(torch.float64),
            tol=self.long_range_tol,
        )
        return COULOMB_CONSTANT * energy.to(charges.dtype)


def energy_forces_stress(
    model: PotNetForceField,
    positions: torch.Tensor,
    cells: torch.Tensor,
    graph: CrystalGraph,
    *,
    forces: bool = True,
    stress: bool = True,
    create_graph: bool = False,
) -> ForceFieldOutput:
    """Energy, forces (-dE/dx) and stress ((1/V) dE/d(strain), ASE sign) by autograd.

    The strain acts on positions and cell together, ``x' = x (I + eps)``, ``cell' = cell (I +
    eps)``, so the stress includes the cell dependence of the lattice sums.

    Args:
        create_graph: keep the graph of the derivatives (training on forces and stress).
    """
    if not (forces or stress):
        with torch.set_grad_enabled(create_graph):
            energy, charges = model(positions, cells, graph)
        return ForceFieldOutput(energy=energy, charges=charges)
    with torch.enable_grad():
        positions = positions.detach().requires_grad_(True)
        strain = torch.zeros_like(cells, requires_grad=True)
        eye = torch.eye(3, dtype=cells.dtype, device=cells.device)
        deformation = eye + strain
        strained_positions = torch.einsum("ni,nij->nj", positions, deformation[graph.batch])
        strained_cells = cells @ deformation
        energy, charges = model(strained_positions, strained_cells, graph)
        inputs = [positions, strain]
        grads = torch.autograd.grad(
            energy.sum(), inputs, create_graph=create_graph, allow_unused=True
        )
    out = ForceFieldOutput(energy=energy, charges=charges)
    if forces:
        out.forces = -grads[0] if grads[0] is not None else torch.zeros_like(positions)
    if stress:
        volume = torch.linalg.det(cells).abs()
        gradient = grads[1] if grads[1] is not None else torch.zeros_like(cells)
        out.stress = gradient / volume[:, None, None]
    return out


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
