"""Speed and accuracy of the lattice-sum engine against anchors run in the same process.

Anchors (DESIGN.md section 6): torch-pme 0.5 Ewald with one-hot charges (its potentials times 2
are the Coulomb and London sums; Gaussian width sigma = 1/(sqrt(2) eta)), and pymatgen's
EwaldSummation (one charged energy, not the pair matrices). Errors are measured against the
slow independent reference of the test suite (tests/reference_sums.py). Timings are medians
over repeats on one thread, float64.

    python benchmarks/bench_sums.py                      # single-crystal table + throughput
    python benchmarks/bench_sums.py --count 2000         # a shorter throughput run
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from ase import Atoms

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from timing import median_seconds  # noqa: E402

import potnet_ase  # noqa: E402
from potnet_ase.examples import example_crystals, perovskite  # noqa: E402
from tests.reference_sums import direct_sum, inverse_power_sum  # noqa: E402


def torch_pme_matrices(atoms: Atoms, x: float) -> tuple[callable, dict]:
    """torch-pme Ewald with one-hot charges; x = eta * r_cut = k_cut / (2 eta) sets accuracy."""
    import torchpme
    from ase.neighborlist import neighbor_list

    volume = atoms.get_volume()
    eta = np.sqrt(np.pi) / np.cbrt(volume) * 1.5
    cutoff = x / eta
    smearing = 1 / (np.sqrt(2) * eta)
    # torch-pme sums k-vectors up to pi / lr_wavelength (not 2 pi / lr_wavelength): the
    # k-cutoff caveat of DESIGN.md. Choose the wavelength for k_cut = 2 eta x.
    wavelength = np.pi / (2 * eta * x)
    i, j, d = neighbor_list("ijd", atoms, cutoff)
    indices = torch.tensor(np.stack([i, j], axis=1))
    distances = torch.tensor(d)
    charges = torch.eye(len(atoms), dtype=torch.float64)
    cell = torch.tensor(atoms.cell.array)
    positions = torch.tensor(atoms.positions)
    coulomb = torchpme.EwaldCalculator(
        torchpme.CoulombPotential(smearing=smearing), wavelength, full_neighbor_list=True
    ).to(torch.float64)
    london = torchpme.EwaldCalculator(
        torchpme.InversePowerLawPotential(6, smearing=smearing), wavelength, full_neighbor_list=True
    ).to(torch.float64)

    def run() -> dict:
        with torch.no_grad():
            return {
                "coulomb": 2 * coulomb(charges, cell, positions, indices, distances).numpy(),
                "london": 2 * london(charges, cell, positions, indices, distances).numpy(),
            }

    return run


def pymatgen_energy(atoms: Atoms, charges: np.ndarray):
    from pymatgen.analysis.ewald import EwaldSummation
    from pymatgen.io.ase import AseAtomsAdaptor

    structure = AseAtomsAdaptor.get_structure(atoms)
    structure.add_site_property("charge", charges.tolist())
    return lambda: EwaldSummation(structure).total_energy


def reference(atoms: Atoms) -> dict[str, np.ndarray]:
    pos, cell = atoms.positions, atoms.cell.array
    return {
        "coulomb": inverse_power_sum(pos, cell, 0.5),
        "london": inverse_power_sum(pos, cell, 3.0),
        "pauli": direct_sum(pos, cell, lambda d: np.exp(-3.0 * d), 15.0),
    }


def error(ours: dict, ref: dict, names) -> float:
    return max(np.abs(ours[k] - ref[k]).max() / max(1.0, np.abs(ref[k]).max()) for k in names)


def crystal_table(repeats: int) -> list[str]:
    crystals = [(e.name, e.atoms, e.charges) for e in example_crystals()]
    big = perovskite().repeat((2, 2, 2))
    big.rattle(0.05, seed=1)
    formal = np.tile([2.0, 4.0, -2.0, -2.0, -2.0], 8)
    crystals.append(("SrTiO3 2x2x2, rattled", big, formal))
    crystals[5] = (crystals[5][0], crystals[5][1], formal[:5])
    rows = [
        "| crystal | N | ours C+L+P 1e-10: ms | error | ours C+L: ms | torch-pme C+L ~1e-6: ms"
        " | error | torch-pme ~1e-15: ms | error | pymatgen Ewald energy: ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, atoms, charges in crystals:
        ref = reference(atoms)
        ours = potnet_ase.complete_potentials(atoms, device="cpu")
        t_all = median_seconds(
            lambda a=atoms: potnet_ase.complete_potentials(a, device="cpu"), repeats
        )
        t_cl = median_seconds(
            lambda a=atoms: potnet_ase.complete_potentials(a, ["coulomb", "london"], device="cpu"),
            repeats,
        )
        pme = []
        for x in (3.5, 5.6):
            run = torch_pme_matrices(atoms, x)
            pme.append((median_seconds(run, repeats), error(run(), ref, ("coulomb", "london"))))
        t_pmg = (
            median_seconds(pymatgen_energy(atoms, charges), repeats)
            if charges is not None
            else None
        )
        rows.append(
            f"| {name} | {len(atoms)} | {t_all * 1e3:.2f} | {error(ours, ref, ref):.1e} "
            f"| {t_cl * 1e3:.2f} | {pme[0][0] * 1e3:.2f} | {pme[0][1]:.1e} | {pme[1][0] * 1e3:.2f} "
            f"| {pme[1][1]:.1e} | {'' if t_pmg is None else f'{t_pmg * 1e3:.2f}'} |"
        )
        print(rows[-1], flush=True)
    return rows


def random_crystals(count: int, n_atoms: int, seed: int = 0) -> list[Atoms]:
    """Random cells (volume 10-20 A^3 per atom, sheared) with atoms >= 1.2 A apart."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        volume = n_atoms * rng.uniform(10, 20)
        cell = (np.eye(3) + rng.normal(0, 0.15, (3, 3))) * np.cbrt(volume)
        frac = rng.random((n_atoms, 3))
        diff = frac[:, None] - frac[None]
        diff -= np.round(diff)
        dist = np.linalg.norm(diff @ cell, axis=-1) + np.eye(n_atoms) * 10
        if dist.min() > 1.2:
            out.append(Atoms(numbers=rng.integers(1, 84, n_atoms), scaled_positions=frac,
                             cell=cell, pbc=True))  # fmt: skip
    return out


def throughput(count: int, device: str) -> str:
    crystals = random_crystals(count, 10)
    potnet_ase.complete_potentials_batch(crystals[:50], device=device)
    start = time.perf_counter()
    potnet_ase.complete_potentials_batch(crystals, device=device)
    elapsed = time.perf_counter() - start
    return (
        f"{count} random 10-atom crystals, coulomb + london + pauli, tol 1e-10, on {device}: "
        f"{elapsed:.2f} s, **{count / elapsed:.0f} structures/s**"
    )


def largest_cell(device: str) -> str:
    atoms = perovskite().repeat((6, 6, 6))  # 1080 atoms
    atoms.rattle(0.02, seed=0)
    start = time.perf_counter()
    potnet_ase.complete_potentials(atoms, device=device)
    return f"{len(atoms)}-atom cell (SrTiO3 6x6x6) on {device}: {time.perf_counter() - start:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--skip-table", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    import torchpme

    print(
        f"python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}, "
        f"torch-pme {torchpme.__version__}, cpu: {platform.processor() or platform.machine()}, "
        f"threads: {torch.get_num_threads()}, float64\n"
    )
    if not args.skip_table:
        crystal_table(args.repeats)
    print()
    print(throughput(args.count, "cpu"), flush=True)
    print(largest_cell("cpu"), flush=True)
    if torch.cuda.is_available():
        print(throughput(args.count * 5, "cuda"))
        print(largest_cell("cuda"))


if __name__ == "__main__":
    main()
