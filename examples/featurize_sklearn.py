"""Featurize a DataFrame of structures with matminer + complete potentials, then fit a
scikit-learn model.

    python examples/featurize_sklearn.py --data ../shared/data/mp_formation/flla_2015.csv \\
        --target formation_energy_per_atom --n 500

Steps: read the table (any format of ``potnet_ase.data.read_table``), add Magpie composition
features and complete-potential features with ``featurize_dataframe`` (bad rows keep NaN
features and their error text), then 5-fold cross-validate a random forest with the NaN rows
imputed explicitly.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from matminer.featurizers.composition import ElementProperty
from sklearn.ensemble import RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline

from featurizers import CompletePotentialFeaturizer
from potnet_ase.data import read_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, default=Path("../shared/data/mp_formation/flla_2015.csv")
    )
    parser.add_argument("--target", default="formation_energy_per_atom")
    parser.add_argument("--n", type=int, default=500, help="rows to use (seeded sample)")
    args = parser.parse_args()

    table = read_table(args.data, targets=[args.target])
    table = table.sample(n=min(args.n, len(table)), random_state=0).reset_index(drop=True)

    # Composition features (matminer's Magpie preset); unparsed rows get NaN.
    table["composition"] = [s.composition if s is not None else None for s in table.structure]
    magpie = ElementProperty.from_preset("magpie", impute_nan=True)
    magpie.set_n_jobs(1)
    table = magpie.featurize_dataframe(table, "composition", ignore_errors=True, pbar=False)

    # Complete-potential features, batched (n_jobs=1 is the default; the batching replaces
    # matminer's process pool). Oxidation states are guessed for the Madelung features.
    potentials = CompletePotentialFeaturizer(oxidation_states="guess")
    table = potentials.featurize_dataframe(
        table, "structure", ignore_errors=True, return_errors=True
    )
    errors = table["CompletePotentialFeaturizer Exceptions"].notna()
    print(f"{errors.sum()} of {len(table)} rows could not be featurized")

    columns = magpie.feature_labels() + potentials.feature_labels()
    X, y = table[columns].to_numpy(dtype=float), table[args.target].to_numpy()
    keep = np.isfinite(y)
    model = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        RandomForestRegressor(n_estimators=100, max_features=1 / 3, random_state=0),
    )
    scores = -cross_val_score(
        model,
        X[keep],
        y[keep],
        cv=KFold(5, shuffle=True, random_state=0),
        scoring="neg_mean_absolute_error",
    )
    print(f"5-fold MAE of {args.target}: {scores.mean():.4f} +- {scores.std():.4f}")


if __name__ == "__main__":
    main()
