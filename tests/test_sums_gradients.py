"""Forces and stress of a charge-weighted energy built on the sums, against finite
differences (ase.calculators.fd)."""

from __future__ import annotations

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress

from potnet_ase.autograd import energy_forces_stress
from potnet_ase.examples import perovskite
from potnet_ase.sums import lattice_pair_sums

COULOMB_EV_ANGSTROM = 14.399645


class LatticeSumModel(Calculator):
    """E = 1/2 sum_ab [k q_a q_b Zc - c6 Z6 + A P]_ab: an ionic toy model made of the sums."""

    implemented_properties = ("energy", "free_energy", "forces", "stress")

    def __init__(self, charges: np.ndarray, c6: float = 40.0, repulsion: float = 800.0):
        super().__init__()
        self.charges = torch.tensor(charges, dtype=torch.float64)
        self.c6, self.repulsion = c6, repulsion

    def energy_of(self, positions: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        sums = lattice_pair_sums(positions, cell[None], [len(positions)], tol=1e-12)
        n = len(positions)
        coulomb = sums.values["coulomb"].view(n, n)
        pair_energy = (
            COULOMB_EV_ANGSTROM * self.charges[:, None] * self.charges[None, :] * coulomb
            - self.c6 * sums.values["london"].view(n, n)
            + self.repulsion * sums.values["pauli"].view(n, n)
        )
        return 0.5 * pair_energy.sum()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        positions = torch.tensor(self.atoms.positions)
        cell = torch.tensor(self.atoms.cell.array)
        if set(properties) <= {"energy", "free_energy"}:  # finite differences need no autograd
            with torch.no_grad():
                energy = self.energy_of(positions, cell).item()
            self.results = {"energy": energy, "free_energy": energy}
            return
        energy, forces, stress = energy_forces_stress(self.energy_of, positions, cell)
        self.results = {
            "energy": energy.item(),
            "free_energy": energy.item(),
            "forces": forces.numpy(),
            "stress": stress.detach().numpy(),
        }


def _rattled_perovskite():
    atoms = perovskite()
    atoms.set_cell(atoms.cell.array @ np.array([[1.02, 0.03, 0], [0, 0.99, 0.02], [0, 0, 1.01]]),
                   scale_atoms=True)  # fmt: skip
    atoms.rattle(0.08, seed=7)
    atoms.calc = LatticeSumModel(np.array([2.0, 4.0, -2.0, -2.0, -2.0]))
    return atoms


def test_forces_match_finite_differences():
    atoms = _rattled_perovskite()
    analytic = atoms.get_forces()
    numeric = calculate_numerical_forces(atoms, eps=1e-4)
    assert np.abs(analytic).max() > 0.1  # a real test: the forces are not trivially zero
    np.testing.assert_allclose(analytic, numeric, atol=1e-6)


def test_stress_matches_strain_derivative():
    atoms = _rattled_perovskite()
    analytic = atoms.get_stress()
    numeric = calculate_numerical_stress(atoms, eps=1e-6)
    assert np.abs(analytic).max() > 1e-3
    np.testing.assert_allclose(analytic, numeric, atol=1e-7)


def test_gradients_flow_to_positions_and_cell():
    atoms = perovskite()
    positions = torch.tensor(atoms.positions, requires_grad=True)
    cell = torch.tensor(atoms.cell.array[None], requires_grad=True)
    sums = lattice_pair_sums(positions, cell, [len(atoms)], ["pauli"], tol=1e-12)
    sums.values["pauli"].sum().backward()
    assert torch.isfinite(positions.grad).all() and torch.isfinite(cell.grad).all()
    # Uniform expansion lowers every exp(-alpha r) sum: d/d(scale) < 0.
    assert (
        float((cell.grad * cell.detach()).sum() + (positions.grad * positions.detach()).sum()) < 0
    )
