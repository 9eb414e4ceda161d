"""The force-field model: exact derivatives, invariances, smoothness, the ZBL prior."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress

from potnet_ase.calculator import PotNetCalculator
from potnet_ase.errors import UnsupportedElementError
from potnet_ase.forcefield import PotNetForceField, build_graph, energy_forces_stress
from potnet_ase.structures import to_crystal


def tiny_model(long_range: bool, vector_features: bool = True, seed: int = 0) -> PotNetForceField:
    torch.manual_seed(seed)
    model = PotNetForceField(
        ["Si", "Ge"],
        cutoff=4.0,
        features=8,
        basis_size=4,
        layers=2,
        vector_features=vector_features,
        long_range=long_range,
        long_range_tol=1e-13,
        reference_energies={"Si": -5.4, "Ge": -4.5},
        energy_scale=0.3,
        average_neighbours=10.0,
    )
    with torch.no_grad():  # random but non-trivial latent charges
        if model.charge_head is not None:
            model.charge_head.weight.mul_(20.0)
    model.name = "tiny"
    return model.double()


def sige(rattle: float = 0.08, seed: int = 1) -> Atoms:
    atoms = bulk("Si", "diamond", a=5.5, cubic=True)
    atoms.numbers[[1, 4, 6]] = 32
    # A skewed, strained cell: stress components off the diagonal are non-zero.
    strain = np.array([[1.0, 0.03, 0.0], [0.02, 0.98, 0.01], [0, 0, 1.02]])
    atoms.set_cell(atoms.cell.array @ strain, scale_atoms=True)
    atoms.rattle(rattle, seed=seed)
    return atoms


def energy(model: PotNetForceField, atoms: Atoms) -> float:
    crystal = to_crystal(atoms)
    graph = build_graph([crystal], model.cutoff)
    out = energy_forces_stress(
        model,
        torch.as_tensor(crystal.positions),
        torch.as_tensor(crystal.cell[None]),
        graph,
        forces=False,
        stress=False,
    )
    return float(out.energy[0])


@pytest.mark.parametrize("long_range", [False, True])
@pytest.mark.parametrize("vector_features", [False, True])
def test_forces_and_stress_are_exact_derivatives(long_range, vector_features):
    atoms = sige()
    atoms.calc = PotNetCalculator(tiny_model(long_range, vector_features))
    forces = atoms.get_forces()
    stress = atoms.get_stress()
    assert np.abs(forces).max() > 1e-2 and np.abs(stress).max() > 1e-4
    numerical_forces = calculate_numerical_forces(atoms, eps=1e-4)
    numerical_stress = calculate_numerical_stress(atoms, eps=1e-5)
    np.testing.assert_allclose(forces, numerical_forces, rtol=0, atol=1e-5)
    np.testing.assert_allclose(stress, numerical_stress, rtol=0, atol=1e-6)


@pytest.mark.parametrize("long_range", [False, True])
def test_energy_invariances_and_extensivity(long_range):
    model = tiny_model(long_range)
    atoms = sige()
    reference = energy(model, atoms)

    moved = atoms.copy()
    moved.translate([0.3, -1.7, 2.2])
    assert energy(model, moved) == pytest.approx(reference, abs=1e-9)

    rotated = atoms.copy()
    rotated.rotate(37, (1, 2, 3), rotate_cell=True)
    assert energy(model, rotated) == pytest.approx(reference, abs=1e-9)

    permutation = np.random.default_rng(0).permutation(len(atoms))
    assert energy(model, atoms[permutation]) == pytest.approx(reference, abs=1e-9)

    # Another choice of cell for the same crystal: a supercell and a sheared basis.
    assert energy(model, atoms.repeat((2, 1, 1))) == pytest.approx(2 * reference, abs=1e-8)
    sheared = atoms.copy()
    sheared.set_cell(np.array([atoms.cell[0], atoms.cell[1] + atoms.cell[0], atoms.cell[2]]))
    assert energy(model, sheared) == pytest.approx(reference, abs=1e-9)


def test_energy_is_smooth_when_an_atom_crosses_the_cutoff():
    model = tiny_model(long_range=False)
    cutoff = model.cutoff

    def dimer(distance: float) -> Atoms:
        return Atoms("SiGe", positions=[[0, 0, 0], [distance, 0, 0]], cell=[20, 20, 20], pbc=True)

    def forces(distance: float) -> np.ndarray:
        atoms = dimer(distance)
        atoms.calc = PotNetCalculator(model)
        return atoms.get_forces()

    isolated = energy(model, dimer(cutoff + 1.0))
    for delta in (1e-2, 1e-3):
        inside, outside = energy(model, dimer(cutoff - delta)), energy(model, dimer(cutoff + delta))
        assert outside == pytest.approx(isolated, abs=1e-12)
        assert abs(inside - outside) < 10 * delta**3  # value, slope and curvature vanish
        assert np.abs(forces(cutoff - delta)).max() < 10 * delta**2
    assert np.abs(energy(model, dimer(cutoff - 0.5)) - isolated) > 1e-6  # it does interact


@pytest.mark.parametrize("vector_features", [False, True])
def test_energy_is_smooth_at_high_symmetry_sites(vector_features):
    """At diamond sites the vector features vanish by symmetry; a small displacement must give
    a force linear in it (no cusp) and an energy change quadratic in it."""
    model = tiny_model(long_range=False, vector_features=vector_features)
    if vector_features:
        with torch.no_grad():  # vectors large enough that a cusp at v = 0 would show
            for layer in model.interactions:
                layer.mix_u.weight.mul_(30.0)
                layer.mix_v.weight.mul_(30.0)
    ideal = bulk("Si", "diamond", a=5.5, cubic=True)
    base = energy(model, ideal)
    forces, changes = [], []
    for step in (5e-3, 1e-2):
        displaced = ideal.copy()
        displaced.positions[0] += step * np.array([1.0, 0.3, -0.2])
        displaced.calc = PotNetCalculator(model)
        forces.append(np.abs(displaced.get_forces()[0]).max())
        changes.append(energy(model, displaced) - base)
    assert forces[1] / forces[0] == pytest.approx(2.0, rel=0.02)
    assert changes[1] / changes[0] == pytest.approx(4.0, rel=0.02)


def test_zbl_prior_keeps_atoms_apart():
    model = tiny_model(long_range=False)
    energies = [
        energy(model, Atoms("Si2", positions=[[0, 0, 0], [d, 0, 0]], cell=[12] * 3, pbc=True))
        for d in (0.2, 0.4, 0.8)
    ]
    assert energies[0] > energies[1] > energies[2]
    assert energies[0] - energies[2] > 100.0  # eV: screened nuclear repulsion dominates


def test_unknown_element_is_a_typed_error():
    model = tiny_model(long_range=False)
    with pytest.raises(UnsupportedElementError, match="Cu"):
        energy(model, bulk("Cu", cubic=True))


def test_graph_keeps_every_neighbour():
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    graph = build_graph([to_crystal(atoms)], 5.0)
    # diamond shells within 5 A (2.35, 3.84, 4.50 A): 4 + 12 + 12 neighbours per atom
    assert len(graph.edge_first) == 28 * len(atoms)
