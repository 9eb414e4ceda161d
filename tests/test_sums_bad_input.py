"""DESIGN.md section 5: bad input raises a typed error that names the structure and the fix."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule
from pymatgen.core import Lattice, Structure

import potnet_ase
from potnet_ase.errors import ResourceLimitError, StructureError
from potnet_ase.sums import lattice_pair_sums


def _nacl() -> Atoms:
    return bulk("NaCl", "rocksalt", a=5.64)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: molecule("H2O"), "not periodic"),
        (lambda: Atoms("Cu", cell=[3, 3, 3], pbc=[True, True, False]), "not periodic"),
        (
            lambda: Atoms(
                "Cu2", positions=[[0, 0, 0], [1, 1, 1]], cell=np.diag([3, 3, 0]), pbc=True
            ),
            "singular",
        ),  # fmt: skip
        (lambda: Atoms("Cu", cell=[[3, 0, 0], [0, 3, 0], [3, 3, 1e-9]], pbc=True), "singular"),
        (
            lambda: Atoms("Cu2", positions=[[0, 0, 0], [np.nan, 0, 0]], cell=[3, 3, 3], pbc=True),
            "NaN",
        ),  # fmt: skip
        (
            lambda: Atoms("Cu2", positions=[[0, 0, 0], [0, 0, 0]], cell=[3, 3, 3], pbc=True),
            "same position",
        ),  # fmt: skip
        (
            lambda: Atoms("Cu2", positions=[[0, 0, 0], [3, 0, 3]], cell=[3, 3, 3], pbc=True),
            "lattice translation",
        ),  # fmt: skip
        (lambda: Atoms(cell=[3, 3, 3], pbc=True), "no atoms"),
        (lambda: None, "None"),
        (lambda: "NaCl.cif", "pass an ase.Atoms"),
        (
            lambda: Structure(Lattice.cubic(3), [{"Fe": 0.5, "Ni": 0.5}], [[0, 0, 0]]),
            "disordered",
        ),  # fmt: skip
    ],
)
def test_bad_structures_raise_typed_errors(make, message):
    with pytest.raises(StructureError, match=message) as error:
        potnet_ase.complete_potentials(make(), device="cpu")
    assert isinstance(error.value, ValueError)
    assert "structure" in str(error.value)


def test_batch_error_names_the_offending_index():
    good = _nacl()
    bad = good.copy()
    bad.positions[1] = bad.positions[0]
    with pytest.raises(StructureError, match=r"structure 2 \(NaCl\)"):
        potnet_ase.complete_potentials_batch([good, good, bad], device="cpu")


def test_empty_batch_and_bad_options():
    assert potnet_ase.complete_potentials_batch([], device="cpu") == []
    with pytest.raises(ValueError, match="unknown potentials"):
        potnet_ase.complete_potentials(_nacl(), ["gravity"], device="cpu")
    with pytest.raises(ValueError, match="convention"):
        potnet_ase.complete_potentials(_nacl(), convention="paper", device="cpu")
    with pytest.raises(ValueError, match="tol"):
        potnet_ase.complete_potentials(_nacl(), tol=0.0, device="cpu")


def test_extremely_skewed_cell_is_still_correct():
    atoms = _nacl()
    reference = potnet_ase.complete_potentials(atoms, device="cpu")
    twisted = atoms.copy()
    transform = np.array([[1, 0, 0], [250, 1, 0], [-3000, 40, 1]])
    twisted.set_cell(transform @ atoms.cell.array, scale_atoms=False)
    result = potnet_ase.complete_potentials(twisted, device="cpu")
    for name in reference:
        assert np.abs(result[name] - reference[name]).max() < 1e-10


def test_huge_cell_fails_with_a_clear_limit():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((4, 4, 4))  # 256 atoms
    positions = torch.tensor(atoms.positions)
    cell = torch.tensor(atoms.cell.array[None])
    with pytest.raises(ResourceLimitError, match="limit of"):
        lattice_pair_sums(positions, cell, [len(atoms)], memory_limit_bytes=1 << 20)


def test_engine_rejects_single_precision():
    atoms = _nacl()
    with pytest.raises(TypeError, match="float64"):
        lattice_pair_sums(
            torch.tensor(atoms.positions, dtype=torch.float32),
            torch.tensor(atoms.cell.array[None], dtype=torch.float32),
            [2],
        )


def test_elongated_cell_batched_with_ordinary_ones_changes_nothing():
    # The elongated cell needs many more lattice translations than the others, so the
    # engine screens it in a group of its own; every crystal must come out as when alone.
    elongated = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((1, 1, 6))
    elongated.positions[0] += [0.05, -0.03, 0.02]
    crystals = [_nacl(), elongated, bulk("Si", "diamond", a=5.43), _nacl().repeat((2, 1, 1))]
    batched = potnet_ase.complete_potentials_batch(crystals, device="cpu")
    for atoms, sums in zip(crystals, batched, strict=True):
        alone = potnet_ase.complete_potentials(atoms, device="cpu")
        for name in alone:
            assert np.abs(sums[name] - alone[name]).max() < 1e-12
