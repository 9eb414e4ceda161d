"""Training of PotNet force fields on energies, forces and stresses.

Run ``python -m potnet_ase.forcefield.training CONFIG.json`` (or ``potnet-ase train CONFIG.json``
with ``"task": "forcefield"``). The configuration is a JSON object:

===================  ==========================================================  ===========
key                  meaning                                                     default
===================  ==========================================================  ===========
task                 ``"forcefield"`` (how ``potnet-ase train`` dispatches)       required
name                 model name, e.g. ``"ff-si"``                                required
train_files          list of frame files (mlearn JSON, extxyz, ASE .db,           required
                     OUTCAR), read with ``potnet_ase.data.read_frames``
output               directory for config.json, model.pt, reference.json,         required
                     model_card.md
seed                 seed of the split, the initial weights and the batches      0
validation_fraction  share of each ``group`` held out for validation             0.1
model                keyword arguments of ``PotNetForceField`` (cutoff,           see below
                     features, basis_size, layers, vector_features, zbl,
                     long_range, long_range_tol, envelope_power); elements,
                     reference energies, energy scale and neighbour norm are
                     fitted from the training frames
loss_weights         ``{"energy": w_E, "forces": w_F, "stress": w_S}``: the        1000, 10,
                     loss is w_E MSE(E/N) [(eV/atom)^2] + w_F MSE(F)              1000
                     [(eV/A)^2] + w_S MSE(sigma) [(eV/A^3)^2]; frames without
                     stress skip that term
batch_size           frames per optimiser step                                   4
learning_rate        peak AdamW learning rate (cosine decay to 1 %)               0.005
weight_decay         AdamW weight decay                                          0.0
epochs               passes over the training frames                             100
max_minutes          wall-clock bound of the optimisation (data loading not        60
                     counted); the learning-rate schedule follows whichever of
                     epochs and time runs out first, and training stops after
                     the epoch that crosses the bound
ema_decay            decay of the exponential moving average of the weights      0.99
                     (the averaged weights are validated and saved)
threads              torch CPU threads                                           1
dtype                training dtype (``float32`` or ``float64``)                 float32
max_frames           use at most this many training frames (None: all)            None
===================  ==========================================================  ===========

Per-element reference energies are fitted first (least squares of the total energies on the
element counts of the training frames); the network learns the remainder.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from potnet_ase.autograd import voigt
from potnet_ase.forcefield.graph import CrystalGraph, crystal_edges
from potnet_ase.forcefield.io import save_forcefield
from potnet_ase.forcefield.model import ARCHITECTURE, PotNetForceField, energy_forces_stress
from potnet_ase.structures import to_crystal

logger = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "validation_fraction": 0.1,
    "model": {},
    "loss_weights": {"energy": 1000.0, "forces": 10.0, "stress": 1000.0},
    "batch_size": 4,
    "learning_rate": 5e-3,
    "weight_decay": 0.0,
    "epochs": 100,
    "max_minutes": 60.0,
    "ema_decay": 0.99,
    "threads": 1,
    "dtype": "float32",
    "max_frames": None,
}
REQUIRED = ("name", "train_files", "output")
EV_PER_A3_TO_GPA = 160.21766208


@dataclass
class Frame:
    """One labelled structure with its precomputed radius graph (host arrays)."""

    positions: np.ndarray
    cell: np.ndarray
    numbers: np.ndarray
    energy: float
    forces: np.ndarray
    stress: np.ndarray | None  # Voigt, eV/A^3, ASE sign
    group: str
    edges: tuple[np.ndarray, np.ndarray, np.ndarray]

    @property
    def n_atoms(self) -> int:
        return len(self.numbers)


@dataclass
class Batch:
    positions: torch.Tensor
    cells: torch.Tensor
    graph: CrystalGraph
    energy: torch.Tensor
    forces: torch.Tensor
    stress: torch.Tensor
    has_stress: torch.Tensor


def resolve_config(config: dict[str, Any]) -> dict[str, Any]:
    """The configuration with defaults filled in; unknown keys are an error."""
    missing = [k for k in REQUIRED if k not in config]
    if missing:
        raise ValueError(f"force-field training config lacks {missing}")
    known = set(DEFAULTS) | set(REQUIRED) | {"task", "description"}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(
            f"unknown force-field training config keys {unknown}; known: {sorted(known)}"
        )
    if config.get("task", "forcefield") != "forcefield":
        raise ValueError(f"task must be 'forcefield'; got {config['task']!r}")
    resolved = copy.deepcopy(DEFAULTS)
    resolved.update(copy.deepcopy(config))
    resolved["loss_weights"] = {**DEFAULTS["loss_weights"], **config.get("loss_weights", {})}
    resolved["task"] = "forcefield"
    return resolved


def load_frames(paths: Sequence[str], cutoff: float) -> list[Frame]:
    """Read labelled frames and build their radius graphs once."""
    from potnet_ase.data.readers import read_frames

    frames = []
    for path in paths:
        for atoms in read_frames(path):
            crystal = to_crystal(atoms)
            results = atoms.calc.results
            stress = results.get("stress")
            frames.append(
                Frame(
                    positions=crystal.positions,
                    cell=crystal.cell,
                    numbers=crystal.numbers,
                    energy=float(results["energy"]),
                    forces=np.asarray(results["forces"], dtype=np.float64),
                    stress=None if stress is None else np.asarray(stress, dtype=np.float64),
                    group=f"{Path(path).stem}:{atoms.info.get('group', '')}",
                    edges=crystal_edges(crystal.positions, crystal.cell, cutoff),
                )
            )
    return frames


def fit_reference_energies(frames: Sequence[Frame], elements: Sequence[str]) -> dict[str, float]:
    """Least-squares per-element energies: E_total ~ sum_Z count_Z e_Z."""
    from ase.data import atomic_numbers

    counts = np.array(
        [[np.sum(f.numbers == atomic_numbers[e]) for e in elements] for f in frames], float
    )
    energies = np.array([f.energy for f in frames])
    solution, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return {e: float(v) for e, v in zip(elements, solution, strict=True)}


def collate(frames: Sequence[Frame], dtype: torch.dtype) -> Batch:
    offset, firsts, seconds, shifts = 0, [], [], []
    for frame in frames:
        i, j, s = frame.edges
        firsts.append(i + offset)
        seconds.append(j + offset)
        shifts.append(s)
        offset += frame.n_atoms
    n_atoms = torch.as_tensor([f.n_atoms for f in frames])
    graph = CrystalGraph(
        numbers=torch.as_tensor(np.concatenate([f.numbers for f in frames])),
        batch=torch.repeat_interleave(torch.arange(len(frames)), n_atoms),
        n_atoms=n_atoms,
        edge_first=torch.as_tensor(np.concatenate(firsts)),
        edge_second=torch.as_tensor(np.concatenate(seconds)),
        edge_shift=torch.as_tensor(np.concatenate(shifts), dtype=torch.float64),
        cutoff=0.0,
    )
    stress = [f.stress if f.stress is not None else np.zeros(6) for f in frames]
    return Batch(
        positions=torch.as_tensor(np.concatenate([f.positions for f in frames]), dtype=dtype),
        cells=torch.as_tensor(np.stack([f.cell for f in frames]), dtype=dtype),
        graph=graph,
        energy=torch.as_tensor([f.energy for f in frames], dtype=dtype),
        forces=torch.as_tensor(np.concatenate([f.forces for f in frames]), dtype=dtype),
        stress=torch.as_tensor(np.stack(stress), dtype=dtype),
        has_stress=torch.as_tensor([f.stress is not None for f in frames]),
    )


def batch_loss(
    model: PotNetForceField, batch: Batch, weights: dict[str, float], create_graph: bool
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    out = energy_forces_stress(
        model,
        batch.positions,
        batch.cells,
        batch.graph,
        stress=weights["stress"] > 0 or not create_graph,
        create_graph=create_graph,
    )
    n = batch.graph.n_atoms.to(out.energy.dtype)
    errors = {
        "energy_per_atom": (out.energy - batch.energy) / n,
        "forces": (out.forces - batch.forces).reshape(-1),
    }
    loss = weights["energy"] * errors["energy_per_atom"].pow(2).mean()
    loss = loss + weights["forces"] * errors["forces"].pow(2).mean()
    if out.stress is not None and bool(batch.has_stress.any()):
        errors["stress"] = (voigt(out.stress) - batch.stress)[batch.has_stress].reshape(-1)
        loss = loss + weights["stress"] * errors["stress"].pow(2).mean()
    return loss, errors


def evaluate(
    model: PotNetForceField, frames: Sequence[Frame], dtype: torch.dtype, batch_size: int = 8
) -> dict[str, float]:
    """MAE and RMSE of energy (meV/atom), forces (eV/A) and stress (GPa) over `frames`."""
    collected: dict[str, list[np.ndarray]] = {"energy_per_atom": [], "forces": [], "stress": []}
    for start in range(0, len(frames), batch_size):
        batch = collate(frames[start : start + batch_size], dtype)
        _, errors = batch_loss(model, batch, {"energy": 1, "forces": 1, "stress": 1}, False)
        for key, value in errors.items():
            collected[key].append(value.detach().cpu().numpy())
    scale = {"energy_per_atom": 1000.0, "forces": 1.0, "stress": EV_PER_A3_TO_GPA}
    metrics = {}
    for key, parts in collected.items():
        if not parts:
            continue
        values = np.concatenate(parts) * scale[key]
        unit = {"energy_per_atom": "meV_per_atom", "forces": "eV_per_A", "stress": "GPa"}[key]
        metrics[f"{key}_mae_{unit}"] = float(np.mean(np.abs(values)))
        metrics[f"{key}_rmse_{unit}"] = float(np.sqrt(np.mean(values**2)))
    return metrics


def _split(frames: list[Frame], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    from potnet_ase.data.splits import split_indices

    parts = split_indices(
        len(frames), (1.0 - fraction, fraction, 0.0), seed=seed, groups=[f.group for f in frames]
    )
    return parts["train"].tolist(), parts["val"].tolist()


def train_forcefield(config: dict[str, Any]) -> dict[str, Any]:
    """Train a force field as configured (see the module docstring) and save it.

    Returns:
        The saved model's ``config.json`` content (with validation metrics).
    """
    cfg = resolve_config(config)
    torch.set_num_threads(int(cfg["threads"]))
    dtype = getattr(torch, cfg["dtype"])
    seed = int(cfg["seed"])
    model_options = dict(cfg["model"])
    cutoff = float(model_options.get("cutoff", 5.0))
    started = time.perf_counter()

    frames = load_frames(cfg["train_files"], cutoff)
    train_idx, val_idx = _split(frames, float(cfg["validation_fraction"]), seed)
    if cfg["max_frames"] is not None:
        rng = np.random.default_rng(seed)
        train_idx = sorted(rng.permutation(train_idx)[: int(cfg["max_frames"])].tolist())
    train, val = [frames[i] for i in train_idx], [frames[i] for i in val_idx]
    logger.info("%d training frames, %d validation frames", len(train), len(val))

    from ase.data import chemical_symbols

    numbers = sorted({int(z) for f in train for z in f.numbers})
    elements = [chemical_symbols[z] for z in numbers]
    references = fit_reference_energies(train, elements)
    force_rms = float(np.sqrt(np.mean(np.concatenate([f.forces.ravel() for f in train]) ** 2)))
    neighbours = float(np.mean([len(f.edges[0]) / f.n_atoms for f in train]))
    torch.manual_seed(seed)
    model = PotNetForceField(
        elements,
        **model_options,
        reference_energies=references,
        energy_scale=force_rms,
        average_neighbours=neighbours,
    ).to(dtype)
    averaged = copy.deepcopy(model)
    for p in averaged.parameters():
        p.requires_grad_(False)
    logger.info(
        "model %s: %d parameters, references %s, scale %.3f eV, %.1f neighbours",
        ARCHITECTURE, sum(p.numel() for p in model.parameters()), references, force_rms, neighbours,
    )  # fmt: skip

    optimizer = torch.optim.AdamW(
        model.parameters(), lr=float(cfg["learning_rate"]), weight_decay=float(cfg["weight_decay"])
    )
    epochs = int(cfg["epochs"])
    steps_per_epoch = math.ceil(len(train) / int(cfg["batch_size"]))
    total_steps = epochs * steps_per_epoch

    max_seconds = 60.0 * float(cfg["max_minutes"])
    train_started = time.perf_counter()

    def lr_factor(step: int) -> float:
        """Warm-up over one epoch, then cosine decay to 1 % over the run; the run's progress is
        the larger of the step fraction and the fraction of the wall-clock bound used, so a
        run cut short by ``max_minutes`` still ends annealed."""
        warmup = steps_per_epoch
        if step < warmup:
            return (step + 1) / warmup
        elapsed = (time.perf_counter() - train_started) / max_seconds
        progress = min(max(step / total_steps, elapsed), 1.0)
        return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    rng = np.random.default_rng(seed)
    weights = {k: float(v) for k, v in cfg["loss_weights"].items()}
    decay = float(cfg["ema_decay"])
    best: tuple[float, dict[str, torch.Tensor], dict[str, float], int] | None = None
    history = []
    epochs_run = 0
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(train))
        running = 0.0
        for start in range(0, len(order), int(cfg["batch_size"])):
            batch = collate(
                [train[i] for i in order[start : start + int(cfg["batch_size"])]], dtype
            )
            loss, _ = batch_loss(model, batch, weights, create_graph=True)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimizer.step()
            scheduler.step()
            with torch.no_grad():
                for p_avg, p in zip(averaged.parameters(), model.parameters(), strict=True):
                    p_avg.lerp_(p, 1.0 - decay)
            running += float(loss.detach()) * len(batch.energy)
        epochs_run = epoch + 1
        minutes = (time.perf_counter() - started) / 60
        out_of_time = time.perf_counter() - train_started >= max_seconds
        last = epoch == epochs - 1 or out_of_time
        if epoch % 5 == 4 or last:
            metrics = evaluate(averaged, val, dtype)
            score = (
                weights["energy"] * (metrics["energy_per_atom_rmse_meV_per_atom"] / 1000) ** 2
                + weights["forces"] * metrics["forces_rmse_eV_per_A"] ** 2
            )
            history.append({"epoch": epochs_run, "minutes": round(minutes, 2), **metrics})
            logger.info(
                "epoch %d (%.1f min) train loss %.4g | val E %.2f meV/atom, F %.4f eV/A, "
                "S %.3f GPa",
                epochs_run, minutes, running / len(train),
                metrics["energy_per_atom_mae_meV_per_atom"], metrics["forces_mae_eV_per_A"],
                metrics.get("stress_mae_GPa", float("nan")),
            )  # fmt: skip
            if best is None or score < best[0]:
                best = (score, copy.deepcopy(averaged.state_dict()), metrics, epochs_run)
        if last:
            break
    assert best is not None
    averaged.load_state_dict(best[1])
    train_metrics = evaluate(averaged, train, dtype)
    minutes = (time.perf_counter() - started) / 60
    record = {
        "training": {
            **{k: cfg[k] for k in cfg if k not in ("output",)},
            "epochs_run": epochs_run,
            "best_epoch": best[3],
            "minutes": round(minutes, 1),
            "n_train_frames": len(train),
            "n_validation_frames": len(val),
            "validation_frames": val_idx,
            "torch": torch.__version__,
        },
        "metrics": {"validation": best[2], "train": train_metrics},
        "history": history,
    }
    logger.info("best epoch %d: validation %s", best[3], best[2])
    return save_forcefield(averaged, cfg["output"], name=cfg["name"], record=record)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m potnet_ase.forcefield.training", description=__doc__.splitlines()[0]
    )
    parser.add_argument("config", help="JSON training configuration (see the module docstring)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with open(args.config) as handle:
        config = json.load(handle)
    result = train_forcefield(config)
    print(json.dumps(result["metrics"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
