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
    iter_table,
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


def _table_columns(table: pd.DataFrame) -> pd.DataFrame:
    """Everything of a read_table layout but the structures, which are compared apart."""
    return table.drop(columns=["structure"]).reset_index(drop=True)


def _write_every_format(tmp_path, structures: list[Structure]) -> list:
    """The same rows (one of them unparseable) in every table format iter_table reads."""
    records = [
        {"material_id": f"mp-{k}", "structure": s.as_dict(), "y": float(k)}
        for k, s in enumerate(structures)
    ]
    records[2]["structure"] = "not a structure"
    frame = pd.DataFrame(
        {
            "material_id": [r["material_id"] for r in records],
            "cif": [s.to(fmt="cif") for s in structures],
            "y": [r["y"] for r in records],
        }
    )
    frame.loc[2, "cif"] = "not a structure"
    paths = []
    csv = tmp_path / "table.csv"
    csv.write_text("# ref: somebody (2024)\n" + frame.to_csv(index=False))
    gz = tmp_path / "table.csv.gz"
    with gzip.open(gz, "wt") as handle:
        handle.write(frame.to_csv())  # with the pandas index as a first, unnamed column
    parquet = tmp_path / "table.parquet"
    frame.to_parquet(parquet)
    listed = tmp_path / "records.json.gz"
    with gzip.open(listed, "wt") as handle:
        json.dump(records, handle, indent=1)
    lines = tmp_path / "records.jsonl"
    lines.write_text("".join(json.dumps(r) + "\n" for r in records))
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"data": records}))
    paths += [csv, gz, parquet, listed, lines, wrapped]
    import ase.io

    for suffix in ("extxyz", "db"):
        path = tmp_path / f"frames.{suffix}"
        ase.io.write(path, [AseAtomsAdaptor.get_atoms(s) for s in structures])
        paths.append(path)
    return paths


def test_chunked_reading_equals_whole_file_reading_in_every_format(tmp_path, nacl):
    structures = [
        Structure(Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
        for a in (5.5, 5.6, 5.7, 5.8, 5.9, 6.0, 6.1)
    ]
    for path in _write_every_format(tmp_path, structures):
        whole = read_table(path)
        assert len(whole) == len(structures), path
        for chunk_rows in (1, 3, 7, 100):
            chunks = list(iter_table(path, chunk_rows))
            assert [c.number for c in chunks] == list(range(len(chunks)))
            assert [len(c) for c in chunks] == [
                min(chunk_rows, len(structures) - start)
                for start in range(0, len(structures), chunk_rows)
            ]
            tables = [c.table() for c in chunks]
            assert [t.index[0] for t in tables] == list(range(0, len(structures), chunk_rows))
            joined = pd.concat(tables)
            pd.testing.assert_frame_equal(_table_columns(joined), _table_columns(whole))
            for got, expected in zip(joined["structure"], whole["structure"], strict=True):
                assert (got is None) == (expected is None)
                assert got is None or _same(got, expected)
        if path.suffix not in (".extxyz", ".db"):
            assert whole["id"].tolist() == [f"mp-{k}" for k in range(7)]
            assert whole["structure"][2] is None and whole["structure_error"][2]
        else:
            assert whole["id"].tolist() == [f"{path.name}:{k}" for k in range(7)]


def test_json_stream_across_block_boundaries(tmp_path, nacl):
    from potnet_ase.data.readers import _json_records

    structure = json.loads(json.dumps(nacl.as_dict()))  # tuples as JSON gives them back
    big = {"id": "big", "structure": structure, "numbers": list(range(500)), "x": 1e-7}
    small = [{"id": f"s{k}", "x": 123456789 + k, "text": "a, b ] {"} for k in range(5)]
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps([small[0], big, *small[1:]], indent=2))
    lines = tmp_path / "lines.json"
    lines.write_text("\n".join(json.dumps(r) for r in [*small, big]) + "\n")
    for path, expected in ((listed, [small[0], big, *small[1:]]), (lines, [*small, big])):
        for block in (1, 5, 64, 1 << 20):  # blocks far smaller than a record, and larger
            assert list(_json_records(path, block_chars=block)) == expected
    empty = tmp_path / "empty.json"
    empty.write_text(" [ ] ")
    assert list(_json_records(empty, block_chars=2)) == []
    broken = tmp_path / "broken.json"
    broken.write_text('[{"id": 1} {"id": 2}]')
    with pytest.raises(ValueError, match="malformed JSON list"):
        list(_json_records(broken))
    scalars = tmp_path / "scalars.json"
    scalars.write_text("[1, 2]")
    with pytest.raises(ValueError, match="records must be objects"):
        list(_json_records(scalars))


def test_iter_table_checks_its_arguments(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="chunk_rows"):
        next(iter_table(path, 0))
    with pytest.raises(KeyError, match="structure"):
        next(iter_table(path, 10))
    with pytest.raises(FileNotFoundError):
        next(iter_table(tmp_path / "none.csv", 10))
