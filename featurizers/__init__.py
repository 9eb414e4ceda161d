"""matminer featurizers from complete interatomic potentials (PotNet lattice sums).

Use with ``featurize_dataframe`` / ``featurize_many`` (batched on the device, ``n_jobs=1``), in
``MultipleFeaturizer(..., iterate_over_entries=False)`` to keep the batching, inside
``SiteStatsFingerprint`` (site featurizer), or as a step of a scikit-learn ``Pipeline``.
``PotNetEmbeddingFeaturizer`` returns the pooled representation of a pretrained PotNet model.
"""

from featurizers.complete_potential import CompletePotentialFeaturizer
from featurizers.embedding import PotNetEmbeddingFeaturizer
from featurizers.site import CompletePotentialSiteFeaturizer

__all__ = [
    "CompletePotentialFeaturizer",
    "CompletePotentialSiteFeaturizer",
    "PotNetEmbeddingFeaturizer",
]
