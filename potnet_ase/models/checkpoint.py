"""Model checkpoints: a folder with ``config.json`` (architecture, graph settings, metadata)
and ``weights.pt`` (a ``state_dict``), read with ``torch.load(weights_only=True)`` so a file
can never run code when loaded.

``config.json`` layout::

    {"format": "potnet-ase-model", "version": 1,
     "name": ..., "kind": "property" | "forcefield", "target": [...], "units": ...,
     "dataset": ..., "split": {...}, "metrics": {...},
     "model": {"architecture": "potnet", "variant": ..., "graph": {...}, ...}}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from potnet_ase.errors import CheckpointError

FORMAT = "potnet-ase-model"
VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.pt"


def save_checkpoint(folder: str | Path, module: torch.nn.Module, config: dict[str, Any]) -> Path:
    """Write ``config.json`` and ``weights.pt`` (tensors on CPU) into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"format": FORMAT, "version": VERSION, **config}
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
    torch.save(state, folder / WEIGHTS_FILE)
    return folder


def read_config(path: str | Path) -> dict[str, Any]:
    """Parse and check a ``config.json``."""
    path = Path(path)
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise CheckpointError(
            f"{path} does not exist; a model folder needs {CONFIG_FILE}"
        ) from error
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(
            f"{path} is not valid JSON ({error}); the model folder is damaged"
        ) from error
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(
            f'{path} is not a potnet-ase model config (missing "format": "{FORMAT}"); '
            "load only folders written by potnet-ase train or save_checkpoint."
        )
    if int(config.get("version", 0)) > VERSION:
        raise CheckpointError(f"{path} has config version {config['version']}; upgrade potnet-ase")
    return config


def locate(path: str | Path) -> tuple[Path, Path]:
    """(config path, weights path) for a model folder or a weights file inside one."""
    path = Path(path)
    if path.is_dir():
        return path / CONFIG_FILE, path / WEIGHTS_FILE
    return path.parent / CONFIG_FILE, path


def load_state(path: str | Path) -> dict[str, torch.Tensor]:
    """A state_dict from `path` with ``weights_only=True``; anything else is a CheckpointError."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path} does not exist; a model folder needs {WEIGHTS_FILE}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for damaged or foreign files
        raise CheckpointError(
            f"{path} is not a readable weights file ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}); it is corrupt or not "
            "a potnet-ase checkpoint (only plain state_dicts are accepted)."
        ) from error
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} holds a {type(state).__name__}, not a state_dict of tensors")
    return state


def load_into(module: torch.nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
    """``module.load_state_dict(state)``, turning mismatches into a CheckpointError."""
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise CheckpointError(
            f"the weights in {path} do not match the architecture in its config.json "
            f"({str(error).splitlines()[0]}); the folder mixes files from different models."
        ) from error
