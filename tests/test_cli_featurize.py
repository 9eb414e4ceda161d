"""``potnet-ase featurize``: formats, failed rows, resume. Structures are built here."""

from __future__ import annotations

import argparse
import gzip
import json

import numpy as np
import pandas as pd
import pytest
from ase.build import bulk
from ase.io import write
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor
from pymatgen.io.cif import CifWriter

from featurizers import CompletePotentialFeaturizer
from potnet_ase.commands import featurize as command


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["featurize", *argv])


def structures() -> list[Structure]:
    return [
        Structure(Lattice.cubic(a), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
        for a in (3.9, 4.0, 4.1, 4.2, 4.3)
    ]


@pytest.fixture
def csv_input(tmp_path):
    """Five CIF rows, one overlapping-atoms row (a pymatgen dict as JSON: a CIF parser would
    merge the two sites) and one unparseable row."""
    good = [str(CifWriter(s)) for s in structures()]
    twins = Structure(Lattice.cubic(3), ["Na", "Na"], [[0, 0, 0], [1, 1, 1]])
    overlapping = json.dumps(twins.as_dict())
    cifs = good[:2] + [overlapping] + good[2:] + ["not a structure"]
    path = tmp_path / "table.csv"
    pd.DataFrame(
        {
            "material_id": [f"m-{k}" for k in range(len(cifs))],
            "cif": cifs,
            "band_gap": np.arange(len(cifs), dtype=float),
        }
    ).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_featurize_csv_with_failed_rows(csv_input, tmp_path, suffix):
    out = tmp_path / f"features{suffix}"
    assert (
        command.run(
            parse(
                [
                    str(csv_input),
                    str(out),
                    "--keep",
                    "band_gap",
                    "--no-progress",
                    "--chunk-size",
                    "3",
                ]
            )
        )
        == 0
    )
    table = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    labels = CompletePotentialFeaturizer().feature_labels()
    assert list(table.columns) == ["id", "band_gap", *labels]
    assert table["id"].tolist() == [f"m-{k}" for k in range(7)]
    good = [0, 1, 3, 4, 5]
    expected = CompletePotentialFeaturizer().featurize_many(structures(), pbar=False)
    np.testing.assert_allclose(
        table.loc[good, labels].to_numpy(float),
        np.array(expected, float),
        rtol=1e-9,
        equal_nan=True,
    )
    assert table.loc[[2, 6], labels].isna().all().all()
    errors = pd.read_csv(tmp_path / f"features{suffix}.errors.csv")
    assert errors["row"].tolist() == [2, 6] and errors["id"].tolist() == ["m-2", "m-6"]
    assert "same position" in errors["error"][0]
    assert errors["error"][1]  # the reader's reason for the unparseable cell
    assert not (tmp_path / f"features{suffix}.parts").exists()


def test_resume_skips_finished_chunks(csv_input, tmp_path, monkeypatch):
    out = tmp_path / "features.parquet"
    calls: list[int] = []
    original = CompletePotentialFeaturizer.featurize_many

    def interrupted(self, entries, **kwargs):
        if calls:
            raise KeyboardInterrupt
        calls.append(len(entries))
        return original(self, entries, **kwargs)

    monkeypatch.setattr(CompletePotentialFeaturizer, "featurize_many", interrupted)
    args = [str(csv_input), str(out), "--no-progress", "--chunk-size", "3"]
    with pytest.raises(KeyboardInterrupt):
        command.run(parse(args))
    assert len(list((tmp_path / "features.parquet.parts").glob("part-*.parquet"))) == 1

    seen: list[int] = []

    def counting(self, entries, **kwargs):
        seen.append(len(entries))
        return original(self, entries, **kwargs)

    monkeypatch.setattr(CompletePotentialFeaturizer, "featurize_many", counting)
    command.run(parse(args))
    assert seen == [3, 1]  # the first chunk of three was not redone
    assert len(pd.read_parquet(out)) == 7


def test_extxyz_with_element_pairs(tmp_path):
    frames = [bulk("NaCl", "rocksalt", a=a) for a in (5.5, 5.6, 5.7)]
    path = tmp_path / "frames.extxyz"
    write(path, frames)
    out = tmp_path / "features.csv"
    command.run(
        parse(
            [
                str(path),
                str(out),
                "--element-pairs",
                "2",
                "--oxidation-states",
                "guess",
                "--no-progress",
            ]
        )
    )
    table = pd.read_csv(out)
    assert len(table) == 3
    assert any("element-pair sum Cl-Na" in c for c in table.columns)
    assert np.isfinite(table["Madelung energy per atom (eV/atom)"]).all()


def test_bad_output_suffix(csv_input, tmp_path):
    with pytest.raises(SystemExit, match="OUTPUT must end"):
        command.run(parse([str(csv_input), str(tmp_path / "features.xlsx")]))


def _write_inputs(tmp_path) -> list:
    """The five structures of `structures()` plus an unparseable row, in CSV, JSON.gz,
    JSON lines and parquet; the five alone in extxyz and an ASE database."""
    cells = [s.as_dict() for s in structures()]
    records = [{"material_id": f"m-{k}", "structure": c, "y": k} for k, c in enumerate(cells)]
    records.insert(3, {"material_id": "m-x", "structure": "not a structure", "y": -1})
    frame = pd.DataFrame(records).assign(structure=lambda t: t["structure"].map(json.dumps))
    paths = [tmp_path / "in.csv", tmp_path / "in.json.gz", tmp_path / "in.jsonl"]
    paths[0].write_text("# ref: made up here\n" + frame.to_csv(index=False))
    with gzip.open(paths[1], "wt") as handle:
        json.dump(records, handle)
    paths[2].write_text("".join(json.dumps(r) + "\n" for r in records))
    paths.append(tmp_path / "in.parquet")
    frame.to_parquet(paths[-1])
    for suffix in ("extxyz", "db"):
        paths.append(tmp_path / f"in.{suffix}")
        write(paths[-1], [AseAtomsAdaptor.get_atoms(s) for s in structures()])
    return paths


def test_streamed_chunks_equal_whole_featurization_in_every_format(tmp_path, monkeypatch):
    def whole_file_read(*args, **kwargs):
        raise AssertionError("featurize must stream its input, not read it whole")

    monkeypatch.setattr("potnet_ase.data.readers.read_table", whole_file_read)
    labels = CompletePotentialFeaturizer().feature_labels()
    expected = np.array(
        CompletePotentialFeaturizer().featurize_many(structures(), pbar=False), dtype=float
    )
    for path in _write_inputs(tmp_path):
        ase_format = path.suffix in (".extxyz", ".db")
        good = list(range(5)) if ase_format else [0, 1, 2, 4, 5]
        for chunk in ("2", "100"):
            out = tmp_path / f"{path.name}.{chunk}.parquet"
            command.run(parse([str(path), str(out), "--chunk-size", chunk, "--no-progress"]))
            table = pd.read_parquet(out)
            assert len(table) == len(good) + (0 if ase_format else 1)
            np.testing.assert_allclose(table.loc[good, labels].to_numpy(float), expected, rtol=1e-9)
            errors = pd.read_csv(tmp_path / f"{path.name}.{chunk}.parquet.errors.csv")
            if ase_format:
                assert table["id"].tolist() == [f"{path.name}:{k}" for k in range(5)]
                assert errors.empty
            else:
                assert table["id"].tolist() == ["m-0", "m-1", "m-2", "m-x", "m-3", "m-4"]
                assert errors["row"].tolist() == [3] and errors["id"].tolist() == ["m-x"]


def test_resume_passes_over_finished_chunks_unparsed(tmp_path, monkeypatch):
    from potnet_ase.data.readers import TableChunk

    path = _write_inputs(tmp_path)[1]  # JSON.gz, six rows
    out = tmp_path / "features.csv"
    args = [str(path), str(out), "--no-progress", "--chunk-size", "2", "--keep", "y"]
    original_table = TableChunk.table
    parsed: list[int] = []

    def interrupted(chunk):
        if chunk.number == 2:
            raise KeyboardInterrupt
        parsed.append(chunk.number)
        return original_table(chunk)

    monkeypatch.setattr(TableChunk, "table", interrupted)
    with pytest.raises(KeyboardInterrupt):
        command.run(parse(args))
    assert parsed == [0, 1]
    assert len(list((tmp_path / "features.csv.parts").glob("part-*.parquet"))) == 2

    parsed.clear()

    def counted(chunk):
        parsed.append(chunk.number)
        return original_table(chunk)

    monkeypatch.setattr(TableChunk, "table", counted)
    command.run(parse(args))
    assert parsed == [2]  # chunks 0 and 1 were neither parsed nor featurized again
    table = pd.read_csv(out)
    assert table["id"].tolist() == ["m-0", "m-1", "m-2", "m-x", "m-3", "m-4"]
    assert table["y"].tolist() == [0, 1, 2, -1, 3, 4]
    assert table.loc[3, CompletePotentialFeaturizer().feature_labels()].isna().all()
    assert pd.read_csv(tmp_path / "features.csv.errors.csv")["row"].tolist() == [3]


def test_unknown_keep_column_stops_before_featurizing(csv_input, tmp_path):
    out = tmp_path / "features.parquet"
    with pytest.raises(SystemExit, match=r"no columns \['nope'\]"):
        command.run(parse([str(csv_input), str(out), "--keep", "nope", "--no-progress"]))
    assert not out.exists()
