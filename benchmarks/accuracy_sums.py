"""Empirical accuracy of the lattice sums: the largest error / tol over random plain, skewed,
elongated and flat cells (1-24 atoms), against the slow independent reference of the test suite.

    python benchmarks/accuracy_sums.py --cells 160
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import potnet_ase  # noqa: E402
from tests.crystals import random_crystal  # noqa: E402
from tests.reference_sums import direct_sum, inverse_power_sum  # noqa: E402
from tests.test_sums_geometry import _cell  # noqa: E402

KINDS = ("plain", "skewed", "elongated", "flat")
TOLERANCES = (1e-4, 1e-6, 1e-10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", type=int, default=160)
    args = parser.parse_args()
    worst: dict[tuple[str, str, float], float] = {}
    for seed in range(args.cells):
        rng = np.random.default_rng(seed)
        kind = KINDS[seed % len(KINDS)]
        n_atoms = int(rng.integers(1, 25))
        cell = _cell(kind, rng, n_atoms)
        atoms = random_crystal(rng, n_atoms, cell)
        reference = {
            "coulomb": inverse_power_sum(atoms.positions, cell, 0.5),
            "london": inverse_power_sum(atoms.positions, cell, 3.0),
            "pauli": direct_sum(atoms.positions, cell, lambda d: np.exp(-3.0 * d), 15.0),
        }
        for tol in TOLERANCES:
            ours = potnet_ase.complete_potentials(atoms, tol=tol, device="cpu")
            for name, ref in reference.items():
                scaled = np.abs(ours[name] - ref).max() / max(1.0, np.abs(ref).max()) / tol
                worst[kind, name, tol] = max(worst.get((kind, name, tol), 0.0), scaled)
    print(f"largest error / tol over {args.cells} random cells (must stay below 1)")
    print("| cell kind | potential | " + " | ".join(f"tol {t:g}" for t in TOLERANCES) + " |")
    print("|---|---|" + "---:|" * len(TOLERANCES))
    for kind in KINDS:
        for name in ("coulomb", "london", "pauli"):
            values = " | ".join(f"{worst[kind, name, t]:.3f}" for t in TOLERANCES)
            print(f"| {kind} | {name} | {values} |")


if __name__ == "__main__":
    main()
