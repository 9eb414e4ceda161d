"""Predict properties of your structures with the shipped PotNet models, and get their
learned embeddings for scikit-learn.

Usage::

    python examples/predict_pretrained.py                 # built-in example crystals
    python examples/predict_pretrained.py my.cif POSCAR   # your files (anything ase.io reads)
"""

from __future__ import annotations

import argparse

import ase.io
from ase.build import bulk

import potnet_ase.models as models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="*", help="structure files (CIF, POSCAR, extxyz, ...)")
    args = parser.parse_args()
    if args.files:
        structures = [frame for path in args.files for frame in ase.io.read(path, index=":")]
        names = [f"{a.get_chemical_formula()}" for a in structures]
    else:
        structures = [bulk("NaCl", "rocksalt", a=5.64), bulk("Si", "diamond", a=5.43),
                      bulk("GaAs", "zincblende", a=5.65)]  # fmt: skip
        names = ["NaCl", "Si", "GaAs"]

    for entry in models.list_pretrained():
        if entry["kind"] != "property":
            continue
        model = models.load_model(entry["name"])
        predictions = model.predict(structures, batch_size=64).reshape(len(structures), -1)
        print(f"\n{entry['name']}: {', '.join(model.targets)} ({model.units})")
        for name, row in zip(names, predictions, strict=True):
            print(f"  {name:12s} " + "  ".join(f"{v:9.4f}" for v in row))

    embeddings = models.load_model("mp_formation").embed(structures)
    print(f"\nmp_formation embeddings: {embeddings.shape} (structures x hidden features)")


if __name__ == "__main__":
    main()
