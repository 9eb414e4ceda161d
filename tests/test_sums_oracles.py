"""The lattice sums against published constants and independent references."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from ase.build import bulk
from pymatgen.analysis.ewald import EwaldSummation
from pymatgen.io.ase import AseAtomsAdaptor

import potnet_ase
from potnet_ase.examples import example_crystals, madelung_constant, perovskite
from potnet_ase.sums import PotentialParameters, engine
from potnet_ase.sums import parameters as sum_parameters
from potnet_ase.sums.potentials import decompose
from tests.crystals import random_crystal
from tests.reference_sums import direct_sum, inverse_power_sum

COULOMB_EV_ANGSTROM = 14.399645  # e^2 / (4 pi eps0) in eV Angstrom


@pytest.mark.parametrize(
    "example", [e for e in example_crystals() if e.madelung is not None], ids=lambda e: e.name
)
def test_madelung_constants(example):
    sums = potnet_ase.complete_potentials(example.atoms, ["coulomb"], tol=1e-13, device="cpu")
    recovered = madelung_constant(sums["coulomb"], example.atoms, example.charges)
    assert recovered == pytest.approx(example.madelung, abs=1e-10)


@pytest.mark.parametrize(
    ("lattice", "a", "reference"),
    [("sc", 1.0, 8.40192), ("bcc", 2 / np.sqrt(3), 12.25367), ("fcc", np.sqrt(2), 14.45392)],
)
def test_london_lattice_sums(lattice, a, reference):
    """sum' |n|^-6 over the lattice with unit nearest-neighbour distance (5-6 digits published)."""
    atoms = bulk("Cu", lattice, a=a)
    value = potnet_ase.complete_potentials(atoms, ["london"], device="cpu")["london"][0, 0]
    assert value == pytest.approx(reference, abs=6e-6)


@pytest.mark.parametrize("scale", [1.0, 0.93])
def test_coulomb_energy_matches_pymatgen_ewald(scale):
    """E = 1/2 q^T Zc q * 14.399645 eV equals pymatgen's Ewald total energy (neutral cells)."""
    atoms = perovskite(3.905 * scale).repeat((2, 1, 1))
    atoms.rattle(0.1, seed=3)
    structure = AseAtomsAdaptor.get_structure(atoms)
    charges = {"Sr": 2, "Ti": 4, "O": -2}
    structure.add_oxidation_state_by_element(charges)
    q = np.array([charges[s] for s in atoms.get_chemical_symbols()], dtype=float)
    zc = potnet_ase.complete_potentials(atoms, ["coulomb"], tol=1e-12, device="cpu")["coulomb"]
    ours = 0.5 * q @ zc @ q * COULOMB_EV_ANGSTROM
    theirs = EwaldSummation(structure, acc_factor=14).total_energy
    assert ours == pytest.approx(theirs, rel=1e-7)


def test_coulomb_and_london_match_independent_reference(rng):
    cell = np.array([[4.1, 0.3, -0.2], [1.2, 3.7, 0.4], [-0.8, 0.9, 5.3]])
    atoms = random_crystal(rng, 6, cell)
    sums = potnet_ase.complete_potentials(atoms, ["coulomb", "london"], device="cpu")
    coulomb = inverse_power_sum(atoms.positions, cell, 0.5)
    london = inverse_power_sum(atoms.positions, cell, 3.0)
    assert np.abs(sums["coulomb"] - coulomb).max() < 1e-10
    assert np.abs(sums["london"] - london).max() < 1e-10 * max(1.0, np.abs(london).max())


def test_london_and_pauli_match_brute_force_with_tail():
    atoms = perovskite()
    cutoff = 60.0
    sums = potnet_ase.complete_potentials(atoms, ["london", "pauli"], device="cpu")
    # Beyond the cutoff the 1/r^6 sum is replaced by its continuum tail 4 pi / (3 V R^3)
    # (3e-7 here); shell-to-shell fluctuations of the lattice-point count leave a few percent
    # of the tail as the brute force's own error.
    tail = 4 * np.pi / (3 * atoms.get_volume() * cutoff**3)
    london = direct_sum(atoms.positions, atoms.cell.array, lambda d: d**-6.0, cutoff) + tail
    assert np.abs(sums["london"] - london).max() < 0.05 * tail
    pauli = direct_sum(atoms.positions, atoms.cell.array, lambda d: np.exp(-3.0 * d), 16.0)
    assert np.abs(sums["pauli"] - pauli).max() < 1e-10


@pytest.mark.parametrize("eta_scale", [0.7, 1.0, 3.5])
def test_results_do_not_depend_on_eta(monkeypatch, eta_scale):
    atoms = perovskite()
    atoms.rattle(0.05, seed=1)
    default = potnet_ase.complete_potentials(atoms, ["coulomb", "london"], device="cpu")
    monkeypatch.setattr(sum_parameters, "ETA_SCALE", eta_scale)
    moved = potnet_ase.complete_potentials(atoms, ["coulomb", "london"], device="cpu")
    for name in default:
        assert np.abs(default[name] - moved[name]).max() < 2e-10


@pytest.mark.parametrize("scale", [0.8, 1.0, 1.6])
def test_potnet_convention_pauli(scale):
    """PotNet's Pauli sum: decay alpha V^(-1/6), over all L, the zero-distance term included."""
    atoms = bulk("NaCl", "rocksalt", a=5.64 * scale)
    alpha = 3.0 * atoms.get_volume() ** (-1 / 6)
    sums = potnet_ase.complete_potentials(atoms, ["pauli"], convention="potnet", device="cpu")
    cutoff = 45.0 / alpha
    reference = direct_sum(
        atoms.positions, atoms.cell.array, lambda d: np.exp(-alpha * d), cutoff, include_origin=True
    )
    assert np.abs(sums["pauli"] - reference).max() < 1e-10 * max(1, reference.max())
    assert np.diag(sums["pauli"]).min() > 1.0  # exp(0) = 1 plus the images


def test_conventions_share_coulomb_and_london():
    atoms = perovskite()
    physical = potnet_ase.complete_potentials(atoms, convention="physical", device="cpu")
    potnet = potnet_ase.complete_potentials(atoms, convention="potnet", device="cpu")
    # Same sums; the splitting differs (PotNet's slower Pauli decay lengthens the real-space
    # cutoff), so they agree to the tolerance rather than bit for bit.
    for name in ("coulomb", "london"):
        assert np.abs(physical[name] - potnet[name]).max() < 2e-10
    assert not np.allclose(physical["pauli"], potnet["pauli"])


def test_other_potentials_match_their_definitions():
    atoms = bulk("NaCl", "rocksalt", a=5.64)
    names = ["lennard_jones", "morse", "screened_coulomb"]
    sums = potnet_ase.complete_potentials(
        atoms, names, lj_sigma=1.3, morse_alpha=1.1, morse_r0=2.5, screening_kappa=0.9,
        device="cpu",
    )  # fmt: skip
    pos, cell = atoms.positions, atoms.cell.array
    z12 = direct_sum(pos, cell, lambda d: d**-12.0, 40.0)
    z6 = inverse_power_sum(pos, cell, 3.0)
    assert np.abs(sums["lennard_jones"] - (1.3**12 * z12 - 1.3**6 * z6)).max() < 1e-9
    morse = direct_sum(
        pos, cell, lambda d: np.exp(-2.2 * (d - 2.5)) - 2 * np.exp(-1.1 * (d - 2.5)), 40.0
    )
    assert np.abs(sums["morse"] - morse).max() < 1e-9
    screened = direct_sum(pos, cell, lambda d: np.exp(-0.9 * d) / d, 50.0)
    assert np.abs(sums["screened_coulomb"] - screened).max() < 1e-10


@pytest.mark.parametrize("example", example_crystals()[:-1], ids=lambda e: e.name)
def test_example_crystals_stay_within_each_tolerance(example):
    """Symmetric lattices put whole shells of images just past a cutoff: the hardest case for
    continuum tail estimates (zincblende once exceeded tol 1e-10 with a 10x safety factor)."""
    pos, cell = example.atoms.positions, example.atoms.cell.array
    reference = {
        "coulomb": inverse_power_sum(pos, cell, 0.5),
        "london": inverse_power_sum(pos, cell, 3.0),
        "pauli": direct_sum(pos, cell, lambda d: np.exp(-3.0 * d), 15.0),
    }
    for tol in (1e-3, 1e-4, 1e-6, 1e-8, 1e-10):
        ours = potnet_ase.complete_potentials(example.atoms, tol=tol, device="cpu")
        for name, ref in reference.items():
            assert np.abs(ours[name] - ref).max() <= tol * max(1.0, np.abs(ref).max()), (name, tol)


def test_loose_tolerances_trade_reciprocal_space_for_the_real_space_floor():
    """Where one cell length is more than the real-space bounds need, eta is lowered until they
    need about that length (fewer G vectors for the same real-space work); tight tolerances
    keep the default eta."""
    kernels = {
        kernel: 1.0
        for name in ("coulomb", "london", "pauli")
        for _, kernel in decompose(name, PotentialParameters())
    }
    volumes = np.array([40.0, 230.0, 1200.0])
    default_eta = sum_parameters.ETA_SCALE * np.sqrt(np.pi) / np.cbrt(volumes)
    loose = sum_parameters.choose_parameters(kernels, volumes, 1e-3)
    assert np.all(loose.eta < 0.85 * default_eta)
    np.testing.assert_allclose(loose.real_cutoff, np.cbrt(volumes), rtol=0.02)
    tight = sum_parameters.choose_parameters(kernels, volumes, 1e-10)
    np.testing.assert_allclose(tight.eta, default_eta)
    assert np.all(loose.reciprocal_cutoff < 0.7 * tight.reciprocal_cutoff)


def test_direct_exponential_sums_equal_the_split_ones(monkeypatch):
    """The physical Pauli sum fits inside the real-space cutoff of ordinary cells and is then
    summed unsplit; forcing the Ewald-type split for every kernel gives the same sums. The
    PotNet convention's slow decay (alpha V^(-1/6)) keeps the split."""
    atoms = perovskite().repeat((2, 2, 1))
    atoms.rattle(0.1, seed=8)
    physical = PotentialParameters()
    pauli = decompose("pauli", physical)[0][1]
    potnet_pauli = decompose("pauli", PotentialParameters(convention="potnet"))[0][1]
    volume = np.array([atoms.get_volume()])
    coulomb = decompose("coulomb", physical)[0][1]
    tol = 1e-6
    with_coulomb = sum_parameters.choose_parameters({pauli: 1.0, coulomb: 1.0}, volume, tol)
    assert pauli in with_coulomb.direct
    potnet = sum_parameters.choose_parameters({potnet_pauli: 1.0, coulomb: 1.0}, volume, tol)
    assert not potnet.direct
    names = ["pauli", "morse", "coulomb"]
    direct = potnet_ase.complete_potentials(atoms, names, tol=tol, device="cpu")
    reference = direct_sum(atoms.positions, atoms.cell.array, lambda d: np.exp(-3.0 * d), 15.0)
    assert np.abs(direct["pauli"] - reference).max() <= tol
    choose = sum_parameters.choose_parameters

    def always_split(*args, **kwargs):
        chosen = choose(*args, **kwargs)
        assert chosen.direct  # the comparison would be vacuous otherwise
        return dataclasses.replace(chosen, direct=frozenset())

    monkeypatch.setattr(engine, "choose_parameters", always_split)
    split = potnet_ase.complete_potentials(atoms, names, tol=tol, device="cpu")
    for name in names:
        scale = max(1.0, np.abs(split[name]).max())
        np.testing.assert_allclose(direct[name], split[name], rtol=0, atol=2 * tol * scale)
