"""``potnet-ase train CONFIG``: train a PotNet property model from a JSON config.

Writes a run folder (``--output``, default ``runs/<name>``) with the best checkpoint
(``config.json`` + ``weights.pt``, loadable by ``potnet_ase.load_model``), ``last.pt`` for
``--resume``, per-epoch ``metrics.jsonl``, test predictions and parity plots. Also runnable
as ``python -m potnet_ase.commands.train``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch

from potnet_ase.training.config import DEFAULT_GRAPHS, load_config
from potnet_ase.training.trainer import train


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train a PotNet property model from a config")
    parser.add_argument("config", type=Path, help="JSON config (see configs/)")
    parser.add_argument("--output", type=Path, default=None, help="run folder (runs/<name>)")
    parser.add_argument("--variant", choices=sorted(DEFAULT_GRAPHS), default=None,
                        help="override model.variant (euclidean = no infinite edges)")  # fmt: skip
    parser.add_argument("--epochs", type=int, default=None, help="override training.epochs")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: auto)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--resume", action="store_true", help="continue from OUTPUT/last.pt")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.add_argument("--baseline", action="store_true",
                        help="instead of the network, fit the Magpie + random-forest baseline on "
                        "the same split and write OUTPUT/baseline.json")  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raw = json.loads(Path(args.config).read_text())
    if raw.get("task") == "forcefield":
        return run_forcefield(raw, args)
    overrides: dict = {"model": {}, "training": {}}
    if args.variant:
        overrides["model"]["variant"] = args.variant
    if args.epochs:
        overrides["training"]["epochs"] = args.epochs
    if args.threads:
        overrides["training"]["threads"] = args.threads
    config = load_config(args.config, overrides)
    if args.variant:
        config["name"] = f"{config['name']}_{args.variant}"
    if config["training"]["threads"]:
        torch.set_num_threads(int(config["training"]["threads"]))
    output = args.output or Path("runs") / config["name"]
    if args.baseline:
        return run_baseline(config, output)
    result = train(
        config, output, resume=args.resume, device=args.device, progress=not args.no_progress
    )
    print(json.dumps({"output": str(output), "metrics": result["metrics"],
                      "timing": result["timing"]}, indent=2))  # fmt: skip
    return 0


def run_forcefield(config: dict, args: argparse.Namespace) -> int:
    """Force-field configs (``"task": "forcefield"``): schema in potnet_ase.forcefield.training."""
    from potnet_ase.forcefield.training import train_forcefield

    if args.output:
        config["output"] = str(args.output)
    if args.epochs:
        config["epochs"] = args.epochs
    if args.threads:
        config["threads"] = args.threads
    result = train_forcefield(config)
    print(json.dumps(result["metrics"], indent=2))
    return 0


def run_baseline(config: dict, output: Path) -> int:
    """Fit the Magpie + random-forest baseline on the config's split; write baseline.json."""
    from potnet_ase.training.baseline import magpie_random_forest
    from potnet_ase.training.dataset import build_dataset

    result = magpie_random_forest(build_dataset(config["data"]), list(config["target"]))
    output.mkdir(parents=True, exist_ok=True)
    (output / "baseline.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (same options as ``potnet-ase train``)."""
    parser = argparse.ArgumentParser(prog="potnet-ase")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
