"""Turning a training run into a shipped model: ``config.json`` + ``weights.pt`` + a model
card (``card.md``) whose every number is read from the run folders, + ``reference.json``
(predictions on a few built-in structures, checked by the tests to 1e-6 after loading)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.build import bulk
from pymatgen.io.ase import AseAtomsAdaptor

from potnet_ase.models.checkpoint import CONFIG_FILE, WEIGHTS_FILE
from potnet_ase.models.loading import load_model

NOT_THE_PAPER = (
    "These numbers are NOT the PotNet paper's Materials Project / JARVIS benchmarks: the "
    "paper's MP and JARVIS structure files are not available offline, the data here are "
    "smaller public substitutes (see ../shared/data/MANIFEST.md), and the network was trained "
    "far shorter and narrower than published (see Training)."
)


def reference_structures() -> dict[str, Atoms]:
    """Small built-in crystals (ase.build prototypes) for the reference predictions."""
    perovskite = Atoms(
        "SrTiO3",
        scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
        cell=np.eye(3) * 3.905,
        pbc=True,
    )
    return {
        "NaCl rocksalt a=5.64": bulk("NaCl", "rocksalt", a=5.64),
        "GaAs zincblende a=5.65": bulk("GaAs", "zincblende", a=5.65),
        "Si diamond a=5.43": bulk("Si", "diamond", a=5.43),
        "SrTiO3 cubic perovskite a=3.905": perovskite,
        "SrTiO3 2x1x1 supercell": perovskite * (2, 1, 1),
    }


def _metrics_row(label: str, metrics: dict[str, Any], targets: list[str]) -> str:
    cells = [
        f"{metrics[t]['mae']:.4f} / {metrics[t]['rmse']:.4f} / "
        + ("n/a" if metrics[t]["r2"] is None else f"{metrics[t]['r2']:.3f}")
        for t in targets
    ]
    return f"| {label} | " + " | ".join(cells) + " |"


def write_card(
    folder: Path,
    config: dict[str, Any],
    comparisons: dict[str, dict[str, Any]],
    commands: list[str],
    notes: list[str],
    retolerance: dict[str, float] | None = None,
) -> None:
    """Write ``card.md`` from the shipped config and the comparison runs' results.

    `retolerance` (``training``, ``shipped``, ``max_change``): the lattice-sum tolerance the
    run used, the one the shipped config uses, and the largest change of the reference
    predictions between the two (target units).
    """
    targets = list(config["target"])
    timing, split, data = config["timing"], config["split"], config["dataset"]
    model = config["model"]
    graph = dict(model["graph"])
    graph_text = json.dumps(graph)
    if retolerance is not None:
        graph["tol"] = retolerance["training"]
        graph_text = (
            f"{json.dumps(graph)} during training; the shipped config evaluates the sums at "
            f"tol {retolerance['shipped']:g} (predictions move by at most "
            f"{retolerance['max_change']:.2g} from the tol-{retolerance['training']:g} ones on "
            "the reference crystals), so they do not drift with the lattice-sum engine's "
            "parameter choices"
        )
    lines = [
        f"# {config['name']}: PotNet ({model['variant']}) for {', '.join(targets)}",
        "",
        f"Units: {config['units']}. Kind: {config['kind']}. Load with "
        f"`potnet_ase.load_model({config['name']!r})`.",
        "",
        "## Data",
        "",
        *[f"- `{s}`" for s in data["sources"]],
        f"- transform: {data['transform']}; rows used: {data['rows_used']}; "
        f"rows removed (reason: count): {data['dropped']}",
        *[f"- reference: {r}" for r in config.get("references", [])],
        "",
        "## Split",
        "",
        f"Seeded random split {split['fractions']} (seed {split['seed']}, after deduplication "
        f"by material id): sizes {split['sizes']}. Every model in the table below used this "
        "same split.",
        "",
        "## Test metrics (MAE / RMSE / R^2)",
        "",
        "| model | " + " | ".join(f"{t} ({config['units']})" for t in targets) + " |",
        "|---|" + "---|" * len(targets),
        _metrics_row(f"**shipped: PotNet {model['variant']}**", config["metrics"]["test"], targets),
    ]
    lines += [_metrics_row(label, m["test"], targets) for label, m in comparisons.items()]
    lines += [
        "",
        NOT_THE_PAPER,
        "",
        "## Training",
        "",
        f"- architecture: PotNet variant `{model['variant']}`, hidden {model['hidden']} "
        f"(published: 256), {model['layers']} layers, graph {graph_text}",
        f"- optimiser: AdamW lr {config['training']['lr']}, one-cycle, MSE on standardised "
        f"targets, batch {config['training']['batch_size']}, {config['training']['epochs']} "
        "epochs planned (published: 500)",
        f"- ran {timing['epochs_run']} epochs ({timing['stop_reason']}); best validation epoch "
        f"{timing['best_epoch']}; training time {timing['train_seconds']} s "
        f"({timing['seconds_per_epoch_per_1000']} s per epoch per 1,000 training structures); "
        f"graph building (or reading the graph cache) {timing['graph_seconds']} s",
        f"- device: {timing['device']}, {timing['threads']} torch thread(s), on a 2-core machine "
        "shared with other jobs (timings are therefore pessimistic)",
        "",
        "## Intended use and limits",
        "",
        "- Mean pooling and latent-Ewald messages: the prediction is intensive and the same "
        "for any choice of unit cell (primitive, conventional, supercell), checked by the "
        "tests; the published PotNet variant in the table is not (docs/models.md measures "
        "how far its predictions move).",
        "- Elements: the atom encoding covers Z = 1-100; predictions for elements absent "
        "from the training data are extrapolations.",
        *[f"- {note}" for note in notes],
        "",
        "## Commands",
        "",
        "```",
        *commands,
        "```",
        "",
        "(`potnet-ase train` and `python -m potnet_ase.commands.train` are the same command; "
        "these runs used the latter with the same arguments. "
        "`python examples/train_pretrained_models.py --runs /tmp/potnet_runs` reruns them all "
        "and publishes.)",
        "",
        "`reference.json` holds predictions of this model on built-in prototype crystals; the "
        "test suite checks that loading reproduces them to 1e-6.",
        "",
    ]
    (folder / "card.md").write_text("\n".join(lines))


def publish(
    run: str | Path,
    destination: str | Path,
    name: str,
    comparisons: dict[str, dict[str, Any]],
    commands: list[str],
    references: list[str] | None = None,
    notes: list[str] | None = None,
    shipped_tol: float | None = None,
) -> Path:
    """Copy a run's best checkpoint to `destination`/`name` with card and references.

    Args:
        run: training run folder (``config.json`` + ``weights.pt``).
        destination: the pretrained folder.
        name: public model name.
        comparisons: label -> ``{"test": {target: metrics}}`` of the other models on the
            same split (ablation, published variant, baseline).
        commands: the commands that produced the run and the comparisons.
        references: data citations for the card (default: the run config's).
        notes: extra lines for the card's "Intended use and limits".
        shipped_tol: lattice-sum tolerance written into the shipped config (default: the
            run's); tighter than the training tolerance, it pins predictions to the exact
            sums rather than to the engine's parameter choices. The card states the largest
            resulting change of the reference predictions.
    """
    run = Path(run)
    folder = Path(destination) / name
    folder.mkdir(parents=True, exist_ok=True)
    config = json.loads((run / CONFIG_FILE).read_text())
    config["name"] = name
    config["references"] = references if references is not None else config.get("references", [])
    config["comparison"] = {label: m["test"] for label, m in comparisons.items()}
    config["training"].pop("cache_dir", None)
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    shutil.copyfile(run / WEIGHTS_FILE, folder / WEIGHTS_FILE)
    structures = reference_structures()

    def predictions() -> np.ndarray:
        model = load_model(folder, device="cpu")
        return model.predict(list(structures.values())).reshape(len(structures), -1)

    retolerance = None
    training_tol = config["model"]["graph"]["tol"]
    if shipped_tol is not None and shipped_tol != training_tol:
        before = predictions()
        config["model"]["graph"]["tol"] = shipped_tol
        (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        retolerance = {"training": training_tol, "shipped": shipped_tol,
                       "max_change": float(np.abs(predictions() - before).max())}  # fmt: skip
    write_card(folder, config, comparisons, commands, notes or [], retolerance)
    model = load_model(folder, device="cpu")
    predicted = model.predict(list(structures.values())).reshape(len(structures), -1)
    reference = {
        "labels": list(structures),
        "structures": [AseAtomsAdaptor.get_structure(a).as_dict() for a in structures.values()],
        "targets": model.targets,
        "units": model.units,
        "predictions": predicted.tolist(),
    }
    (folder / "reference.json").write_text(json.dumps(reference, indent=1) + "\n")
    return folder
