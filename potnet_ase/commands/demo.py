"""``potnet-ase demo``: the package on built-in example crystals.

Prints, per crystal, the key numbers of the complete-potential matrices, the Madelung constant
recovered from the Coulomb sums (where a reference exists) and the time taken; then the shipped
PotNet property predictions for the same crystals, and a cell relaxation of diamond silicon
with the default force field.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from potnet_ase.api import complete_potentials
from potnet_ase.calculator import PotNetCalculator
from potnet_ase.device import resolve_device
from potnet_ase.examples import example_crystals, madelung_constant
from potnet_ase.models import list_pretrained, load_model
from potnet_ase.structures import formula_of


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the engine on built-in example crystals")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: auto)")
    parser.add_argument("--tol", type=float, default=1e-10, help="absolute tolerance per entry")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    print(f"potnet-ase demo: complete interatomic potentials on {device}, tol {args.tol:g}")
    print("  coulomb: regularised sum of 1/r (1/A); london: sum of 1/r^6 (1/A^6);")
    print("  pauli: sum of exp(-3 r) (physical convention). Diagonal = self-image sums.\n")
    header = (
        f"{'crystal':32s} {'N':>3s} {'coulomb diag':>13s} {'london max':>11s} "
        f"{'pauli max':>10s} {'Madelung':>15s} {'reference':>15s} {'ms':>7s}"
    )
    print(header)
    print("-" * len(header))
    complete_potentials(example_crystals()[0].atoms, device=device)  # warm-up (lazy imports)
    for example in example_crystals():
        start = time.perf_counter()
        sums = complete_potentials(example.atoms, tol=args.tol, device=device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = (time.perf_counter() - start) * 1e3
        madelung = reference = ""
        if example.charges is not None:
            madelung = f"{madelung_constant(sums['coulomb'], example.atoms, example.charges):.12f}"
        if example.madelung is not None:
            reference = f"{example.madelung:.12f}"
        print(
            f"{example.name:32s} {len(example.atoms):3d} {np.mean(np.diag(sums['coulomb'])):13.6f} "
            f"{sums['london'].max():11.6f} {sums['pauli'].max():10.3e} {madelung:>15s} "
            f"{reference:>15s} {elapsed:7.2f}"
        )
    print_predictions(device)
    print_silicon_relaxation(device)
    return 0


def print_predictions(device: torch.device) -> None:
    """The shipped PotNet property models on the MP-like example crystals."""
    examples = [e for e in example_crystals() if "skewed" not in e.name]
    print("\nPotNet predictions of the shipped property models (see their model cards):")
    columns = []
    for entry in list_pretrained():
        if entry["kind"] != "property" or entry["name"] == "perov5_heat":
            continue  # perov5_heat is trained on ABX3 perovskites only
        predictions = load_model(entry["name"], device=device).predict([e.atoms for e in examples])
        for k, target in enumerate(entry["target"]):
            columns.append(
                (f"{target} ({entry['units']})", predictions.reshape(len(examples), -1)[:, k])
            )
    for name, values in columns:
        cells = "  ".join(f"{v:7.3f}" for v in values)
        print(f"  {name:44s} {cells}")
    print("  " + " " * 44 + "  ".join(f"{formula_of(e.atoms.numbers):>7s}" for e in examples))


def print_silicon_relaxation(device: torch.device) -> None:
    """The default force field relaxes strained diamond silicon (cell and positions)."""
    from ase.build import bulk
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    silicon = bulk("Si", "diamond", a=5.60)
    silicon.rattle(0.02, seed=0)
    silicon.calc = PotNetCalculator(device=str(device))
    start = time.perf_counter()
    BFGS(FrechetCellFilter(silicon), logfile=None).run(fmax=1e-4, steps=200)
    a = silicon.cell.lengths()[0] * np.sqrt(2)
    print(
        f"\nForce field {silicon.calc.parameters['model']}: diamond Si relaxed from a = 5.600 A to "
        f"a = {a:.4f} A (DFT training data: 5.4687 A), {len(silicon)} atoms, "
        f"{time.perf_counter() - start:.2f} s"
    )
