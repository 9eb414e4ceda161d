"""The same code path on a GPU: CUDA results equal CPU results (skipped without CUDA)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import potnet_ase
from potnet_ase.sums import lattice_pair_sums
from tests.crystals import random_crystal

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_cuda_matches_cpu(rng):
    crystals = [random_crystal(rng, n, np.diag([4.0, 4.4, 5.1])) for n in (1, 4, 9)]
    cpu = potnet_ase.complete_potentials_batch(crystals, device="cpu")
    gpu = potnet_ase.complete_potentials_batch(crystals, device="cuda")
    for a, b in zip(cpu, gpu, strict=True):
        for name in a:
            assert np.abs(a[name] - b[name]).max() < 1e-11


def test_cuda_gradients():
    atoms = random_crystal(np.random.default_rng(1), 5, np.diag([4.0, 4.2, 4.4]))
    positions = torch.tensor(atoms.positions, device="cuda", requires_grad=True)
    cell = torch.tensor(atoms.cell.array[None], device="cuda")
    lattice_pair_sums(positions, cell, [5]).values["coulomb"].sum().backward()
    reference = torch.tensor(atoms.positions, requires_grad=True)
    lattice_pair_sums(reference, cell.cpu(), [5]).values["coulomb"].sum().backward()
    torch.testing.assert_close(positions.grad.cpu(), reference.grad, rtol=0, atol=1e-9)


def test_cuda_features_match_cpu(rng):
    from featurizers import CompletePotentialFeaturizer

    crystals = [random_crystal(rng, n, np.diag([4.0, 4.4, 5.1])) for n in (1, 4, 9)]
    options = dict(oxidation_states="none", pair_statistics=True)
    on_cpu = CompletePotentialFeaturizer(device="cpu", **options).featurize_many(crystals)
    on_gpu = CompletePotentialFeaturizer(device="cuda", **options).featurize_many(crystals)
    np.testing.assert_allclose(on_gpu, on_cpu, rtol=1e-9, atol=1e-12)
