"""Predict properties of a crystal from a CIF file with the PotNet ASE calculator.

    python examples/predict_cif.py my_structure.cif
    python examples/predict_cif.py            # writes and reads a demo CIF (diamond Si)

Prints the PotNet property predictions (every shipped property model; names carry units),
a summary of the complete-potential matrices, and, when a shipped force field covers the
elements, the energy, forces and stress.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from ase.build import bulk
from ase.io import read, write

from potnet_ase import UnsupportedElementError
from potnet_ase.calculator import PotNetCalculator, default_forcefield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cif", nargs="?", help="CIF file (default: a demo diamond-Si CIF)")
    args = parser.parse_args()
    path = args.cif
    if path is None:
        path = str(Path(tempfile.mkdtemp()) / "Si.cif")
        write(path, bulk("Si", "diamond", a=5.47))
    atoms = read(path)
    print(f"{path}: {atoms.get_chemical_formula()}, {len(atoms)} atoms")

    calc = PotNetCalculator(model=default_forcefield())
    predictions = calc.predict(atoms)
    if predictions:
        for name, value in predictions.items():
            print(f"  {name:45s} {value:10.4f}")
    else:
        print("  (no property models are shipped in this installation)")

    matrices = calc.complete_potentials(atoms)
    for name, matrix in matrices.items():
        print(
            f"  complete {name:8s} sum: {matrix.shape}, diagonal mean {np.diag(matrix).mean():.5g}"
        )

    try:
        atoms.calc = calc
        energy = atoms.get_potential_energy()
    except UnsupportedElementError as error:
        print(f"  no force field for this structure: {error}")
        return
    model = calc.parameters["model"]
    print(f"  energy {energy:.4f} eV ({energy / len(atoms):.4f} eV/atom) with {model}")
    print(f"  max |force| {np.abs(atoms.get_forces()).max():.4f} eV/A")
    print(f"  stress (GPa, xx yy zz yz xz xy) {np.round(atoms.get_stress() * 160.21766, 3)}")


if __name__ == "__main__":
    main()
