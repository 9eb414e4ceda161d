"""Training configuration: one JSON file with ``data``, ``model`` and ``training`` sections.

Every key missing from the file takes the default below (the published PotNet settings for
the model and optimiser; DESIGN.md section 3). Example (``configs/mp_formation.json``)::

    {"name": "mp_formation", "target": ["formation_energy_per_atom"], "units": "eV/atom",
     "data": {"sources": [{"path": "../shared/data/mp_formation/flla_2015.csv"}],
              "targets": ["formation_energy_per_atom"]},
     "model": {"variant": "latent_ewald"},
     "training": {"epochs": 500}}

``data.sources[i]`` takes ``path`` and optionally ``structure_column``, ``id_column`` and
``rename`` (old -> new column names, to align targets across files). ``data.transform`` is
``"none"`` or ``"log10"`` (rows with non-positive targets are then dropped and counted).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from potnet_ase.models.potnet import DEFAULTS as MODEL_DEFAULTS

DEFAULT_GRAPHS: dict[str, dict[str, Any]] = {
    "published": {"potentials": ["coulomb", "london", "pauli"], "convention": "potnet",
                  "pauli_alpha": 3.0},
    "latent_ewald": {"potentials": ["coulomb", "london", "pauli"], "convention": "physical",
                     "pauli_alpha": 2.0},
    "euclidean": {"potentials": []},
}  # fmt: skip

DEFAULTS: dict[str, Any] = {
    "name": "potnet",
    "kind": "property",
    "target": None,
    "units": "",
    "references": [],
    "data": {
        "sources": [],
        "targets": [],
        "transform": "none",
        "max_atoms": None,
        "limit": None,
        "split": {"fractions": [0.8, 0.1, 0.1], "seed": 42},
    },
    # n_targets is overwritten from the data section by complete_config.
    "model": {**MODEL_DEFAULTS, "graph": {"cutoff": 4.0, "max_neighbors": 16, "tol": 1e-6}},
    "training": {
        "epochs": 500,
        "batch_size": 64,
        "lr": 1e-3,
        "weight_decay": 1e-5,
        "patience": 50,
        "seed": 0,
        "max_minutes": None,
        "threads": None,
        "cache_dir": "~/.cache/potnet-ase/graphs",
    },
}


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def complete_config(config: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults; the graph settings default per model variant."""
    unknown = set(config) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown config sections {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    merged = _merge(DEFAULTS, config)
    variant = merged["model"]["variant"]
    if variant not in DEFAULT_GRAPHS:
        raise ValueError(f"unknown model variant {variant!r}; choose from {sorted(DEFAULT_GRAPHS)}")
    graph = _merge(DEFAULT_GRAPHS[variant], DEFAULTS["model"]["graph"])
    merged["model"]["graph"] = _merge(graph, config.get("model", {}).get("graph", {}))
    targets = merged["data"]["targets"]
    if not targets:
        raise ValueError("data.targets must name at least one target column")
    merged["target"] = merged["target"] or list(targets)
    merged["model"]["n_targets"] = len(targets)
    if not merged["data"]["sources"]:
        raise ValueError("data.sources must list at least one data file")
    return merged


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read a JSON config, apply `overrides` (same nesting) and fill defaults."""
    config = json.loads(Path(path).read_text())
    return complete_config(_merge(config, overrides or {}))
