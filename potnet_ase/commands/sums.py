"""``potnet-ase sums FILE [FILE ...]``: complete-potential matrices of structure files.

Reads anything ase.io reads (CIF, POSCAR, extxyz with many frames, ...), falling back to
pymatgen's ``Structure.from_file``; writes JSON (default, to stdout or --output) or NPZ.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np

from potnet_ase.api import complete_potentials_batch
from potnet_ase.sums import CONVENTIONS, DEFAULT_POTENTIALS, POTENTIALS, UNITS

logger = logging.getLogger(__name__)


def read_structure_file(path: Path) -> list[Any]:
    """All structures (frames) in a file, as ase.Atoms or a pymatgen Structure."""
    import ase.io

    try:
        frames = ase.io.read(path, index=":")
        return frames if isinstance(frames, list) else [frames]
    except Exception as ase_error:  # ase could not read it; pymatgen may
        from pymatgen.core import Structure

        try:
            return [Structure.from_file(path)]
        except Exception as pymatgen_error:
            raise ValueError(
                f"cannot read {path}: ase says {ase_error!r}; pymatgen says {pymatgen_error!r}"
            ) from pymatgen_error


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sums", help="complete-potential matrices of structure files (JSON or NPZ)"
    )
    parser.add_argument("files", nargs="+", type=Path, help="CIF, POSCAR, extxyz, ...")
    parser.add_argument(
        "--potentials", nargs="+", default=list(DEFAULT_POTENTIALS), choices=POTENTIALS
    )
    parser.add_argument("--convention", default="physical", choices=CONVENTIONS)
    parser.add_argument("--pauli-alpha", type=float, default=3.0, help="1/Angstrom")
    parser.add_argument("--tol", type=float, default=1e-10, help="absolute tolerance per entry")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: auto)")
    parser.add_argument("--format", choices=("json", "npz"), default=None)
    parser.add_argument("-o", "--output", type=Path, default=None, help="default: stdout (JSON)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    fmt = args.format or ("npz" if args.output and args.output.suffix == ".npz" else "json")
    if fmt == "npz" and args.output is None:
        raise SystemExit("potnet-ase sums: --format npz needs --output FILE.npz")
    labels, structures = [], []
    for path in args.files:
        frames = read_structure_file(path)
        structures.extend(frames)
        labels.extend(f"{path}" if len(frames) == 1 else f"{path}@{i}" for i in range(len(frames)))
    matrices = complete_potentials_batch(
        structures,
        args.potentials,
        convention=args.convention,
        pauli_alpha=args.pauli_alpha,
        tol=args.tol,
        device=args.device,
        progress=len(structures) > 100,
    )
    settings = {
        "convention": args.convention,
        "pauli_alpha": args.pauli_alpha,
        "tol": args.tol,
        "units": {name: UNITS[name] for name in args.potentials},
    }
    if fmt == "npz":
        arrays = {
            f"{i}_{name}": m[name] for i, m in enumerate(matrices) for name in args.potentials
        }
        np.savez_compressed(
            args.output, labels=np.array(labels), settings=json.dumps(settings), **arrays
        )
    else:
        document = {
            "settings": settings,
            "structures": [
                {
                    "source": label,
                    "numbers": np.asarray(_numbers(s)).tolist(),
                    **{name: m[name].tolist() for name in args.potentials},
                }
                for label, s, m in zip(labels, structures, matrices, strict=True)
            ],
        }
        text = json.dumps(document, indent=1)
        if args.output:
            args.output.write_text(text)
        else:
            sys.stdout.write(text + "\n")
    logger.info("wrote the sums of %d structures", len(structures))
    return 0


def _numbers(structure: Any) -> list[int]:
    if hasattr(structure, "numbers"):
        return list(structure.numbers)
    return [site.specie.Z for site in structure]
