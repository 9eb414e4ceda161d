"""PotNetEmbeddingFeaturizer: fixed-length embeddings, batching parity, error rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ase import Atoms

from featurizers.embedding import PotNetEmbeddingFeaturizer
from potnet_ase.models.checkpoint import save_checkpoint
from tests.test_models_potnet import STRUCTURES, make_model


@pytest.fixture
def featurizer(tmp_path):
    model = make_model("latent_ewald")
    save_checkpoint(tmp_path / "model", model.module, model.config)
    return PotNetEmbeddingFeaturizer(model=str(tmp_path / "model"), batch_size=2)


def test_labels_and_single(featurizer):
    labels = featurizer.feature_labels()
    assert labels[0] == "potnet_embedding_0" and len(labels) == 16
    single = featurizer.featurize(STRUCTURES[1])
    many = featurizer.featurize_many(STRUCTURES, pbar=False)
    assert len(single) == 16 and np.allclose(many[1], single, atol=1e-6)
    assert featurizer.citations() and featurizer.implementors()
    assert list(featurizer.get_feature_names_out()) == labels


def test_dataframe_with_bad_rows(featurizer):
    molecule = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]])
    frame = pd.DataFrame({"structure": [STRUCTURES[0], molecule, STRUCTURES[2]]})
    out = featurizer.featurize_dataframe(
        frame, "structure", ignore_errors=True, return_errors=True, pbar=False
    )
    assert len(out) == 3
    assert out.filter(like="potnet_embedding").iloc[1].isna().all()
    assert "not periodic" in out.iloc[1, -1]
    assert out.filter(like="potnet_embedding").iloc[[0, 2]].notna().all().all()
    with pytest.raises(ValueError, match="not periodic"):
        featurizer.featurize_many([molecule], pbar=False)
