"""``load_model`` and ``list_pretrained``: models by registry name or by path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from potnet_ase.errors import CheckpointError
from potnet_ase.models.checkpoint import CONFIG_FILE, load_into, load_state, locate, read_config
from potnet_ase.models.registry import get_architecture

PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "pretrained"
METADATA_KEYS = ("name", "kind", "target", "units", "dataset", "split", "metrics")


def list_pretrained() -> list[dict[str, Any]]:
    """Models shipped in ``potnet_ase/pretrained``, sorted by name.

    Returns:
        One dict per model: name, kind ("property" / "forcefield"), target, units, dataset,
        split, metrics (test-set numbers measured by our training code), and path.
    """
    models = []
    for config_path in sorted(PRETRAINED_DIR.glob(f"*/{CONFIG_FILE}")):
        config = read_config(config_path)
        entry = {key: config.get(key) for key in METADATA_KEYS}
        entry["name"] = entry["name"] or config_path.parent.name
        entry["path"] = str(config_path.parent)
        models.append(entry)
    return models


def resolve_model_path(name_or_path: str | Path) -> Path:
    """The folder (or weights file) for a pretrained name or a filesystem path."""
    candidate = PRETRAINED_DIR / str(name_or_path)
    if isinstance(name_or_path, str) and "/" not in name_or_path and candidate.is_dir():
        return candidate
    path = Path(name_or_path)
    if path.exists():
        return path
    names = [m["name"] for m in list_pretrained()]
    raise CheckpointError(
        f"no pretrained model or file named {str(name_or_path)!r}; pretrained models: {names}"
    )


def load_model(name_or_path: str | Path, device: str | torch.device | None = None) -> Any:
    """Load a model by pretrained name (see :func:`list_pretrained`) or path.

    Args:
        name_or_path: a pretrained name, a model folder (config.json + weights.pt) or the
            weights file inside one.
        device: ``None`` / ``"auto"``: CUDA when available, else CPU.

    Returns:
        The architecture's wrapper, e.g. :class:`~potnet_ase.models.predictor.PropertyModel`
        with ``.predict(structures, batch_size=64)`` and ``.embed(structures)``.

    Raises:
        CheckpointError: unknown name, missing, corrupt or foreign files.
    """
    config_path, weights_path = locate(resolve_model_path(name_or_path))
    config = read_config(config_path)
    model_config = config.get("model")
    if not isinstance(model_config, dict):
        raise CheckpointError(f'{config_path} has no "model" section')
    architecture = get_architecture(model_config.get("architecture", "potnet"))
    try:
        module = architecture.builder(model_config)
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{config_path}: invalid model settings ({error})") from error
    load_into(module, load_state(weights_path), weights_path)
    return architecture.wrapper(module, config, device)
