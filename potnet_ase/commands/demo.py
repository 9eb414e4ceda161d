"""``potnet-ase demo``: the engine on built-in example crystals.

Prints, per crystal, the key numbers of the complete-potential matrices, the Madelung constant
recovered from the Coulomb sums (where a reference exists) and the time taken.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from potnet_ase.api import complete_potentials
from potnet_ase.device import resolve_device
from potnet_ase.examples import example_crystals, madelung_constant


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
    return 0
