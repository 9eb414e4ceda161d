"""Basis independence, invariances, random cells against the independent reference,
batching and chunking."""

from __future__ import annotations

import numpy as np
import torch
from ase.build import bulk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

import potnet_ase
from potnet_ase.examples import perovskite, skewed
from potnet_ase.sums import lattice_pair_sums
from tests.crystals import random_crystal
from tests.reference_sums import direct_sum, inverse_power_sum

NAMES = ("coulomb", "london", "pauli")


def _max_scaled_error(ours: dict, reference: dict) -> float:
    return max(
        np.abs(ours[k] - reference[k]).max() / max(1.0, np.abs(reference[k]).max())
        for k in reference
    )


def test_skewed_basis_gives_the_same_matrices():
    atoms = perovskite()
    atoms.rattle(0.05, seed=2)
    reduced = potnet_ase.complete_potentials(atoms, device="cpu")
    twisted = potnet_ase.complete_potentials(skewed(atoms), device="cpu")
    assert _max_scaled_error(twisted, reduced) < 1e-10


def test_translation_rotation_and_permutation_invariance():
    atoms = perovskite().repeat((1, 2, 1))
    atoms.rattle(0.1, seed=4)
    base = potnet_ase.complete_potentials(atoms, device="cpu")

    moved = atoms.copy()
    moved.translate([0.37, -1.2, 5.3])
    assert _max_scaled_error(potnet_ase.complete_potentials(moved, device="cpu"), base) < 1e-10

    rotated = atoms.copy()
    rotation = Rotation.from_euler("xyz", [0.3, -1.1, 2.0]).as_matrix()
    rotated.set_cell(atoms.cell.array @ rotation.T, scale_atoms=False)
    rotated.positions = atoms.positions @ rotation.T
    assert _max_scaled_error(potnet_ase.complete_potentials(rotated, device="cpu"), base) < 1e-10

    order = np.random.default_rng(0).permutation(len(atoms))
    permuted = potnet_ase.complete_potentials(atoms[order], device="cpu")
    expected = {k: v[np.ix_(order, order)] for k, v in base.items()}
    assert _max_scaled_error(permuted, expected) < 1e-10


def test_matrices_are_symmetric_and_one_atom_cells_work():
    one = potnet_ase.complete_potentials(bulk("Cu", "fcc", a=3.6), device="cpu")
    assert all(m.shape == (1, 1) for m in one.values())
    sums = potnet_ase.complete_potentials(perovskite(), device="cpu")
    for m in sums.values():
        np.testing.assert_array_equal(m, m.T)


def test_left_handed_cell_is_the_same_lattice():
    atoms = perovskite()
    atoms.rattle(0.05, seed=5)
    flipped = atoms.copy()
    flipped.set_cell(-atoms.cell.array, scale_atoms=False)
    base = potnet_ase.complete_potentials(atoms, device="cpu")
    assert _max_scaled_error(potnet_ase.complete_potentials(flipped, device="cpu"), base) < 1e-10


def test_batch_equals_one_by_one_and_chunking_changes_nothing(rng):
    crystals = [
        random_crystal(rng, n, np.diag([4.0, 4.5, 5.0]) + rng.normal(0, 0.4, (3, 3)))
        for n in (1, 3, 7, 2)
    ]
    batch = potnet_ase.complete_potentials_batch(crystals, device="cpu")
    for atoms, together in zip(crystals, batch, strict=True):
        alone = potnet_ase.complete_potentials(atoms, device="cpu")
        assert _max_scaled_error(together, alone) < 1e-12

    positions = torch.tensor(np.concatenate([a.positions for a in crystals]))
    cells = torch.tensor(np.stack([a.cell.array for a in crystals]))
    counts = [len(a) for a in crystals]
    wide = lattice_pair_sums(positions, cells, counts)
    narrow = lattice_pair_sums(positions, cells, counts, max_terms=50)
    for name in NAMES:
        torch.testing.assert_close(wide.values[name], narrow.values[name], rtol=0, atol=1e-14)


def _cell(kind: str, rng: np.random.Generator, n_atoms: int) -> np.ndarray:
    volume = n_atoms * rng.uniform(9.0, 25.0)
    if kind == "elongated":
        shape = np.diag([1.0, 1.2, 6.0])
    elif kind == "flat":
        shape = np.diag([3.0, 2.7, 0.45])
    else:
        shape = np.eye(3)
    shape = shape + rng.normal(0, 0.15, (3, 3))
    if kind == "skewed":
        unimodular = np.array([[1, 0, 0], [rng.integers(-6, 7), 1, 0], [rng.integers(-6, 7), 3, 1]])
        shape = unimodular @ shape
    return shape * np.cbrt(volume / abs(np.linalg.det(shape)))


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from(["plain", "skewed", "elongated", "flat"]),
    n_atoms=st.integers(1, 30),
    seed=st.integers(0, 2**31),
)
def test_random_cells_stay_within_tolerance(kind, n_atoms, seed):
    rng = np.random.default_rng(seed)
    cell = _cell(kind, rng, n_atoms)
    atoms = random_crystal(rng, n_atoms, cell)
    tol = 1e-10
    ours = potnet_ase.complete_potentials(atoms, NAMES, tol=tol, device="cpu")
    reference = {
        "coulomb": inverse_power_sum(atoms.positions, cell, 0.5),
        "london": inverse_power_sum(atoms.positions, cell, 3.0),
        "pauli": direct_sum(atoms.positions, cell, lambda d: np.exp(-3.0 * d), 15.0),
    }
    assert _max_scaled_error(ours, reference) < tol
