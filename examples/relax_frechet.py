"""Relax a strained crystal (positions and cell) with FrechetCellFilter and a PotNet force field.

    python examples/relax_frechet.py                       # strained diamond Si, ff-si
    python examples/relax_frechet.py --cif my.cif --model ff-mlearn6 --fmax 1e-3

Writes the relaxation trajectory (``relax.traj``, readable by ``ase gui``) and prints the
lattice parameters before and after.
"""

from __future__ import annotations

import argparse

import numpy as np
from ase.build import bulk
from ase.filters import FrechetCellFilter
from ase.io import read
from ase.optimize import BFGS

from potnet_ase.calculator import PotNetCalculator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cif", default=None, help="structure file (default: strained Si)")
    parser.add_argument("--model", default="ff-si")
    parser.add_argument("--fmax", type=float, default=1e-3, help="eV/A")
    parser.add_argument("--trajectory", default="relax.traj")
    args = parser.parse_args()
    if args.cif:
        atoms = read(args.cif)
    else:
        atoms = bulk("Si", "diamond", a=5.47, cubic=True)
        atoms.set_cell(atoms.cell.array @ np.diag([1.03, 0.98, 1.01]), scale_atoms=True)
        atoms.rattle(0.05, seed=0)
    atoms.calc = PotNetCalculator(args.model)
    print(
        "before:", np.round(atoms.cell.cellpar(), 4), f"E = {atoms.get_potential_energy():.4f} eV"
    )
    optimizer = BFGS(FrechetCellFilter(atoms), trajectory=args.trajectory)
    optimizer.run(fmax=args.fmax, steps=500)
    print(
        "after: ", np.round(atoms.cell.cellpar(), 4), f"E = {atoms.get_potential_energy():.4f} eV"
    )
    print(f"steps {optimizer.nsteps}; stress (GPa) {np.round(atoms.get_stress() * 160.21766, 4)}")


if __name__ == "__main__":
    main()
