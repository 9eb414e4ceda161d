"""Readers: every table format, structure formats detected per value, bad rows kept."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from potnet_ase.data.readers import (
    KBAR_TO_EV_PER_A3,
    parse_structure,
    read_frames,
    read_table,
    table_from_structures,
)


@pytest.fixture
def nacl() -> Structure:
    return Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def _same(a: Structure, b: Structure) -> bool:
    return a.composition == b.composition and np.allclose(a.lattice.matrix, b.lattice.matrix)


@pytest.mark.parametrize("kind", ["structure", "dict", "repr", "json", "cif", "poscar", "atoms"])
def test_parse_structure_formats(nacl, kind):
    value = {
        "structure": nacl,
        "dict": nacl.as_dict(),
        "repr": repr(nacl.as_dict()),
        "json": json.dumps(nacl.as_dict()),
        "cif": nacl.to(fmt="cif"),
        "poscar": nacl.to(fmt="poscar"),
        "atoms": AseAtomsAdaptor.get_atoms(nacl),
    }[kind]
    assert _same(parse_structure(value), nacl)


def test_parse_structure_rejects_empty():
    with pytest.raises(ValueError, match="no structure"):
        parse_structure("")


def test_csv_with_ref_line_and_bad_row(tmp_path, nacl):
    path = tmp_path / "data.csv"
    frame = pd.DataFrame(
        {
            "material_id": ["mp-1", "mp-2", "mp-3"],
            "cif": [nacl.to(fmt="cif"), "not a structure", nacl.to(fmt="poscar")],
            "band_gap": [1.0, "x", 3.0],
        }
    )
    path.write_text("# ref: somebody (2024)\n" + frame.to_csv(index=False))
    table = read_table(path, targets=["band_gap"])
    assert list(table.columns[:3]) == ["id", "structure", "structure_error"]
    assert table["id"].tolist() == ["mp-1", "mp-2", "mp-3"]
    assert table["structure"][1] is None and "Error" in table["structure_error"][1]
    assert _same(table["structure"][0], nacl) and _same(table["structure"][2], nacl)
    assert np.isnan(table["band_gap"][1]) and table["band_gap"][2] == 3.0


def test_json_gz_records_and_column_clash(tmp_path, nacl):
    path = tmp_path / "data.json.gz"
    records = [{"mp_id": "mp-9", "structure": nacl.as_dict(), "poscar": "x", "k": 10.0}]
    with gzip.open(path, "wt") as handle:
        json.dump(records, handle)
    table = read_table(path, targets=["k"])
    assert table["id"][0] == "mp-9" and _same(table["structure"][0], nacl)
    clash = read_table(path, structure_column="poscar")
    assert clash["structure"][0] is None
    assert isinstance(clash["structure_original"][0], dict)


def test_parquet(tmp_path, nacl):
    path = tmp_path / "data.parquet"
    pd.DataFrame({"id": ["a"], "structure": [nacl.to(fmt="cif")], "y": [1.5]}).to_parquet(path)
    table = read_table(path, targets=["y"])
    assert table["id"][0] == "a" and _same(table["structure"][0], nacl)


def _frames():
    frames = []
    for k, a in enumerate((5.4, 5.5)):
        atoms = bulk("Si", "diamond", a=a)
        forces = np.full((2, 3), 0.1 * k)
        stress = np.array([0.01, 0.02, 0.03, 0.0, 0.0, 0.001])
        atoms.calc = SinglePointCalculator(atoms, energy=-10.0 - k, forces=forces, stress=stress)
        frames.append(atoms)
    return frames


@pytest.mark.parametrize("suffix", ["extxyz", "db"])
def test_ase_formats(tmp_path, suffix):
    import ase.io

    path = tmp_path / f"frames.{suffix}"
    ase.io.write(path, _frames())
    frames = read_frames(path)
    assert len(frames) == 2 and frames[1].get_potential_energy() == pytest.approx(-11.0)
    assert np.allclose(frames[1].get_forces(), 0.1)
    assert frames[0].info["group"] == "frames"
    table = read_table(path)
    assert len(table) == 2 and table["energy"].tolist() == pytest.approx([-10.0, -11.0])
    assert table["structure"][0].composition.reduced_formula == "Si"


def test_mlearn_json_stress_convention(tmp_path, nacl):
    path = tmp_path / "Ge_training.json"
    record = {
        "group": "Elastic",
        "structure": nacl.as_dict(),
        "outputs": {
            "energy": -7.5,
            "forces": [[0.1, 0.0, 0.0], [-0.1, 0.0, 0.0]],
            "virial_stress": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        },
    }
    path.write_text(json.dumps([record]))
    (atoms,) = read_frames(path)
    assert atoms.info["group"] == "Elastic"
    assert atoms.get_potential_energy() == pytest.approx(-7.5)
    # VASP (xx, yy, zz, xy, yz, zx) in kBar -> ASE (xx, yy, zz, yz, xz, xy), sign flipped.
    expected = -KBAR_TO_EV_PER_A3 * np.array([1.0, 2.0, 3.0, 5.0, 6.0, 4.0])
    assert np.allclose(atoms.get_stress(), expected)


def test_in_memory_structures(nacl):
    table = table_from_structures([nacl, None, bulk("Cu")], {"y": [1.0, 2.0, 3.0]})
    assert table["structure"][1] is None and table["structure_error"][1]
    assert table["structure"][2].composition.reduced_formula == "Cu"


def test_missing_file_and_column(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_table(tmp_path / "none.csv")
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(KeyError, match="structure"):
        read_table(path)
