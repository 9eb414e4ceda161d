"""Featurization throughput: CompletePotentialFeaturizer vs matminer's SineCoulombMatrix and
EwaldEnergy, all through ``featurize_dataframe`` on the same MP structures.

Anchors run in the same process, interleaved over repeats (the machine is shared); medians are
reported. "single" runs every featurizer with n_jobs=1 and one torch / BLAS thread; "default"
gives the matminer featurizers their default n_jobs (cpu_count processes). Ours always runs in
one process (it batches instead of forking, n_jobs=1) with one torch thread.

It also measures what loose feature tolerances (1e-3 to 1e-6 per lattice-sum entry) cost in
accuracy and save in time: the largest deviation of every feature from the same feature at
tol=1e-10, relative to that feature's spread over the structures (``--accuracy-only``).

Usage::

    python benchmarks/bench_featurizers.py --data ../shared/data --n 2000 --out /tmp/bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from featurizers import CompletePotentialFeaturizer
from featurizers.complete_potential import DEFAULT_FEATURE_TOL, guessed_oxidation_states
from potnet_ase.data import read_table


def load_structures(data: Path, n: int) -> pd.DataFrame:
    table = read_table(data / "mp_formation/flla_2015.csv")
    table = table[table["structure"].notna()]
    return table.sample(n=min(n, len(table)), random_state=0)[["structure"]].reset_index(drop=True)


def timed(featurize, frame: pd.DataFrame) -> float:
    """Seconds to featurize fresh copies of the structures (matminer's oxidation-state
    conversion decorates structures in place, which would spare later runs the guessing)."""
    return timed_both(featurize, frame)[0]


def timed_both(featurize, frame: pd.DataFrame) -> tuple[float, float]:
    """Wall and CPU (process) seconds of :func:`timed`. Every featurizer here runs in one
    thread of this process, so CPU time is what one core spends, without the waiting that
    other jobs on a shared machine add to the wall time."""
    fresh = pd.DataFrame({"structure": [s.copy() for s in frame["structure"]]})
    start, start_cpu = time.perf_counter(), time.process_time()
    featurize(fresh)
    return time.perf_counter() - start, time.process_time() - start_cpu


TOLERANCES = (1e-3, 1e-4, 1e-5, 1e-6)


def tolerance_deviation(frame: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per tolerance: the largest |feature(tol) - feature(tol=1e-10)| over the structures,
    relative to the feature's spread (std over the structures), for the default features and
    for the optional pair statistics (features constant over the set are skipped), and the
    CPU seconds of featurizing the structures at that tolerance."""
    structures = frame["structure"].tolist()
    options = dict(oxidation_states="guess", pair_statistics=True)
    tight = np.array(
        CompletePotentialFeaturizer(tol=1e-10, **options).featurize_many(structures, pbar=False),
        dtype=float,
    )
    spread = np.nanstd(tight, axis=0)
    labels = CompletePotentialFeaturizer(**options).feature_labels()
    default = set(CompletePotentialFeaturizer(oxidation_states="guess").feature_labels())
    in_default = np.array([label in default for label in labels])
    usable = spread > 0
    results = {}
    for tol in TOLERANCES:
        featurizer = CompletePotentialFeaturizer(tol=tol, oxidation_states="guess")
        featurizer.featurize_many(structures, pbar=False)  # warm: the guesses are cached
        start = time.process_time()
        featurizer.featurize_many(structures, pbar=False)
        seconds = time.process_time() - start
        featurizer.set_params(pair_statistics=True)
        loose = np.array(featurizer.featurize_many(structures, pbar=False), dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            deviation = np.nanmax(np.abs(loose - tight), axis=0) / spread
        results[f"{tol:g}"] = {
            "default features": float(np.nanmax(deviation[usable & in_default])),
            "pair statistics": float(np.nanmax(deviation[usable & ~in_default])),
            "default features cpu s": seconds,
        }
    return results


def paired_ratios(
    frame: pd.DataFrame,
    rounds: int,
    chunk: int,
    tol: float = DEFAULT_FEATURE_TOL,
    device: str = "cpu",
) -> dict[str, list[float]]:
    """Per-chunk time ratios, ours / SineCoulombMatrix and ours / EwaldEnergy (+ guessing),
    each pair timed back to back on the same chunk of structures, all with n_jobs=1, in wall
    time and in CPU time of this process (entries ending in "(cpu)"); plus the milliseconds
    per structure of every chunk ("ms/structure ..."). On a shared machine whose load swings
    within seconds, the median of such paired ratios is far steadier than a ratio of
    separately timed totals."""
    from matminer.featurizers.conversions import StructureToOxidStructure
    from matminer.featurizers.structure import EwaldEnergy, SineCoulombMatrix

    sine = SineCoulombMatrix(flatten=True)
    sine.set_n_jobs(1)
    sine.fit(frame["structure"])
    oxidise = StructureToOxidStructure(target_col_id="oxidised", overwrite_data=True)
    oxidise.set_n_jobs(1)
    energy = EwaldEnergy()
    energy.set_n_jobs(1)
    ours = CompletePotentialFeaturizer(device=device, tol=tol)
    ours_guess = CompletePotentialFeaturizer(device=device, tol=tol, oxidation_states="guess")

    def ewald(df):
        df = oxidise.featurize_dataframe(df, "structure", pbar=False)
        return energy.featurize_dataframe(df, "oxidised", pbar=False)

    def guessing(df):
        guessed_oxidation_states.cache_clear()
        return ours_guess.featurize_dataframe(df, "structure", pbar=False)

    names = ("ours/sine", "ours/ewald", "ours guess/ewald")
    ratios: dict[str, list[float]] = {name: [] for name in names}
    ratios.update({f"{name} (cpu)": [] for name in names})
    ms_per_structure: dict[str, list[float]] = {}
    for k in range(rounds):
        part = frame.iloc[(k * chunk) % len(frame) :][:chunk]
        times = {
            "sine": timed_both(
                lambda df: sine.featurize_dataframe(df, "structure", pbar=False), part
            ),
            "ours": timed_both(
                lambda df: ours.featurize_dataframe(df, "structure", pbar=False), part
            ),
            "ewald": timed_both(ewald, part),
            "ours guess": timed_both(guessing, part),
        }
        for name in names:
            top, bottom = name.split("/")
            ratios[name].append(times[top][0] / times[bottom][0])
            ratios[f"{name} (cpu)"].append(times[top][1] / times[bottom][1])
        for featurizer, (wall, cpu) in times.items():
            ms_per_structure.setdefault(f"{featurizer} wall", []).append(1e3 * wall / len(part))
            ms_per_structure.setdefault(f"{featurizer} cpu", []).append(1e3 * cpu / len(part))
        print({name: round(v[-1], 3) for name, v in ratios.items()}, flush=True)
    ratios.update({f"ms/structure {name}": v for name, v in ms_per_structure.items()})
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--n", type=int, default=2000, help="structures (seeded sample)")
    parser.add_argument("--ewald-n", type=int, default=0, help="EwaldEnergy subset (0: all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_featurizers.json"))
    parser.add_argument(
        "--accuracy-only", action="store_true", help="only the tol 1e-6 vs 1e-10 comparison"
    )
    parser.add_argument(
        "--paired-only",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="only the paired per-chunk ratios, over this many chunks (rounds)",
    )
    parser.add_argument(
        "--chunk",
        type=int,
        default=100,
        help="structures per paired chunk; --chunk 2000 --n 2000 times all of them per round",
    )
    parser.add_argument(
        "--tol", type=float, default=DEFAULT_FEATURE_TOL, help="our tolerance in the paired ratios"
    )
    parser.add_argument("--device", default="cpu", help="our device in the paired ratios")
    args = parser.parse_args()

    from matminer.featurizers.conversions import StructureToOxidStructure
    from matminer.featurizers.structure import EwaldEnergy, SineCoulombMatrix

    torch.set_num_threads(1)
    frame = load_structures(args.data, args.n)
    if args.accuracy_only:
        deviation = tolerance_deviation(frame)
        args.out.write_text(json.dumps({"max_deviation_over_spread": deviation}, indent=1))
        print("largest |feature(tol) - feature(1e-10)| / feature spread:", deviation)
        return
    if args.paired_only:
        warm = frame.iloc[:20]
        timed(
            lambda df: CompletePotentialFeaturizer(oxidation_states="guess").featurize_dataframe(
                df, "structure", pbar=False
            ),
            warm,
        )
        ratios = paired_ratios(
            frame, args.paired_only, chunk=args.chunk, tol=args.tol, device=args.device
        )
        summary = {name: float(np.median(v)) for name, v in ratios.items()}
        args.out.write_text(json.dumps({"paired_ratios": ratios, "median": summary}, indent=1))
        print("median ratios:", summary)
        return
    ewald_frame = frame if not args.ewald_n else frame.iloc[: args.ewald_n]
    atoms = frame["structure"].map(len)

    def sine(n_jobs: int | None):
        featurizer = SineCoulombMatrix(flatten=True)
        if n_jobs:
            featurizer.set_n_jobs(n_jobs)
        featurizer.fit(frame["structure"])
        return lambda df: featurizer.featurize_dataframe(df, "structure", pbar=False)

    def ewald(n_jobs: int | None):
        # matminer's documented route: guess oxidation states, then EwaldEnergy.
        oxidise = StructureToOxidStructure(target_col_id="oxidised", overwrite_data=True)
        energy = EwaldEnergy()
        if n_jobs:
            oxidise.set_n_jobs(n_jobs)
            energy.set_n_jobs(n_jobs)

        def run(df):
            df = oxidise.featurize_dataframe(df, "structure", pbar=False)
            return energy.featurize_dataframe(df, "oxidised", pbar=False)

        return run

    def ours(**options):
        featurizer = CompletePotentialFeaturizer(device="cpu", **options)

        def run(df):
            guessed_oxidation_states.cache_clear()  # time the guessing, not a warm cache
            return featurizer.featurize_dataframe(df, "structure", pbar=False)

        return run

    cases = {
        "SineCoulombMatrix, n_jobs=1": (sine(1), frame),
        "SineCoulombMatrix, default n_jobs": (sine(None), frame),
        f"CompletePotentialFeaturizer (default, tol {DEFAULT_FEATURE_TOL:g})": (ours(), frame),
        "CompletePotentialFeaturizer (default, guessed oxidation states)": (
            ours(oxidation_states="guess"),
            frame,
        ),
        "CompletePotentialFeaturizer (tol 1e-6)": (ours(tol=1e-6), frame),
        "CompletePotentialFeaturizer (tol 1e-10)": (ours(tol=1e-10), frame),
        "EwaldEnergy + oxidation-state guessing, n_jobs=1": (ewald(1), ewald_frame),
        "EwaldEnergy + oxidation-state guessing, default n_jobs": (ewald(None), ewald_frame),
    }
    # Warm-up: lazy imports of the engine and pymatgen's one-time load of its oxidation-state
    # statistics, so that neither lands in the first timed case.
    warm = frame.iloc[:20]
    timed(ours(oxidation_states="guess"), warm)
    timed(ewald(1), warm)
    seconds: dict[str, list[float]] = {name: [] for name in cases}
    for repeat in range(args.repeats):
        for name, (run, subset) in cases.items():
            if name.startswith("EwaldEnergy") and repeat > 0:
                continue  # one pass: it dominates the running time
            seconds[name].append(timed(run, subset))
            print(f"{name}: {seconds[name][-1]:.2f} s", flush=True)

    deviation = tolerance_deviation(frame)

    results = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        "shared with other jobs",
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "matminer": metadata.version("matminer"),
            "pymatgen": metadata.version("pymatgen"),
        },
        "structures": len(frame),
        "ewald_structures": len(ewald_frame),
        "mean_atoms": float(atoms.mean()),
        "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "seconds": seconds,
        "ms_per_structure": {
            name: 1e3 * float(np.median(t)) / len(cases[name][1]) for name, t in seconds.items()
        },
        "max_deviation_over_spread": deviation,
    }
    args.out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results["ms_per_structure"], indent=1))
    print("largest |feature(tol) - feature(1e-10)| / feature spread:", deviation)


if __name__ == "__main__":
    main()
