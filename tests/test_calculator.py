"""The ASE calculator: conventions, caching, typed errors, predictions, ASE workflows."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from ase import Atoms, units
from ase.build import bulk, molecule
from ase.calculators.calculator import PropertyNotImplementedError
from ase.filters import FrechetCellFilter
from ase.io import Trajectory
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS

import potnet_ase.calculator as calculator_module
from potnet_ase import complete_potentials
from potnet_ase.calculator import PotNetCalculator, prediction_key
from potnet_ase.errors import PotNetInputError, StructureError, UnsupportedElementError
from tests.test_forcefield import sige, tiny_model  # noqa: F401  (fixtures re-used)

# torch-geometric 2.8 calls the deprecated torch.jit.script when imported (torch 2.13); the
# property models import it on first use.
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)


@pytest.fixture
def calc() -> PotNetCalculator:
    return PotNetCalculator(tiny_model(long_range=True))


def test_results_follow_ase_conventions(calc):
    atoms = sige()
    atoms.calc = calc
    assert PotNetCalculator.implemented_properties == ("energy", "free_energy", "forces", "stress")
    energy = atoms.get_potential_energy()
    forces, stress = atoms.get_forces(), atoms.get_stress()
    assert type(energy) is float and atoms.get_potential_energy(force_consistent=True) == energy
    assert forces.dtype == np.float64 and forces.shape == (len(atoms), 3)
    assert stress.dtype == np.float64 and stress.shape == (6,)
    np.testing.assert_allclose(forces.sum(axis=0), 0.0, atol=1e-10)  # translation invariance
    # get_properties raises on unknown keys: results hold only standard ones.
    assert set(calc.results) <= set(PotNetCalculator.implemented_properties)
    atoms.get_properties(["energy", "forces", "stress", "free_energy"])


def test_stress_sign_is_ase_sign():
    """-trace(stress)/3 is the pressure -dE/dV: positive (compressive) stress is negative."""
    model = tiny_model(long_range=True)
    atoms = sige(rattle=0.0)

    def energy_at(scale: float) -> tuple[float, float]:
        scaled = atoms.copy()
        scaled.set_cell(atoms.cell * scale, scale_atoms=True)
        scaled.calc = PotNetCalculator(model)
        return scaled.get_potential_energy(), scaled.get_volume()

    (e_plus, v_plus), (e_minus, v_minus) = energy_at(1 + 1e-4), energy_at(1 - 1e-4)
    pressure = -(e_plus - e_minus) / (v_plus - v_minus)
    atoms.calc = PotNetCalculator(model)
    assert -atoms.get_stress()[:3].mean() == pytest.approx(pressure, rel=1e-5, abs=1e-9)


def test_caching_through_check_state(calc, monkeypatch):
    calls = []
    original = calculator_module.energy_forces_stress

    def counting(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(calculator_module, "energy_forces_stress", counting)
    atoms = sige()
    atoms.calc = calc
    atoms.get_forces()
    atoms.get_stress()
    atoms.get_potential_energy()
    assert len(calls) == 1
    atoms.positions[0, 0] += 0.01
    atoms.get_potential_energy()
    atoms.get_potential_energy()
    assert len(calls) == 2 and calls[-1]["forces"] is False  # energy alone: no backward


def test_parameters_are_json_serialisable_and_survive_trajectories(calc, tmp_path):
    atoms = sige()
    atoms.calc = calc
    json.dumps(calc.todict())
    json.dumps(calc.parameters)
    assert calc.parameters["model"] == "tiny"
    with Trajectory(tmp_path / "run.traj", "w") as trajectory:
        atoms.get_stress()
        atoms.get_forces()
        trajectory.write(atoms)
    with Trajectory(tmp_path / "run.traj") as trajectory:
        read = trajectory[0]
    assert read.get_potential_energy() == pytest.approx(atoms.get_potential_energy())
    np.testing.assert_allclose(read.get_forces(), atoms.get_forces())
    np.testing.assert_allclose(read.get_stress(), atoms.get_stress())


def test_float32_option_agrees():
    atoms = sige()
    reference = PotNetCalculator(tiny_model(long_range=False)).get_forces(atoms)
    single = PotNetCalculator(tiny_model(long_range=False), dtype="float32")
    np.testing.assert_allclose(single.get_forces(atoms), reference, atol=1e-4)
    with pytest.raises(PotNetInputError, match="dtype"):
        PotNetCalculator(tiny_model(long_range=False), dtype="float16")


def test_bad_inputs_give_typed_errors(calc):
    isolated = molecule("H2O")
    isolated.numbers[:] = 14
    isolated.center(vacuum=4.0)
    with pytest.raises(StructureError, match="periodic"):
        calc.get_potential_energy(isolated)
    with pytest.raises(UnsupportedElementError, match="Cu"):
        calc.get_potential_energy(bulk("Cu", cubic=True))

    atoms = sige()
    calc.get_potential_energy(atoms)
    with pytest.raises(StructureError, match="atom count changed"):
        calc.get_potential_energy(atoms[:-1])
    calc.reset(system=True)
    assert np.isfinite(calc.get_potential_energy(atoms[:-1]))


def test_moved_atoms_are_still_validated(calc):
    atoms = sige()
    atoms.calc = calc
    atoms.get_potential_energy()
    atoms.positions[3] = atoms.positions[5] + atoms.cell[0]  # a lattice translation of atom 5
    with pytest.raises(StructureError, match="same position"):
        atoms.get_potential_energy()
    atoms.positions[3, 0] = np.nan
    with pytest.raises(StructureError, match="NaN"):
        atoms.get_potential_energy()


def test_without_force_field_only_predictions():
    calc = PotNetCalculator(model=None, property_models=[])
    assert calc.implemented_properties == ()
    assert PotNetCalculator.implemented_properties == ("energy", "free_energy", "forces", "stress")
    with pytest.raises(PropertyNotImplementedError):
        calc.get_potential_energy(sige())


@pytest.fixture
def tiny_property_model(tmp_path):
    """A small real PotNet property model saved in the project's checkpoint format."""
    from potnet_ase.models.checkpoint import save_checkpoint
    from potnet_ase.models.potnet import PotNet

    torch.manual_seed(0)
    settings = {"architecture": "potnet", "variant": "euclidean", "hidden": 8, "layers": 1,
                "local_bins": 8, "graph": {"potentials": []}}  # fmt: skip
    module = PotNet(settings)
    config = {"name": "tiny-gap", "kind": "property", "target": "band_gap", "units": "eV",
              "model": settings}  # fmt: skip
    return save_checkpoint(tmp_path / "tiny-gap", module.eval(), config)


def test_predict_batched_with_units_in_names(tiny_property_model):
    calc = PotNetCalculator(model=None, property_models=[str(tiny_property_model)])
    assert calc.prediction_names() == ["band_gap_eV"]
    structures = [sige(), bulk("NaCl", "rocksalt", a=5.64), bulk("Si", "diamond", a=5.43)]
    one = calc.predict(structures[1])
    assert list(one) == ["band_gap_eV"] and isinstance(one["band_gap_eV"], float)
    many = calc.predict(structures, batch_size=2)
    assert many["band_gap_eV"].shape == (3,)
    assert many["band_gap_eV"][1] == pytest.approx(one["band_gap_eV"], rel=1e-6)
    assert calc.results == {}
    with pytest.raises(PotNetInputError, match="unknown predictions"):
        calc.predict(structures[0], properties=["bulk_modulus_GPa"])
    with pytest.raises(StructureError, match="structure 1"):
        calc.predict([structures[0], Atoms("Si", cell=[3, 3, 3], pbc=False)])


def test_prediction_keys_carry_units():
    assert prediction_key("band_gap", "eV") == "band_gap_eV"
    assert prediction_key("formation_energy_per_atom", "eV/atom") == (
        "formation_energy_per_atom_eV_per_atom"
    )
    assert prediction_key("bulk_modulus", "log10(GPa)") == "bulk_modulus_log10_GPa"


def test_complete_potentials_from_the_calculator(calc):
    atoms = sige()
    atoms.calc = calc
    matrices = calc.complete_potentials(atoms, ("coulomb", "london"))
    expected = complete_potentials(atoms, ("coulomb", "london"), device="cpu")
    for name in ("coulomb", "london"):
        np.testing.assert_allclose(matrices[name], expected[name])
    assert "coulomb" not in calc.results


def test_ase_optimizer_cell_filter_and_md_run():
    atoms = sige(rattle=0.05)
    atoms.calc = PotNetCalculator(tiny_model(long_range=False))
    start = atoms.get_potential_energy()
    optimizer = BFGS(FrechetCellFilter(atoms), logfile=None)
    optimizer.run(fmax=1e-3, steps=15)
    assert atoms.get_potential_energy() < start

    atoms.set_momenta(np.zeros_like(atoms.positions))
    dynamics = VelocityVerlet(atoms, timestep=0.5 * units.fs)
    dynamics.run(5)
    assert np.isfinite(atoms.get_potential_energy())
