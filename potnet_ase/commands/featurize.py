"""``potnet-ase featurize INPUT OUTPUT``: complete-potential features of a table of structures.

INPUT is anything :func:`potnet_ase.data.read_table` reads (CSV with CIF / POSCAR / pymatgen
dict cells, JSON(.gz), parquet, extxyz, ASE ``.db``, OUTCAR). OUTPUT is ``.parquet`` or
``.csv`` (``.csv.gz``): one row per input row, in input order, with ``id``, the columns named by
``--keep`` and the features of :class:`featurizers.CompletePotentialFeaturizer`; failed rows
have NaN features and their reason in the errors file (``OUTPUT.errors.csv`` by default:
``row, id, error``).

The input is streamed (:func:`potnet_ase.data.readers.iter_table`): ``--chunk-size`` rows
are read, parsed, featurized and written to ``OUTPUT.parts/`` (with a manifest of the
settings) before the next are read, so memory is bounded by the chunk size, whatever the size
of INPUT. An interrupted run started again with the same arguments passes over the chunks
already done without parsing them (``--restart`` discards them). The parts are merged into
OUTPUT one at a time at the end and then removed. ``--element-pairs`` reads INPUT twice (once
to choose the pairs).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from tqdm.auto import tqdm

from potnet_ase.sums import CONVENTIONS, DEFAULT_POTENTIALS, POTENTIALS

if TYPE_CHECKING:
    from collections.abc import Iterable

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
OUTPUT_SUFFIXES = (".parquet", ".csv", ".csv.gz")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "featurize",
        help="complete-potential features of a table of structures (parquet or CSV out)",
        description=__doc__.split("\n\n")[1],
    )
    parser.add_argument("input", type=Path, help="CSV, JSON(.gz), parquet, extxyz, .db, OUTCAR")
    parser.add_argument("output", type=Path, help=".parquet, .csv or .csv.gz")
    parser.add_argument("--structure-column", default=None, help="default: auto-detected")
    parser.add_argument("--id-column", default=None, help="default: auto-detected, else row")
    parser.add_argument("--keep", nargs="*", default=[], help="input columns to copy to OUTPUT")
    parser.add_argument(
        "--potentials", nargs="+", default=list(DEFAULT_POTENTIALS), choices=POTENTIALS
    )
    parser.add_argument("--convention", default="physical", choices=CONVENTIONS)
    parser.add_argument("--pauli-alpha", type=float, default=3.0, help="1/Angstrom")
    parser.add_argument("--tol", type=float, default=None, help="per entry (default 1e-4)")
    parser.add_argument(
        "--oxidation-states",
        default="present",
        choices=("present", "guess", "none"),
        help="Madelung features from carried oxidation states, guessed ones, or none",
    )
    parser.add_argument(
        "--pair-statistics",
        action="store_true",
        help="add the cell-dependent pair-sum statistics (not size-consistent)",
    )
    parser.add_argument(
        "--element-pairs",
        type=int,
        default=0,
        metavar="K",
        help="add element-pair sums for the K most frequent pairs of INPUT (default 0: none)",
    )
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: auto)")
    parser.add_argument("--batch-size", type=int, default=128, help="structures per engine call")
    parser.add_argument("--chunk-size", type=int, default=2000, help="rows per written part")
    parser.add_argument("--errors", type=Path, default=None, help="default: OUTPUT.errors.csv")
    parser.add_argument("--restart", action="store_true", help="ignore finished parts")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def build_featurizer(args: argparse.Namespace, structures: Iterable[Any]):
    """The featurizer the arguments describe, fitted on `structures` (consumed once, only
    with ``--element-pairs``) if it needs it."""
    from featurizers import CompletePotentialFeaturizer
    from featurizers.complete_potential import DEFAULT_FEATURE_TOL

    featurizer = CompletePotentialFeaturizer(
        potentials=tuple(args.potentials),
        convention=args.convention,
        pauli_alpha=args.pauli_alpha,
        tol=DEFAULT_FEATURE_TOL if args.tol is None else args.tol,
        oxidation_states=args.oxidation_states,
        pair_statistics=args.pair_statistics,
        element_pairs=args.element_pairs > 0,
        max_element_pairs=max(args.element_pairs, 1),
        device=args.device,
        batch_size=args.batch_size,
    )
    if args.element_pairs > 0:
        featurizer.fit(s for s in structures if s is not None)
    return featurizer


def settings_key(args: argparse.Namespace, featurizer: Any) -> dict[str, Any]:
    """Everything a finished part depends on; a resumed run must match it exactly."""
    stat = args.input.stat()
    params = {k: v for k, v in featurizer.get_params().items() if k not in ("device", "n_jobs")}
    return {
        "input": str(args.input.resolve()),
        "input_size": stat.st_size,
        "input_mtime": stat.st_mtime,
        "chunk_size": args.chunk_size,
        "structure_column": args.structure_column,
        "id_column": args.id_column,
        "keep": list(args.keep),
        "featurizer": {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()},
        "labels_sha1": hashlib.sha1("\n".join(featurizer.feature_labels()).encode()).hexdigest(),
    }


def run(args: argparse.Namespace) -> int:
    from potnet_ase.data.readers import iter_table

    if not args.output.name.endswith(OUTPUT_SUFFIXES):
        raise SystemExit(
            f"potnet-ase featurize: OUTPUT must end in {', '.join(OUTPUT_SUFFIXES)}: {args.output}"
        )
    if args.chunk_size < 1:
        raise SystemExit("potnet-ase featurize: --chunk-size must be at least 1")

    def chunks():
        return iter_table(
            args.input,
            args.chunk_size,
            structure_column=args.structure_column,
            id_column=args.id_column,
        )

    # A lazy stream of every structure: read only if element pairs have to be chosen.
    featurizer = build_featurizer(args, (s for c in chunks() for s in c.table()["structure"]))
    labels = featurizer.feature_labels()

    parts = args.output.with_name(args.output.name + ".parts")
    settings = settings_key(args, featurizer)
    manifest = parts / MANIFEST
    stale = not manifest.exists() or json.loads(manifest.read_text()) != settings
    if parts.exists() and (args.restart or stale):
        if not args.restart:
            logger.warning("settings changed since the parts in %s were written; redoing", parts)
        shutil.rmtree(parts)
    parts.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps(settings, indent=1))

    progress = tqdm(unit="structure", desc="featurize", disable=args.no_progress)
    with progress as bar:
        for chunk in chunks():
            part = parts / f"part-{chunk.number:06d}.parquet"
            if not part.exists():  # finished parts are passed over unparsed
                frame = featurize_chunk(featurizer, chunk.table(), labels, args.keep)
                frame.to_parquet(part.with_suffix(".tmp"), index=False)
                part.with_suffix(".tmp").rename(part)  # a part exists only once complete
            bar.update(len(chunk))

    errors_path = args.errors or args.output.with_name(args.output.name + ".errors.csv")
    n_rows, errors = merge_parts(
        sorted(parts.glob("part-*.parquet")), args.output, ["id", *args.keep, *labels]
    )
    errors.to_csv(errors_path, index=False)
    shutil.rmtree(parts)
    logger.info("featurized %d rows (%d failed) -> %s", n_rows, len(errors), args.output)
    if len(errors):
        print(f"{len(errors)} of {n_rows} rows failed; reasons in {errors_path}")
    return 0


def featurize_chunk(
    featurizer: Any, table: pd.DataFrame, labels: list[str], keep: list[str]
) -> pd.DataFrame:
    """One output part: ``row`` (global row number), ``id``, the features, ``error`` (one
    line, or ``None``) and the `keep` columns of a chunk in :func:`read_table`'s layout."""
    missing = [c for c in keep if c not in table.columns]
    if missing:
        raise SystemExit(f"potnet-ase featurize: no columns {missing} in the input")
    rows = featurizer.featurize_many(
        table["structure"].tolist(), ignore_errors=True, return_errors=True, pbar=False
    )
    frame = pd.DataFrame(rows, columns=[*labels, "error"], index=table.index)
    frame["error"] = frame["error"].map(last_line).astype(object)
    # Rows the reader could not parse keep the reader's reason.
    unread = table["structure"].isna()
    frame.loc[unread, "error"] = table.loc[unread, "structure_error"]
    frame.insert(0, "row", table.index)
    frame.insert(1, "id", table["id"].to_numpy())
    for column in keep:
        frame[column] = table[column].to_numpy()
    return frame


def merge_parts(parts: list[Path], output: Path, columns: list[str]) -> tuple[int, pd.DataFrame]:
    """Write the `columns` of the parts, in order, to `output` (parquet, or CSV), one part in
    memory at a time.

    Returns:
        The number of rows, and the failed rows (``row, id, error``).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    errors, n_rows = [], 0
    if output.name.endswith(".parquet"):
        # Parts may infer different types for a kept column (an integer column with gaps
        # reads as float in some chunks); the file gets the schema they all fit.
        schema = (
            pa.unify_schemas([pq.read_schema(p) for p in parts], promote_options="permissive")
            if parts
            else None
        )
        with contextlib.ExitStack() as stack:
            writer = None
            for part in parts:
                frame = pd.read_parquet(part)
                errors.append(frame.loc[frame["error"].notna(), ["row", "id", "error"]])
                n_rows += len(frame)
                body = pa.Table.from_pandas(frame, preserve_index=False).select(columns)
                body = body.cast(pa.schema([schema.field(c) for c in columns]))
                if writer is None:
                    writer = stack.enter_context(pq.ParquetWriter(output, body.schema))
                writer.write_table(body)
            if writer is None:
                pd.DataFrame(columns=columns).to_parquet(output, index=False)
    else:
        opener = gzip.open if output.name.endswith(".gz") else open
        with opener(output, "wt", newline="") as handle:
            for k, part in enumerate(parts):
                frame = pd.read_parquet(part)
                errors.append(frame.loc[frame["error"].notna(), ["row", "id", "error"]])
                n_rows += len(frame)
                frame[columns].to_csv(handle, header=k == 0, index=False)
            if not parts:
                pd.DataFrame(columns=columns).to_csv(handle, index=False)
    failed = (
        pd.concat(errors, ignore_index=True)
        if errors
        else pd.DataFrame(columns=["row", "id", "error"])
    )
    return n_rows, failed


def last_line(error: Any) -> Any:
    """The message line of a traceback text (errors files hold one line per failed row)."""
    if not isinstance(error, str):
        return None
    lines = [line for line in error.strip().splitlines() if line.strip()]
    return lines[-1] if lines else error
