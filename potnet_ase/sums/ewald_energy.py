"""Charge-weighted Coulomb (Ewald) energy of a batch of crystals, without pair matrices.

For charges q (e) on the atoms of a crystal this is the quadratic form of the complete Coulomb
lattice sum Zc of :func:`potnet_ase.sums.lattice_pair_sums` (docs/sums.md)::

    E = 1/2 sum_{a,b} q_a q_b Zc_ab           e^2/Angstrom (times 14.399645 for eV)

evaluated in O(N^1.5) time instead of through the N^2 pair sums, by the same Ewald splitting
with parameter eta (1/Angstrom)::

    E = sum_{(a,b,L) in half list, 0 < d <= R} q_a q_b erfc(eta d) / d              real space
      + sum_{G in half space, 0 < |G| <= K} (4 pi / V) exp(-G^2 / (4 eta^2)) / G^2 |S(G)|^2
      - eta / sqrt(pi) sum_a q_a^2                                                 self term
      - pi / (2 V eta^2) (sum_a q_a)^2                                             background

with d = |x_b - x_a + L| and the structure factor ``S(G) = sum_a q_a exp(i G . x_a)``. Each
term is the charge-weighted sum of the corresponding term of Zc, taken from the same kernel
(:class:`potnet_ase.sums.kernels.InversePower` with p = 1/2): ``real`` for the real space,
``reciprocal_weight`` for the reciprocal space (cos being even, half of the G vectors count
twice and ``1/2 sum_ab q_a q_b cos(G.(x_a - x_b)) = 1/2 |S(G)|^2``), ``origin`` on the diagonal
(the a == b entry of Zc is ``lim_{r->0} [Zc(r) - 1/r]``, which drops the image of an atom onto
itself and adds ``-2 eta / sqrt(pi)``), and ``constant`` for the neutralising background.

Conventions:

* **Neutral crystals** (``sum q = 0``): the background term vanishes and E is the Ewald energy
  (pymatgen's ``EwaldSummation.total_energy`` divided by 14.399645).
* **Charged crystals**: E is still exactly ``1/2 q^T Zc q``, i.e. the energy of the charges in
  a uniform neutralising background (pymatgen's charged-cell correction); it does not depend on
  eta but, like every background-corrected energy of a charged cell, it is not extensive.

Accuracy: ``tol`` means what it means for :func:`lattice_pair_sums`, an error of at most tol
(1/Angstrom) per entry of Zc, hence ``|E - E_exact| <= 1/2 tol (sum_a |q_a|)^2``. The real and
reciprocal tails of the energy are bounded by the kernel's per-entry bounds applied to that
worst case (``|S(G)| <= sum |q|``; real-space images with charge density ``sum |q| / V``), with
the engine's safety factor ``ERROR_SAFETY``; the real-space cutoff is never below the mean
interatomic distance ``(V / N)^(1/3)``, where the continuum estimate of the tail holds.

Cost: with N atoms in volume V, the real space holds ~ (N^2 / V) R^3 pairs and the reciprocal
space ~ V K^3 vectors, each costing N. With R ~ x / eta and K ~ 2 eta y (x, y given by the
tolerance), the total is smallest for ``eta ~ sqrt(pi) (N / V^2)^(1/6)`` (Perram, Petersen and
de Leeuw 1988), scaled by ``ETA_SCALE`` measured on this implementation, and grows as N^1.5.

Memory: the real space is a neighbour list (pymatgen's C cell list) processed in chunks of at
most ``max_terms`` pairs, each checkpointed (recomputed in the backward pass) when gradients are
recorded and there is more than one; the reciprocal space runs in chunks of at most
``max_terms`` atom x G phases through a hand-written backward that recomputes them
(:class:`_StructureFactorEnergy`). Memory stays O(N + K + max_terms) plus the integer neighbour
list, and double backward (training on forces) is exact through both.

Batches: parameters and G vectors are chosen for all crystals at once, the two sums run crystal
by crystal (a few dozen torch operations each), which suits the force field's batches of a few
crystals; many tiny crystals per call pay that per-crystal overhead.

Autograd flows to positions, cells and charges; integer choices (neighbour lists, G indices)
and eta are made without gradients, which is exact up to the truncation error because E does
not depend on eta.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.autograd.function import FunctionCtx
from torch.utils.checkpoint import checkpoint

from potnet_ase.errors import ResourceLimitError
from potnet_ase.sums.kernels import InversePower
from potnet_ase.sums.lattice import (
    half_space,
    periodic_neighbours,
    points_within,
    reciprocal,
    reduce_bases,
)
from potnet_ase.sums.parameters import ERROR_SAFETY, SumParameters
from potnet_ase.sums.potentials import PotentialParameters, decompose

# eta = ETA_SCALE sqrt(pi) (N / V^2)^(1/6). The scale balances the measured cost of a real-space
# pair against that of an atom x G phase here: energy + gradients of 512- and 4,096-atom Si
# cells at tol 1e-6 were fastest near 1.4 (within 10 % from 1.2 to 1.6; 2-3x slower at 0.7
# or 2.0), one CPU thread.
ETA_SCALE = 1.4
# Real-space pairs or atom x G phases held at once (each ~ 10 float64 temporaries).
DEFAULT_MAX_TERMS = 1 << 20
# Refuse crystals whose real-space pairs (a<b half list; the full host list holds twice as many
# at ~48 bytes each, ~6 GB at this limit) or G vectors would exceed this.
MAX_TERMS_PER_CRYSTAL = 1 << 26


def _coulomb_kernel() -> InversePower:
    """The kernel of the ``coulomb`` lattice sum (the one the pair engine uses)."""
    ((coefficient, kernel),) = decompose("coulomb", PotentialParameters())
    assert coefficient == 1.0 and isinstance(kernel, InversePower)
    return kernel


COULOMB = _coulomb_kernel()


def ewald_parameters(
    volumes: np.ndarray,
    n_atoms: np.ndarray,
    tol: float,
    eta: float | Sequence[float] | np.ndarray | None = None,
) -> SumParameters:
    """eta and the two cutoffs of the charge-weighted Ewald energy, per crystal.

    Args:
        volumes: (B,) cell volumes, Angstrom^3.
        n_atoms: (B,) atoms per crystal.
        tol: per-entry tolerance of Zc, 1/Angstrom (see the module docstring).
        eta: splitting parameter(s), 1/Angstrom; default: the cost-balancing choice.

    Returns:
        :class:`SumParameters` with arrays of shape (B,).
    """
    volumes = np.asarray(volumes, dtype=np.float64)
    counts = np.asarray(n_atoms, dtype=np.float64)
    if eta is None:
        eta = ETA_SCALE * math.sqrt(math.pi) * (counts / volumes**2) ** (1.0 / 6.0)
    eta = np.broadcast_to(np.asarray(eta, dtype=np.float64), volumes.shape).copy()
    if not np.all(eta > 0):
        raise ValueError(f"eta must be positive; got {eta}")
    budget = ERROR_SAFETY * tol
    real_cutoff = np.maximum(COULOMB.real_cutoff(eta, volumes, budget), np.cbrt(volumes / counts))
    reciprocal_cutoff = COULOMB.reciprocal_cutoff(eta, volumes, budget)
    pairs = 0.5 * counts**2 / volumes * (4 * math.pi / 3) * real_cutoff**3
    vectors = volumes * reciprocal_cutoff**3 / (12 * math.pi**2)
    if not (np.all(np.isfinite(real_cutoff)) and np.all(np.isfinite(reciprocal_cutoff))):
        raise ResourceLimitError(f"no finite Ewald cutoff meets tol={tol:g}; loosen tol")
    if pairs.max() > MAX_TERMS_PER_CRYSTAL or vectors.max() > MAX_TERMS_PER_CRYSTAL:
        raise ResourceLimitError(
            f"the Ewald energy at tol={tol:g} needs about {pairs.max():.3g} real-space pairs "
            f"and {vectors.max():.3g} reciprocal vectors for one crystal, above the limit of "
            f"{MAX_TERMS_PER_CRYSTAL:.3g} (memory of the neighbour list); check the eta passed, "
            "or loosen tol."
        )
    return SumParameters(eta=eta, real_cutoff=real_cutoff, reciprocal_cutoff=reciprocal_cutoff)


def _maybe_checkpointed(
    function: Callable[..., torch.Tensor], args: tuple[torch.Tensor, ...], save_memory: bool
) -> torch.Tensor:
    """function(*args), recomputed in the backward pass instead of stored when save_memory."""
    if save_memory:
        return checkpoint(function, *args, use_reentrant=False)
    return function(*args)


def _real_space_chunk(
    positions: torch.Tensor,
    cell: torch.Tensor,
    charges: torch.Tensor,
    first: torch.Tensor,
    second: torch.Tensor,
    shift: torch.Tensor,
    eta: torch.Tensor,
    volume: torch.Tensor,
) -> torch.Tensor:
    """sum over the given half-list pairs of q_a q_b erfc(eta d) / d."""
    distance = (positions[second] - positions[first] + shift @ cell).norm(dim=-1)
    return (charges[first] * charges[second] * COULOMB.real(distance, eta, volume)).sum()


def _reciprocal_chunk(
    positions: torch.Tensor, charges: torch.Tensor, g: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    """sum_k weight_k |S(G_k)|^2 with S(G) = sum_a q_a exp(i G . x_a)."""
    phase = positions @ g.T  # (N, k)
    cosine = charges @ torch.cos(phase)
    sine = charges @ torch.sin(phase)
    return (weight * (cosine * cosine + sine * sine)).sum()


def _chunked_reciprocal(
    positions: torch.Tensor,
    charges: torch.Tensor,
    g: torch.Tensor,
    weight: torch.Tensor,
    width: int,
) -> torch.Tensor:
    total = positions.new_zeros(())
    for lo in range(0, len(g), width):
        total = total + _reciprocal_chunk(
            positions, charges, g[lo : lo + width], weight[lo : lo + width]
        )
    return total


class _StructureFactorEnergy(torch.autograd.Function):
    """``sum_k w_k |S(G_k)|^2`` over chunks of `width` G vectors, with a hand-written backward.

    Nothing of size N x K is stored: the backward recomputes the phases chunk by chunk, so cos
    and sin are evaluated twice in all (autograd through the plain expression evaluates each
    twice and keeps them alive; checkpointed, three times). With C_k, S_k the real and
    imaginary parts of S(G_k) and A_ak = 2 w_k q_a (S_k cos(G_k.x_a) - C_k sin(G_k.x_a)), which
    is dE/d(G_k.x_a)::

        dE/dx_a = sum_k A_ak G_k     dE/dG_k = sum_a A_ak x_a     dE/dw_k = C_k^2 + S_k^2
        dE/dq_a = sum_k 2 w_k (C_k cos(G_k.x_a) + S_k sin(G_k.x_a))

    When the backward itself is differentiated (``create_graph``, training on forces), it
    recomputes the plain expression with autograd instead, so double backward is exact.
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        positions: torch.Tensor,
        charges: torch.Tensor,
        g: torch.Tensor,
        weight: torch.Tensor,
        width: int,
    ) -> torch.Tensor:
        ctx.save_for_backward(positions, charges, g, weight)
        ctx.width = width
        with torch.no_grad():
            return _chunked_reciprocal(positions, charges, g, weight, width)

    @staticmethod
    def backward(ctx: FunctionCtx, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        positions, charges, g, weight = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: keep the backward differentiable
            inputs = (positions, charges, g, weight)
            needed = [t for t, need in zip(inputs, ctx.needs_input_grad[:4], strict=True) if need]
            with torch.enable_grad():
                energy = _chunked_reciprocal(positions, charges, g, weight, ctx.width)
            grads = iter(torch.autograd.grad(energy, needed, grad_output, create_graph=True))
            return (*(next(grads) if need else None for need in ctx.needs_input_grad[:4]), None)
        grad_positions = torch.zeros_like(positions)
        grad_charges = torch.zeros_like(charges)
        grad_g = torch.empty_like(g)
        grad_weight = torch.empty_like(weight)
        for lo in range(0, len(g), ctx.width):
            part = slice(lo, lo + ctx.width)
            phase = positions @ g[part].T
            cosine, sine = torch.cos(phase), torch.sin(phase)
            real, imaginary = charges @ cosine, charges @ sine
            grad_weight[part] = real * real + imaginary * imaginary
            d_real = 2 * weight[part] * real
            d_imaginary = 2 * weight[part] * imaginary
            grad_charges += cosine @ d_real + sine @ d_imaginary
            d_phase = (cosine * d_imaginary - sine * d_real) * charges[:, None]  # (N, k)
            grad_positions += d_phase @ g[part]
            grad_g[part] = d_phase.T @ positions
        return (
            grad_output * grad_positions,
            grad_output * grad_charges,
            grad_output * grad_g,
            grad_output * grad_weight,
            None,
        )


def _half_list(
    positions: np.ndarray, cell: np.ndarray, cutoff: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One of each pair of mirror terms (a, b, L) and (b, a, -L) of the real-space sum."""
    first, second, shift = periodic_neighbours(positions, cell, cutoff)
    keep = (first < second) | ((first == second) & half_space(shift))
    return first[keep], second[keep], shift[keep]


def coulomb_energy(
    positions: torch.Tensor,
    cells: torch.Tensor,
    n_atoms: torch.Tensor | np.ndarray | Sequence[int],
    charges: torch.Tensor,
    *,
    tol: float = 1e-10,
    eta: float | Sequence[float] | np.ndarray | None = None,
    max_terms: int = DEFAULT_MAX_TERMS,
) -> torch.Tensor:
    """``1/2 q^T Zc q`` of each crystal of a batch, by Ewald summation without pair matrices.

    Args:
        positions: (n, 3) Cartesian positions, Angstrom, float64, the atoms of B crystals
            concatenated (validate user input with ``potnet_ase.structures`` first). May
            require grad.
        cells: (B, 3, 3) lattice vectors as rows, Angstrom, float64, non-singular. May require
            grad.
        n_atoms: (B,) atoms per crystal, summing to n.
        charges: (n,) charges, e, float64. Need not be neutral (see the module docstring for
            the convention). May require grad.
        tol: per-entry tolerance of Zc, 1/Angstrom: ``|E - E_exact| <= 1/2 tol (sum |q|)^2``.
        eta: splitting parameter(s), 1/Angstrom, scalar or (B,); the result does not depend on
            it beyond the tolerance. Default: the cost-balancing choice of
            :func:`ewald_parameters`.
        max_terms: pairs or atom x G phases processed at once (memory bound).

    Returns:
        (B,) energies in e^2/Angstrom (multiply by 14.399645 for eV), on the device of
        `positions`.
    """
    for name, tensor in (("positions", positions), ("cells", cells), ("charges", charges)):
        if tensor.dtype != torch.float64:
            raise TypeError(f"coulomb_energy needs float64 {name} for its tolerance")
    if not tol > 0:
        raise ValueError(f"tol must be positive; got {tol}")
    device = positions.device
    counts_host = np.asarray(torch.as_tensor(n_atoms).cpu(), dtype=np.int64).reshape(-1)
    n_crystals = len(counts_host)
    if n_crystals == 0:
        raise ValueError("coulomb_energy needs at least one crystal")
    if (
        cells.shape != (n_crystals, 3, 3)
        or int(counts_host.sum()) != len(positions)
        or positions.shape[1:] != (3,)
        or charges.shape != (len(positions),)
        or np.any(counts_host < 1)
    ):
        raise ValueError(
            f"inconsistent batch: positions {tuple(positions.shape)}, charges "
            f"{tuple(charges.shape)}, cells {tuple(cells.shape)}, n_atoms {counts_host.tolist()}"
        )

    cells_host = cells.detach().cpu().numpy()
    positions_host = positions.detach().cpu().numpy()
    transforms_host = reduce_bases(cells_host)
    reduced_host = transforms_host @ cells_host
    chosen = ewald_parameters(np.abs(np.linalg.det(cells_host)), counts_host, tol, eta)
    reduced = torch.as_tensor(transforms_host, dtype=torch.float64, device=device) @ cells
    volumes = torch.linalg.det(reduced).abs()
    reciprocal_bases = 2 * torch.pi * torch.linalg.inv(reduced).transpose(1, 2)
    g_indices, g_counts = points_within(
        reciprocal(reduced_host), chosen.reciprocal_cutoff, reduced_host / (2 * np.pi)
    )
    g_ptr = np.concatenate([[0], np.cumsum(g_counts)])
    atom_ptr = np.concatenate([[0], np.cumsum(counts_host)])
    eta_all = torch.as_tensor(chosen.eta, dtype=torch.float64, device=device)
    # Checkpoints only pay off when a backward pass will follow.
    save_memory = torch.is_grad_enabled() and any(
        t.requires_grad for t in (positions, cells, charges)
    )

    energies = []
    for c in range(n_crystals):
        start, stop = int(atom_ptr[c]), int(atom_ptr[c + 1])
        x, q, cell = positions[start:stop], charges[start:stop], cells[c]
        eta_c, volume = eta_all[c], volumes[c]
        total = q.sum()
        energy = 0.5 * total * total * COULOMB.constant(eta_c, volume)
        energy = energy + 0.5 * (q * q).sum() * COULOMB.origin(eta_c, volume)

        first, second, shift = (
            torch.as_tensor(a, device=device)
            for a in _half_list(positions_host[start:stop], cells_host[c], chosen.real_cutoff[c])
        )
        bounds = range(0, len(first), max_terms)
        for lo in bounds:
            part = slice(lo, lo + max_terms)
            args = (x, cell, q, first[part], second[part], shift[part], eta_c, volume)
            energy = energy + _maybe_checkpointed(
                _real_space_chunk, args, save_memory and len(bounds) > 1
            )

        indices = g_indices[g_ptr[c] : g_ptr[c + 1]]
        indices = indices[half_space(indices)]  # cos is even; the origin is not a G
        g = torch.as_tensor(indices, dtype=torch.float64, device=device) @ reciprocal_bases[c]
        weight = COULOMB.reciprocal_weight(g.norm(dim=-1), eta_c, volume)
        width = max(max_terms // (stop - start), 1)
        energy = energy + _StructureFactorEnergy.apply(x, q, g, weight, width)
        energies.append(energy)
    return torch.stack(energies)
