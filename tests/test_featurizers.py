"""matminer featurizers: exact values, labels, invariances and the matminer / sklearn contract.

Every structure is built here; nothing reads ../shared.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from ase.build import bulk, molecule
from matminer.featurizers.base import MultipleFeaturizer
from matminer.featurizers.structure import DensityFeatures, SiteStatsFingerprint
from pymatgen.analysis.ewald import EwaldSummation
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline

from featurizers import CompletePotentialFeaturizer, CompletePotentialSiteFeaturizer
from featurizers.complete_potential import COULOMB_CONSTANT, formal_charges
from potnet_ase.errors import StructureError
from potnet_ase.structures import to_crystal

EXACT = 1e-12  # engine tolerance for exact-value tests
NACL_MADELUNG = 1.747564594633
CSCL_MADELUNG = 1.762674773071
# Regularised Coulomb lattice sum of the simple cubic lattice (Epstein zeta at s = 1/2, unit
# spacing): the potential at a site from all other unit charges plus a neutralising background.
SC_COULOMB = -2.837297479480
PAULI_ALPHA = 3.0


def rock_salt(d: float = 2.8, charged: bool = False) -> Structure:
    """Primitive rock salt, nearest-neighbour distance d (Angstrom)."""
    structure = Structure(
        Lattice.from_parameters(*(3 * [d * math.sqrt(2)]), 60, 60, 60),
        ["Na", "Cl"],
        [[0, 0, 0], [0.5, 0.5, 0.5]],
    )
    if charged:
        structure.add_oxidation_state_by_site([1, -1])
    return structure


def cesium_chloride(a: float = 4.1, charged: bool = False) -> Structure:
    structure = Structure(Lattice.cubic(a), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    if charged:
        structure.add_oxidation_state_by_site([1, -1])
    return structure


def chain(d: float = 2.5, spacing: float = 30.0) -> Structure:
    """Alternating Li-F chain along x with spacing d; chains `spacing` apart."""
    return Structure(
        Lattice.orthorhombic(2 * d, spacing, spacing), ["Li", "F"], [[0, 0, 0], [0.5, 0, 0]]
    )


def perovskite() -> Structure:
    structure = Structure(
        Lattice.cubic(3.905),
        ["Sr", "Ti", "O", "O", "O"],
        [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )
    structure.add_oxidation_state_by_site([2, 4, -2, -2, -2])
    return structure


def features(featurizer, structure) -> dict[str, float]:
    return dict(zip(featurizer.feature_labels(), featurizer.featurize(structure), strict=True))


STRUCTURE_LABELS = [
    "coulomb site sum mean (1/A)",
    "coulomb site sum std (1/A)",
    "coulomb site sum min (1/A)",
    "coulomb site sum max (1/A)",
    "london site sum mean (1/A^6)",
    "london site sum std (1/A^6)",
    "london site sum min (1/A^6)",
    "london site sum max (1/A^6)",
    "pauli site sum mean (1)",
    "pauli site sum std (1)",
    "pauli site sum min (1)",
    "pauli site sum max (1)",
    "coulomb Z-weighted energy per atom (eV/atom)",
    "coulomb Z-weighted site potential std (V)",
    "coulomb Z-weighted site potential min (V)",
    "coulomb Z-weighted site potential max (V)",
    "Madelung energy per atom (eV/atom)",
    "Madelung site energy std (eV)",
    "Madelung site energy min (eV)",
    "Madelung site energy max (eV)",
    "Madelung oxidation states assigned (1 or 0)",
]

PAIR_LABELS = [
    "coulomb self-image sum (1/A)",
    "coulomb pair sum mean (1/A)",
    "coulomb pair sum std (1/A)",
    "coulomb pair sum min (1/A)",
    "coulomb pair sum max (1/A)",
    "london self-image sum (1/A^6)",
    "london pair sum mean (1/A^6)",
    "london pair sum std (1/A^6)",
    "london pair sum min (1/A^6)",
    "london pair sum max (1/A^6)",
    "pauli self-image sum (1)",
    "pauli pair sum mean (1)",
    "pauli pair sum std (1)",
    "pauli pair sum min (1)",
    "pauli pair sum max (1)",
]

SITE_LABELS = [
    "coulomb site sum (1/A)",
    "coulomb self-image sum (1/A)",
    "london site sum (1/A^6)",
    "london self-image sum (1/A^6)",
    "pauli site sum (1)",
    "pauli self-image sum (1)",
    "coulomb Z-weighted site potential (V)",
    "Madelung site potential (V)",
    "Madelung site energy (eV)",
]


def test_labels_exact():
    assert CompletePotentialFeaturizer().feature_labels() == STRUCTURE_LABELS
    with_pairs = CompletePotentialFeaturizer(pair_statistics=True).feature_labels()
    assert with_pairs == STRUCTURE_LABELS + PAIR_LABELS
    assert CompletePotentialSiteFeaturizer().feature_labels() == SITE_LABELS
    no_charges = CompletePotentialFeaturizer(oxidation_states="none").feature_labels()
    assert no_charges == STRUCTURE_LABELS[:16]
    only_london = CompletePotentialFeaturizer(potentials=("london",), pair_statistics=True)
    expected = [label for label in with_pairs if label.startswith("london")]
    assert only_london.feature_labels() == expected
    names = CompletePotentialFeaturizer().get_feature_names_out()
    assert list(names) == STRUCTURE_LABELS


def test_citations_and_implementors():
    featurizer = CompletePotentialFeaturizer()
    assert any("PotNet" in c or "Interatomic" in c for c in featurizer.citations())
    assert any("Ewald" in c for c in featurizer.citations())
    assert any("Crandall" in c for c in featurizer.citations())
    assert featurizer.implementors()


def test_rock_salt_exact_values():
    d = 2.8
    featurizer = CompletePotentialFeaturizer(tol=EXACT, pair_statistics=True)
    values = features(featurizer, rock_salt(d, charged=True))
    # The Madelung constant per ion pair: E per atom = -M k / (2 d).
    madelung = -NACL_MADELUNG * COULOMB_CONSTANT / (2 * d)
    assert values["Madelung energy per atom (eV/atom)"] == pytest.approx(madelung, rel=1e-11)
    assert values["Madelung site energy std (eV)"] == pytest.approx(0, abs=1e-9)
    # Unit weights: the ions form a simple cubic lattice of spacing d.
    assert values["coulomb site sum mean (1/A)"] == pytest.approx(SC_COULOMB / d, rel=1e-11)
    assert values["coulomb site sum std (1/A)"] == pytest.approx(0, abs=1e-11)
    # Zc_aa - Zc_ab = -M / d and Zc_aa + Zc_ab = S / d give every pair sum.
    self_image = (SC_COULOMB - NACL_MADELUNG) / (2 * d)
    cross = (SC_COULOMB + NACL_MADELUNG) / (2 * d)
    assert values["coulomb self-image sum (1/A)"] == pytest.approx(self_image, rel=1e-11)
    assert values["coulomb pair sum min (1/A)"] == pytest.approx(self_image, rel=1e-11)
    assert values["coulomb pair sum max (1/A)"] == pytest.approx(cross, rel=1e-11)
    z_na, z_cl = 11.0, 17.0
    z_energy = 0.5 * ((z_na**2 + z_cl**2) * self_image + 2 * z_na * z_cl * cross)
    assert values["coulomb Z-weighted energy per atom (eV/atom)"] == pytest.approx(
        COULOMB_CONSTANT * z_energy / 2, rel=1e-11
    )


def test_cesium_chloride_matches_madelung_constant_and_pymatgen():
    a = 4.1
    structure = cesium_chloride(a, charged=True)
    values = features(CompletePotentialFeaturizer(tol=EXACT), structure)
    d = a * math.sqrt(3) / 2
    expected = -CSCL_MADELUNG * COULOMB_CONSTANT / (2 * d)
    assert values["Madelung energy per atom (eV/atom)"] == pytest.approx(expected, rel=1e-11)
    ewald = EwaldSummation(structure, acc_factor=16).total_energy / len(structure)
    assert values["Madelung energy per atom (eV/atom)"] == pytest.approx(ewald, rel=1e-9)


@pytest.mark.parametrize("structure", [perovskite(), cesium_chloride(3.7, charged=True)])
def test_charge_weighted_energies_match_pymatgen_ewald(structure):
    values = features(CompletePotentialFeaturizer(tol=EXACT), structure)
    ewald = EwaldSummation(structure, acc_factor=16).total_energy / len(structure)
    assert values["Madelung energy per atom (eV/atom)"] == pytest.approx(ewald, rel=1e-9)
    nuclei = structure.copy()
    nuclei.add_oxidation_state_by_site([float(site.specie.Z) for site in structure])
    z_ewald = EwaldSummation(nuclei, acc_factor=16).total_energy / len(structure)
    z_energy = values["coulomb Z-weighted energy per atom (eV/atom)"]
    assert z_energy == pytest.approx(z_ewald, rel=1e-9)


def test_two_species_chain_exact_values():
    d = 2.5
    featurizer = CompletePotentialFeaturizer(tol=EXACT, pair_statistics=True, element_pairs=True)
    featurizer.fit([chain(d)])
    values = features(featurizer, chain(d))
    x = math.exp(-PAULI_ALPHA * d)
    # Images along the chain only (the next chain is 30 A away: exp(-90) is nothing).
    site = 2 * x / (1 - x)
    same = 2 * x**2 / (1 - x**2)  # a Li and its own images, 2d apart
    other = 2 * x / (1 - x**2)  # Li and the F images at odd multiples of d
    assert values["pauli site sum mean (1)"] == pytest.approx(site, rel=1e-12)
    assert values["pauli self-image sum (1)"] == pytest.approx(same, rel=1e-12)
    assert values["pauli pair sum max (1)"] == pytest.approx(other, rel=1e-12)
    assert values["pauli element-pair sum Li-Li (1 per atom)"] == pytest.approx(same / 2)
    assert values["pauli element-pair sum F-Li (1 per atom)"] == pytest.approx(other)
    # London: sum over n != 0 of (n d)^-6 = 2 zeta(6) / d^6 along the chain, plus the other
    # chains at rho = 30 |m| A, each a line of density 1/d: integral of (x^2 + rho^2)^-3 dx
    # = 3 pi / (8 rho^5) (corrections decay like exp(-2 pi rho / 2d), i.e. nothing here).
    m = np.arange(-300, 301)
    rho = 30.0 * np.hypot(*np.meshgrid(m, m))
    lateral = 3 * math.pi / (8 * d) * np.sum(rho[rho > 0] ** -5.0)
    london = 2 * math.pi**6 / 945 / d**6 + lateral
    assert values["london site sum mean (1/A^6)"] == pytest.approx(london, rel=1e-10)


def test_site_featurizer_exact_values_and_consistency():
    d = 2.8
    structure = rock_salt(d, charged=True)
    site = CompletePotentialSiteFeaturizer(tol=EXACT)
    values = dict(zip(site.feature_labels(), site.featurize(structure, 1), strict=True))
    assert values["coulomb site sum (1/A)"] == pytest.approx(SC_COULOMB / d, rel=1e-11)
    potential = NACL_MADELUNG * COULOMB_CONSTANT / d  # at the anion, volts
    assert values["Madelung site potential (V)"] == pytest.approx(potential, rel=1e-11)
    assert values["Madelung site energy (eV)"] == pytest.approx(-potential / 2, rel=1e-11)
    whole = features(CompletePotentialFeaturizer(tol=EXACT), perovskite())
    per_site = [site.featurize(perovskite(), i) for i in range(5)]
    energies = [row[SITE_LABELS.index("Madelung site energy (eV)")] for row in per_site]
    assert np.mean(energies) == pytest.approx(whole["Madelung energy per atom (eV/atom)"])
    sums = [row[SITE_LABELS.index("london site sum (1/A^6)")] for row in per_site]
    moved = perovskite()  # the cached sums follow in-place changes of the structure
    before = site.featurize(moved, 0)
    moved.translate_sites([2], [0.02, 0, 0])
    assert site.featurize(moved, 0) != before
    assert np.mean(sums) == pytest.approx(whole["london site sum mean (1/A^6)"])
    assert max(sums) == pytest.approx(whole["london site sum max (1/A^6)"])


def test_site_stats_fingerprint():
    fingerprint = SiteStatsFingerprint(
        CompletePotentialSiteFeaturizer(tol=EXACT), stats=("mean", "maximum")
    )
    values = dict(
        zip(fingerprint.feature_labels(), fingerprint.featurize(perovskite()), strict=True)
    )
    whole = features(CompletePotentialFeaturizer(tol=EXACT), perovskite())
    assert values["mean london site sum (1/A^6)"] == pytest.approx(
        whole["london site sum mean (1/A^6)"]
    )
    assert values["maximum pauli site sum (1)"] == pytest.approx(whole["pauli site sum max (1)"])


def test_invariances():
    featurizer = CompletePotentialFeaturizer(tol=1e-11, pair_statistics=True)
    structure = perovskite()
    reference = np.array(featurizer.featurize(structure))
    permuted = Structure.from_sites([structure[i] for i in (3, 1, 4, 0, 2)])
    np.testing.assert_allclose(featurizer.featurize(permuted), reference, rtol=1e-9, atol=1e-10)
    # Another basis of the same lattice (a unimodular, skewed transformation).
    skewed = structure.copy()
    skewed.make_supercell([[1, 2, 0], [0, 1, 0], [1, 1, 1]])
    np.testing.assert_allclose(featurizer.featurize(skewed), reference, rtol=1e-9, atol=1e-10)
    translated = structure.copy()
    translated.translate_sites(list(range(5)), [0.13, -0.27, 0.4])
    np.testing.assert_allclose(featurizer.featurize(translated), reference, rtol=1e-9, atol=1e-10)
    # Size consistency: every default feature of a 2x1x2 supercell is the same.
    supercell = structure * (2, 1, 2)
    big = dict(zip(featurizer.feature_labels(), featurizer.featurize(supercell), strict=True))
    small = dict(zip(featurizer.feature_labels(), reference, strict=True))
    assert big["pauli pair sum mean (1)"] < 0.9 * small["pauli pair sum mean (1)"]  # not these
    for label in STRUCTURE_LABELS:
        assert big[label] == pytest.approx(small[label], rel=1e-8, abs=1e-10), label


def test_element_pair_sums_are_intensive():
    featurizer = CompletePotentialFeaturizer(tol=1e-11, element_pairs=True)
    structure = perovskite()
    featurizer.fit([structure])
    pair_labels = [label for label in featurizer.feature_labels() if "element-pair" in label]
    assert len(pair_labels) == 3 * 6  # three potentials, six pairs of Sr, Ti, O
    small = features(featurizer, structure)
    big = features(featurizer, structure * (1, 2, 1))
    for label in pair_labels:
        assert big[label] == pytest.approx(small[label], rel=1e-8, abs=1e-12), label


def test_smooth_in_positions():
    featurizer = CompletePotentialFeaturizer(tol=1e-12, pair_statistics=True)
    structure = perovskite()
    moved = structure.copy()
    moved.translate_sites([2], [1e-6, 0, 0], frac_coords=False)
    before, after = np.array(featurizer.featurize(structure)), np.array(featurizer.featurize(moved))
    assert np.all(np.abs(after - before) <= 1e-4 * (np.abs(before) + 1e-3))


def test_fit_and_not_fitted():
    featurizer = CompletePotentialFeaturizer(element_pairs=True, max_element_pairs=2)
    with pytest.raises(NotFittedError):
        featurizer.featurize(rock_salt())
    with pytest.raises(NotFittedError):
        featurizer.feature_labels()
    assert featurizer.fit([rock_salt(), cesium_chloride()]) is featurizer
    # Cl is in both structures: its pairs come first; ties are broken by name.
    assert featurizer.element_pairs_ == [("Cl", "Cl"), ("Cl", "Cs")]
    assert len(featurizer.featurize(rock_salt())) == len(featurizer.feature_labels())
    assert not hasattr(clone(featurizer), "element_pairs_")
    frame = pd.DataFrame({"structure": [rock_salt(), bulk("Cu")]})
    fitted = CompletePotentialFeaturizer(element_pairs=True).fit_featurize_dataframe(
        frame, "structure", pbar=False
    )
    assert fitted.columns[-1] == "pauli element-pair sum Na-Na (1 per atom)"
    # Without element pairs nothing needs fitting.
    plain = CompletePotentialFeaturizer()
    assert plain.fit([rock_salt()]) is plain
    assert len(plain.featurize(rock_salt())) == len(STRUCTURE_LABELS)


def test_oxidation_state_modes():
    plain = rock_salt()
    present = features(CompletePotentialFeaturizer(), plain)
    assert math.isnan(present["Madelung energy per atom (eV/atom)"])
    assert present["Madelung oxidation states assigned (1 or 0)"] == 0.0
    guessed = features(CompletePotentialFeaturizer(oxidation_states="guess", tol=EXACT), plain)
    carried = features(CompletePotentialFeaturizer(tol=EXACT), rock_salt(charged=True))
    assert guessed["Madelung energy per atom (eV/atom)"] == pytest.approx(
        carried["Madelung energy per atom (eV/atom)"]
    )
    assert guessed["Madelung oxidation states assigned (1 or 0)"] == 1.0
    atoms = AseAtomsAdaptor.get_atoms(plain)
    atoms.set_initial_charges([1.0, -1.0])
    from_ase = features(CompletePotentialFeaturizer(tol=EXACT), atoms)
    assert from_ase["Madelung energy per atom (eV/atom)"] == pytest.approx(
        carried["Madelung energy per atom (eV/atom)"]
    )
    with pytest.raises(ValueError, match="oxidation_states"):
        CompletePotentialFeaturizer(oxidation_states="maybe").featurize(plain)


def test_batch_matches_one_by_one():
    structures = [
        perovskite(),
        rock_salt(),
        AseAtomsAdaptor.get_atoms(chain()),
        bulk("Cu"),
        cesium_chloride(),
        bulk("Si") * (2, 1, 1),
    ]
    featurizer = CompletePotentialFeaturizer(tol=1e-10, batch_size=4)
    batched = np.array(featurizer.featurize_many(structures, pbar=False), dtype=float)
    single = np.array([featurizer.featurize(s) for s in structures], dtype=float)
    np.testing.assert_allclose(batched, single, rtol=1e-12, atol=1e-13, equal_nan=True)
    site = CompletePotentialSiteFeaturizer(tol=1e-10)
    rows = [(s, i) for s in structures[:3] for i in range(len(s))]
    batched_sites = np.array(site.featurize_many(rows, pbar=False), dtype=float)
    single_sites = np.array([site.featurize(s, i) for s, i in rows], dtype=float)
    np.testing.assert_allclose(batched_sites, single_sites, rtol=1e-12, equal_nan=True)


def bad_rows_frame() -> pd.DataFrame:
    overlapping = Structure(Lattice.cubic(3), ["Na", "Cl"], [[0, 0, 0], [0, 0, 0]])
    with_nan = bulk("NaCl", "rocksalt", a=5.6)
    positions = with_nan.get_positions()
    positions[0, 0] = np.nan
    with_nan.set_positions(positions)
    disordered = Structure(Lattice.cubic(3), [{"Fe": 0.5, "Co": 0.5}], [[0, 0, 0]])
    rows = [
        rock_salt(),
        molecule("H2O"),
        bulk("Cu"),
        overlapping,
        with_nan,
        disordered,
        None,
        perovskite(),
    ]
    return pd.DataFrame({"structure": rows, "target": np.arange(len(rows), dtype=float)})


BAD = {1: "not periodic", 3: "same position", 4: "NaN", 5: "disordered", 6: "None"}


def test_dataframe_with_bad_rows_keeps_every_row():
    frame = bad_rows_frame()
    featurizer = CompletePotentialFeaturizer()
    out = featurizer.featurize_dataframe(
        frame, "structure", ignore_errors=True, return_errors=True, pbar=False
    )
    assert len(out) == len(frame)
    errors = out["CompletePotentialFeaturizer Exceptions"]
    values = out[STRUCTURE_LABELS].to_numpy(dtype=float)
    for row in range(len(frame)):
        if row in BAD:
            assert np.isnan(values[row]).all()
            assert "StructureError" in errors[row] and BAD[row] in errors[row]
            assert f"structure {row}" in errors[row]
        else:
            assert not isinstance(errors[row], str)
            expected = featurizer.featurize(frame["structure"][row])
            np.testing.assert_allclose(values[row], expected, atol=1e-12, equal_nan=True)
    without_errors = featurizer.featurize_dataframe(
        frame, "structure", ignore_errors=True, pbar=False
    )
    assert list(without_errors.columns) == ["structure", "target", *STRUCTURE_LABELS]
    with pytest.raises(StructureError, match="TO SKIP THESE ERRORS"):
        featurizer.featurize_dataframe(frame, "structure", pbar=False)
    with pytest.raises(ValueError, match="ignore_errors"):
        featurizer.featurize_many(frame["structure"], return_errors=True)


def test_a_row_failing_in_pooling_loses_no_other_row(monkeypatch):
    # A batch whose pooling fails (here: charges of the wrong length for one structure) is
    # retried structure by structure, so only that row gets an error.
    structures = [rock_salt(), cesium_chloride(), rock_salt().copy(), perovskite()]
    featurizer = CompletePotentialFeaturizer(oxidation_states="guess")
    expected = featurizer.featurize_many(structures, pbar=False)
    charges = CompletePotentialFeaturizer._charges

    def wrong_for_one(self, crystal):
        return np.ones(7) if crystal.index == 2 else charges(self, crystal)

    monkeypatch.setattr(CompletePotentialFeaturizer, "_charges", wrong_for_one)
    rows = featurizer.featurize_many(structures, ignore_errors=True, return_errors=True)
    assert isinstance(rows[2][-1], str) and "ValueError" in rows[2][-1]
    assert np.isnan(np.array(rows[2][:-1], dtype=float)).all()
    for k in (0, 1, 3):
        assert not isinstance(rows[k][-1], str)
        # alone or batched, a std of equal site values is rounding noise (~1e-16)
        np.testing.assert_allclose(rows[k][:-1], expected[k], rtol=1e-12, atol=1e-14)


def test_precheck():
    frame = bad_rows_frame()
    fraction = CompletePotentialFeaturizer().precheck_dataframe(frame, "structure")
    assert fraction == pytest.approx(3 / 8)
    assert CompletePotentialSiteFeaturizer().precheck(rock_salt(), 0)


def test_site_featurizer_bad_rows():
    frame = bad_rows_frame()
    rows = pd.DataFrame({"structure": frame["structure"], "site": 0})
    out = CompletePotentialSiteFeaturizer().featurize_dataframe(
        rows, ["structure", "site"], ignore_errors=True, return_errors=True, pbar=False
    )
    bad = out["CompletePotentialSiteFeaturizer Exceptions"].map(lambda e: isinstance(e, str))
    assert sorted(np.flatnonzero(bad.to_numpy())) == sorted(BAD)


def test_multiple_featurizer_keeps_batching():
    frame = bad_rows_frame()
    multiple = MultipleFeaturizer(
        [CompletePotentialFeaturizer(), DensityFeatures()], iterate_over_entries=False
    )
    multiple.set_n_jobs(1)
    out = multiple.featurize_dataframe(
        frame, "structure", ignore_errors=True, return_errors=True, pbar=False
    )
    assert len(out) == len(frame)
    assert np.isnan(out.loc[1, STRUCTURE_LABELS].to_numpy(dtype=float)).all()
    assert np.isfinite(out.loc[0, STRUCTURE_LABELS[:16]].to_numpy(dtype=float)).all()


def test_clone_set_params_and_pipeline():
    featurizer = CompletePotentialFeaturizer(tol=1e-8, potentials=("coulomb", "pauli"))
    copy = clone(featurizer)
    assert copy.get_params() == featurizer.get_params()
    copy.set_params(convention="potnet", n_jobs=1, device="cpu")
    assert copy.convention == "potnet" and copy.device == "cpu"
    structures = [rock_salt(d) for d in (2.6, 2.8, 3.0)] + [cesium_chloride(a) for a in (3.9, 4.2)]
    y = np.arange(len(structures), dtype=float)
    pipeline = make_pipeline(
        CompletePotentialFeaturizer(), SimpleImputer(keep_empty_features=True), Ridge(alpha=1e-3)
    )
    pipeline.fit(structures, y)
    assert pipeline.predict(structures).shape == (len(structures),)
    assert clone(pipeline).get_params()["completepotentialfeaturizer__tol"] == 1e-4
    table = (
        CompletePotentialFeaturizer()
        .set_output(transform="pandas")
        .transform(pd.Series(structures))
    )
    assert list(table.columns) == STRUCTURE_LABELS and len(table) == len(structures)


def test_n_jobs_other_than_one_is_refused():
    featurizer = CompletePotentialFeaturizer()
    featurizer.set_n_jobs(4)
    with pytest.raises(ValueError, match="n_jobs=1"):
        featurizer.featurize(rock_salt())
    assert CompletePotentialFeaturizer().n_jobs == 1


def test_potnet_convention_changes_only_pauli():
    options = dict(tol=1e-10, pair_statistics=True)
    physical = features(CompletePotentialFeaturizer(**options), perovskite())
    potnet = features(CompletePotentialFeaturizer(convention="potnet", **options), perovskite())
    for label, value in physical.items():
        if label.startswith("pauli"):
            continue
        # equal up to the tolerance (the Pauli cutoff changes the Ewald splitting chosen)
        assert potnet[label] == pytest.approx(value, rel=1e-9, abs=1e-9), label
    # PotNet's sum includes the zero-distance term exp(0) = 1 on the diagonal.
    assert potnet["pauli self-image sum (1)"] > 1.0


def test_guessed_oxidation_states_follow_matminers_conversion():
    """Guesses on the reduced formula, as StructureToOxidStructure assigns them: for cobaltite
    CoAsS (two formula units) Co3+ As- S2-, where a whole-cell guess gives As0 Co2+."""
    from matminer.featurizers.conversions import StructureToOxidStructure

    structure = Structure(
        Lattice.cubic(5.6),
        ["Co", "Co", "As", "As", "S", "S"],
        [[0, 0, 0], [0.5, 0.5, 0], [0.38, 0.38, 0.38], [0.88, 0.88, 0.38], [0.62, 0.12, 0.62],
         [0.12, 0.62, 0.62]],
    )  # fmt: skip
    matminer = StructureToOxidStructure().featurize(structure.copy())[0]
    expected = [site.specie.oxi_state for site in matminer]
    np.testing.assert_array_equal(formal_charges(to_crystal(structure), "guess"), expected)
    np.testing.assert_array_equal(expected, [3, 3, -1, -1, -2, -2])
