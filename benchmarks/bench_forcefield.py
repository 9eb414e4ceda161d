"""Benchmarks of the PotNet force fields (issue 5). Every number in docs/benchmarks.md's
force-field section comes from one of these sub-commands; each prints JSON and a markdown table.

    python benchmarks/bench_forcefield.py speed  [--threads 1] [--repeats 5] [--no-memory]
    python benchmarks/bench_forcefield.py md     [--steps 2000] [--png md.png]
    python benchmarks/bench_forcefield.py silicon [--write-card]
    python benchmarks/bench_forcefield.py accuracy [--data ../shared/data/forces/mlearn]

* speed: energy+forces+stress evaluations per second of 64, 512 and 4,096-atom diamond-Si
  cells on CPU, median of repeats, for the shipped ff-si (short-range) and for the same
  architecture with the long-range latent-charge term (weights from the ablation run when
  present, else random: timing does not depend on the weights); the share of time spent in
  the force field's neighbour list, the lattice sums (the Ewald energy with its own real-space
  neighbour list, and its derivatives) and the network; and the peak memory of one
  evaluation, measured in a fresh process per row (``memory`` sub-command).
* md: NVE (velocity Verlet, 1 fs) of 64-atom Si, initial velocities at 2000 K (equilibrating
  near 1000 K), 2 ps by default; total-energy drift (linear fit, eV/atom/ps) and fluctuation.
* silicon: the DFT lattice constant (ground-state frame) and bulk modulus (cubic elastic
  constants fitted to the stresses of the strained frames with |strain| <= 2 %) of the mlearn Si
  training data, against the model's (FrechetCellFilter relaxation; ase.eos Birch-Murnaghan
  fit over +-1 % in lattice constant). ``--write-card`` stores both in ff-si's config.json
  (``dft_reference``, ``physics``), which the tests read.
* accuracy: validation MAE per element of every shipped force field (its own seeded split);
  ``--write-card`` stores them in the config.json and model card.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from ase import units
from ase.build import bulk
from ase.eos import EquationOfState
from ase.filters import FrechetCellFilter
from ase.md.velocitydistribution import Stationary
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS
from ase.stress import voigt_6_to_full_3x3_stress

from potnet_ase.calculator import PotNetCalculator
from potnet_ase.forcefield import PotNetForceField, build_graph, energy_forces_stress
from potnet_ase.forcefield.io import (
    CONFIG_FILE,
    find_forcefield,
    list_forcefields,
    load_forcefield,
    write_model_card,
)
from potnet_ase.structures import to_crystal

GPA = 160.21766208  # GPa per eV/A^3
DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "forces" / "mlearn"


def machine() -> dict:
    return {
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "dtype": "float64",
    }


def silicon(repeat: int) -> object:
    atoms = bulk("Si", "diamond", a=5.47, cubic=True).repeat(repeat)
    atoms.rattle(0.02, seed=0)
    return atoms


def timed(function, repeats: int) -> tuple[float, object]:
    function()  # warm-up
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def long_range_model(reference: PotNetForceField) -> PotNetForceField:
    trained = Path("runs/ablation-si-longrange")
    if (trained / CONFIG_FILE).exists():
        return load_forcefield(trained)
    torch.manual_seed(0)
    options = {**reference.config(), "long_range": True, "long_range_tol": 1e-6}
    return PotNetForceField(**options).double().eval()


VARIANTS = {"short": "ff-si (short-range)", "long": "long-range variant"}


def variant_model(variant: str) -> PotNetForceField:
    short = load_forcefield("ff-si")
    return short if variant == "short" else long_range_model(short)


def resident_kib(field: str) -> int:
    """A memory field of /proc/self/status (VmRSS: now, VmHWM: high-water mark), KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


def peak_memory(args: argparse.Namespace) -> dict:
    """Peak resident memory of one energy+forces+stress evaluation, in a fresh process: the
    high-water mark of the evaluation (reset through /proc/self/clear_refs just before it)
    minus the resident memory before it (model, cell and graph loaded). Linux only; a child's
    ru_maxrss would inherit the parent's high-water mark."""
    torch.set_num_threads(args.threads)
    model = variant_model(args.variant)
    crystal = to_crystal(silicon(args.repeat))
    positions = torch.as_tensor(crystal.positions)
    cells = torch.as_tensor(crystal.cell[None])
    graph = build_graph([crystal], model.cutoff)
    before = resident_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    energy_forces_stress(model, positions, cells, graph)
    peak = resident_kib("VmHWM")
    return {
        "benchmark": "memory", "model": VARIANTS[args.variant], "atoms": crystal.n_atoms,
        "resident_before_MiB": before / 1024, "peak_MiB": peak / 1024,
        "evaluation_MiB": (peak - before) / 1024,
    }  # fmt: skip


def measure_peak_memory(variant: str, repeat: int, threads: int) -> dict:
    command = [sys.executable, __file__, "--threads", str(threads), "memory",
               "--variant", variant, "--repeat", str(repeat)]  # fmt: skip
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output[: output.rindex("}") + 1])


def speed(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    rows = []
    for variant, label in VARIANTS.items():
        model = variant_model(variant)
        for repeat in (2, 4, 8):
            atoms = silicon(repeat)
            crystal = to_crystal(atoms)
            positions = torch.as_tensor(crystal.positions)
            cells = torch.as_tensor(crystal.cell[None])
            graph_time, graph = timed(
                lambda c=crystal, m=model: build_graph([c], m.cutoff), args.repeats
            )

            def full(m=model, p=positions, c=cells, g=graph):
                return energy_forces_stress(m, p, c, g)

            total, _ = timed(full, args.repeats)
            sums_time = 0.0
            if model.long_range:
                # The long-range term alone, with the derivatives an evaluation takes: to
                # positions, cell (stress) and charges (which flow into the network).
                def sums_only(m=model, p=positions, c=cells, g=graph):
                    p, c = p.detach().requires_grad_(True), c.detach().requires_grad_(True)
                    q = torch.zeros(len(p), dtype=p.dtype, requires_grad=True)
                    energy = m.coulomb_energy(p, c, g, q)
                    return torch.autograd.grad(energy.sum(), (p, c, q))

                sums_time, _ = timed(sums_only, args.repeats)
            step = total + graph_time
            memory = measure_peak_memory(variant, repeat, args.threads) if args.memory else {}
            rows.append({
                "model": label, "atoms": len(atoms),
                "evaluations_per_s": 1.0 / step,
                "seconds_per_evaluation": step,
                "share_neighbour_list": graph_time / step,
                "share_lattice_sums": sums_time / step,
                "share_network": max(total - sums_time, 0.0) / step,
                "evaluation_peak_MiB": memory.get("evaluation_MiB"),
            })  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    result = {"benchmark": "speed", "machine": machine(), "rows": rows}
    lines = ["| model | atoms | E+F+S evaluations/s | neighbour list | lattice sums | network "
             "| peak memory of one evaluation |",
             "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in rows:
        memory = r["evaluation_peak_MiB"]
        lines.append(
            f"| {r['model']} | {r['atoms']} | {r['evaluations_per_s']:.3g} | "
            f"{100 * r['share_neighbour_list']:.0f} % | {100 * r['share_lattice_sums']:.0f} % | "
            f"{100 * r['share_network']:.0f} % | "
            f"{'' if memory is None else f'{memory:.0f} MiB'} |"
        )
    result["markdown"] = "\n".join(lines)
    return result


def md(args: argparse.Namespace) -> dict:
    from ase.md.velocitydistribution import thermalize_momenta

    torch.set_num_threads(args.threads)
    atoms = bulk("Si", "diamond", a=5.47, cubic=True).repeat(2)
    atoms.calc = PotNetCalculator(args.model)
    thermalize_momenta(atoms, 2000, rng=np.random.default_rng(0))
    Stationary(atoms)
    times, totals, potentials, temperatures = [], [], [], []

    def record() -> None:
        times.append(dynamics.get_time() / (1000 * units.fs))
        potentials.append(atoms.get_potential_energy() / len(atoms))
        totals.append(potentials[-1] + atoms.get_kinetic_energy() / len(atoms))
        temperatures.append(atoms.get_temperature())

    dynamics = VelocityVerlet(atoms, timestep=args.timestep * units.fs)
    dynamics.attach(record, interval=1)
    start = time.perf_counter()
    dynamics.run(args.steps)
    wall = time.perf_counter() - start
    t, total = np.array(times), np.array(totals)
    drift = float(np.polyfit(t, total, 1)[0])
    result = {
        "benchmark": "nve", "machine": machine(), "model": args.model, "atoms": len(atoms),
        "timestep_fs": args.timestep, "steps": args.steps, "duration_ps": float(t[-1]),
        "mean_temperature_K": float(np.mean(temperatures[len(t) // 10 :])),
        "drift_meV_per_atom_per_ps": 1000 * drift,
        "total_energy_std_meV_per_atom": 1000 * float(np.std(total)),
        "total_energy_range_meV_per_atom": 1000 * float(np.ptp(total)),
        "wall_seconds": wall, "steps_per_second": args.steps / wall,
    }  # fmt: skip
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(t, 1000 * (np.array(potentials) - total[0]), label="potential")
        ax.plot(t, 1000 * (total - total[0]), label="total")
        ax.set_xlabel("time (ps)")
        ax.set_ylabel("energy - E_total(0) (meV/atom)")
        ax.set_title(f"NVE, 64-atom Si, {args.model}, {args.timestep} fs")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.png, dpi=120)
        result["png"] = args.png
    result["markdown"] = (
        f"| {args.model} | 64 | {args.timestep} fs | {result['duration_ps']:.2f} ps | "
        f"{result['mean_temperature_K']:.0f} K | {result['drift_meV_per_atom_per_ps']:.4f} | "
        f"{result['total_energy_std_meV_per_atom']:.3f} | {result['steps_per_second']:.1f} |"
    )
    return result


def dft_silicon_reference(path: Path) -> dict:
    """Lattice constant and bulk modulus of the DFT (PBE) mlearn Si training data."""
    from potnet_ase.data.readers import read_frames

    elastic = [a for a in read_frames(path) if a.info["group"] == "Elastic"]
    ground = [a for a in elastic if a.info.get("description") == "Ground state crystal"][0]
    reference_cell = ground.cell.array
    lattice_constant = float(np.cbrt(ground.get_volume() / (len(ground) / 8)))
    stress0 = voigt_6_to_full_3x3_stress(ground.get_stress()) * GPA
    rows, rhs = [], []
    for atoms in elastic:
        deformation = np.linalg.solve(reference_cell, atoms.cell.array).T
        strain = 0.5 * (deformation + deformation.T) - np.eye(3)
        if np.abs(strain).max() > 0.021:
            continue
        stress = voigt_6_to_full_3x3_stress(atoms.get_stress()) * GPA - stress0
        trace = np.trace(strain)
        for i in range(3):
            rows.append([strain[i, i], trace - strain[i, i], 0.0])
            rhs.append(stress[i, i])
        for i, j in ((1, 2), (0, 2), (0, 1)):
            rows.append([0.0, 0.0, 2 * strain[i, j]])
            rhs.append(stress[i, j])
    (c11, c12, c44), *_ = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)
    return {
        "source": f"{path.name}: 'Ground state crystal' frame; cubic C11, C12, C44 fitted to the "
        "stresses of the Elastic frames with |strain| <= 2 %",
        "lattice_constant_A": lattice_constant,
        "bulk_modulus_GPa": float((c11 + 2 * c12) / 3),
        "C11_GPa": float(c11), "C12_GPa": float(c12), "C44_GPa": float(c44),
    }  # fmt: skip


def model_silicon_physics(name: str) -> dict:
    calc = PotNetCalculator(name)
    constants = []
    for start in (5.60, 5.35):
        calc.reset(system=True)
        atoms = bulk("Si", "diamond", a=start, cubic=True)
        atoms.calc = calc
        BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=1e-4, steps=300)
        constants.append(float(atoms.cell.lengths().mean()))
    atoms = bulk("Si", "diamond", a=constants[0], cubic=True)
    volumes, energies = [], []
    calc.reset(system=True)
    for scale in np.linspace(0.99, 1.01, 7):
        strained = atoms.copy()
        strained.set_cell(atoms.cell * scale, scale_atoms=True)
        volumes.append(strained.get_volume())
        energies.append(calc.get_potential_energy(strained))
    v0, _, modulus = EquationOfState(volumes, energies, eos="birchmurnaghan").fit()
    return {
        "relaxed_lattice_constant_A (from 5.60 / 5.35 A)": constants,
        "eos_lattice_constant_A": float(np.cbrt(v0)),
        "eos_bulk_modulus_GPa": float(modulus / units.GPa),
        "method": "BFGS + FrechetCellFilter to fmax 1e-4 eV/A from a = 5.60 and 5.35 A; "
        "Birch-Murnaghan fit over +-1 % in lattice constant (+-3 % in volume, 7 points)",
    }


def silicon_check(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    reference = dft_silicon_reference(Path(args.data) / "Si_training.json")
    result = {"benchmark": "silicon", "dft": reference}
    for name in [n for n in list_forcefields() if n in ("ff-si", "ff-mlearn6")]:
        physics = model_silicon_physics(name)
        a_model = physics["relaxed_lattice_constant_A (from 5.60 / 5.35 A)"][0]
        a_dft = reference["lattice_constant_A"]
        physics["lattice_constant_error_percent"] = 100 * (a_model / a_dft - 1)
        physics["bulk_modulus_error_percent"] = 100 * (
            physics["eos_bulk_modulus_GPa"] / reference["bulk_modulus_GPa"] - 1
        )
        result[name] = physics
        if args.write_card:
            path = find_forcefield(name) / CONFIG_FILE
            config = json.loads(path.read_text())
            config["dft_reference"] = reference
            config["physics"] = physics
            path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
            write_model_card(path.parent)
    return result


def accuracy(args: argparse.Namespace) -> dict:
    """Validation MAE per element, recomputed from each model's own validation frames."""
    from potnet_ase.forcefield.training import evaluate, load_frames

    torch.set_num_threads(args.threads)
    rows = []
    for name in args.models or list_forcefields():
        model = load_forcefield(name)
        training = model.card["training"]
        frames = load_frames(
            [str(Path(args.data) / Path(f).name) for f in training["train_files"]], model.cutoff
        )
        validation = [frames[i] for i in training["validation_frames"]]
        for element in model.elements:
            chosen = [f for f in validation if f.group.startswith(f"{element}_training")]
            if not chosen:
                continue
            metrics = evaluate(model, chosen, torch.float64)
            rows.append({"model": name, "element": element, "frames": len(chosen), **metrics})
            print(json.dumps(rows[-1]), flush=True)
    if args.write_card:
        for name in {r["model"] for r in rows}:
            path = find_forcefield(name) / CONFIG_FILE
            config = json.loads(path.read_text())
            config["metrics"]["validation_per_element"] = {
                r["element"]: {k: v for k, v in r.items() if k not in ("model", "element")}
                for r in rows
                if r["model"] == name
            }
            path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
            write_model_card(path.parent)
    lines = ["| model | element | validation frames | energy MAE (meV/atom) | force MAE (eV/A) "
             "| stress MAE (GPa) |", "|---|---|---:|---:|---:|---:|"]  # fmt: skip
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['element']} | {r['frames']} | "
            f"{r['energy_per_atom_mae_meV_per_atom']:.2f} | {r['forces_mae_eV_per_A']:.3f} | "
            f"{r.get('stress_mae_GPa', float('nan')):.2f} |"
        )
    return {"benchmark": "accuracy", "rows": rows, "markdown": "\n".join(lines)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default=None, help="also write the JSON result here")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("speed")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument(
        "--no-memory",
        dest="memory",
        action="store_false",
        help="skip the peak-memory measurement (one fresh process per row)",
    )
    p.set_defaults(func=speed)
    p = sub.add_parser("memory", help="peak memory of one evaluation (used by speed)")
    p.add_argument("--variant", choices=sorted(VARIANTS), default="long")
    p.add_argument("--repeat", type=int, default=8, help="diamond-Si cubic cell repeated n^3")
    p.set_defaults(func=peak_memory)
    p = sub.add_parser("md")
    p.add_argument("--model", default="ff-si")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--timestep", type=float, default=1.0)
    p.add_argument("--png", default=None)
    p.set_defaults(func=md)
    p = sub.add_parser("silicon")
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--write-card", action="store_true")
    p.set_defaults(func=silicon_check)
    p = sub.add_parser("accuracy")
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--models", nargs="*", default=None, help="default: every shipped one")
    p.add_argument("--write-card", action="store_true", help="store per-element metrics")
    p.set_defaults(func=accuracy)
    args = parser.parse_args()
    result = args.func(args)
    text = json.dumps({k: v for k, v in result.items() if k != "markdown"}, indent=2)
    print(text)
    print(result.get("markdown", ""))
    if args.output:
        Path(args.output).write_text(text + "\n")


if __name__ == "__main__":
    main()
