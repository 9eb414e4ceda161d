"""The charge-weighted Ewald energy (potnet_ase.sums.coulomb_energy) against the pair engine's
1/2 q^T Zc q, Madelung constants, pymatgen, finite differences and its own invariances."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress
from ase.neighborlist import primitive_neighbor_list
from pymatgen.analysis.ewald import EwaldSummation
from pymatgen.io.ase import AseAtomsAdaptor

from potnet_ase.autograd import energy_forces_stress
from potnet_ase.errors import ResourceLimitError
from potnet_ase.examples import example_crystals, perovskite, skewed
from potnet_ase.sums import coulomb_energy, lattice_pair_sums
from potnet_ase.sums.ewald_energy import ewald_parameters
from potnet_ase.sums.lattice import periodic_neighbours
from tests.crystals import random_crystal

COULOMB_EV_ANGSTROM = 14.399645


def ewald(atoms: Atoms, charges: np.ndarray, **options) -> float:
    energy = coulomb_energy(
        torch.tensor(atoms.positions),
        torch.tensor(atoms.cell.array[None]),
        [len(atoms)],
        torch.tensor(charges, dtype=torch.float64),
        **options,
    )
    return float(energy[0])


def pair_engine(atoms: Atoms, charges: np.ndarray, tol: float = 1e-13) -> float:
    """1/2 q^T Zc q from the N x N Coulomb matrix of lattice_pair_sums."""
    sums = lattice_pair_sums(
        torch.tensor(atoms.positions), torch.tensor(atoms.cell.array[None]), [len(atoms)],
        ("coulomb",), tol=tol,
    )  # fmt: skip
    return float(0.5 * charges @ sums.matrices()[0]["coulomb"] @ charges)


def bound(charges: np.ndarray, tol: float) -> float:
    """The documented error bound 1/2 tol (sum |q|)^2 (e^2/A)."""
    return 0.5 * tol * np.abs(charges).sum() ** 2


def random_cells(rng: np.random.Generator) -> list[np.ndarray]:
    """A plain, a skewed, an elongated and a flat cell (right-handed)."""
    plain = np.diag([4.2, 4.6, 5.1]) + rng.normal(scale=0.4, size=(3, 3))
    skew = plain.copy()
    skew[1] += 2 * skew[0]
    skew[2] -= 3 * skew[1]
    elongated = np.diag([3.5, 3.8, 14.0]) + rng.normal(scale=0.3, size=(3, 3))
    flat = np.diag([9.0, 8.5, 2.6]) + rng.normal(scale=0.2, size=(3, 3))
    return [c if np.linalg.det(c) > 0 else c[[1, 0, 2]] for c in (plain, skew, elongated, flat)]


IONIC = [e for e in example_crystals() if e.charges is not None]


@pytest.mark.parametrize("example", IONIC, ids=lambda e: e.name)
@pytest.mark.parametrize("tol", [1e-6, 1e-10])
def test_equals_the_quadratic_form_of_the_pair_sums_on_ionic_crystals(example, tol):
    atoms = example.atoms.repeat((1, 2, 1))
    atoms.rattle(0.05, seed=1)
    charges = np.tile(example.charges, 2)
    exact = pair_engine(atoms, charges)
    assert abs(ewald(atoms, charges, tol=tol) - exact) <= bound(charges, tol)


@pytest.mark.parametrize("tol", [1e-5, 1e-8, 1e-12])
def test_equals_the_quadratic_form_on_random_neutral_charges_and_skewed_cells(rng, tol):
    for cell in random_cells(rng):
        atoms = random_crystal(rng, int(rng.integers(2, 9)), cell)
        charges = rng.normal(size=len(atoms))
        charges -= charges.mean()
        error = abs(ewald(atoms, charges, tol=tol) - pair_engine(atoms, charges))
        assert error <= bound(charges, tol)


@pytest.mark.parametrize("example", [e for e in IONIC if e.madelung], ids=lambda e: e.name)
def test_madelung_constants(example):
    """-E r_nn per formula unit with charges +-1 (NaCl also in a badly skewed basis)."""
    atoms = example.atoms
    energy = ewald(atoms, example.charges, tol=1e-13)
    distances = atoms.get_all_distances(mic=True)
    nearest = distances[distances > 0].min()
    assert -energy * nearest / (len(atoms) / 2) == pytest.approx(example.madelung, abs=1e-10)


def test_madelung_energy_of_a_large_rock_salt_supercell():
    """1,728 ions (3 M pairs for the pair matrices): the exact energy is -M / r_nn per formula
    unit, within the documented bound."""
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(6)
    charges = np.where(atoms.numbers == 11, 1.0, -1.0)
    exact = -1.747564594633 / 2.82 * (len(atoms) / 2)
    tol = 1e-8
    assert abs(ewald(atoms, charges, tol=tol) - exact) <= bound(charges, tol)


@pytest.mark.parametrize("scale", [1.0, 0.93])
def test_matches_pymatgen_ewald_on_a_neutral_oxide(scale):
    atoms = perovskite(3.905 * scale).repeat((2, 1, 1))
    atoms.rattle(0.1, seed=3)
    structure = AseAtomsAdaptor.get_structure(atoms)
    formal = {"Sr": 2, "Ti": 4, "O": -2}
    structure.add_oxidation_state_by_element(formal)
    charges = np.array([formal[s] for s in atoms.get_chemical_symbols()], dtype=float)
    theirs = EwaldSummation(structure, acc_factor=14).total_energy
    assert ewald(atoms, charges, tol=1e-12) * COULOMB_EV_ANGSTROM == pytest.approx(theirs, rel=1e-7)


def test_charged_cells_follow_the_background_convention(rng):
    """Non-neutral charges: still exactly 1/2 q^T Zc q (uniform neutralising background, as
    pymatgen's charged-cell correction), independent of eta."""
    atoms = random_crystal(rng, 5, random_cells(rng)[1])
    charges = rng.normal(size=5) + 0.7
    tol = 1e-11
    exact = pair_engine(atoms, charges)
    for eta in (0.3, 0.6, 1.2):
        assert abs(ewald(atoms, charges, tol=tol, eta=eta) - exact) <= bound(charges, tol)
    structure = AseAtomsAdaptor.get_structure(perovskite())
    formal = {"Sr": 2, "Ti": 4, "O": -1.5}  # net charge +1.5 e
    structure.add_oxidation_state_by_element(formal)
    charges = np.array([formal[s] for s in perovskite().get_chemical_symbols()])
    theirs = EwaldSummation(structure, acc_factor=14).total_energy
    ours = ewald(perovskite(), charges, tol=1e-12) * COULOMB_EV_ANGSTROM
    assert ours == pytest.approx(theirs, rel=1e-7)


def test_does_not_depend_on_eta(rng):
    atoms = random_crystal(rng, 7, random_cells(rng)[0])
    charges = rng.normal(size=7)
    charges -= charges.mean()
    tol = 1e-11
    default = ewald_parameters(np.array([atoms.get_volume()]), np.array([7]), tol).eta[0]
    energies = [ewald(atoms, charges, tol=tol, eta=f * default) for f in (0.4, 1.0, 2.5, 6.0)]
    assert np.ptp(energies) <= 2 * bound(charges, tol)
    assert abs(energies[0] - pair_engine(atoms, charges)) <= bound(charges, tol)


def test_extensive_under_supercells(rng):
    atoms = random_crystal(rng, 6, random_cells(rng)[1])
    charges = rng.normal(size=6)
    charges -= charges.mean()
    tol = 1e-11
    single = ewald(atoms, charges, tol=tol)
    for repeat in ((2, 1, 1), (2, 3, 1), (3, 3, 3)):
        copies = int(np.prod(repeat))
        tiled = np.tile(charges, copies)
        supercell = ewald(atoms.repeat(repeat), tiled, tol=tol)
        assert abs(supercell - copies * single) <= bound(tiled, tol) + copies * bound(charges, tol)


def test_a_batch_equals_separate_calls(rng):
    sizes = (3, 1, 8, 5)
    crystals = [random_crystal(rng, n, c) for n, c in zip(sizes, random_cells(rng), strict=True)]
    charges = [rng.normal(size=len(a)) for a in crystals]
    batched = coulomb_energy(
        torch.tensor(np.concatenate([a.positions for a in crystals])),
        torch.tensor(np.stack([a.cell.array for a in crystals])),
        [len(a) for a in crystals],
        torch.tensor(np.concatenate(charges)),
        tol=1e-10,
    )
    for energy, atoms, q in zip(batched, crystals, charges, strict=True):
        assert float(energy) == pytest.approx(ewald(atoms, q, tol=1e-10), abs=1e-13)


class EwaldCalculator(Calculator):
    """E = k_e/2 q^T Zc q for fixed charges, forces and stress by autograd."""

    implemented_properties = ("energy", "free_energy", "forces", "stress")

    def __init__(self, charges: np.ndarray, **options):
        super().__init__()
        self.charges = torch.tensor(charges, dtype=torch.float64)
        self.options = {"tol": 1e-12, **options}

    def energy_of(self, positions: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        n = [len(positions)]
        energy = coulomb_energy(positions, cell[None], n, self.charges, **self.options)
        return COULOMB_EV_ANGSTROM * energy[0]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        positions, cell = torch.tensor(self.atoms.positions), torch.tensor(self.atoms.cell.array)
        energy, forces, stress = energy_forces_stress(self.energy_of, positions, cell)
        self.results = {
            "energy": energy.item(),
            "free_energy": energy.item(),
            "forces": forces.numpy(),
            "stress": stress.detach().numpy(),
        }


@pytest.mark.parametrize("max_terms", [1 << 20, 300], ids=["one chunk", "checkpointed chunks"])
def test_forces_and_stress_match_finite_differences(max_terms):
    atoms = skewed(perovskite()).repeat((1, 1, 2))
    atoms.set_cell(atoms.cell.array @ np.array([[1.02, 0.03, 0], [0, 0.99, 0.02], [0, 0, 1.01]]),
                   scale_atoms=True)  # fmt: skip
    atoms.rattle(0.08, seed=7)
    atoms.calc = EwaldCalculator(np.tile([2.0, 4.0, -2.0, -2.0, -2.0], 2), max_terms=max_terms)
    forces, stress = atoms.get_forces(), atoms.get_stress()
    assert np.abs(forces).max() > 1.0 and np.abs(stress).max() > 1e-2
    np.testing.assert_allclose(forces, calculate_numerical_forces(atoms, eps=1e-4), atol=1e-6)
    np.testing.assert_allclose(stress, calculate_numerical_stress(atoms, eps=1e-6), atol=1e-7)


def test_charge_gradient_is_the_site_potential(rng):
    """dE/dq = Zc q exactly (the electrostatic potential at each site)."""
    atoms = random_crystal(rng, 6, random_cells(rng)[1])
    charges = rng.normal(size=6)
    q = torch.tensor(charges, requires_grad=True)
    energy = coulomb_energy(
        torch.tensor(atoms.positions), torch.tensor(atoms.cell.array[None]), [6], q, tol=1e-13
    )
    (gradient,) = torch.autograd.grad(energy.sum(), q)
    sums = lattice_pair_sums(
        torch.tensor(atoms.positions), torch.tensor(atoms.cell.array[None]), [6], ("coulomb",),
        tol=1e-13,
    )  # fmt: skip
    potential = sums.matrices()[0]["coulomb"] @ charges
    np.testing.assert_allclose(gradient.numpy(), potential, atol=1e-11)


@pytest.mark.parametrize("max_terms", [1 << 20, 5], ids=["one chunk", "chunked"])
def test_second_derivatives_match_finite_differences(rng, max_terms):
    """Training differentiates forces again (create_graph): d(sum F^2)/dq by double backward
    against central differences of sum F^2 computed with first derivatives only."""
    atoms = random_crystal(rng, 5, random_cells(rng)[0])
    cells = torch.tensor(atoms.cell.array[None])

    def squared_forces(charges: torch.Tensor, create_graph: bool) -> torch.Tensor:
        positions = torch.tensor(atoms.positions, requires_grad=True)
        energy = coulomb_energy(positions, cells, [5], charges, max_terms=max_terms)
        (forces,) = torch.autograd.grad(-energy.sum(), positions, create_graph=create_graph)
        return (forces * forces).sum()

    initial = rng.normal(size=5)
    charges = torch.tensor(initial, requires_grad=True)
    (analytic,) = torch.autograd.grad(squared_forces(charges, True), charges)
    step, numeric = 1e-5, []
    for i in range(5):
        shifted = [initial.copy(), initial.copy()]
        shifted[0][i] += step
        shifted[1][i] -= step
        values = [float(squared_forces(torch.tensor(q), False)) for q in shifted]
        numeric.append((values[0] - values[1]) / (2 * step))
    np.testing.assert_allclose(analytic.numpy(), numeric, rtol=1e-6, atol=1e-6)


def test_neighbour_list_equals_ase_on_skewed_cells(rng):
    for cell in random_cells(rng):
        atoms = random_crystal(rng, 6, cell)
        atoms.positions += rng.normal(scale=5.0, size=(6, 3))  # outside the cell too
        cutoff = float(rng.uniform(2.0, 12.0))
        ours = periodic_neighbours(atoms.positions, cell, cutoff)
        theirs = primitive_neighbor_list(
            "ijS", (True,) * 3, cell, atoms.positions, cutoff, self_interaction=False
        )
        as_sets = [
            set(zip(i, j, map(tuple, np.asarray(s, dtype=int)), strict=True))
            for i, j, s in (ours, theirs)
        ]
        assert as_sets[0] == as_sets[1] and len(ours[0]) == len(theirs[0])


def test_bad_input_is_a_typed_error():
    atoms = bulk("NaCl", "rocksalt", a=5.64)
    positions, cells = torch.tensor(atoms.positions), torch.tensor(atoms.cell.array[None])
    charges = torch.tensor([1.0, -1.0], dtype=torch.float64)
    with pytest.raises(TypeError, match="float64"):
        coulomb_energy(positions.float(), cells, [2], charges)
    with pytest.raises(TypeError, match="float64 charges"):
        coulomb_energy(positions, cells, [2], charges.float())
    with pytest.raises(ValueError, match="inconsistent batch"):
        coulomb_energy(positions, cells, [2], charges[:1])
    with pytest.raises(ValueError, match="inconsistent batch"):
        coulomb_energy(positions, cells, [1, 1], charges)
    with pytest.raises(ValueError, match="tol must be positive"):
        coulomb_energy(positions, cells, [2], charges, tol=0.0)
    with pytest.raises(ValueError, match="eta must be positive"):
        coulomb_energy(positions, cells, [2], charges, eta=-1.0)
    with pytest.raises(ResourceLimitError, match="neighbour list"):
        coulomb_energy(positions, cells, [2], charges, eta=1e-3)  # a 4,500 A real-space cutoff


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(rng):
    crystals = [
        random_crystal(rng, n, c) for n, c in zip((4, 7), random_cells(rng)[:2], strict=True)
    ]
    values = []
    for device in ("cpu", "cuda"):
        positions = torch.tensor(
            np.concatenate([a.positions for a in crystals]), device=device, requires_grad=True
        )
        cells = torch.tensor(np.stack([a.cell.array for a in crystals]), device=device)
        charges = torch.tensor(np.tile([1.0, -1.0], 11)[:11], device=device)
        energy = coulomb_energy(positions, cells, [4, 7], charges, tol=1e-10)
        (gradient,) = torch.autograd.grad(energy.sum(), positions)
        values.append((energy.detach().cpu().numpy(), gradient.cpu().numpy()))
    np.testing.assert_allclose(values[1][0], values[0][0], atol=1e-10)
    np.testing.assert_allclose(values[1][1], values[0][1], atol=1e-10)
