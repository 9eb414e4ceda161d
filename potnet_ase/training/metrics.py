"""Regression metrics and parity plots."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pathlib import Path


def regression_metrics(true: np.ndarray, predicted: np.ndarray) -> dict[str, float | None]:
    """MAE, RMSE and R^2 of (n,) arrays (same units as the inputs; R^2 dimensionless, None
    when the true values do not vary, so the result stays valid JSON)."""
    true, predicted = np.asarray(true, float), np.asarray(predicted, float)
    error = predicted - true
    total = float(((true - true.mean()) ** 2).sum())
    return {
        "mae": float(np.abs(error).mean()),
        "rmse": float(np.sqrt((error**2).mean())),
        "r2": float(1 - (error**2).sum() / total) if total > 0 else None,
        "n": int(len(true)),
    }


def parity_plot(
    true: np.ndarray, predicted: np.ndarray, path: str | Path, label: str, units: str
) -> None:
    """Scatter of predicted against true values with the y = x line, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = regression_metrics(true, predicted)
    figure, axes = plt.subplots(figsize=(4.5, 4.5), dpi=120)
    axes.scatter(true, predicted, s=6, alpha=0.5, linewidths=0)
    low = float(min(np.min(true), np.min(predicted)))
    high = float(max(np.max(true), np.max(predicted)))
    axes.plot([low, high], [low, high], color="black", linewidth=0.8)
    axes.set_xlabel(f"true {label} ({units})")
    axes.set_ylabel(f"predicted {label} ({units})")
    r2 = "n/a" if metrics["r2"] is None else f"{metrics['r2']:.3f}"
    axes.set_title(f"MAE {metrics['mae']:.4g}, R$^2$ {r2}, n = {metrics['n']}")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
