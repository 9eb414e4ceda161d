"""Training: a tiny overfit, resume, deterministic seeds, the train / evaluate commands."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest
from ase.build import bulk
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from potnet_ase.commands import evaluate as evaluate_command
from potnet_ase.commands import train as train_command
from potnet_ase.data.graphs import GraphSettings, build_graphs
from potnet_ase.models.loading import load_model
from potnet_ase.models.potnet import PUBLISHED_MIX
from potnet_ase.structures import to_crystal
from potnet_ase.training.config import complete_config
from potnet_ase.training.dataset import Dataset, build_dataset
from potnet_ase.training.publish import publish
from potnet_ase.training.trainer import train


def read_log(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def tiny_structures():
    atoms = [
        bulk("NaCl", "rocksalt", a=5.64),
        bulk("MgO", "rocksalt", a=4.21),
        bulk("Si", "diamond", a=5.43),
        bulk("Cu", "fcc", a=3.61),
        bulk("LiF", "rocksalt", a=4.03),
        bulk("Al", "fcc", a=4.05),
    ]
    return atoms, np.array([[-2.1], [-3.0], [0.0], [0.0], [-3.1], [0.2]])


def tiny_config(tmp_path, **training):
    return complete_config(
        {
            "name": "tiny",
            "units": "eV/atom",
            "data": {"sources": [{"path": str(tmp_path / "tiny.csv")}], "targets": ["y"]},
            "model": {"variant": "latent_ewald", "hidden": 32, "graph": {"tol": 1e-6}},
            "training": {"batch_size": 6, "cache_dir": str(tmp_path / "cache"), **training},
        }
    )


def test_tiny_overfit(tmp_path):
    atoms, targets = tiny_structures()
    everything = np.arange(len(atoms))
    dataset = Dataset(
        ids=np.array([str(k) for k in everything]),
        crystals=[to_crystal(a) for a in atoms],
        targets=targets,
        split={"train": everything, "val": everything, "test": everything},
        structures=atoms,
    )
    config = tiny_config(tmp_path, epochs=100, lr=5e-3, patience=1000)
    result = train(config, tmp_path / "run", progress=False, dataset=dataset)
    log = read_log(tmp_path / "run")
    assert log[-1]["train_mse_standardised"] < 0.01
    # Eval mode uses BatchNorm running statistics, which trail the last weights a little.
    assert result["metrics"]["test"]["y"]["mae"] < 0.15 * targets.std()


def write_tiny_csv(tmp_path, n: int = 20) -> None:
    rng = np.random.default_rng(0)
    rows = []
    for k in range(n):
        a = 5.0 + 0.05 * k
        atoms = bulk("NaCl", "rocksalt", a=a) if k % 2 else bulk("KCl", "rocksalt", a=a + 1)
        cif = AseAtomsAdaptor.get_structure(atoms).to(fmt="cif")
        rows.append({"material_id": f"id-{k}", "cif": cif, "y": a + rng.normal(0, 0.01)})
    rows.append(rows[0])  # a duplicate id, removed by dedupe
    pd.DataFrame(rows).to_csv(tmp_path / "tiny.csv", index=False)


def test_train_resume_and_evaluate_commands(tmp_path, capsys):
    write_tiny_csv(tmp_path)
    config = tiny_config(tmp_path, epochs=4, threads=1)
    (tmp_path / "tiny.json").write_text(json.dumps(config))
    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers()
    train_command.register(subparsers)
    evaluate_command.register(subparsers)

    args = parser.parse_args(["train", str(tmp_path / "tiny.json"), "--output",
                              str(tmp_path / "run"), "--no-progress", "--epochs", "2"])  # fmt: skip
    assert args.func(args) == 0
    log = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(log) == 2
    args = parser.parse_args(["train", str(tmp_path / "tiny.json"), "--output",
                              str(tmp_path / "run"), "--no-progress", "--resume"])  # fmt: skip
    assert args.func(args) == 0
    log = read_log(tmp_path / "run")
    assert [r["epoch"] for r in log] == [1, 2, 3, 4]
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["dataset"]["dropped"]["duplicate id"] == 1
    assert saved["split"]["sizes"] == {"train": 16, "val": 2, "test": 2}
    assert set(saved["metrics"]["test"]["y"]) == {"mae", "rmse", "r2", "n"}
    assert (tmp_path / "run" / "parity_y.png").stat().st_size > 0

    capsys.readouterr()
    plot = tmp_path / "parity.png"
    args = parser.parse_args(["evaluate", str(tmp_path / "run"), "--config",
                              str(tmp_path / "tiny.json"), "--plot", str(plot)])  # fmt: skip
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "MAE" in printed and "RMSE" in printed and "R^2" in printed
    report = json.loads(printed.strip().splitlines()[-1])
    assert report["y"]["mae"] == pytest.approx(saved["metrics"]["test"]["y"]["mae"], rel=1e-5)
    assert plot.stat().st_size > 0


def test_same_seed_same_model(tmp_path):
    write_tiny_csv(tmp_path, n=12)
    config = tiny_config(tmp_path, epochs=2)
    first = train(config, tmp_path / "a", progress=False)
    second = train(config, tmp_path / "b", progress=False)
    assert first["metrics"]["test"]["y"]["mae"] == second["metrics"]["test"]["y"]["mae"]
    structures = [bulk("NaCl", "rocksalt", a=5.5)]
    first_model, second_model = load_model(tmp_path / "a"), load_model(tmp_path / "b")
    assert np.array_equal(first_model.predict(structures), second_model.predict(structures))


def test_standardised_published_input_is_fitted_and_saved(tmp_path):
    write_tiny_csv(tmp_path, n=12)
    config = tiny_config(tmp_path, epochs=1)
    config["model"] = {"variant": "published", "infinite_scaling": "standardised", "hidden": 16,
                       "graph": {"tol": 1e-6}}  # fmt: skip
    config = complete_config(config)
    assert config["model"]["graph"]["convention"] == "potnet"
    train(config, tmp_path / "run", progress=False)
    dataset = build_dataset(config["data"])
    graphs = build_graphs([dataset.crystals[k] for k in dataset.split["train"]],
                          GraphSettings.from_dict(config["model"]["graph"]))  # fmt: skip
    mix = np.array([PUBLISHED_MIX[p] for p in config["model"]["graph"]["potentials"]])
    mixed = np.concatenate([g.inf_values.double().numpy() @ mix for g in graphs])
    module = load_model(tmp_path / "run").module
    assert module.mix_mean.item() == pytest.approx(mixed.mean(), rel=1e-5)
    assert module.mix_std.item() == pytest.approx(mixed.std(ddof=1), rel=1e-5)


def test_publish_with_a_tighter_shipped_tolerance(tmp_path):
    write_tiny_csv(tmp_path, n=12)
    train(tiny_config(tmp_path, epochs=1), tmp_path / "run", progress=False)
    baseline = {"test": {"y": {"mae": 0.5, "rmse": 0.6, "r2": None, "n": 2}}}
    folder = publish(tmp_path / "run", tmp_path / "shipped", "tiny_model", {"baseline": baseline},
                     ["potnet-ase train tiny.json"], shipped_tol=1e-9)  # fmt: skip
    config = json.loads((folder / "config.json").read_text())
    assert config["name"] == "tiny_model" and config["model"]["graph"]["tol"] == 1e-9
    card = (folder / "card.md").read_text()
    assert "| baseline | 0.5000 / 0.6000 / n/a |" in card
    assert '"tol": 1e-06} during training; the shipped config evaluates the sums at tol' in card
    reference = json.loads((folder / "reference.json").read_text())
    structures = [Structure.from_dict(s) for s in reference["structures"]]
    shipped = load_model(folder).predict(structures)
    assert np.allclose(shipped, np.ravel(reference["predictions"]), rtol=0, atol=1e-6)
    trained = load_model(tmp_path / "run").predict(structures)  # the run's tol 1e-6
    stated = float(card.split("predictions move by at most ")[1].split(" ")[0])
    assert np.abs(shipped - trained).max() == pytest.approx(stated, rel=0.05, abs=1e-12)
