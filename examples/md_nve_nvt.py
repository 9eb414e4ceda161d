"""NVE and NVT molecular dynamics of silicon with a PotNet force field; energy vs time (PNG).

    python examples/md_nve_nvt.py --steps 500 --png md_energy.png

Runs velocity-Verlet (NVE) and Langevin (NVT, 1000 K) trajectories of a 64-atom diamond-Si
cell with 1 fs steps, and plots the potential and total energy per atom of both.
"""

from __future__ import annotations

import argparse

import matplotlib
import numpy as np
from ase import units
from ase.build import bulk
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from ase.md.verlet import VelocityVerlet

from potnet_ase.calculator import PotNetCalculator

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the non-interactive backend)


def run(ensemble: str, steps: int, model: str) -> dict[str, np.ndarray]:
    atoms = bulk("Si", "diamond", a=5.47, cubic=True).repeat(2)
    atoms.calc = PotNetCalculator(model)
    thermalize_momenta(atoms, 2000 if ensemble == "NVE" else 1000, rng=np.random.default_rng(0))
    Stationary(atoms)
    if ensemble == "NVE":
        dynamics = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    else:
        dynamics = Langevin(atoms, timestep=1.0 * units.fs, temperature_K=1000, friction=0.01,
                            rng=np.random.default_rng(1))  # fmt: skip
    log: dict[str, list[float]] = {"time": [], "potential": [], "total": [], "temperature": []}

    def record() -> None:
        log["time"].append(dynamics.get_time() / (1000 * units.fs))
        potential = atoms.get_potential_energy() / len(atoms)
        log["potential"].append(potential)
        log["total"].append(potential + atoms.get_kinetic_energy() / len(atoms))
        log["temperature"].append(atoms.get_temperature())

    dynamics.attach(record, interval=1)
    dynamics.run(steps)
    return {key: np.array(values) for key, values in log.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--model", default="ff-si")
    parser.add_argument("--png", default="md_energy.png")
    args = parser.parse_args()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=False)
    for ax, ensemble in zip(axes, ("NVE", "NVT"), strict=True):
        log = run(ensemble, args.steps, args.model)
        drift = np.polyfit(log["time"], log["total"], 1)[0] * 1000
        print(f"{ensemble}: mean T {log['temperature'][len(log['time']) // 10:].mean():.0f} K, "
              f"total-energy drift {drift:.3f} meV/atom/ps, "
              f"std {1000 * log['total'].std():.3f} meV/atom")  # fmt: skip
        ax.plot(log["time"], log["potential"], label="potential")
        ax.plot(log["time"], log["total"], label="total")
        ax.set_title(f"{ensemble}, 64 Si, {args.model}")
        ax.set_xlabel("time (ps)")
        ax.set_ylabel("energy (eV/atom)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(args.png, dpi=120)
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
