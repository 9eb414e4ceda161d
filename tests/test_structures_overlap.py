"""The overlap check of structure validation (``structures.closest_overlap``): atoms closer
than MIN_SEPARATION at any lattice translation, found in O(N log N) for any basis.

The reference is an exhaustive search: every pair, every integer shift in a box around the
wrapped fractional difference in a reduced basis, which holds every image within reach.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from ase import Atoms

from potnet_ase.errors import StructureError
from potnet_ase.structures import (
    ALL_PAIRS_UP_TO,
    MIN_SEPARATION,
    closest_overlap,
    to_crystal,
)
from potnet_ase.sums.lattice import reduce_bases

# A unimodular matrix that turns a cubic cell into a basis skewed by factors in the thousands.
SKEW = np.array([[1, 0, 0], [1500, 1, 0], [-700, 400, 1]])


def exhaustive_overlap(positions: np.ndarray, cell: np.ndarray, reach: int = 3):
    """First pair (a < b) closer than MIN_SEPARATION over shifts in [-reach, reach]^3 of a
    reduced basis, as (a, b), or None: O(N^2), the oracle."""
    reduced = reduce_bases(cell[None])[0] @ cell
    fractional = positions @ np.linalg.inv(reduced)
    shifts = np.array(list(itertools.product(range(-reach, reach + 1), repeat=3)))
    for a, b in itertools.combinations(range(len(positions)), 2):
        difference = fractional[b] - fractional[a]
        difference -= np.round(difference)
        if np.linalg.norm((difference + shifts) @ reduced, axis=1).min() < MIN_SEPARATION:
            return a, b
    return None


@pytest.fixture(params=["all pairs", "tree"])
def candidates(monkeypatch, request):
    """Both ways of finding candidate pairs: every pair (small cells) and the k-d tree."""
    if request.param == "tree":
        monkeypatch.setattr("potnet_ase.structures.ALL_PAIRS_UP_TO", 0)
    return request.param


def test_duplicate_through_a_lattice_translation_in_a_skewed_basis(candidates):
    cubic = 4.0 * np.eye(3)
    cell = SKEW @ cubic
    rng = np.random.default_rng(3)
    positions = rng.random((10, 3)) @ cubic
    positions[7] = positions[2] + np.array([5, -3, 2]) @ cell + [2e-4, 0, 0]
    assert closest_overlap(positions, cell)[:2] == (2, 7)
    atoms = Atoms("Si10", positions=positions, cell=cell, pbc=True)
    with pytest.raises(StructureError, match=r"atoms 2 and 7 sit at the same position"):
        to_crystal(atoms)


def test_near_miss_across_the_boundary_passes(candidates):
    cell = SKEW @ (5.0 * np.eye(3))
    reduced_a = 5.0
    # Atom 1 sits 1.5e-3 A from atom 0 through the periodic boundary: a near miss that must
    # pass; 0.5e-3 A must not.
    for gap, expected in ((1.5e-3, None), (0.5e-3, (0, 1))):
        positions = np.array([[1e-4, 1.0, 1.0], [reduced_a + 1e-4 - gap, 1.0, 1.0], [2, 3, 2]])
        found = closest_overlap(positions, cell)
        assert (found if found is None else found[:2]) == expected
        if expected is not None:
            assert found[2] == pytest.approx(gap, rel=1e-6)


def test_random_cells_agree_with_the_exhaustive_search(candidates):
    rng = np.random.default_rng(7)
    checked = 0
    for trial in range(120):
        base = np.eye(3) * rng.uniform(2.0, 6.0, 3) + rng.normal(scale=0.8, size=(3, 3))
        if np.linalg.det(base) < 1.0:
            continue
        skew = np.eye(3, dtype=int)
        if trial % 2:
            skew[1, 0], skew[2, 0], skew[2, 1] = rng.integers(-900, 900, 3)
        cell = skew @ base
        n = int(rng.integers(2, 12))
        positions = rng.random((n, 3)) @ base
        if trial % 3:  # a copy of one atom, moved by a lattice vector and a small offset
            a, b = rng.choice(n, 2, replace=False)
            offset = rng.normal(size=3)
            offset *= rng.choice([0.2e-3, 0.9e-3, 1.1e-3, 4e-3]) / np.linalg.norm(offset)
            positions[b] = positions[a] + rng.integers(-3, 4, 3) @ base + offset
        found = closest_overlap(positions, cell)
        assert (found if found is None else found[:2]) == exhaustive_overlap(positions, cell)
        checked += 1
    assert checked > 80


def test_thin_cell_tries_every_shift_it_needs(candidates):
    # 1.5e-3 A thick along z: every atom is within 1e-3 A of anything above or below it, so
    # the check must look past the wrapped fractional difference along that axis.
    cell = np.diag([5.0, 5.0, 1.5e-3])
    stacked = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.7e-3]])
    assert closest_overlap(stacked, cell)[:2] == (0, 1)
    beside = np.array([[1.0, 1.0, 0.0], [1.0 + 2e-3, 1.0, 0.7e-3]])
    assert closest_overlap(beside, cell) is None


def test_two_thousand_atoms_are_checked_fast_and_exactly():
    rng = np.random.default_rng(11)
    n = 2400
    assert n > ALL_PAIRS_UP_TO
    # A jittered simple-cubic arrangement (spacing 2 A) in a skewed basis of the same lattice.
    side = int(round(n ** (1 / 3))) + 1
    grid = np.array(list(itertools.product(range(side), repeat=3)))[:n].astype(float)
    cubic = 2.0 * side * np.eye(3)
    cell = np.array([[1, 0, 0], [3, 1, 0], [0, -2, 1]]) @ cubic
    positions = 2.0 * grid + rng.uniform(-0.3, 0.3, (n, 3))
    assert closest_overlap(positions, cell) is None
    moved = positions.copy()
    moved[2000] = positions[17] - 2 * cell[1] + cell[2] + [0.0, 6e-4, 0.0]
    assert closest_overlap(moved, cell)[:2] == (17, 2000)
    atoms = Atoms(numbers=np.full(n, 14), positions=moved, cell=cell, pbc=True)
    with pytest.raises(StructureError, match=r"structure 4 \(Si2400\): atoms 17 and 2000"):
        to_crystal(atoms, index=4)
    near_miss = positions.copy()
    near_miss[2000] = positions[17] - 2 * cell[1] + cell[2] + [0.0, 1.2e-3, 0.0]
    crystal = to_crystal(Atoms(numbers=np.full(n, 14), positions=near_miss, cell=cell, pbc=True))
    assert crystal.n_atoms == n


def test_valid_crystal_label_is_built_on_demand():
    atoms = Atoms("NaCl", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=4 * np.eye(3))
    atoms.pbc = True
    assert to_crystal(atoms, index=3).label == "structure 3 (NaCl)"
