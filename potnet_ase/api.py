"""The public numpy-level API of the lattice-sum engine (DESIGN.md section 4)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from potnet_ase.device import resolve_device
from potnet_ase.structures import Crystal, to_crystal
from potnet_ase.sums import (
    DEFAULT_POTENTIALS,
    PairSums,
    PotentialParameters,
    lattice_pair_sums,
)

logger = logging.getLogger(__name__)

# Pairs (sum of N^2) handed to the engine per call: large enough to amortise per-call work,
# small enough that a batch's outputs stay far below memory limits.
PAIRS_PER_CALL = 1 << 18


def crystal_batches(crystals: Sequence[Crystal], pairs_per_call: int) -> list[list[int]]:
    """Group crystal indices into consecutive runs of at most `pairs_per_call` pairs."""
    batches: list[list[int]] = [[]]
    total = 0
    for i, crystal in enumerate(crystals):
        pairs = crystal.n_atoms**2
        if batches[-1] and total + pairs > pairs_per_call:
            batches.append([])
            total = 0
        batches[-1].append(i)
        total += pairs
    return batches


def sums_of_crystals(
    crystals: Sequence[Crystal],
    potentials: Sequence[str] = DEFAULT_POTENTIALS,
    *,
    parameters: PotentialParameters,
    tol: float,
    device: torch.device,
    progress: bool = False,
) -> list[dict[str, np.ndarray]]:
    """N x N matrices for validated crystals, computed in batches on `device`."""
    results: list[dict[str, np.ndarray]] = []
    batches = crystal_batches(crystals, PAIRS_PER_CALL)
    for members in tqdm(batches, desc="lattice sums", unit="batch", disable=not progress):
        chosen = [crystals[i] for i in members]
        sums = pair_sums_of_crystals(
            chosen, potentials, parameters=parameters, tol=tol, device=device
        )
        results.extend(sums.matrices())
    return results


def pair_sums_of_crystals(
    crystals: Sequence[Crystal],
    potentials: Sequence[str] = DEFAULT_POTENTIALS,
    *,
    parameters: PotentialParameters,
    tol: float,
    device: torch.device,
) -> PairSums:
    """The flat pair sums of validated crystals in one engine call on `device`, without
    gradients (pair ``a * N + b`` of crystal c at ``pair_ptr[c] + a * N + b``; global atom
    indices count through the crystals in order)."""
    positions = torch.as_tensor(
        np.concatenate([c.positions for c in crystals]), dtype=torch.float64, device=device
    )
    cells = torch.as_tensor(
        np.stack([c.cell for c in crystals]), dtype=torch.float64, device=device
    )
    with torch.no_grad():
        return lattice_pair_sums(
            positions,
            cells,
            [c.n_atoms for c in crystals],
            tuple(potentials),
            parameters=parameters,
            tol=tol,
        )


def complete_potentials(
    structure: Any,
    potentials: Sequence[str] = DEFAULT_POTENTIALS,
    *,
    convention: str = "physical",
    pauli_alpha: float = 3.0,
    tol: float = 1e-10,
    device: str | torch.device | None = None,
    **potential_parameters: float,
) -> dict[str, np.ndarray]:
    """Complete interatomic potentials of one crystal: for every ordered pair of atoms (a, b)
    of the unit cell, a == b included, the sum over all periodic images.

    Args:
        structure: ``ase.Atoms`` (periodic in 3D) or an ordered pymatgen ``Structure``.
        potentials: any of ``coulomb`` (1/A), ``london`` (1/A^6), ``pauli`` (dimensionless),
            ``lennard_jones``, ``morse``, ``screened_coulomb`` (see ``potnet_ase.sums``).
        convention: ``"physical"`` or ``"potnet"`` (Pauli decay alpha V^(-1/6), origin term
            included, as in PotNet's published code).
        pauli_alpha: Pauli decay constant, 1/Angstrom.
        tol: absolute error allowed per matrix entry (scaled by max(1, max |entry|)).
        device: ``None``/``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...
        **potential_parameters: ``lj_sigma``, ``morse_alpha``, ``morse_r0``, ``screening_kappa``.

    Returns:
        Potential name -> (N, N) symmetric float64 array.

    Raises:
        StructureError: for input DESIGN.md section 5 rejects (the message names the fix).
    """
    return complete_potentials_batch(
        [structure],
        potentials,
        convention=convention,
        pauli_alpha=pauli_alpha,
        tol=tol,
        device=device,
        **potential_parameters,
    )[0]


def complete_potentials_batch(
    structures: Sequence[Any],
    potentials: Sequence[str] = DEFAULT_POTENTIALS,
    *,
    convention: str = "physical",
    pauli_alpha: float = 3.0,
    tol: float = 1e-10,
    device: str | torch.device | None = None,
    progress: bool = False,
    **potential_parameters: float,
) -> list[dict[str, np.ndarray]]:
    """:func:`complete_potentials` for many structures, batched on one device.

    All structures are validated first; the first bad one raises a ``StructureError`` naming
    its index. (Featurizers that must keep going past bad rows validate one by one.)
    """
    crystals = [to_crystal(s, index=k) for k, s in enumerate(structures)]
    if not crystals:
        return []
    parameters = PotentialParameters(
        convention=convention, pauli_alpha=pauli_alpha, **potential_parameters
    )
    target = resolve_device(device)
    logger.debug("lattice sums of %d crystals on %s", len(crystals), target)
    return sums_of_crystals(
        crystals, potentials, parameters=parameters, tol=tol, device=target, progress=progress
    )
