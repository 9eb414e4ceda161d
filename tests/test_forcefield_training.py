"""Force-field training end to end on a tiny synthetic data set (EMT copper, extxyz)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from potnet_ase.calculator import PotNetCalculator
from potnet_ase.errors import CheckpointError
from potnet_ase.forcefield import load_forcefield
from potnet_ase.forcefield.io import CARD_FILE, REFERENCE_FILE
from potnet_ase.forcefield.training import fit_reference_energies, load_frames, resolve_config
from potnet_ase.forcefield.training import main as training_main


@pytest.fixture
def emt_frames(tmp_path):
    frames = []
    for k in range(8):
        atoms = bulk("Cu", "fcc", a=3.6 * (0.98 + 0.01 * (k % 5)), cubic=True)
        if k % 2:
            atoms.numbers[0] = 28  # some Ni
        atoms.rattle(0.05, seed=k)
        atoms.calc = EMT()
        results = {
            "energy": atoms.get_potential_energy(),
            "forces": atoms.get_forces(),
            "stress": atoms.get_stress(),
        }
        atoms.calc = SinglePointCalculator(atoms, **results)
        atoms.info["config_type"] = "bulk" if k < 6 else "strained"
        frames.append(atoms)
    path = tmp_path / "cu_emt.extxyz"
    write(path, frames, format="extxyz")
    return path


@pytest.mark.parametrize("long_range", [False, True])
def test_training_writes_a_loadable_force_field(emt_frames, tmp_path, long_range):
    """With long_range the force loss differentiates the Ewald energy twice (create_graph)."""
    config = {
        "task": "forcefield",
        "name": "ff-test",
        "train_files": [str(emt_frames)],
        "output": str(tmp_path / "ff-test"),
        "validation_fraction": 0.25,
        "model": {
            "cutoff": 4.0,
            "features": 8,
            "basis_size": 4,
            "layers": 1,
            "long_range": long_range,
        },
        "epochs": 2,
        "batch_size": 2,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert training_main([str(tmp_path / "config.json")]) == 0
    folder = tmp_path / "ff-test"
    for name in ("config.json", "weights.pt", REFERENCE_FILE, CARD_FILE):
        assert (folder / name).exists()
    saved = json.loads((folder / "config.json").read_text())
    assert saved["kind"] == "forcefield" and saved["model"]["architecture"] == "potnet-ff"
    assert saved["model"]["long_range"] is long_range
    assert set(saved["model"]["elements"]) == {"Cu", "Ni"}
    assert saved["training"]["n_validation_frames"] == 2  # 1 of each group
    assert np.isfinite(saved["metrics"]["validation"]["forces_mae_eV_per_A"])

    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.calc = PotNetCalculator(str(folder))
    assert np.isfinite(atoms.get_potential_energy())
    assert load_forcefield(folder).card["name"] == "ff-test"


def test_reference_energies_are_least_squares_per_element(emt_frames):
    frames = load_frames([str(emt_frames)], cutoff=4.0)
    references = fit_reference_energies(frames, ["Cu", "Ni"])
    counts = np.array([[np.sum(f.numbers == 29), np.sum(f.numbers == 28)] for f in frames])
    energies = np.array([f.energy for f in frames])
    solution = np.linalg.lstsq(counts, energies, rcond=None)[0]
    assert references["Cu"] == pytest.approx(solution[0])
    assert references["Ni"] == pytest.approx(solution[1])


def test_config_is_checked():
    with pytest.raises(ValueError, match="lacks"):
        resolve_config({"task": "forcefield"})
    with pytest.raises(ValueError, match="unknown"):
        resolve_config({"name": "x", "train_files": [], "output": "x", "epoch": 3})


def test_foreign_folder_is_a_checkpoint_error(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError):
        load_forcefield(tmp_path)
    with pytest.raises(CheckpointError):
        load_forcefield("no-such-model")
