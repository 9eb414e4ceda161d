"""The batched, differentiable lattice-sum engine (torch).

Layout (PyG style): the atoms of B crystals are concatenated, ``positions`` is (n, 3) and
``n_atoms`` gives each crystal's count. Results are returned per ordered pair (a, b) of atoms of
the same crystal, a == b included, crystal by crystal and row-major within a crystal (pair
``a * N + b`` of crystal c sits at ``pair_ptr[c] + a * N + b``), which is both the flattened
N x N matrix and PotNet's "infinite edge" list.

Per crystal:
1. the basis is reduced (host, numpy, batched pairwise reduction) so wrapped fractional
   differences give near-minimum-image pair vectors r and integer boxes stay tight for any
   input basis;
2. eta and both cutoffs come from error bounds (``parameters.py``);
3. real space: every pair a <= b against every lattice translation L with |L| <= R + max|r|,
   screened by one batched matrix product; images with |r + L| > R are dropped before any
   special function is evaluated, in chunks of at most ``max_terms`` candidates so memory
   stays bounded, and the (b, a) entries are mirrored; a kernel that ``parameters.py`` sums
   directly (a short-ranged exponential) takes its whole value here and nothing below;
4. reciprocal space: with C[a,k] = cos(G_k . x_a) and S[a,k] = sin(G_k . x_a),
   ``sum_k f_k cos(G_k . (x_a - x_b)) = (C diag(f) C^T + S diag(f) S^T)[a, b]``, a batched
   matrix product over half of the G vectors (cos is even), padded per chunk of similar-size
   crystals.

Integer choices (basis transform, translations, G indices, wrapping shifts) are made without
gradients; all arithmetic on positions and cells is torch, so autograd gives forces and the
cell derivative (stress) of any function of the sums. eta is held fixed, which is exact up to
the truncation error because the sums do not depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from potnet_ase.errors import ResourceLimitError
from potnet_ase.sums.kernels import Kernel
from potnet_ase.sums.lattice import half_space, points_within, reciprocal, reduce_bases
from potnet_ase.sums.parameters import SumParameters, choose_parameters
from potnet_ase.sums.potentials import (
    DEFAULT_POTENTIALS,
    PotentialParameters,
    check_potentials,
    decompose,
)

# Real-space candidate terms (pair x translation) held at once: ~0.5 GB of temporaries.
DEFAULT_MAX_TERMS = 1 << 22
# Elements (pairs x G vectors) of a padded reciprocal-space product held at once.
DEFAULT_MAX_PADDED = 1 << 23
# Stand-in for padding slots: farther from everything than any cutoff.
_FAR_AWAY = 1e6
# Output memory allowed for the pair values (all potentials together).
DEFAULT_MEMORY_LIMIT_BYTES = 8 << 30


@dataclass
class PairSums:
    """Lattice sums for every ordered pair of atoms of each crystal.

    Attributes:
        values: potential name -> (P,) tensor, P = sum of N_c^2.
        first: (P,) global index of atom a of each pair.
        second: (P,) global index of atom b.
        pair_ptr: (B + 1,) offsets of each crystal's pairs.
        n_atoms: (B,) atoms per crystal.
        parameters: the eta and cutoffs used per crystal (host arrays).
    """

    values: dict[str, torch.Tensor]
    first: torch.Tensor
    second: torch.Tensor
    pair_ptr: torch.Tensor
    n_atoms: torch.Tensor
    parameters: SumParameters

    def matrices(self) -> list[dict[str, np.ndarray]]:
        """The N x N matrices of each crystal as float64 numpy arrays (detached, on host)."""
        host = {name: v.detach().cpu().numpy() for name, v in self.values.items()}
        ptr = self.pair_ptr.cpu().numpy()
        counts = self.n_atoms.cpu().numpy()
        return [
            {name: v[ptr[c] : ptr[c + 1]].reshape(n, n).copy() for name, v in host.items()}
            for c, n in enumerate(counts)
        ]


def _offsets(counts: torch.Tensor) -> torch.Tensor:
    return torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])


def _expand(counts: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
    """Concatenation of ``arange(starts[i], starts[i] + counts[i])`` without a Python loop."""
    total = int(counts.sum())
    repeated_start = torch.repeat_interleave(starts - _offsets(counts)[:-1], counts)
    return torch.arange(total, device=counts.device) + repeated_start


# Padded blocks smaller than this (elements) are never split: below it the fixed cost of
# another group outweighs the padding saved.
_MIN_SPLIT_ELEMENTS = 1 << 15
# A group's padded block may hold at most this many times the elements it really needs.
_MAX_PADDING_RATIO = 2.0


def _padded_groups(rows: np.ndarray, columns: np.ndarray, limit: int) -> list[np.ndarray]:
    """Crystals grouped for padded (crystals, rows, columns) blocks, such as (pairs,
    translations) in real space or (pairs, G vectors) in reciprocal space.

    Crystals are taken in order of size (rows x columns) and a group closes when the next
    crystal would push its padded block past `limit` elements or past
    ``_MAX_PADDING_RATIO`` times the elements its crystals need (blocks under
    ``_MIN_SPLIT_ELEMENTS`` always grow). A crystal larger than `limit` gets a group of its
    own. Without this, one elongated or large cell in a batch inflates every crystal's block.

    Args:
        rows, columns: (B,) extents of each crystal's block.
        limit: largest padded block, elements.

    Returns:
        Index arrays into the B crystals, one per group, covering each crystal once.
    """
    order = np.argsort(rows * columns, kind="stable")
    groups: list[list[int]] = []
    row_max = column_max = needed = 0
    for i in order.tolist():
        r, c = int(rows[i]), int(columns[i])
        grown_rows, grown_columns = max(row_max, r), max(column_max, c)
        padded = (len(groups[-1]) + 1 if groups else 1) * grown_rows * grown_columns
        wasteful = padded > _MAX_PADDING_RATIO * (needed + r * c)
        if groups and padded <= limit and (padded <= _MIN_SPLIT_ELEMENTS or not wasteful):
            groups[-1].append(i)
            row_max, column_max, needed = grown_rows, grown_columns, needed + r * c
        else:
            groups.append([i])
            row_max, column_max, needed = r, c, r * c
    return [np.asarray(group) for group in groups]


def lattice_pair_sums(
    positions: torch.Tensor,
    cells: torch.Tensor,
    n_atoms: torch.Tensor | np.ndarray | list[int],
    potentials: tuple[str, ...] | list[str] = DEFAULT_POTENTIALS,
    *,
    parameters: PotentialParameters | None = None,
    tol: float = 1e-10,
    max_terms: int = DEFAULT_MAX_TERMS,
    memory_limit_bytes: int = DEFAULT_MEMORY_LIMIT_BYTES,
) -> PairSums:
    """Complete lattice sums for all ordered atom pairs of a batch of crystals.

    Args:
        positions: (n, 3) Cartesian positions, Angstrom, float64, concatenated crystal by
            crystal. May require grad.
        cells: (B, 3, 3) lattice vectors as rows, Angstrom, float64, right-handed and
            non-singular (validate user input with ``potnet_ase.structures`` first). May
            require grad.
        n_atoms: (B,) atoms per crystal, summing to n.
        potentials: names from ``potnet_ase.sums.POTENTIALS``.
        parameters: potential parameters and Pauli convention (defaults: physical, alpha 3).
        tol: absolute error allowed per entry (relative to the entry's scale when it exceeds 1).
        max_terms: real-space candidates processed at once (memory bound).
        memory_limit_bytes: refuse jobs whose pair outputs alone would exceed this.

    Returns:
        :class:`PairSums` on the device of `positions`.
    """
    if positions.dtype != torch.float64 or cells.dtype != torch.float64:
        raise TypeError("lattice sums need float64 positions and cells for their tolerance")
    if not tol > 0:
        raise ValueError(f"tol must be positive; got {tol}")
    parameters = parameters or PotentialParameters()
    names = check_potentials(potentials)
    device = positions.device
    counts = torch.as_tensor(np.asarray(n_atoms), dtype=torch.long, device=device)
    n_crystals = len(counts)
    if n_crystals == 0:
        raise ValueError("lattice_pair_sums needs at least one crystal")
    if cells.shape != (n_crystals, 3, 3) or int(counts.sum()) != len(positions):
        raise ValueError(
            f"inconsistent batch: {len(positions)} positions, cells {tuple(cells.shape)}, "
            f"n_atoms summing to {int(counts.sum())}"
        )

    recipes = {name: decompose(name, parameters) for name in names}
    weights: dict[Kernel, float] = {}
    for recipe in recipes.values():
        for coefficient, kernel in recipe:
            weights[kernel] = max(weights.get(kernel, 0.0), abs(coefficient))

    counts_host = counts.cpu().numpy()
    n_pairs = int((counts_host**2).sum())
    need = n_pairs * 8 * (len(weights) + len(names) + 4)
    if need > memory_limit_bytes:
        raise ResourceLimitError(
            f"the pair sums of this batch need about {need / 2**30:.1f} GiB ({n_pairs} atom "
            f"pairs, largest cell {counts_host.max()} atoms), above the limit of "
            f"{memory_limit_bytes / 2**30:.1f} GiB; pass fewer or smaller cells per call, or "
            "raise memory_limit_bytes if the machine has the memory."
        )

    cells_host = cells.detach().cpu().numpy()
    transforms_host = reduce_bases(cells_host)
    reduced_host = transforms_host @ cells_host
    volumes_host = np.abs(np.linalg.det(cells_host))
    chosen = choose_parameters(weights, volumes_host, tol)

    as_tensor = dict(dtype=torch.float64, device=device)
    reduced = torch.as_tensor(transforms_host, **as_tensor) @ cells
    volumes = torch.linalg.det(reduced).abs()
    eta = torch.as_tensor(chosen.eta, **as_tensor)

    atom_ptr = _offsets(counts)
    pair_counts = counts * counts
    pair_ptr = _offsets(pair_counts)
    pair_crystal = torch.repeat_interleave(torch.arange(n_crystals, device=device), pair_counts)
    local = torch.arange(n_pairs, device=device) - pair_ptr[pair_crystal]
    size_of_pair = counts[pair_crystal]
    first_local, second_local = local // size_of_pair, local % size_of_pair
    first = atom_ptr[pair_crystal] + first_local
    second = atom_ptr[pair_crystal] + second_local
    is_diagonal = first == second

    # Minimum-image pair vectors in the reduced basis.
    raw = positions[first] - positions[second]
    with torch.no_grad():
        inverse = torch.linalg.inv(reduced)
        shift = -torch.round(torch.einsum("pi,pij->pj", raw, inverse[pair_crystal]))
    pair_vectors = raw + torch.einsum("pi,pij->pj", shift, reduced[pair_crystal])

    accumulated = {k: positions.new_zeros(n_pairs) for k in weights}
    _add_real_space(
        accumulated, pair_vectors, counts_host, pair_ptr, pair_crystal, reduced, reduced_host,
        chosen, eta, volumes, max_terms,
    )  # fmt: skip
    _add_reciprocal_space(
        accumulated, positions, counts_host, atom_ptr, pair_ptr, reduced, reduced_host,
        chosen, eta, volumes,
    )  # fmt: skip
    for kernel in weights:
        if kernel in chosen.direct:
            accumulated[kernel] = accumulated[kernel] + kernel.direct_origin() * is_diagonal
            continue
        accumulated[kernel] = (
            accumulated[kernel]
            + kernel.constant(eta, volumes)[pair_crystal]
            + kernel.origin(eta, volumes)[pair_crystal] * is_diagonal
        )

    values = {name: sum(c * accumulated[k] for c, k in recipe) for name, recipe in recipes.items()}
    return PairSums(values, first, second, pair_ptr, counts, chosen)


def _add_real_space(
    accumulated: dict[Kernel, torch.Tensor],
    pair_vectors: torch.Tensor,
    sizes_host: np.ndarray,
    pair_ptr: torch.Tensor,
    pair_crystal: torch.Tensor,
    reduced: torch.Tensor,
    reduced_host: np.ndarray,
    chosen: SumParameters,
    eta: torch.Tensor,
    volumes: torch.Tensor,
    max_terms: int,
) -> None:
    device = pair_vectors.device
    n_crystals = len(reduced)
    with torch.no_grad():
        longest = torch.zeros(n_crystals, dtype=torch.float64, device=device)
        longest = longest.scatter_reduce(
            0, pair_crystal, pair_vectors.norm(dim=-1), reduce="amax", include_self=True
        )
    radius_host = chosen.real_cutoff + longest.cpu().numpy() + 1e-9
    dual = np.linalg.inv(reduced_host).swapaxes(1, 2)
    indices_host, translation_counts_host = points_within(reduced_host, radius_host, dual)
    translation_counts = torch.as_tensor(translation_counts_host, device=device)
    translation_ptr = _offsets(translation_counts)
    indices = torch.as_tensor(indices_host, dtype=torch.float64, device=device)
    translation_crystal = torch.repeat_interleave(
        torch.arange(n_crystals, device=device), translation_counts
    )
    translations = torch.einsum("ti,tij->tj", indices, reduced[translation_crystal])
    cutoff_squared = torch.as_tensor(chosen.real_cutoff**2, dtype=torch.float64, device=device)

    # Candidates are screened as a padded (crystals, pairs, translations) block per group:
    # |r + L|^2 = |r|^2 + |L|^2 + 2 r.L is one batched matrix product of the augmented
    # vectors (r, |r|^2, 1) and (2 L, 1, |L|^2), so only the images inside the cutoff are
    # gathered and passed through special functions. Only pairs a <= b are screened:
    # S(r_ba) = S(-r_ab) = S(r_ab) because the translation set is symmetric. Padding slots
    # hold a far-away vector, so no validity masks are needed; groups are formed so that
    # padding never dominates (one elongated cell with many translations would otherwise
    # inflate the block of every crystal batched with it).
    half_pairs = sizes_host * (sizes_host + 1) // 2
    for group in _padded_groups(half_pairs, translation_counts_host, max_terms):
        members = torch.as_tensor(group, device=device)
        sizes = torch.as_tensor(sizes_host[group], device=device)
        n_translations = translation_counts[members]
        n_max, t_max = int(sizes_host[group].max()), int(translation_counts_host[group].max())
        with torch.no_grad():
            first_local, second_local = torch.triu_indices(n_max, n_max, device=device)
            pair_index = pair_ptr[members, None] + first_local * sizes[:, None] + second_local
            pair_valid = second_local < sizes[:, None]  # (b, n_max (n_max + 1) / 2)
            r = torch.where(
                pair_valid[..., None],
                pair_vectors[torch.where(pair_valid, pair_index, 0)],
                _FAR_AWAY,
            )
            local_translation = torch.arange(t_max, device=device)
            translation_valid = local_translation < n_translations[:, None]
            translation_index = torch.where(
                translation_valid, translation_ptr[members, None] + local_translation, 0
            )
            lattice = torch.where(
                translation_valid[..., None], translations[translation_index], _FAR_AWAY
            )
            ones_r = torch.ones_like(r[..., :1])
            ones_l = torch.ones_like(lattice[..., :1])
            augmented_r = torch.cat([r, (r * r).sum(-1, keepdim=True), ones_r], -1)
            augmented_l = torch.cat(
                [2 * lattice, ones_l, (lattice * lattice).sum(-1, keepdim=True)], -1
            )
            squared = augmented_r @ augmented_l.transpose(1, 2)
            # The image of an atom onto itself (a == b, L = 0) is excluded from every sum;
            # it is the only image at distance 0 of a validated crystal.
            keep = (squared <= cutoff_squared[members].view(-1, 1, 1)) & (squared > 0)
            slot, pair_in_slot, translation_in_slot = keep.nonzero(as_tuple=True)
            term_pair = pair_index[slot, pair_in_slot]
            term_translation = translation_index[slot, translation_in_slot]
            first_of_term = first_local[pair_in_slot]
            second_of_term = second_local[pair_in_slot]
            off_diagonal = first_of_term != second_of_term
            mirror = pair_ptr[members][slot] + second_of_term * sizes[slot] + first_of_term
            targets = torch.cat([term_pair, mirror[off_diagonal]])
        term_crystal = members[slot]
        distance = (pair_vectors[term_pair] + translations[term_translation]).norm(dim=-1)
        for kernel in accumulated:
            if kernel in chosen.direct:
                term = kernel.direct(distance, volumes[term_crystal])
            else:
                term = kernel.real(distance, eta[term_crystal], volumes[term_crystal])
            term = torch.cat([term, term[off_diagonal]])
            accumulated[kernel] = accumulated[kernel].index_add(0, targets, term)


def _add_reciprocal_space(
    accumulated: dict[Kernel, torch.Tensor],
    positions: torch.Tensor,
    counts_host: np.ndarray,
    atom_ptr: torch.Tensor,
    pair_ptr: torch.Tensor,
    reduced: torch.Tensor,
    reduced_host: np.ndarray,
    chosen: SumParameters,
    eta: torch.Tensor,
    volumes: torch.Tensor,
) -> None:
    device = positions.device
    all_indices, all_counts = points_within(
        reciprocal(reduced_host), chosen.reciprocal_cutoff, reduced_host / (2 * np.pi)
    )
    # cos is even: keep one of each pair (m, -m), and never the origin.
    owner = np.repeat(np.arange(len(all_counts)), all_counts)
    half = half_space(all_indices)
    g_indices, owner = all_indices[half], owner[half]
    g_counts = np.bincount(owner, minlength=len(all_counts))
    g_ptr = np.concatenate([[0], np.cumsum(g_counts)])
    vectors_per_crystal = np.maximum(g_counts, 1)
    reciprocal_basis = 2 * torch.pi * torch.linalg.inv(reduced).transpose(1, 2)

    # Groups of similar crystals keep the padding of the (pairs x G vectors) products small.
    for members in _padded_groups(counts_host**2, vectors_per_crystal, DEFAULT_MAX_PADDED):
        n_max = int(counts_host[members].max())
        k_max = int(vectors_per_crystal[members].max())
        slot_counts = torch.as_tensor(counts_host[members], device=device)
        members_t = torch.as_tensor(members, device=device)
        atoms = _expand(slot_counts, atom_ptr[members_t])
        slot = torch.repeat_interleave(torch.arange(len(members), device=device), slot_counts)
        within = atoms - atom_ptr[members_t][slot]
        padded_positions = positions.new_zeros(len(members), n_max, 3).index_put(
            (slot, within), positions[atoms]
        )
        # Padding rows get a harmless nonzero index (weight 0) so |G| is never 0.
        padded_indices = np.zeros((len(members), k_max, 3))
        padded_indices[:, :, 0] = 1
        rows = np.repeat(np.arange(len(members)), g_counts[members])
        selected = np.concatenate([np.arange(g_ptr[m], g_ptr[m + 1]) for m in members])
        columns = selected - g_ptr[members][rows]
        padded_indices[rows, columns] = g_indices[selected]
        valid = np.zeros((len(members), k_max), dtype=bool)
        valid[rows, columns] = True
        g = torch.as_tensor(padded_indices, dtype=torch.float64, device=device)
        g = g @ reciprocal_basis[members_t]
        g_norm = g.norm(dim=-1)
        phase = padded_positions @ g.transpose(1, 2)  # (b, n_max, k_max)
        cosine, sine = torch.cos(phase), torch.sin(phase)
        valid_t = torch.as_tensor(valid, device=device)

        pair_counts = slot_counts * slot_counts
        pairs = _expand(pair_counts, pair_ptr[members_t])
        pair_slot = torch.repeat_interleave(torch.arange(len(members), device=device), pair_counts)
        local = pairs - pair_ptr[members_t][pair_slot]
        first_local, second_local = local // slot_counts[pair_slot], local % slot_counts[pair_slot]
        for kernel in accumulated:
            if kernel in chosen.direct:
                continue
            weight = 2 * kernel.reciprocal_weight(
                g_norm, eta[members_t, None], volumes[members_t, None]
            )
            weight = torch.where(valid_t, weight, torch.zeros_like(weight)).unsqueeze(1)
            block = (cosine * weight) @ cosine.transpose(1, 2)
            block = block + (sine * weight) @ sine.transpose(1, 2)
            block = 0.5 * (block + block.transpose(1, 2))  # exactly symmetric, as the sums are
            accumulated[kernel] = accumulated[kernel].index_add(
                0, pairs, block[pair_slot, first_local, second_local]
            )
