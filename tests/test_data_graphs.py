"""Graph building: local edges, infinite edges equal to the engine's sums, disk cache,
splits and dedupe."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from ase.build import bulk

from potnet_ase.api import complete_potentials
from potnet_ase.data.graphs import GraphSettings, build_graphs, local_edges, structure_hash
from potnet_ase.data.splits import dedupe, split_indices
from potnet_ase.structures import to_crystal


def test_local_edges_nacl():
    crystal = to_crystal(bulk("NaCl", "rocksalt", a=5.64))
    edges, distance = local_edges(crystal, cutoff=3.0, max_neighbors=16)
    assert edges.shape == (2, 12)  # 6 nearest neighbours of each atom at a/2
    assert np.allclose(distance, 2.82)
    assert set(edges[1]) == {0, 1} and np.all(edges[0] != edges[1])
    edges, distance = local_edges(crystal, cutoff=4.0, max_neighbors=16)
    assert edges.shape == (2, 32)  # 6 + 12 within 4 A, truncated to the 16 nearest
    assert np.sum(np.isclose(distance, 2.82)) == 12


def test_infinite_edges_match_engine():
    atoms = bulk("NaCl", "rocksalt", a=5.64) * (1, 1, 2)
    settings = GraphSettings(convention="physical", pauli_alpha=2.0, tol=1e-8)
    (graph,) = build_graphs([to_crystal(atoms)], settings)
    n = len(atoms)
    assert graph.inf_edge_index.shape == (2, n * n) and graph.inf_values.shape == (n * n, 3)
    reference = complete_potentials(atoms, convention="physical", pauli_alpha=2.0, tol=1e-10)
    source, target = graph.inf_edge_index
    for p, name in enumerate(settings.potentials):
        expected = reference[name][target.numpy(), source.numpy()]
        assert np.allclose(graph.inf_values[:, p].numpy(), expected, rtol=1e-6, atol=1e-6)


def test_euclidean_graph_has_no_infinite_edges():
    (graph,) = build_graphs([to_crystal(bulk("Cu"))], GraphSettings(potentials=()))
    assert "inf_values" not in graph


def test_cache_round_trip(tmp_path):
    crystals = [to_crystal(bulk("Si")), to_crystal(bulk("NaCl", "rocksalt", a=5.64))]
    settings = GraphSettings(tol=1e-6)
    first = build_graphs(crystals, settings, cache_dir=tmp_path)
    files = sorted((tmp_path / settings.key()).glob("*.pt"))
    assert [f.stem for f in files] == sorted(structure_hash(c) for c in crystals)
    again = build_graphs(crystals, settings, cache_dir=tmp_path)
    for a, b in zip(first, again, strict=True):
        assert a.num_nodes == b.num_nodes
        for key in ("edge_index", "edge_distance", "inf_edge_index", "inf_values", "numbers"):
            assert torch.equal(a[key], b[key])
    files[0].write_bytes(b"damaged")
    rebuilt = build_graphs(crystals, settings, cache_dir=tmp_path)  # damaged entry: rebuilt
    assert all(torch.equal(a.inf_values, b.inf_values) for a, b in zip(first, rebuilt, strict=True))
    assert GraphSettings(tol=1e-6).key() != GraphSettings(tol=1e-7).key()


def test_splits_partition_and_seed():
    split = split_indices(101, seed=3)
    together = np.concatenate(list(split.values()))
    assert sorted(together.tolist()) == list(range(101))
    assert (len(split["train"]), len(split["val"]), len(split["test"])) == (81, 10, 10)
    assert all(np.array_equal(split[k], split_indices(101, seed=3)[k]) for k in split)
    assert not np.array_equal(split["test"], split_indices(101, seed=4)["test"])
    groups = ["a"] * 50 + ["b"] * 50
    stratified = split_indices(100, seed=0, groups=groups)
    assert np.sum(stratified["test"] < 50) == 5


def test_dedupe_keeps_first():
    table = pd.DataFrame({"id": ["x", "y", "x"], "v": [1, 2, 3]})
    assert dedupe(table)["v"].tolist() == [1, 2]
