"""The user-facing property model: structures in, predictions (numpy) out."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm.auto import tqdm

from potnet_ase.data.graphs import GraphSettings, build_graphs
from potnet_ase.data.pyg import DataLoader
from potnet_ase.device import resolve_device
from potnet_ase.models.atom_features import check_elements
from potnet_ase.structures import to_crystal

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from potnet_ase.structures import Crystal

logger = logging.getLogger(__name__)


class PropertyModel:
    """A trained property network with its config.

    Attributes:
        module: the ``torch.nn.Module`` (eval mode, on ``device``).
        config: the parsed ``config.json`` (metadata and ``model`` section).
        device: torch device of the module.
        graph_settings: how input graphs are built.
    """

    def __init__(
        self, module: torch.nn.Module, config: dict[str, Any], device: torch.device | None = None
    ) -> None:
        self.device = resolve_device(device)
        self.module = module.to(self.device).eval()
        self.config = config
        self.graph_settings = GraphSettings.from_dict(config["model"].get("graph", {}))

    @property
    def targets(self) -> list[str]:
        """Names of the predicted quantities (one column each)."""
        target = self.config.get("target", [])
        return [target] if isinstance(target, str) else list(target)

    @property
    def units(self) -> str:
        return str(self.config.get("units", ""))

    def __repr__(self) -> str:
        name = self.config.get("name", "unnamed")
        return f"PropertyModel({name!r}, target={self.targets}, units={self.units!r})"

    def crystals(self, structures: Sequence[Any]) -> list[Crystal]:
        """Validate structures (typed errors name the index) and check their elements."""
        crystals = []
        for k, structure in enumerate(structures):
            crystal = to_crystal(structure, index=k)
            check_elements(crystal.numbers, crystal.label)
            crystals.append(crystal)
        return crystals

    def _run(
        self,
        structures: Sequence[Any],
        batch_size: int,
        method: str,
        progress: bool,
        cache_dir: str | Path | None,
    ) -> np.ndarray:
        if isinstance(structures, (str, bytes)) or not hasattr(structures, "__len__"):
            raise TypeError("pass a list of ase.Atoms or pymatgen Structures")
        if len(structures) == 0:
            raise ValueError("no structures given; pass a non-empty list")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive; got {batch_size}")
        graphs = build_graphs(self.crystals(structures), self.graph_settings, cache_dir, progress)
        loader = DataLoader(graphs, batch_size=batch_size, shuffle=False)
        outputs = []
        with torch.no_grad():
            for batch in tqdm(loader, desc=method, unit="batch", disable=not progress):
                outputs.append(getattr(self.module, method)(batch.to(self.device)).cpu())
        return torch.cat(outputs).double().numpy()

    def predict(
        self,
        structures: Sequence[Any],
        batch_size: int = 64,
        progress: bool = False,
        cache_dir: str | Path | None = None,
    ) -> np.ndarray:
        """Predict the target(s) for ase.Atoms / pymatgen Structures.

        Returns:
            (n,) float64 in ``self.units`` for one target, (n, n_targets) for several.

        Raises:
            StructureError / UnsupportedElementError: for invalid input, naming the index.
        """
        values = self._run(structures, batch_size, "predict_batch", progress, cache_dir)
        return values[:, 0] if values.shape[1] == 1 else values

    def embed(
        self,
        structures: Sequence[Any],
        batch_size: int = 64,
        progress: bool = False,
        cache_dir: str | Path | None = None,
    ) -> np.ndarray:
        """The pooled learned representation, (n, hidden) float64."""
        return self._run(structures, batch_size, "embed", progress, cache_dir)
