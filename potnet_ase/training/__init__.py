"""Training and evaluation of property models from a JSON config."""

from potnet_ase.training.config import complete_config, load_config
from potnet_ase.training.metrics import parity_plot, regression_metrics
from potnet_ase.training.trainer import train

__all__ = ["complete_config", "load_config", "parity_plot", "regression_metrics", "train"]
