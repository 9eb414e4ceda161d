"""PotNet network: shapes, invariances, atom encoding and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk

from potnet_ase.data.graphs import GraphSettings, build_graphs
from potnet_ase.data.pyg import Batch
from potnet_ase.errors import StructureError, UnsupportedElementError
from potnet_ase.models.atom_features import FEATURE_SIZE, atom_feature_table
from potnet_ase.models.potnet import PUBLISHED_MIX, GaussianRBF, MultiquadricRBF
from potnet_ase.models.predictor import PropertyModel
from potnet_ase.models.registry import build_module
from potnet_ase.structures import to_crystal
from potnet_ase.training.config import DEFAULT_GRAPHS


def make_model(variant: str, n_targets: int = 1, seed: int = 0) -> PropertyModel:
    graph = {**DEFAULT_GRAPHS[variant], "tol": 1e-6}
    model_config = {"variant": variant, "hidden": 16, "n_targets": n_targets, "graph": graph}
    torch.manual_seed(seed)
    module = build_module(model_config)
    # Non-trivial BatchNorm statistics so eval mode is not the identity.
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    config = {"name": f"test-{variant}", "target": [f"t{k}" for k in range(n_targets)],
              "model": {"architecture": "potnet", **model_config}}  # fmt: skip
    return PropertyModel(module, config, device="cpu")


def rattled(atoms: Atoms, seed: int = 0, amount: float = 0.05) -> Atoms:
    atoms = atoms.copy()
    atoms.rattle(amount, seed=seed)
    return atoms


STRUCTURES = [
    rattled(bulk("NaCl", "rocksalt", a=5.64)),
    rattled(bulk("MgO", "rocksalt", a=4.21) * (1, 1, 2), seed=1),
    rattled(bulk("Si", "diamond", a=5.43, cubic=True), seed=2),
]


def test_atom_table():
    table = atom_feature_table()
    assert table.shape == (101, FEATURE_SIZE) and FEATURE_SIZE == 92
    assert set(np.unique(table[1:])) <= {0.0, 1.0}
    assert np.all(table[1:].sum(axis=1) >= 7)  # at least group/period/valence/block set
    assert not np.array_equal(table[11], table[17])  # Na != Cl


@pytest.mark.parametrize("variant", ["latent_ewald", "published", "euclidean"])
def test_shapes(variant):
    model = make_model(variant, n_targets=2)
    assert model.predict(STRUCTURES).shape == (3, 2)
    assert model.embed(STRUCTURES, batch_size=2).shape == (3, 16)
    assert make_model(variant).predict(STRUCTURES).shape == (3,)


@pytest.mark.parametrize("variant", ["latent_ewald", "published", "euclidean"])
def test_permutation_translation_and_batching(variant):
    model = make_model(variant)
    reference = model.predict(STRUCTURES, batch_size=64)
    moved = []
    for k, atoms in enumerate(STRUCTURES):
        atoms = atoms[np.random.default_rng(k).permutation(len(atoms))]
        atoms.translate([0.3, -1.1, 2.0])
        moved.append(atoms)
    assert np.allclose(model.predict(moved, batch_size=1), reference, atol=1e-5)


@pytest.mark.parametrize("variant", ["latent_ewald", "euclidean"])
def test_supercell_invariance_of_default_model(variant):
    model = make_model(variant)
    primitive = [STRUCTURES[0], STRUCTURES[1]]
    supercells = [STRUCTURES[0] * (2, 2, 2), STRUCTURES[1] * (2, 1, 1)]
    assert np.allclose(model.predict(supercells), model.predict(primitive), atol=1e-5)
    assert np.allclose(model.embed(supercells), model.embed(primitive), atol=1e-5)


def test_published_model_depends_on_the_cell():
    model = make_model("published")
    primitive = model.predict([STRUCTURES[0]])
    supercell = model.predict([STRUCTURES[0] * (2, 2, 2)])
    assert abs(supercell[0] - primitive[0]) > 1e-3


def test_bad_inputs():
    model = make_model("latent_ewald")
    molecule = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]])
    with pytest.raises(StructureError, match="not periodic"):
        model.predict([molecule])
    with pytest.raises(StructureError, match="structure 1"):
        model.predict([STRUCTURES[0], "not a structure"])
    exotic = bulk("Cu")
    exotic.numbers = [109]  # meitnerium: no atom features
    with pytest.raises(UnsupportedElementError, match="Mt"):
        model.predict([exotic])
    with pytest.raises(ValueError, match="no structures"):
        model.predict([])
    with pytest.raises(ValueError, match="variant"):
        build_module({"variant": "nonsense"})


@pytest.mark.parametrize(("convention", "gaussian", "multiquadric"),
                         [("alignn", np.exp(-8 / 63), np.sqrt(1 + 8 / 63)),
                          ("potnet", np.exp(-1.0), np.sqrt(2.0))])  # fmt: skip
def test_rbf_conventions(convention, gaussian, multiquadric):
    # 64 centres on [-4, 4]: spacing s = 8 / 63; one spacing away from a centre the basis is
    # exp(-s) (alignn: gamma = 1 / s) or exp(-1) (potnet: ((x - c) / s)^2).
    x = torch.tensor([8 / 63 - 4.0], dtype=torch.float64)
    g = GaussianRBF(-4.0, 4.0, 64, convention)(x)
    m = MultiquadricRBF(-4.0, 4.0, 64, convention)(x)
    assert g[0, :2].tolist() == pytest.approx([gaussian, 1.0], rel=1e-6)
    assert m[0, :2].tolist() == pytest.approx([multiquadric, 1.0], rel=1e-6)
    with pytest.raises(ValueError, match="RBF convention"):
        GaussianRBF(-4.0, 4.0, 64, "gauss")


def test_standardised_published_input():
    graph = {**DEFAULT_GRAPHS["published"], "tol": 1e-6}
    config = {"variant": "published", "hidden": 16, "graph": graph}
    torch.manual_seed(0)
    plain = build_module(config)
    scaled = build_module({**config, "infinite_scaling": "standardised"})
    scaled.load_state_dict({**plain.state_dict(), **{k: v for k, v in scaled.state_dict().items()
                                                     if k.startswith("mix_")}})  # fmt: skip
    graphs = build_graphs([to_crystal(a) for a in STRUCTURES], GraphSettings.from_dict(graph))
    batch = Batch.from_data_list(graphs)
    plain.eval(), scaled.eval()
    # Mean 0 and standard deviation 1 (before fitting): the published network unchanged.
    assert torch.allclose(scaled(batch), plain(batch))
    values = torch.cat([g.inf_values for g in graphs])
    scaled.fit_input_statistics(values)
    mixed = values.double().numpy() @ np.array([PUBLISHED_MIX[p] for p in graph["potentials"]])
    assert scaled.mix_mean.item() == pytest.approx(mixed.mean(), rel=1e-5)
    assert scaled.mix_std.item() == pytest.approx(mixed.std(ddof=1), rel=1e-5)
    assert not torch.allclose(scaled(batch), plain(batch))
    plain.fit_input_statistics(values)  # a no-op without infinite_scaling="standardised"
    assert "mix_mean" not in plain.state_dict()
    with pytest.raises(ValueError, match="infinite_scaling"):
        build_module({**config, "infinite_scaling": "minmax"})
