"""The scikit-learn baseline of the model cards: Magpie composition features (matminer
``ElementProperty.from_preset("magpie")``) and a random forest, on the same split as the
networks (same ``data`` section, same seed)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from potnet_ase.training.dataset import Dataset
from potnet_ase.training.metrics import regression_metrics


def magpie_features(structures: list[Any]) -> np.ndarray:
    """(n, 132) Magpie statistics of each structure's composition."""
    import warnings

    from matminer.featurizers.composition import ElementProperty

    featurizer = ElementProperty.from_preset("magpie", impute_nan=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = [featurizer.featurize(s.composition) for s in structures]
    return np.nan_to_num(np.asarray(rows, dtype=np.float64))


def magpie_random_forest(
    dataset: Dataset, target_names: list[str], n_estimators: int = 200, seed: int = 0
) -> dict[str, Any]:
    """Fit on the training split, report validation and test metrics per target."""
    from sklearn.ensemble import RandomForestRegressor

    started = time.perf_counter()
    features = magpie_features(dataset.structures)
    featurise_seconds = time.perf_counter() - started
    train = dataset.split["train"]
    metrics: dict[str, Any] = {"val": {}, "test": {}}
    started = time.perf_counter()
    for t, name in enumerate(target_names):
        forest = RandomForestRegressor(n_estimators=n_estimators, random_state=seed, n_jobs=1)
        forest.fit(features[train], dataset.targets[train, t])
        for part in ("val", "test"):
            index = dataset.split[part]
            metrics[part][name] = regression_metrics(
                dataset.targets[index, t], forest.predict(features[index])
            )
    return {
        "model": f"Magpie (matminer ElementProperty) + RandomForestRegressor({n_estimators} trees)",
        "metrics": metrics,
        "timing": {"featurise_seconds": round(featurise_seconds, 1),
                   "fit_seconds": round(time.perf_counter() - started, 1)},
    }  # fmt: skip
