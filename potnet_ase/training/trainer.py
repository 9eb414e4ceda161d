"""Training loop: AdamW + one-cycle schedule + MSE on standardised targets (as published),
best-by-validation checkpoints, early stopping, resume, per-epoch metric logs.

A run folder holds:

* ``config.json`` + ``weights.pt``: the best model so far (a loadable checkpoint);
* ``last.pt``: the full training state (weights, optimiser, scheduler, RNG, counters) for
  ``resume``, read with ``weights_only=True``;
* ``metrics.jsonl``: one JSON line per epoch (losses, validation MAE, learning rate, seconds);
* after training, ``test_predictions.csv`` and ``parity.png`` and the test metrics in
  ``config.json``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from potnet_ase.data.graphs import CrystalGraph, GraphSettings, build_graphs
from potnet_ase.data.pyg import DataLoader
from potnet_ase.device import resolve_device
from potnet_ase.models.checkpoint import save_checkpoint
from potnet_ase.models.registry import build_module
from potnet_ase.training.dataset import Dataset, build_dataset
from potnet_ase.training.metrics import parity_plot, regression_metrics

logger = logging.getLogger(__name__)

STATE_FILE = "last.pt"
LOG_FILE = "metrics.jsonl"


def attach_targets(graphs: list[CrystalGraph], targets: np.ndarray) -> list[CrystalGraph]:
    """Set ``graph.y`` (1, n_targets) float32 on each graph."""
    for graph, row in zip(graphs, targets, strict=True):
        graph.y = torch.as_tensor(row, dtype=torch.float32)[None]
    return graphs


def predict_graphs(
    module: torch.nn.Module, graphs: list[CrystalGraph], batch_size: int, device: torch.device
) -> np.ndarray:
    """(n, n_targets) predictions in target units, eval mode, no gradients."""
    module.eval()
    outputs = []
    with torch.no_grad():
        for batch in DataLoader(graphs, batch_size=batch_size, shuffle=False):
            outputs.append(module.predict_batch(batch.to(device)).cpu())
    return torch.cat(outputs).double().numpy()


def _train_epoch(
    module: torch.nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    device: torch.device,
    progress: bool,
    epoch: int,
) -> float:
    module.train()
    total, count = 0.0, 0
    for batch in tqdm(
        loader, desc=f"epoch {epoch}", unit="batch", leave=False, disable=not progress
    ):
        batch = batch.to(device)
        target = (batch.y - module.target_mean) / module.target_std
        loss = torch.nn.functional.mse_loss(module(batch), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total += float(loss.detach()) * batch.num_graphs
        count += batch.num_graphs
    return total / max(count, 1)


def _metadata(config: dict[str, Any], dataset: Dataset) -> dict[str, Any]:
    data = config["data"]
    return {
        "dataset": {
            "sources": [s["path"] for s in data["sources"]],
            "transform": data["transform"],
            "rows_used": len(dataset.ids),
            "dropped": dataset.dropped,
        },
        "split": {
            "fractions": data["split"]["fractions"],
            "seed": data["split"]["seed"],
            "sizes": {k: int(len(v)) for k, v in dataset.split.items()},
        },
    }


def train(
    config: dict[str, Any],
    output_dir: str | Path,
    *,
    resume: bool = False,
    device: str | torch.device | None = None,
    progress: bool = True,
    dataset: Dataset | None = None,
) -> dict[str, Any]:
    """Train a model as configured (see :mod:`potnet_ase.training.config`).

    Args:
        config: a completed config (``load_config`` / ``complete_config``).
        output_dir: run folder (created); with ``resume`` its ``last.pt`` is continued.
        device: ``None`` / ``"auto"``: CUDA when available.
        progress: progress bars.
        dataset: pre-built data (tests); default: built from ``config["data"]``.

    Returns:
        The final config dict (with ``metrics`` and ``timing``), also in ``config.json``.
    """
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    training = config["training"]
    device = resolve_device(device)
    torch.manual_seed(training["seed"])

    started = time.perf_counter()
    dataset = dataset or build_dataset(config["data"])
    data_seconds = time.perf_counter() - started
    settings = GraphSettings.from_dict(config["model"]["graph"])
    cache = training["cache_dir"]
    cache = Path(cache).expanduser() if cache else None
    started = time.perf_counter()
    graphs = attach_targets(
        build_graphs(dataset.crystals, settings, cache, progress), dataset.targets
    )
    graph_seconds = time.perf_counter() - started
    parts = {name: [graphs[k] for k in index] for name, index in dataset.split.items()}
    if not parts["train"] or not parts["val"]:
        raise ValueError("the split left no training or validation data; use more data")

    module = build_module(config["model"]).to(device)
    train_targets = dataset.targets[dataset.split["train"]]
    std = train_targets.std(axis=0)
    module.set_normalisation(train_targets.mean(axis=0), np.where(std > 0, std, 1.0))
    fit_inputs = getattr(module, "fit_input_statistics", None)
    if fit_inputs is not None and "inf_values" in parts["train"][0]:
        fit_inputs(torch.cat([graph.inf_values for graph in parts["train"]]))
    generator = torch.Generator().manual_seed(training["seed"])
    loader = DataLoader(
        parts["train"],
        batch_size=training["batch_size"],
        shuffle=True,
        generator=generator,
        # A last batch of one graph could hold a single atom, which BatchNorm cannot train on.
        drop_last=len(parts["train"]) % training["batch_size"] == 1,
    )
    optimizer = torch.optim.AdamW(
        module.parameters(), lr=training["lr"], weight_decay=training["weight_decay"]
    )
    total_steps = training["epochs"] * len(loader)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=training["lr"], total_steps=total_steps
    )
    metadata = {**config, **_metadata(config, dataset)}
    state = {"epoch": 0, "best_val": math.inf, "best_epoch": 0, "bad_epochs": 0, "seconds": 0.0}
    if resume and (output / STATE_FILE).exists():
        saved = torch.load(output / STATE_FILE, map_location="cpu", weights_only=True)
        module.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        if saved["scheduler"]["total_steps"] == total_steps:
            scheduler.load_state_dict(saved["scheduler"])
        else:  # the epoch count changed: lay the one-cycle schedule over the new total
            scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer,
                max_lr=training["lr"],
                total_steps=total_steps,
                last_epoch=saved["scheduler"]["last_epoch"] - 1,  # __init__ steps once
            )
        generator.set_state(saved["generator"])
        state = {key: saved[key] for key in state}
        logger.info("resuming %s after epoch %d", output, state["epoch"])
    elif (output / LOG_FILE).exists():
        (output / LOG_FILE).unlink()

    epoch_seconds = []
    stop_reason = "epochs done"
    while state["epoch"] < training["epochs"]:
        epoch = state["epoch"] + 1
        tick = time.perf_counter()
        loss = _train_epoch(module, loader, optimizer, scheduler, device, progress, epoch)
        seconds = time.perf_counter() - tick
        epoch_seconds.append(seconds)
        val_true = dataset.targets[dataset.split["val"]]
        val_pred = predict_graphs(module, parts["val"], training["batch_size"], device)
        val_mae = float(np.abs(val_pred - val_true).mean())
        state.update(epoch=epoch, seconds=state["seconds"] + seconds)
        improved = val_mae < state["best_val"]
        if improved:
            state.update(best_val=val_mae, best_epoch=epoch, bad_epochs=0)
            save_checkpoint(output, module, metadata)
        else:
            state["bad_epochs"] += 1
        record = {
            "epoch": epoch,
            "train_mse_standardised": loss,
            "val_mae": val_mae,
            "lr": scheduler.get_last_lr()[0],
            "seconds": seconds,
            "best": improved,
        }
        with open(output / LOG_FILE, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        logger.info("epoch %d: train loss %.4g, val MAE %.4g", epoch, loss, val_mae)
        torch.save(
            {"model": module.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "generator": generator.get_state(), **state},
            output / STATE_FILE,
        )  # fmt: skip
        if state["bad_epochs"] >= training["patience"]:
            stop_reason = f"early stopping (no improvement for {training['patience']} epochs)"
            break
        if training["max_minutes"] and state["seconds"] > 60 * training["max_minutes"]:
            stop_reason = f"time limit of {training['max_minutes']} minutes"
            break

    from potnet_ase.models.loading import load_model

    best = load_model(output, device=device)
    metrics: dict[str, Any] = {}
    for name in ("val", "test"):
        if not len(dataset.split[name]):
            continue
        true = dataset.targets[dataset.split[name]]
        predicted = predict_graphs(best.module, parts[name], training["batch_size"], device)
        metrics[name] = {
            target: regression_metrics(true[:, t], predicted[:, t])
            for t, target in enumerate(config["target"])
        }
        if name == "test":
            columns = {"id": dataset.ids[dataset.split["test"]]}
            for t, target in enumerate(config["target"]):
                columns[f"true_{target}"] = true[:, t]
                columns[f"predicted_{target}"] = predicted[:, t]
                parity_plot(true[:, t], predicted[:, t], output / f"parity_{target}.png",
                            target, config["units"])  # fmt: skip
            pd.DataFrame(columns).to_csv(output / "test_predictions.csv", index=False)
    n_train = len(parts["train"])
    timing = {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "epochs_run": state["epoch"],
        "best_epoch": state["best_epoch"],
        "stop_reason": stop_reason,
        "train_seconds": round(state["seconds"], 1),
        "seconds_per_epoch_per_1000": round(
            float(np.median(epoch_seconds)) * 1000 / n_train, 2
        ) if epoch_seconds else None,
        "data_seconds": round(data_seconds, 1),
        "graph_seconds": round(graph_seconds, 1),
    }  # fmt: skip
    final = {**metadata, "metrics": metrics, "timing": timing}
    save_checkpoint(output, best.module, final)
    return final
