"""Learned PotNet representations as matminer features.

:class:`PotNetEmbeddingFeaturizer` returns the mean-pooled node features of a trained PotNet
model (``model.embed``), a fixed-length vector per structure whatever its size, computed in
batches on the model's device.
"""

from __future__ import annotations

import traceback
from typing import Any

import numpy as np
from matminer.featurizers.base import BaseFeaturizer

from featurizers.complete_potential import CITATIONS, IMPLEMENTORS, as_rows

LATENT_EWALD_CITATION = (
    "@article{cheng2024latent, title={Latent Ewald summation for machine learning of "
    "long-range interactions}, author={Cheng, Bingqing}, journal={npj Computational "
    "Materials}, volume={11}, pages={80}, year={2025}}"
)


class PotNetEmbeddingFeaturizer(BaseFeaturizer):
    """The pooled learned representation of a PotNet property model.

    Args:
        model: pretrained name (``potnet_ase.list_pretrained()``) or model folder.
        device: ``None`` / ``"auto"``: CUDA when available.
        batch_size: structures per forward pass.

    Features: ``potnet_embedding_<k>`` for k < the model's hidden width (dimensionless
    activations; no units). The model is loaded on first use and cached in ``model_``.
    ``n_jobs`` defaults to 1: batching happens inside :meth:`featurize_many`.
    """

    def __init__(
        self, model: str = "mp_formation", device: str | None = None, batch_size: int = 64
    ) -> None:
        self.model = model
        self.device = device
        self.batch_size = batch_size
        self.set_n_jobs(1)

    def _loaded(self) -> Any:
        loaded = getattr(self, "model_", None)
        if loaded is None or getattr(self, "_loaded_from", None) != (self.model, self.device):
            from potnet_ase.models.loading import load_model

            loaded = load_model(self.model, device=self.device)
            self.model_ = loaded
            self._loaded_from = (self.model, self.device)
        return loaded

    def feature_labels(self) -> list[str]:
        width = int(self._loaded().module.output.in_features)
        return [f"potnet_embedding_{k}" for k in range(width)]

    def featurize(self, structure: Any) -> list[float]:
        """Embedding of one ase.Atoms / pymatgen Structure."""
        return self._loaded().embed([structure])[0].tolist()

    def featurize_many(
        self,
        entries: Any,
        ignore_errors: bool = False,
        return_errors: bool = False,
        pbar: bool | dict = True,
    ) -> list[list]:
        """Batched embeddings; bad rows follow matminer's ``ignore_errors`` /
        ``return_errors`` rules (NaN features plus the error text)."""
        if return_errors and not ignore_errors:
            raise ValueError("Please set ignore_errors to True to use return_errors.")
        structures = [row[0] for row in as_rows(entries)]
        if not structures:
            return []
        model = self._loaded()
        results: list[list[float] | Exception] = [ValueError("not computed")] * len(structures)
        good = []
        for k, structure in enumerate(structures):
            try:
                model.crystals([structure])
                good.append(k)
            except Exception as error:  # kept per row, as matminer's ignore_errors expects
                results[k] = error
        if good:
            vectors = model.embed(
                [structures[k] for k in good], batch_size=self.batch_size, progress=bool(pbar)
            )
            for k, vector in zip(good, vectors, strict=True):
                results[k] = vector.tolist()
        width = len(self.feature_labels())
        output: list[list] = []
        for result in results:
            if not isinstance(result, Exception):
                output.append(result + [float("nan")] if return_errors else result)
            elif not ignore_errors:
                raise result
            else:
                text = "".join(traceback.format_exception(result))
                output.append([float("nan")] * width + ([text] if return_errors else []))
        return output

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Feature labels as scikit-learn expects them."""
        return np.asarray(self.feature_labels(), dtype=object)

    def citations(self) -> list[str]:
        return [*CITATIONS, LATENT_EWALD_CITATION]

    def implementors(self) -> list[str]:
        return list(IMPLEMENTORS)
