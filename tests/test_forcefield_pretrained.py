"""Shipped force fields: drift against stored references, exact derivatives, and the physics
checks of issue 5 on silicon (NVE energy conservation, relaxation, equation of state).

The full 2 ps NVE run is in ``benchmarks/bench_forcefield.py`` (``--md``); CI runs a shorter
trajectory of the same system.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress
from ase.eos import EquationOfState
from ase.filters import FrechetCellFilter
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS

from potnet_ase.calculator import PotNetCalculator
from potnet_ase.forcefield import list_forcefields, load_forcefield
from potnet_ase.forcefield.io import REFERENCE_FILE, find_forcefield, predict_reference

SHIPPED = list_forcefields()
needs_si = pytest.mark.skipif("ff-si" not in SHIPPED, reason="ff-si is not shipped")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_reproduces_its_reference_predictions(name):
    model = load_forcefield(name)
    stored = json.loads((find_forcefield(name) / REFERENCE_FILE).read_text())
    atoms_list = []
    from ase import Atoms

    for record in stored:
        atoms_list.append(
            Atoms(record["symbols"], positions=record["positions"], cell=record["cell"], pbc=True)
        )
    for now, then in zip(predict_reference(model, atoms_list), stored, strict=True):
        assert now["energy"] == pytest.approx(then["energy"], abs=1e-6)
        np.testing.assert_allclose(now["forces"], then["forces"], atol=1e-6)
        np.testing.assert_allclose(now["stress"], then["stress"], atol=1e-8)


@needs_si
def test_shipped_silicon_forces_and_stress_are_exact_derivatives():
    atoms = bulk("Si", "diamond", a=5.45, cubic=True)
    atoms.set_cell(atoms.cell.array @ np.array([[1.01, 0.02, 0], [0, 0.99, 0], [0, 0.01, 1]]),
                   scale_atoms=True)  # fmt: skip
    atoms.rattle(0.1, seed=3)
    atoms.calc = PotNetCalculator("ff-si")
    np.testing.assert_allclose(
        atoms.get_forces(), calculate_numerical_forces(atoms, eps=1e-4), atol=1e-5
    )
    np.testing.assert_allclose(
        atoms.get_stress(), calculate_numerical_stress(atoms, eps=1e-5), atol=1e-6
    )


def silicon_lattice_constant(calc: PotNetCalculator, start: float) -> float:
    atoms = bulk("Si", "diamond", a=start, cubic=True)
    atoms.calc = calc
    BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=1e-4, steps=200)
    lengths = atoms.cell.lengths()
    assert np.ptp(lengths) < 1e-4  # stays cubic
    return float(lengths.mean())


@needs_si
def test_relaxation_returns_to_the_lattice_constant_of_the_training_data():
    card = load_forcefield("ff-si").card
    dft = card["dft_reference"]["lattice_constant_A"]
    calc = PotNetCalculator("ff-si")
    from_above = silicon_lattice_constant(calc, 5.60)
    calc.reset(system=True)
    from_below = silicon_lattice_constant(calc, 5.35)
    assert from_above == pytest.approx(from_below, abs=2e-4)
    assert from_above == pytest.approx(dft, rel=5e-3)


@needs_si
def test_diamond_is_a_minimum_of_the_silicon_model():
    """A rattled diamond cell relaxes back to diamond (no spurious lower-symmetry minimum)."""
    card = load_forcefield("ff-si").card
    ideal = bulk("Si", "diamond", a=card["dft_reference"]["lattice_constant_A"], cubic=True)
    calc = PotNetCalculator("ff-si")
    ideal_energy = calc.get_potential_energy(ideal)
    rattled = ideal.copy()
    rattled.rattle(0.03, seed=1)
    rattled.calc = calc
    BFGS(rattled, logfile=None).run(fmax=1e-4, steps=300)
    assert rattled.get_potential_energy() >= ideal_energy - 1e-5
    displacement = rattled.positions - ideal.positions
    displacement -= displacement.mean(axis=0)
    assert np.abs(displacement).max() < 1e-3


@needs_si
def test_equation_of_state_bulk_modulus_near_dft():
    card = load_forcefield("ff-si").card
    atoms = bulk("Si", "diamond", a=card["dft_reference"]["lattice_constant_A"], cubic=True)
    calc = PotNetCalculator("ff-si")
    volumes, energies = [], []
    for scale in np.linspace(0.97, 1.03, 7):
        strained = atoms.copy()
        strained.set_cell(atoms.cell * scale, scale_atoms=True)
        volumes.append(strained.get_volume())
        energies.append(calc.get_potential_energy(strained))
    _, _, bulk_modulus = EquationOfState(volumes, energies, eos="birchmurnaghan").fit()
    bulk_modulus_gpa = bulk_modulus / units.GPa
    # The documented comparison (model card): within 15 % of the DFT value of the training data.
    assert bulk_modulus_gpa == pytest.approx(card["dft_reference"]["bulk_modulus_GPa"], rel=0.15)


@needs_si
def test_nve_silicon_conserves_energy():
    """64-atom diamond Si at 1000 K, 1 fs steps, 100 fs (the full 2 ps run: benchmarks)."""
    atoms = bulk("Si", "diamond", a=5.47, cubic=True).repeat(2)
    atoms.calc = PotNetCalculator("ff-si")
    # 2000 K of kinetic energy equilibrates to ~1000 K (equipartition with the potential).
    thermalize_momenta(atoms, 2000, rng=np.random.default_rng(0))
    Stationary(atoms)
    totals = []
    dynamics = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    dynamics.attach(lambda: totals.append(atoms.get_total_energy() / len(atoms)), interval=1)
    dynamics.run(100)
    totals = np.array(totals)
    assert np.ptp(totals) < 2e-3  # eV/atom fluctuation of the total energy
    drift = np.polyfit(np.arange(len(totals)) * 1e-3, totals, 1)[0]  # eV/atom/ps
    assert abs(drift) < 1e-3


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@needs_si
def test_force_fields_load_through_the_model_registry():
    from potnet_ase.models import list_pretrained, load_model

    entries = {e["name"]: e for e in list_pretrained()}
    assert entries["ff-si"]["kind"] == "forcefield"
    model = load_model("ff-si")
    atoms = bulk("Si", "diamond", a=5.47)
    per_atom = model.predict([atoms, atoms.repeat(2)])
    assert per_atom[0] == pytest.approx(per_atom[1], abs=1e-9)  # extensive energy
    calc = model.calculator()
    assert calc.get_potential_energy(atoms) == pytest.approx(2 * per_atom[0], abs=1e-9)


def test_default_calculator_uses_a_shipped_force_field():
    if not SHIPPED:
        pytest.skip("no force field shipped")
    calc = PotNetCalculator()
    assert calc.parameters["model"] in SHIPPED
    assert calc.implemented_properties == ("energy", "free_energy", "forces", "stress")
