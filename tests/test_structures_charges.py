"""Formal charges carried by the input survive validation (``Crystal.charges``)."""

from __future__ import annotations

import numpy as np
from ase.build import bulk
from pymatgen.core import Lattice, Structure

from potnet_ase.structures import to_crystal


def _rock_salt() -> Structure:
    return Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_pymatgen_oxidation_states_are_kept_only_when_every_site_has_one():
    plain = _rock_salt()
    assert to_crystal(plain).charges is None
    decorated = _rock_salt()
    decorated.add_oxidation_state_by_site([1, -1])
    np.testing.assert_array_equal(to_crystal(decorated).charges, [1.0, -1.0])
    partial = _rock_salt()
    partial.replace(0, {"Na+": 1})  # one decorated site, one bare element
    assert to_crystal(partial).charges is None


def test_ase_initial_charges_are_kept_as_a_copy():
    atoms = bulk("NaCl", "rocksalt", a=5.64)
    assert to_crystal(atoms).charges is None
    atoms.set_initial_charges([1.0, -1.0])
    crystal = to_crystal(atoms)
    np.testing.assert_array_equal(crystal.charges, [1.0, -1.0])
    atoms.set_initial_charges([2.0, -2.0])
    np.testing.assert_array_equal(crystal.charges, [1.0, -1.0])
