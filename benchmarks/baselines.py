"""scikit-learn baselines: do complete-potential features improve on matminer's Coulomb features?

For each task of the shared data (MP formation energy, MP log10 bulk / shear modulus, MP band
gap, perovskite heat of formation) and each feature set

* ``magpie``: matminer Magpie ``ElementProperty`` of the composition;
* ``magpie+coulomb``: + ``SineCoulombMatrix`` eigenvalues + ``EwaldEnergy`` (oxidation states
  guessed with pymatgen; NaN where no neutral guess exists);
* ``magpie+potnet``: + our ``CompletePotentialFeaturizer(oxidation_states="guess")``;
* ``magpie+potnet+pairs``: the same with fitted element-pair sums;

it runs seeded 5-fold cross-validation of a random forest and a histogram gradient boosting
regressor (NaN filled by a median imputer fitted on the training folds) and reports the MAE per
fold. Features are computed once per task and cached (parquet) under ``--cache``.

Usage::

    python benchmarks/baselines.py featurize --data ../shared/data --cache /tmp/potnet_baselines
    python benchmarks/baselines.py cv --cache /tmp/potnet_baselines --out docs/baselines.json

Fitted featurizers (SineCoulombMatrix's padding length, the element pairs) see every structure
of a task but no target, as in matminer's own examples.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from potnet_ase.data import dedupe, read_table
from potnet_ase.errors import StructureError

logger = logging.getLogger("baselines")

TASKS = {
    "mp_formation": "formation energy (eV/atom)",
    "mp_log10_bulk": "log10 bulk modulus (GPa)",
    "mp_log10_shear": "log10 shear modulus (GPa)",
    "mp_band_gap": "band gap (eV)",
    "perov5_heat": "heat of formation (eV per 5-atom cell)",
}
FEATURE_SETS = {
    "magpie": ("magpie",),
    "magpie+coulomb": ("magpie", "sine_coulomb", "ewald"),
    "magpie+potnet": ("magpie", "potnet"),
    "magpie+potnet+pairs": ("magpie", "potnet", "potnet_pairs"),
    "magpie+potnet+pair statistics": ("magpie", "potnet", "potnet_pair_statistics"),
}


def load_formation(data: Path) -> dict[str, pd.DataFrame]:
    flla = read_table(data / "mp_formation/flla_2015.csv", targets=["formation_energy_per_atom"])
    return {"mp_formation": flla.rename(columns={"formation_energy_per_atom": "target"})}


def load_elastic(data: Path) -> dict[str, pd.DataFrame]:
    """Both elasticity files, deduplicated by material id (the 2025 file wins)."""
    new = read_table(
        data / "mp_elastic/mp-binary-pbe-elasticity-2025.1.json.gz",
        targets=["bulk_modulus_vrh", "shear_modulus_vrh"],
    )
    old = read_table(
        data / "mp_elastic/elastic_tensor_2015.csv",
        structure_column="structure",
        targets=["K_VRH", "G_VRH"],
    ).rename(columns={"K_VRH": "bulk_modulus_vrh", "G_VRH": "shear_modulus_vrh"})
    columns = ["id", "structure", "bulk_modulus_vrh", "shear_modulus_vrh"]
    elastic = dedupe(pd.concat([new[columns], old[columns]], ignore_index=True))
    tasks = {}
    for task, column in (
        ("mp_log10_bulk", "bulk_modulus_vrh"),
        ("mp_log10_shear", "shear_modulus_vrh"),
    ):
        table = elastic[elastic[column] > 0].copy()
        table["target"] = np.log10(table[column])
        tasks[task] = table
    return tasks


def load_band_gap(data: Path) -> dict[str, pd.DataFrame]:
    """mp40 (both splits) and the dielectric set, deduplicated by material id."""
    parts = [
        read_table(data / f"mp40/{name}.csv", targets=["band_gap"])
        for name in ("mp40_timesplit_test", "mp40_random_split_test")
    ]
    parts.append(
        read_table(
            data / "mp_dielectric/dielectric_constant.csv",
            structure_column="structure",
            targets=["band_gap"],
        )
    )
    columns = ["id", "structure", "band_gap"]
    gaps = dedupe(pd.concat([p[columns] for p in parts], ignore_index=True))
    return {"mp_band_gap": gaps.rename(columns={"band_gap": "target"})}


def load_perovskites(data: Path) -> dict[str, pd.DataFrame]:
    perov = pd.concat(
        [read_table(data / f"perov5/{name}.csv", targets=["heat_ref"]) for name in ("val", "test")],
        ignore_index=True,
    )
    return {"perov5_heat": dedupe(perov).rename(columns={"heat_ref": "target"})}


LOADERS = {
    "mp_formation": load_formation,
    "mp_log10_bulk": load_elastic,
    "mp_log10_shear": load_elastic,
    "mp_band_gap": load_band_gap,
    "perov5_heat": load_perovskites,
}


def load_tasks(data: Path, names: list[str]) -> dict[str, pd.DataFrame]:
    """One table per requested task with ``id``, ``structure`` and ``target`` (rows with a
    parsed structure and a finite target only)."""
    tasks: dict[str, pd.DataFrame] = {}
    for loader in dict.fromkeys(LOADERS[name] for name in names):
        tasks.update(loader(data))
    for name in list(tasks):
        if name not in names:
            del tasks[name]
            continue
        table = tasks[name]
        keep = table["structure"].notna() & np.isfinite(table["target"])
        tasks[name] = table.loc[keep, ["id", "structure", "target"]].reset_index(drop=True)
        logger.info("%s: %d rows", name, len(tasks[name]))
    return tasks


def with_guessed_oxidation_states(structures: list) -> list:
    """Copies decorated with pymatgen's first oxidation-state guess (cached per formula), or
    ``None`` where no neutral guess exists (EwaldEnergy would silently use zero charges)."""
    from featurizers.complete_potential import formal_charges
    from potnet_ase.structures import to_crystal

    decorated = []
    for structure in structures:
        try:
            charges = formal_charges(to_crystal(structure), "guess")
        except StructureError:
            charges = None
        if charges is None:
            decorated.append(None)
            continue
        copy = structure.copy()
        copy.add_oxidation_state_by_site(charges.tolist())
        decorated.append(copy)
    return decorated


def featurize_task(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Feature blocks of one task; each a DataFrame aligned with `table`, NaN rows on failure."""
    from matminer.featurizers.composition import ElementProperty
    from matminer.featurizers.structure import EwaldEnergy, SineCoulombMatrix

    from featurizers import CompletePotentialFeaturizer

    structures = table["structure"].tolist()
    blocks: dict[str, pd.DataFrame] = {}
    timings: dict[str, float] = {}

    def block(name: str, featurizer, entries: list) -> None:
        start = time.perf_counter()
        rows = featurizer.featurize_many(entries, ignore_errors=True, pbar=False)
        timings[name] = time.perf_counter() - start
        blocks[name] = pd.DataFrame(
            rows, columns=[f"{name}: {label}" for label in featurizer.feature_labels()]
        ).astype(float)

    magpie = ElementProperty.from_preset("magpie", impute_nan=True)
    magpie.set_n_jobs(1)
    block("magpie", magpie, [s.composition for s in structures])

    sine = SineCoulombMatrix(flatten=True)
    sine.set_n_jobs(1)
    sine.fit(structures)
    block("sine_coulomb", sine, structures)

    ewald = EwaldEnergy()
    ewald.set_n_jobs(1)
    decorated = with_guessed_oxidation_states(structures)
    start = time.perf_counter()
    energies = [np.nan if s is None else ewald.featurize(s)[0] / len(s) for s in decorated]
    timings["ewald"] = time.perf_counter() - start
    blocks["ewald"] = pd.DataFrame({"ewald: ewald_energy_per_atom (eV/atom)": energies})

    # One pass gives both potnet sets: the element-pair sums are the last columns.
    potnet = CompletePotentialFeaturizer(oxidation_states="guess", element_pairs=True)
    potnet.fit(structures)
    block("potnet_pairs", potnet, structures)
    plain = CompletePotentialFeaturizer(oxidation_states="guess").feature_labels()
    blocks["potnet"] = blocks["potnet_pairs"][[f"potnet_pairs: {label}" for label in plain]]
    blocks["potnet"].columns = [f"potnet: {label}" for label in plain]
    pair_columns = blocks["potnet_pairs"].columns[len(plain) :]
    blocks["potnet_pairs"] = blocks["potnet_pairs"][pair_columns]
    logger.info("featurization seconds: %s", {k: round(v, 1) for k, v in timings.items()})
    return blocks


def run_featurize(args: argparse.Namespace) -> None:
    args.cache.mkdir(parents=True, exist_ok=True)
    tasks = load_tasks(args.data, args.tasks)
    done: dict[tuple[str, ...], pd.DataFrame] = {}  # ids -> features (bulk and shear share)
    for name, table in tasks.items():
        if args.max_rows and len(table) > args.max_rows:
            table = table.sample(n=args.max_rows, random_state=0).reset_index(drop=True)
            logger.info("%s: subsampled to %d rows (seed 0)", name, len(table))
        out = args.cache / f"{name}.parquet"
        if out.exists():
            logger.info("%s: cached", name)
            continue
        ids = tuple(table["id"])
        if ids not in done:
            done[ids] = pd.concat(list(featurize_task(table).values()), axis=1)
        frame = pd.concat([table[["id", "target"]], done[ids]], axis=1)
        frame.to_parquet(out)
        logger.info("%s: %d rows x %d columns -> %s", name, *frame.shape, out)


def feature_columns(frame: pd.DataFrame, set_name: str) -> list[str]:
    """Columns of a feature set. ``potnet`` is our featurizer's default output; the cached
    blocks may also hold its optional pair statistics, used only by the set that names them."""
    from featurizers import CompletePotentialFeaturizer

    default = {
        f"potnet: {label}"
        for label in CompletePotentialFeaturizer(oxidation_states="guess").feature_labels()
    }
    columns = []
    for block in FEATURE_SETS[set_name]:
        if block == "potnet_pair_statistics":
            chosen = [c for c in frame.columns if c.startswith("potnet: ") and c not in default]
            if not chosen:
                return []
        elif block == "potnet":
            chosen = [c for c in frame.columns if c in default]
        else:
            chosen = [c for c in frame.columns if c.startswith(f"{block}: ")]
        columns += chosen
    return columns


def run_cv(args: argparse.Namespace) -> None:
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import KFold
    from sklearn.pipeline import make_pipeline

    models = {
        "random_forest": lambda: RandomForestRegressor(
            n_estimators=args.trees, max_features=1 / 3, n_jobs=args.n_jobs, random_state=0
        ),
        "gradient_boosting": lambda: HistGradientBoostingRegressor(
            max_iter=300, learning_rate=0.1, random_state=0
        ),
    }
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    for task in args.tasks:
        frame = pd.read_parquet(args.cache / f"{task}.parquet")
        y = frame["target"].to_numpy()
        folds = list(KFold(5, shuffle=True, random_state=0).split(frame))
        for set_name in args.sets:
            columns = feature_columns(frame, set_name)
            if not columns:
                continue
            X = frame[columns].to_numpy(dtype=float)
            for model_name, make in models.items():
                key = f"{task}|{set_name}|{model_name}"
                if key in results:
                    continue
                start = time.perf_counter()
                maes = []
                for train, test in folds:
                    imputer = SimpleImputer(strategy="median", keep_empty_features=True)
                    model = make_pipeline(imputer, make())
                    model.fit(X[train], y[train])
                    maes.append(float(np.mean(np.abs(model.predict(X[test]) - y[test]))))
                results[key] = {
                    "task": task,
                    "features": set_name,
                    "model": model_name,
                    "n_rows": len(y),
                    "n_features": len(columns),
                    "fold_mae": maes,
                    "seconds": time.perf_counter() - start,
                }
                logger.info("%s: MAE %.4f +- %.4f", key, np.mean(maes), np.std(maes))
                args.out.write_text(json.dumps(results, indent=1))


def markdown(results: dict) -> str:
    """Results as a markdown table: mean MAE +- std over the five folds, and the paired
    per-fold difference of ``magpie+potnet`` to the better of ``magpie`` and
    ``magpie+coulomb`` (negative: ours is better; "k/5": folds where ours is better)."""
    sets = list(FEATURE_SETS)
    lines = [
        "| task (units) | n | model | "
        + " | ".join(f"({chr(97 + i)}) {s}" for i, s in enumerate(sets))
        + " | (c) - best of (a), (b), paired |",
        "|---|---|---|" + "---|" * (len(sets) + 1),
    ]
    for task, units in TASKS.items():
        for model in ("random_forest", "gradient_boosting"):
            entries = {s: results.get(f"{task}|{s}|{model}") for s in sets}
            if entries["magpie"] is None:
                continue
            cells = [
                "-" if e is None else f"{np.mean(e['fold_mae']):.4f} +- {np.std(e['fold_mae']):.4f}"
                for e in entries.values()
            ]
            ours, rivals = entries["magpie+potnet"], [entries["magpie"], entries["magpie+coulomb"]]
            if ours is None or None in rivals:
                cells.append("-")
            else:
                best = min(rivals, key=lambda e: np.mean(e["fold_mae"]))
                delta = np.asarray(ours["fold_mae"]) - np.asarray(best["fold_mae"])
                cells.append(
                    f"{delta.mean():+.4f} +- {delta.std():.4f} ({int((delta < 0).sum())}/5)"
                )
            n = entries["magpie"]["n_rows"]
            lines.append(f"| {task}: {units} | {n} | {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="stage", required=True)
    feat = sub.add_parser("featurize")
    feat.add_argument("--data", type=Path, default=Path("../shared/data"))
    feat.add_argument("--cache", type=Path, default=Path("/tmp/potnet_baselines"))
    feat.add_argument("--max-rows", type=int, default=0, help="subsample larger tasks (seed 0)")
    feat.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    cv = sub.add_parser("cv")
    cv.add_argument("--cache", type=Path, default=Path("/tmp/potnet_baselines"))
    cv.add_argument("--out", type=Path, default=Path("/tmp/potnet_baselines/results.json"))
    cv.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    cv.add_argument("--sets", nargs="+", default=list(FEATURE_SETS), choices=list(FEATURE_SETS))
    cv.add_argument("--trees", type=int, default=100)
    cv.add_argument("--n-jobs", type=int, default=2)
    report = sub.add_parser("report", help="markdown table of one or more cv result files")
    report.add_argument(
        "--out", type=Path, nargs="+", default=[Path("/tmp/potnet_baselines/results.json")]
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.stage == "featurize":
        run_featurize(args)
    elif args.stage == "cv":
        run_cv(args)
    else:
        results: dict = {}
        for path in args.out:
            results.update(json.loads(path.read_text()))
        print(markdown(results))


if __name__ == "__main__":
    main()
