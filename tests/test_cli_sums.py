"""The ``potnet-ase sums`` and ``potnet-ase demo`` commands."""

from __future__ import annotations

import json

import ase.io
import numpy as np
import pytest
from ase.build import bulk

import potnet_ase
from potnet_ase.cli import main
from potnet_ase.examples import perovskite


def test_sums_reads_cif_and_extxyz_and_writes_json(tmp_path, capsys):
    nacl = bulk("NaCl", "rocksalt", a=5.64)
    ase.io.write(tmp_path / "nacl.cif", nacl)
    frames = [perovskite(), perovskite(4.0)]
    ase.io.write(tmp_path / "frames.extxyz", frames)
    assert main(["sums", str(tmp_path / "nacl.cif"), str(tmp_path / "frames.extxyz")]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [s["source"] for s in document["structures"]] == [
        str(tmp_path / "nacl.cif"),
        f"{tmp_path / 'frames.extxyz'}@0",
        f"{tmp_path / 'frames.extxyz'}@1",
    ]
    expected = potnet_ase.complete_potentials(frames[1], device="cpu")
    written = document["structures"][2]
    for name in ("coulomb", "london", "pauli"):
        np.testing.assert_allclose(np.array(written[name]), expected[name], rtol=0, atol=1e-12)
    assert document["settings"]["units"]["coulomb"] == "1/Angstrom"


def test_sums_writes_npz_with_options(tmp_path):
    ase.io.write(tmp_path / "POSCAR", perovskite(), format="vasp")
    out = tmp_path / "sums.npz"
    args = ["sums", str(tmp_path / "POSCAR"), "-o", str(out), "--potentials", "pauli"]
    assert main([*args, "--convention", "potnet", "--tol", "1e-8"]) == 0
    data = np.load(out)
    expected = potnet_ase.complete_potentials(
        perovskite(), ["pauli"], convention="potnet", device="cpu"
    )["pauli"]
    np.testing.assert_allclose(data["0_pauli"], expected, atol=1e-8)
    assert json.loads(str(data["settings"]))["convention"] == "potnet"


def test_sums_reports_unreadable_files(tmp_path):
    bad = tmp_path / "broken.cif"
    bad.write_text("this is not a crystal\n")
    with pytest.raises(ValueError, match="cannot read"):
        main(["sums", str(bad)])


def test_demo_prints_recovered_madelung_constants(capsys):
    assert main(["demo", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    for line in out.splitlines():
        if line.startswith(("rock salt NaCl", "CsCl", "zincblende")):
            recovered, reference = (float(v) for v in line.split()[-3:-1])
            assert recovered == pytest.approx(reference, abs=1e-9)
    assert "skewed basis" in out
