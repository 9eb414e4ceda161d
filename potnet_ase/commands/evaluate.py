"""``potnet-ase evaluate MODEL``: MAE, RMSE and R^2 of a model on labelled data, and a
parity plot (PNG).

Data either from a training config (``--config``; the same seeded split, ``--split test``
by default) or from any file :func:`potnet_ase.data.read_table` reads (``--data`` with
``--target``; ``--transform log10`` for targets the model predicts in log10).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from potnet_ase.data.readers import read_table
from potnet_ase.models.loading import load_model
from potnet_ase.training.config import load_config
from potnet_ase.training.dataset import build_dataset
from potnet_ase.training.metrics import parity_plot, regression_metrics


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("evaluate", help="MAE / RMSE / R^2 and a parity plot")
    parser.add_argument("model", help="pretrained name or model folder")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", type=Path, help="training config: evaluate on its split")
    source.add_argument("--data", type=Path, help="data file (CSV, JSON, extxyz, db, ...)")
    parser.add_argument("--split", default="test", choices=("train", "val", "test", "all"))
    parser.add_argument("--target", nargs="+", default=None, help="target columns (--data)")
    parser.add_argument("--structure-column", default=None)
    parser.add_argument("--transform", choices=("none", "log10"), default="none")
    parser.add_argument(
        "--plot", type=Path, default=Path("parity.png"), help="parity plot (suffix _<target>)"
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default=None)
    parser.set_defaults(func=run)


def _labelled(args: argparse.Namespace, targets: list[str]) -> tuple[list, np.ndarray]:
    if args.config:
        dataset = build_dataset(load_config(args.config)["data"])
        index = np.arange(len(dataset.ids)) if args.split == "all" else dataset.split[args.split]
        return [dataset.structures[k] for k in index], dataset.targets[index]
    columns = args.target or targets
    table = read_table(args.data, structure_column=args.structure_column, targets=columns)
    values = table[columns].to_numpy(dtype=float)
    keep = table["structure"].notna().to_numpy() & np.isfinite(values).all(axis=1)
    if args.transform == "log10":
        keep &= (values > 0).all(axis=1)
        values = np.log10(np.where(values > 0, values, 1.0))
    skipped = int((~keep).sum())
    if skipped:
        print(f"skipped {skipped} rows without a structure or a valid target")
    return table["structure"][keep].tolist(), values[keep]


def run(args: argparse.Namespace) -> int:
    model = load_model(args.model, device=args.device)
    structures, true = _labelled(args, model.targets)
    predicted = model.predict(structures, batch_size=args.batch_size, progress=True)
    predicted = predicted.reshape(len(structures), -1)
    report = {}
    for t, name in enumerate(model.targets):
        report[name] = regression_metrics(true[:, t], predicted[:, t])
        plot = (
            args.plot
            if len(model.targets) == 1
            else args.plot.with_stem(f"{args.plot.stem}_{name}")
        )
        parity_plot(true[:, t], predicted[:, t], plot, name, model.units)
        m = report[name]
        r2 = "n/a" if m["r2"] is None else f"{m['r2']:.4f}"
        print(f"{name} ({model.units}): MAE {m['mae']:.4g}  RMSE {m['rmse']:.4g}  "
              f"R^2 {r2}  n {m['n']}  parity plot: {plot}")  # fmt: skip
    print(json.dumps(report))
    return 0
