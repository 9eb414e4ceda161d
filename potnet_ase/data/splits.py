"""Deduplication and seeded train/validation/test splits."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd


def dedupe(table: pd.DataFrame, by: str = "id") -> pd.DataFrame:
    """Keep the first row of each value of `by` (file order decides which source wins)."""
    return table.drop_duplicates(subset=by, keep="first").reset_index(drop=True)


def split_indices(
    n: int,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    groups: Sequence[object] | None = None,
) -> dict[str, np.ndarray]:
    """Seeded random split of ``range(n)`` into train / val / test.

    Args:
        n: number of items.
        fractions: train, validation and test fractions (summing to 1).
        seed: seed of ``numpy.random.default_rng``; the same seed gives the same split.
        groups: optional label per item; each group is split in the same proportions
            (stratified), e.g. the mlearn ``group`` of each frame.

    Returns:
        ``{"train": idx, "val": idx, "test": idx}``, sorted integer arrays that partition
        ``range(n)``; test and validation get ``round(fraction * size)`` items per group.
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-9 or min(fractions) < 0:
        raise ValueError(
            f"fractions must be three non-negative numbers summing to 1; got {fractions}"
        )
    rng = np.random.default_rng(seed)
    labels = (
        np.zeros(n, dtype=np.int64)
        if groups is None
        else np.unique(np.asarray(groups, dtype=str), return_inverse=True)[1]
    )
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_test = int(round(fractions[2] * len(members)))
        n_val = int(round(fractions[1] * len(members)))
        parts["test"].append(members[:n_test])
        parts["val"].append(members[n_test : n_test + n_val])
        parts["train"].append(members[n_test + n_val :])
    return {
        name: np.sort(np.concatenate(p)) if p else np.zeros(0, np.int64)
        for name, p in parts.items()
    }
