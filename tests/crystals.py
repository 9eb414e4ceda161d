"""Random test crystals, built in the tests themselves (never ../shared)."""

from __future__ import annotations

import numpy as np
from ase import Atoms


def random_crystal(rng: np.random.Generator, n_atoms: int, cell: np.ndarray) -> Atoms:
    """Atoms at random positions in `cell`, at least 0.8 A apart (rejection sampling)."""
    positions: list[np.ndarray] = []
    inverse = np.linalg.inv(cell)
    while len(positions) < n_atoms:
        candidate = rng.random(3) @ cell
        ok = True
        for other in positions:
            frac = (candidate - other) @ inverse
            frac -= np.round(frac)
            # check a few neighbouring images too: the cell may be skewed
            shifts = np.array(
                [[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)]
            )
            if np.min(np.linalg.norm((frac + shifts) @ cell, axis=1)) < 0.8:
                ok = False
                break
        if ok:
            positions.append(candidate)
    numbers = rng.choice([1, 8, 11, 17, 26], size=n_atoms)
    return Atoms(numbers=numbers, positions=np.array(positions), cell=cell, pbc=True)
