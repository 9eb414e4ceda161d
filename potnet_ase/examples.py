"""Built-in example crystals, shared by the demo, the benchmarks and the tests.

Each entry is built with ase and carries, for ionic binaries, the formal charges and the
published Madelung constant (per formula unit, nearest-neighbour distance, charges +-1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.build import bulk


@dataclass(frozen=True)
class ExampleCrystal:
    """A named crystal; `charges` and `madelung` are set for the ionic reference structures."""

    name: str
    atoms: Atoms
    charges: np.ndarray | None = None
    madelung: float | None = None


def perovskite(a: float = 3.905) -> Atoms:
    """Cubic SrTiO3 (5 atoms)."""
    return Atoms(
        "SrTiO3",
        scaled_positions=[(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)],
        cell=np.eye(3) * a,
        pbc=True,
    )


def skewed(atoms: Atoms) -> Atoms:
    """The same crystal in a badly skewed basis of the same lattice (unimodular transform)."""
    transform = np.array([[1, 0, 0], [7, 1, 0], [-32, -5, 1]])
    out = atoms.copy()
    out.set_cell(transform @ atoms.cell.array, scale_atoms=False)
    return out


def example_crystals() -> list[ExampleCrystal]:
    """Rock salt, CsCl, zincblende, wurtzite, fcc Cu, a perovskite and a skewed cell."""
    rock_salt = bulk("NaCl", "rocksalt", a=5.64)
    wurtzite = bulk("ZnO", "wurtzite", a=3.25, c=3.25 * np.sqrt(8 / 3), u=0.375)
    alternating = np.array([1.0, -1.0])
    return [
        ExampleCrystal("rock salt NaCl", rock_salt, alternating, 1.747564594633),
        ExampleCrystal("CsCl", bulk("CsCl", "cesiumchloride", a=4.12), alternating, 1.762674773071),
        ExampleCrystal(
            "zincblende ZnS", bulk("ZnS", "zincblende", a=5.41), alternating, 1.638055053389
        ),
        ExampleCrystal("wurtzite ZnO (ideal)", wurtzite, np.tile(alternating, 2)),
        ExampleCrystal("fcc Cu", bulk("Cu", "fcc", a=3.615)),
        ExampleCrystal("perovskite SrTiO3", perovskite()),
        ExampleCrystal(
            "rock salt NaCl, skewed basis", skewed(rock_salt), alternating, 1.747564594633
        ),
    ]


def madelung_constant(coulomb: np.ndarray, atoms: Atoms, charges: np.ndarray) -> float:
    """Madelung constant from the Coulomb matrix: -E r_nn / (formula units), charges +-1.

    E = 1/2 q^T Zc q (1/Angstrom), r_nn the shortest interatomic distance.
    """
    energy = 0.5 * charges @ coulomb @ charges
    distances = atoms.get_all_distances(mic=True)
    nearest = distances[distances > 0].min() if len(atoms) > 1 else np.inf
    formula_units = len(atoms) / 2
    return float(-energy * nearest / formula_units)
