"""Turning the ``data`` section of a config into validated crystals, targets and a split."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from potnet_ase.data.readers import read_table
from potnet_ase.data.splits import dedupe, split_indices
from potnet_ase.errors import PotNetInputError
from potnet_ase.models.atom_features import check_elements
from potnet_ase.structures import Crystal, to_crystal

logger = logging.getLogger(__name__)


@dataclass
class Dataset:
    """Validated training data.

    Attributes:
        ids: (n,) string ids.
        crystals: validated structures.
        targets: (n, n_targets) float64, transformed as configured.
        split: ``{"train", "val", "test"}`` -> index arrays into the above.
        dropped: reason -> number of rows removed (every removal is counted).
        structures: the pymatgen structures (for baselines that featurise compositions).
    """

    ids: np.ndarray
    crystals: list[Crystal]
    targets: np.ndarray
    split: dict[str, np.ndarray]
    dropped: dict[str, int] = field(default_factory=dict)
    structures: list[Any] = field(default_factory=list)


def load_table(data: dict[str, Any]) -> pd.DataFrame:
    """Read and concatenate the sources (targets renamed to common names), dedupe by id."""
    tables = []
    for source in data["sources"]:
        table = read_table(
            source["path"],
            structure_column=source.get("structure_column"),
            id_column=source.get("id_column"),
        ).rename(columns=source.get("rename", {}))
        missing = [t for t in data["targets"] if t not in table.columns]
        if missing:
            raise KeyError(f"{source['path']}: no target columns {missing} (use 'rename')")
        table = table[["id", "structure", "structure_error", *data["targets"]]]
        for target in data["targets"]:
            table[target] = pd.to_numeric(table[target], errors="coerce")
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def build_dataset(data: dict[str, Any]) -> Dataset:
    """Load, dedupe (first source wins), clean, transform and split.

    Rows are removed, and counted in ``Dataset.dropped``, for: duplicate ids, unparseable
    structures, invalid crystals or unsupported elements, missing targets, non-positive
    targets under ``log10``, and more than ``max_atoms`` atoms. ``limit`` keeps a seeded
    random subset (before splitting) to bound training time.
    """
    table = load_table(data)
    dropped: dict[str, int] = {}
    before = len(table)
    table = dedupe(table)
    dropped["duplicate id"] = before - len(table)
    targets = table[data["targets"]].to_numpy(dtype=np.float64)
    keep = np.isfinite(targets).all(axis=1)
    dropped["missing target"] = int((~keep).sum())
    if data["transform"] == "log10":
        positive = (targets > 0).all(axis=1)
        dropped["non-positive target (log10)"] = int((keep & ~positive).sum())
        keep &= positive
    elif data["transform"] != "none":
        raise ValueError(f"data.transform must be 'none' or 'log10'; got {data['transform']!r}")
    crystals: list[Crystal | None] = []
    reasons = {"unparseable structure": 0, "invalid crystal or element": 0, "too many atoms": 0}
    for k, (structure, error) in enumerate(
        zip(table["structure"], table["structure_error"], strict=True)
    ):
        crystal = None
        if not keep[k]:
            pass
        elif error is not None or structure is None:
            reasons["unparseable structure"] += 1
        else:
            try:
                crystal = to_crystal(structure, index=k)
                check_elements(crystal.numbers, crystal.label)
            except PotNetInputError as problem:
                logger.info("dropping row %s: %s", table["id"].iloc[k], problem)
                reasons["invalid crystal or element"] += 1
                crystal = None
            if crystal is not None and data["max_atoms"] and crystal.n_atoms > data["max_atoms"]:
                reasons["too many atoms"] += 1
                crystal = None
        crystals.append(crystal)
        keep[k] &= crystal is not None
    dropped.update(reasons)
    index = np.flatnonzero(keep)
    if data["limit"] and len(index) > data["limit"]:
        rng = np.random.default_rng(data["split"]["seed"])
        chosen = np.sort(rng.choice(len(index), size=int(data["limit"]), replace=False))
        dropped["outside the random subset (limit)"] = len(index) - len(chosen)
        index = index[chosen]
    values = targets[index]
    if data["transform"] == "log10":
        values = np.log10(values)
    split = split_indices(len(index), data["split"]["fractions"], data["split"]["seed"])
    logger.info("dataset: %d rows kept, dropped %s", len(index), dropped)
    return Dataset(
        ids=table["id"].to_numpy()[index],
        crystals=[crystals[k] for k in index],
        targets=values,
        split=split,
        dropped=dropped,
        structures=[table["structure"].iloc[k] for k in index],
    )
