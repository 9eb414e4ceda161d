"""PotNet model performance: inference throughput, training time per epoch, the share of
graph building, and how far predictions move between a primitive cell and a supercell.

* inference: ``model.predict(structures, batch_size=64)`` end to end on MP structures (no
  graph cache), split into graph building (local edges + lattice sums) and the network;
* training: one epoch of forward + backward + AdamW over cached graphs, per 1,000 structures,
  for each variant at the shipped width and at the published width (256);
* choice of cell: predictions of trained models on test structures and on 2x2x2 supercells
  of the same structures (mean and largest absolute change).

Medians over repeats; one torch thread; float32 network, float64 lattice sums.

Usage::

    python benchmarks/bench_models.py --data ../shared/data --n 256 \
        --runs /tmp/potnet_runs --out /tmp/bench_models.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from timing import median_seconds

from potnet_ase.data.graphs import GraphSettings, build_graphs
from potnet_ase.data.pyg import DataLoader
from potnet_ase.data.readers import read_table
from potnet_ase.models.loading import load_model
from potnet_ase.models.registry import build_module
from potnet_ase.structures import to_crystal
from potnet_ase.training.config import DEFAULT_GRAPHS, load_config
from potnet_ase.training.dataset import build_dataset
from potnet_ase.training.trainer import attach_targets


def model_config(variant: str, hidden: int) -> dict[str, Any]:
    graph = {**DEFAULT_GRAPHS[variant], "cutoff": 4.0, "max_neighbors": 16, "tol": 1e-6}
    return {"architecture": "potnet", "variant": variant, "hidden": hidden, "graph": graph}


def inference(structures: list, repeats: int) -> dict[str, Any]:
    """End-to-end predict() throughput and its split into graphs and network, per variant."""
    crystals = [to_crystal(s) for s in structures]
    results = {}
    for variant in DEFAULT_GRAPHS:
        config = model_config(variant, 64)
        settings = GraphSettings.from_dict(config["graph"])
        torch.manual_seed(0)
        module = build_module(config).eval()
        graph_seconds = median_seconds(
            lambda s=settings: build_graphs(crystals, s), repeats, warm_up=False
        )
        graphs = build_graphs(crystals, settings)

        def network(m=module, g=graphs):
            with torch.no_grad():
                for batch in DataLoader(g, batch_size=64):
                    m.predict_batch(batch)

        network_seconds = median_seconds(network, repeats, warm_up=False)
        total = graph_seconds + network_seconds
        results[variant] = {
            "structures_per_second": len(structures) / total,
            "graph_share": graph_seconds / total,
            "network_share": network_seconds / total,
            "graph_seconds": graph_seconds,
            "network_seconds": network_seconds,
        }
    return results


def training_epoch(structures: list, targets: np.ndarray, repeats: int) -> dict[str, Any]:
    """Seconds per epoch per 1,000 structures (cached graphs), per variant and width."""
    crystals = [to_crystal(s) for s in structures]
    results = {}
    for variant in DEFAULT_GRAPHS:
        for hidden in (64, 256):
            config = model_config(variant, hidden)
            graphs = attach_targets(
                build_graphs(crystals, GraphSettings.from_dict(config["graph"])), targets
            )
            torch.manual_seed(0)
            module = build_module(config).train()
            optimizer = torch.optim.AdamW(module.parameters(), lr=1e-4)
            loader = DataLoader(graphs, batch_size=64, shuffle=True)

            def epoch(m=module, o=optimizer, data=loader):
                for batch in data:
                    loss = torch.nn.functional.mse_loss(m(batch), batch.y)
                    o.zero_grad()
                    loss.backward()
                    o.step()

            seconds = median_seconds(epoch, repeats, warm_up=False)
            results[f"{variant}/hidden {hidden}"] = seconds * 1000 / len(graphs)
    return results


def cell_choice(runs: Path, config_path: Path, n: int) -> dict[str, Any]:
    """Mean / max |prediction(2x2x2 supercell) - prediction(cell)| on test structures."""
    config = load_config(config_path)
    dataset = build_dataset(config["data"])
    test = [dataset.structures[k] for k in dataset.split["test"]]
    test = [s for s in test if len(s) <= 10][:n]
    supercells = [s * (2, 2, 2) for s in test]
    results = {"n_structures": len(test), "config": str(config_path)}
    for variant in DEFAULT_GRAPHS:
        folder = runs / f"{config['name']}_{variant}"
        if not (folder / "weights.pt").exists():
            continue
        model = load_model(folder, device="cpu")
        change = np.abs(model.predict(supercells) - model.predict(test))
        mae = model.config["metrics"]["test"][model.targets[0]]["mae"]
        results[variant] = {
            "mean_abs_change": float(change.mean()),
            "max_abs_change": float(change.max()),
            "test_mae": mae,
            "units": model.units,
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--n", type=int, default=256, help="structures for the timings")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runs", type=Path, default=None, help="training runs (cell choice)")
    parser.add_argument("--cell-n", type=int, default=100, help="test structures (cell choice)")
    parser.add_argument("--skip-timing", action="store_true", help="only the cell-choice part")
    parser.add_argument("--cell-configs", nargs="+", default=["mp_formation", "perov5_heat"],
                        help="configs/<stem>.json whose runs <runs>/<name>_<variant> "
                        "are compared (cell choice)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    report: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "torch_geometric": metadata.version("torch-geometric"),
            "threads": torch.get_num_threads(),
            "device": "cpu",
        }
    }
    if not args.skip_timing:
        table = read_table(args.data / "mp_formation/flla_2015.csv")
        table = table[table["structure"].notna()].sample(n=args.n, random_state=0)
        structures = table["structure"].tolist()
        targets = table[["formation_energy_per_atom"]].to_numpy(dtype=float)
        report["structures"] = {
            "source": "mp_formation/flla_2015.csv, seeded sample",
            "n": len(structures),
            "mean_atoms": float(np.mean([len(s) for s in structures])),
        }
        report["inference"] = inference(structures, args.repeats)
        report["training_seconds_per_epoch_per_1000"] = training_epoch(
            structures, targets, args.repeats
        )
    if args.runs is not None:
        report["cell_choice"] = {
            name: cell_choice(args.runs, Path("configs") / f"{name}.json", args.cell_n)
            for name in args.cell_configs
        }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
