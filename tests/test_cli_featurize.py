"""``potnet-ase featurize``: formats, failed rows, resume. Structures are built here."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest
from ase.build import bulk
from ase.io import write
from pymatgen.core import Lattice, Structure
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
