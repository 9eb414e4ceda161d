"""Checkpoints: round trip, corrupt and foreign files, registry, pretrained listing and the
reference predictions shipped next to each pretrained model."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from ase.build import bulk
from pymatgen.core import Structure

from potnet_ase.errors import CheckpointError
from potnet_ase.models.checkpoint import save_checkpoint
from potnet_ase.models.loading import PRETRAINED_DIR, list_pretrained, load_model
from potnet_ase.models.registry import get_architecture, register_architecture
from tests.test_models_potnet import STRUCTURES, make_model

# Property models shipped by the PotNet training code (force fields test their own files).
PRETRAINED = sorted(
    p.parent.name
    for p in PRETRAINED_DIR.glob("*/reference.json")
    if json.loads((p.parent / "config.json").read_text()).get("kind") == "property"
)


@pytest.fixture
def saved(tmp_path):
    model = make_model("latent_ewald", n_targets=2)
    model.module.set_normalisation(torch.tensor([1.0, -2.0]), torch.tensor([0.5, 3.0]))
    save_checkpoint(tmp_path / "model", model.module, model.config)
    return model, tmp_path / "model"


def test_round_trip(saved):
    model, folder = saved
    for path in (folder, folder / "weights.pt", str(folder)):
        loaded = load_model(path, device="cpu")
        assert np.array_equal(loaded.predict(STRUCTURES), model.predict(STRUCTURES))
    assert loaded.targets == ["t0", "t1"]


def test_corrupt_and_foreign_files(saved, tmp_path):
    _, folder = saved
    weights = folder / "weights.pt"
    weights.write_bytes(weights.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(folder)
    weights.write_bytes(pickle.dumps({"evil": object()}))
    with pytest.raises(CheckpointError, match="weights.pt"):
        load_model(folder)
    torch.save({"a": 1}, weights)
    with pytest.raises(CheckpointError, match="state_dict"):
        load_model(folder)
    torch.save({"nonsense": torch.zeros(2)}, weights)
    with pytest.raises(CheckpointError, match="do not match"):
        load_model(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_model(folder)
    (folder / "config.json").write_text(json.dumps({"model": {}}))
    with pytest.raises(CheckpointError, match="not a potnet-ase model config"):
        load_model(folder)
    with pytest.raises(CheckpointError, match="no pretrained model"):
        load_model("no-such-model")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path)


def test_registry():
    with pytest.raises(CheckpointError, match="unknown model architecture"):
        get_architecture("no-such-architecture")
    register_architecture("test-potnet", get_architecture("potnet").builder)
    assert get_architecture("test-potnet").builder({"variant": "euclidean"}) is not None


def test_list_pretrained_metadata():
    for entry in list_pretrained():
        assert {"name", "kind", "target", "units", "dataset", "split", "metrics"} <= set(entry)
        assert entry["kind"] in ("property", "forcefield")


@pytest.mark.parametrize("name", PRETRAINED)
def test_shipped_reference_predictions(name):
    reference = json.loads((PRETRAINED_DIR / name / "reference.json").read_text())
    model = load_model(name, device="cpu")
    structures = [Structure.from_dict(s) for s in reference["structures"]]
    predicted = model.predict(structures).reshape(len(structures), -1)
    expected = np.asarray(reference["predictions"]).reshape(len(structures), -1)
    assert np.allclose(predicted, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", PRETRAINED)
def test_shipped_models_reject_unknown_elements(name):
    from potnet_ase.errors import UnsupportedElementError

    atoms = bulk("Cu")
    atoms.numbers = [118]
    with pytest.raises(UnsupportedElementError):
        load_model(name, device="cpu").predict([atoms])
