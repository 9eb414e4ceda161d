"""Saving and loading force fields in the project's checkpoint format
(:mod:`potnet_ase.models.checkpoint`): ``config.json`` (``"kind": "forcefield"``, the ``model``
section with ``"architecture": "potnet-ff"``, training record, metrics) + ``weights.pt`` (a
``state_dict``, read with ``weights_only=True``) + ``reference.json`` (predictions on fixed
structures, so drift is caught) + ``model_card.md``.

:mod:`potnet_ase.forcefield.registration` registers the architecture with
:mod:`potnet_ase.models.registry`, so ``potnet_ase.load_model("ff-si")`` returns a
:class:`ForceFieldModel`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ase import Atoms
from ase.build import bulk

from potnet_ase.autograd import voigt
from potnet_ase.device import resolve_device
from potnet_ase.errors import CheckpointError
from potnet_ase.forcefield.graph import build_graph
from potnet_ase.forcefield.model import ARCHITECTURE, PotNetForceField, energy_forces_stress
from potnet_ase.structures import to_crystal

PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "pretrained"
# The names of potnet_ase.models.checkpoint, which is imported lazily: importing
# potnet_ase.models pulls in torch-geometric, which the calculator does not need.
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.pt"
REFERENCE_FILE = "reference.json"
CARD_FILE = "model_card.md"


def reference_structures(elements: list[str]) -> list[Atoms]:
    """Fixed, rattled bulk cells (one per element) on which reference predictions are stored."""
    structures = []
    for k, element in enumerate(elements):
        atoms = bulk(element, cubic=True) if element != "Li" else bulk(element, "bcc", cubic=True)
        atoms = atoms.repeat((2, 1, 1))
        atoms.rattle(0.05, seed=k)
        structures.append(atoms)
    return structures


def predict_reference(model: PotNetForceField, structures: list[Atoms]) -> list[dict[str, Any]]:
    model = model.to(torch.float64)
    crystals = [to_crystal(a) for a in structures]
    graph = build_graph(crystals, model.cutoff)
    positions = torch.as_tensor(np.concatenate([c.positions for c in crystals]))
    cells = torch.as_tensor(np.stack([c.cell for c in crystals]))
    out = energy_forces_stress(model, positions, cells, graph)
    forces = out.forces.detach().numpy()
    stress = voigt(out.stress).detach().numpy()
    records, start = [], 0
    for k, atoms in enumerate(structures):
        stop = start + len(atoms)
        records.append(
            {
                "symbols": atoms.get_chemical_symbols(),
                "positions": atoms.positions.tolist(),
                "cell": atoms.cell.array.tolist(),
                "energy": float(out.energy[k].detach()),
                "forces": forces[start:stop].tolist(),
                "stress": stress[k].tolist(),
            }
        )
        start = stop
    return records


def save_forcefield(
    model: PotNetForceField, directory: str | Path, *, name: str, record: dict[str, Any]
) -> dict[str, Any]:
    """Write a force field to `directory` and return its config."""
    from potnet_ase.models.checkpoint import FORMAT, VERSION

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float32).cpu() for k, v in model.state_dict().items()}
    torch.save(state, directory / WEIGHTS_FILE)
    config = {
        "format": FORMAT,
        "version": VERSION,
        "kind": "forcefield",
        "name": name,
        "target": "energy, forces, stress",
        "units": {"energy": "eV", "forces": "eV/Angstrom", "stress": "eV/Angstrom^3 (ASE sign)"},
        "dataset": record.get("training", {}).get("train_files"),
        "split": "seeded validation split stratified by group; see training.validation_frames",
        "model": {"architecture": ARCHITECTURE, **model.config()},
        **record,
    }
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=1) + "\n")
    # Reference predictions of the float32 weights as stored, evaluated in float64.
    stored = build_forcefield(config["model"], state)
    references = predict_reference(stored, reference_structures(model.elements))
    (directory / REFERENCE_FILE).write_text(json.dumps(references) + "\n")
    write_model_card(directory)
    return config


def build_forcefield(options: dict[str, Any], state: dict[str, torch.Tensor]) -> PotNetForceField:
    """A model from its config's ``model`` section and a state dict (float64, eval mode)."""
    options = {k: v for k, v in options.items() if k != "architecture"}
    try:
        model = PotNetForceField(**options)
        model.load_state_dict({k: v.to(torch.float64) for k, v in state.items()})
    except (TypeError, RuntimeError, KeyError) as error:
        raise CheckpointError(
            f"the weights do not fit the '{ARCHITECTURE}' config ({error}); the checkpoint is "
            "corrupt or from another model. Re-download or re-train it."
        ) from error
    return model.to(torch.float64).eval()


def find_forcefield(name_or_path: str | Path) -> Path:
    """Directory of a shipped force field (by name) or of a saved one (by path)."""
    path = Path(name_or_path)
    if (path / CONFIG_FILE).exists():
        return path
    if path.name == CONFIG_FILE and path.exists():
        return path.parent
    shipped = PRETRAINED_DIR / str(name_or_path)
    if (shipped / CONFIG_FILE).exists():
        return shipped
    raise CheckpointError(
        f"no force field {str(name_or_path)!r}: neither a directory with {CONFIG_FILE} nor a "
        f"shipped model (available: {list_forcefields()})."
    )


def list_forcefields() -> list[str]:
    """Names of the shipped force fields."""
    names = []
    for config in sorted(PRETRAINED_DIR.glob(f"*/{CONFIG_FILE}")):
        try:
            if json.loads(config.read_text()).get("kind") == "forcefield":
                names.append(config.parent.name)
        except (OSError, json.JSONDecodeError):
            continue
    return names


def load_forcefield(
    name_or_path: str | Path, device: str | torch.device | None = None
) -> PotNetForceField:
    """Load a force field (float64, eval mode) by shipped name or directory.

    Raises:
        CheckpointError: missing, corrupt or foreign files (weights are read with
            ``torch.load(weights_only=True)``; nothing is unpickled).
    """
    from potnet_ase.models.checkpoint import load_state, read_config

    directory = find_forcefield(name_or_path)
    config = read_config(directory / CONFIG_FILE)
    architecture = config.get("model", {}).get("architecture")
    if config.get("kind") != "forcefield" or architecture != ARCHITECTURE:
        raise CheckpointError(
            f"{directory} holds a {config.get('kind')!r} model of architecture "
            f"{architecture!r}, not a '{ARCHITECTURE}' force field."
        )
    model = build_forcefield(config["model"], load_state(directory / WEIGHTS_FILE))
    model.name = config.get("name", directory.name)
    model.card = config
    if device is not None:
        model = model.to(resolve_device(device))
    return model


class ForceFieldModel:
    """What ``potnet_ase.load_model`` returns for a force field: the network with its config.

    Attributes:
        module: the :class:`PotNetForceField` (float64, eval mode).
        config: the parsed ``config.json``.
        device: torch device.
    """

    def __init__(
        self, module: PotNetForceField, config: dict[str, Any], device: Any = None
    ) -> None:
        self.device = resolve_device(device)
        self.module = module.to(device=self.device, dtype=torch.float64).eval()
        self.module.name = config.get("name", "custom")
        self.module.card = config
        self.config = config

    def __repr__(self) -> str:
        return f"ForceFieldModel({self.config.get('name')!r}, elements={self.module.elements})"

    def calculator(self, **options: Any) -> Any:
        """A :class:`~potnet_ase.calculator.PotNetCalculator` running this force field."""
        from potnet_ase.calculator import PotNetCalculator

        return PotNetCalculator(model=self.module, device=str(self.device), **options)

    def predict(self, structures: list[Any], batch_size: int = 64) -> np.ndarray:
        """Energies per atom (eV/atom) of many structures, batched, shape (n,)."""
        crystals = [to_crystal(s, index=k) for k, s in enumerate(structures)]
        values = []
        for start in range(0, len(crystals), batch_size):
            chunk = crystals[start : start + batch_size]
            graph = build_graph(chunk, self.module.cutoff).to(self.device)
            as_tensor = {"dtype": torch.float64, "device": self.device}
            positions = torch.as_tensor(np.concatenate([c.positions for c in chunk]), **as_tensor)
            cells = torch.as_tensor(np.stack([c.cell for c in chunk]), **as_tensor)
            with torch.no_grad():
                energy, _ = self.module(positions, cells, graph)
            values.append((energy / graph.n_atoms.to(energy)).cpu().numpy())
        return np.concatenate(values)


def write_model_card(directory: str | Path) -> Path:
    """(Re)write ``model_card.md`` from the ``config.json`` in `directory`."""
    directory = Path(directory)
    config = json.loads((directory / CONFIG_FILE).read_text())
    training, model = config.get("training", {}), config["model"]
    validation = config.get("metrics", {}).get("validation", {})
    train = config.get("metrics", {}).get("train", {})
    files = ", ".join(f"`{Path(f).name}`" for f in training.get("train_files", []))

    def metric_cells(metrics: dict[str, float]) -> str:
        return (
            f"{metrics.get('energy_per_atom_mae_meV_per_atom', float('nan')):.2f} | "
            f"{metrics.get('forces_mae_eV_per_A', float('nan')):.3f} | "
            f"{metrics.get('stress_mae_GPa', float('nan')):.2f} |"
        )

    def metric_row(label: str, metrics: dict[str, float]) -> str:
        return f"| {label} | {metric_cells(metrics)}"

    lines = [
        f"# {config['name']}: smooth PotNet force field",
        "",
        f"{training.get('description', '')}",
        "",
        "## Model",
        f"- Architecture `{model['architecture']}` (potnet_ase.forcefield.PotNetForceField): "
        f"elements {model['elements']}, cutoff {model['cutoff']} A with a polynomial envelope "
        f"(p = {model['envelope_power']}), {model['layers']} message-passing layers of width "
        f"{model['features']}, {model['basis_size']} Bessel radial functions, scalar-vector "
        f"features: {model['vector_features']}, ZBL prior: {model['zbl']}, long-range latent "
        f"charges: {model['long_range']}.",
        "- Per-element reference energies (eV, least squares on the training frames): "
        + ", ".join(f"{e} {v:.4f}" for e, v in model["reference_energies"].items()),
        f"- Weights: `{WEIGHTS_FILE}` (float32 state_dict, evaluated in float64 by default); "
        f"`{REFERENCE_FILE}` holds predictions on fixed structures (tested for drift).",
        "",
        "## Data and split",
        f"- Training files: {files} from materialsvirtuallab/mlearn (BSD-3): Zuo et al., "
        "J. Phys. Chem. A 124, 731 (2020), PBE"
        + (
            "; Cu and Ni rebuilt from the ALIGNN copy of the same sets (shared/data/MANIFEST.md)."
            if {"Cu", "Ni"} & set(model["elements"])
            else "."
        ),
        f"- Seeded split (seed {training.get('seed')}), {training.get('validation_fraction')} of "
        f"each `group` held out: {training.get('n_train_frames')} training and "
        f"{training.get('n_validation_frames')} validation frames (indices in config.json). "
        "The official mlearn test sets were not used.",
        "",
        "## Training",
        f"- `python -m potnet_ase.forcefield.training configs/{config['name']}.json` "
        f"({training.get('epochs_run')} epochs run of {training.get('epochs')} planned, bound "
        f"{training.get('max_minutes')} min; best validation at epoch "
        f"{training.get('best_epoch')}; {training.get('minutes')} min on "
        f"{training.get('threads')} CPU thread(s) of a shared 2-core machine; torch "
        f"{training.get('torch')}; {training.get('dtype')}).",
        f"- Loss weights {training.get('loss_weights')} on MSE of energy per atom (eV), forces "
        f"(eV/A), stress (eV/A^3); AdamW lr {training.get('learning_rate')}, batch "
        f"{training.get('batch_size')} frames, cosine schedule, EMA {training.get('ema_decay')}.",
        "",
        "## Metrics (measured by the training run)",
        "| split | energy MAE (meV/atom) | force MAE (eV/A) | stress MAE (GPa) |",
        "|---|---:|---:|---:|",
        metric_row("validation", validation),
        metric_row("train", train),
        "",
    ]
    per_element = config.get("metrics", {}).get("validation_per_element", {})
    if len(per_element) > 1:
        lines += ["Validation MAE per element:", "",
                  "| element | frames | energy (meV/atom) | forces (eV/A) | stress (GPa) |",
                  "|---|---:|---:|---:|---:|"]  # fmt: skip
        for element, metrics in per_element.items():
            lines.append(f"| {element} | {metrics.get('frames')} | {metric_cells(metrics)}")
    lines += [
        "",
        "For orientation only (different split: the official test sets): published test errors "
        "of GAP and MTP on these data sets are about 0.4-2.9 meV/atom and 0.01-0.09 eV/A "
        "(Zuo et al. 2020).",
    ]
    if "physics" in config:
        physics, dft = config["physics"], config["dft_reference"]
        lines += [
            "",
            "## Silicon physics (benchmarks/bench_forcefield.py silicon --write-card)",
            f"- Lattice constant: model {physics['eos_lattice_constant_A']:.4f} A (EOS), relaxed "
            f"{physics['relaxed_lattice_constant_A (from 5.60 / 5.35 A)']}; DFT training data "
            f"{dft['lattice_constant_A']:.4f} A ({physics['lattice_constant_error_percent']:+.2f} "
            "%).",
            f"- Bulk modulus: model {physics['eos_bulk_modulus_GPa']:.1f} GPa (ase.eos "
            f"Birch-Murnaghan); DFT training data {dft['bulk_modulus_GPa']:.1f} GPa "
            f"({physics['bulk_modulus_error_percent']:+.1f} %). DFT value: {dft['source']}.",
        ]
    lines += [
        "",
        "## Limits",
        "- Trained on small CPU budgets; more epochs and wider layers lower the errors (see "
        "docs/forcefields.md). Valid for the elements and the kinds of configurations in the "
        "training data (bulk, strained, vacancies, surfaces, AIMD snapshots).",
        "",
    ]
    path = directory / CARD_FILE
    path.write_text("\n".join(lines))
    return path
