"""Featurize and predict a folder of CIFs: one table with PotNet predictions and
complete-potential features per structure, bad files kept with their error.

    python examples/featurize_and_predict_folder.py path/to/cifs --output table.csv
    python examples/featurize_and_predict_folder.py            # a demo folder of 4 CIFs

PotNet property predictions are batched (``PotNetCalculator.predict`` on the whole list);
features come from the matminer ``CompletePotentialFeaturizer`` (batched, ``n_jobs=1``).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd
from ase.build import bulk
from ase.io import read, write
from pymatgen.io.ase import AseAtomsAdaptor

from featurizers import CompletePotentialFeaturizer
from potnet_ase.calculator import PotNetCalculator


def demo_folder() -> Path:
    folder = Path(tempfile.mkdtemp())
    demos = {
        "Si": bulk("Si", "diamond", a=5.47),
        "NaCl": bulk("NaCl", "rocksalt", a=5.64),
        "MgO": bulk("MgO", "rocksalt", a=4.21),
        "Cu": bulk("Cu", "fcc", a=3.61),
    }
    for name, atoms in demos.items():
        write(folder / f"{name}.cif", atoms)
    (folder / "broken.cif").write_text("not a CIF\n")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=None)
    parser.add_argument("--output", default="potnet_table.csv")
    args = parser.parse_args()
    folder = Path(args.folder) if args.folder else demo_folder()
    rows = []
    for path in sorted(folder.glob("*.cif")):
        try:
            rows.append({"file": path.name, "structure": AseAtomsAdaptor.get_structure(read(path)),
                         "error": None})  # fmt: skip
        except Exception as error:  # keep the row: a bad file is reported, not dropped
            rows.append(
                {"file": path.name, "structure": None, "error": f"{type(error).__name__}: {error}"}
            )
    table = pd.DataFrame(rows)
    good = table["structure"].notna()

    calc = PotNetCalculator(model=None)
    predictions = calc.predict(list(table.loc[good, "structure"])) if good.any() else {}
    for name, values in predictions.items():
        table.loc[good, name] = values

    featurizer = CompletePotentialFeaturizer()
    features = featurizer.featurize_dataframe(
        table.loc[good, ["structure"]], "structure", ignore_errors=True, return_errors=True
    )
    table = table.join(features.drop(columns=["structure"]))
    table.drop(columns=["structure"]).to_csv(args.output, index=False)
    print(table.drop(columns=["structure"]).iloc[:, :8].to_string())
    print(f"wrote {args.output}: {len(table)} rows, {table.shape[1] - 1} columns")


if __name__ == "__main__":
    main()
