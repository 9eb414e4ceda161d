"""Train a PotNet model on your own data: a CSV with a structure column (CIF or POSCAR
strings, pymatgen dicts) and a target column, then predict with the trained model.

This writes a config, trains (a few epochs by default, for a quick look), prints the test
metrics and loads the best checkpoint. The same run from the command line::

    potnet-ase train my_config.json --output runs/my_model
    potnet-ase evaluate runs/my_model --config my_config.json

Usage::

    python examples/train_own_data.py data.csv --target band_gap --units eV --epochs 20
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from potnet_ase.models import load_model
from potnet_ase.training import complete_config, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, help="CSV / JSON / extxyz / ASE db with structures")
    parser.add_argument("--target", required=True, help="target column")
    parser.add_argument("--units", default="")
    parser.add_argument("--structure-column", default=None)
    parser.add_argument("--variant", default="latent_ewald",
                        choices=("latent_ewald", "published", "euclidean"))  # fmt: skip
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=64, help="published PotNet: 256")
    parser.add_argument("--output", type=Path, default=Path("runs/my_model"))
    args = parser.parse_args()

    source = {"path": str(args.data)}
    if args.structure_column:
        source["structure_column"] = args.structure_column
    config = complete_config(
        {
            "name": args.output.name,
            "units": args.units,
            "data": {"sources": [source], "targets": [args.target]},
            "model": {"variant": args.variant, "hidden": args.hidden},
            "training": {"epochs": args.epochs, "patience": max(5, args.epochs // 5)},
        }
    )
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "train_config.json").write_text(json.dumps(config, indent=2))
    result = train(config, args.output)
    print(json.dumps(result["metrics"]["test"], indent=2))
    model = load_model(args.output)
    print(model, "ready: model.predict(structures) ->", model.units)


if __name__ == "__main__":
    main()
