"""PotNet (Lin et al., ICML 2023) in torch-geometric, pure torch (no compiled extensions).

Three variants, chosen by ``variant`` in the model config:

* ``"published"``: the paper's network. Local edges carry RBF(-0.75 / r) (256 Gaussian bins on
  [-4, 4]) -> Linear -> SiLU; infinite edges carry
  ``-0.801 coulomb - 0.074 london + 0.145 pauli`` (potnet Pauli convention) expanded by a
  multiquadric RBF (64 bins on [-4, 4]) -> Linear -> softplus -> BatchNorm. Each layer adds
  gated messages ``sigmoid(BN(MLP(z))) * MLP(z)``, ``z = [x_i, x_j, e_ij]``, from both edge
  sets, and updates ``x <- ReLU(x + BN(sum of messages))``. Its infinite-edge messages are
  nonlinear in each pair's sum and summed over the atoms of the cell given, so a supercell
  (whose pair sums split the primitive ones among copies) gets a different prediction.
* ``"latent_ewald"`` (the default for shipped models): local edges as published; the
  long-range message of each layer is linear in the complete sums, weighted by learned
  per-atom latent charges (Cheng, "Latent Ewald summation", 2024):
  ``u_a = sum_b V_p(a, b) q_{b,p,c}`` for every potential p and channel c, then a Linear to
  the hidden size. For potentials summed over all images with a fixed kernel (Coulomb with
  its neutralising background, London, physical Pauli), the sum over the copies b' of b in
  a supercell of V_super(a, b') equals V_primitive(a, b), so u_a, and with mean pooling the
  prediction, is the same for any choice of cell.
* ``"euclidean"``: the ablation with local edges only.

Mean pooling gives an intensive prediction; targets are standardised with the training
mean and standard deviation stored as buffers.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from potnet_ase.models.atom_features import FEATURE_SIZE, atom_feature_table
from potnet_ase.models.registry import register_architecture

VARIANTS = ("latent_ewald", "published", "euclidean")
# Published infinite-edge mixing of the potnet-convention sums (Coulomb, London, Pauli).
PUBLISHED_MIX = {"coulomb": -0.801, "london": -0.074, "pauli": 0.145}

DEFAULTS: dict[str, Any] = {
    "architecture": "potnet",
    "variant": "latent_ewald",
    "hidden": 256,
    "layers": 3,
    "local_bins": 256,
    "infinite_bins": 64,
    "latent_channels": 16,
    "n_targets": 1,
    "rbf_convention": "alignn",
    "infinite_scaling": "none",
}
RBF_CONVENTIONS = ("alignn", "potnet")
# "none": the published mix enters the RBF on [-4, 4] as it is; "standardised": shifted and
# scaled by the training set's mean and standard deviation of the mix (fit_input_statistics),
# since on Materials Project crystals the raw mix spans only about [-0.4, 0.6] (docs/models.md).
INFINITE_SCALINGS = ("none", "standardised")


class GaussianRBF(nn.Module):
    """exp(-gamma (x - c_k)^2) for `bins` centres c_k on [low, high], spacing s between them.

    ``convention="alignn"``: gamma = 1 / s (CGCNN / ALIGNN code; a Gaussian of standard
    deviation sqrt(s / 2)). ``convention="potnet"``: gamma = 1 / s^2 (PotNet's published
    ``RBFExpansion`` squares ``(x - c) / s``; standard deviation s / sqrt(2), much narrower).
    """

    def __init__(self, low: float, high: float, bins: int, convention: str = "alignn") -> None:
        super().__init__()
        if convention not in RBF_CONVENTIONS:
            raise ValueError(f"unknown RBF convention {convention!r}; choose {RBF_CONVENTIONS}")
        self.register_buffer("centers", torch.linspace(low, high, bins))
        spacing = float((high - low) / (bins - 1))
        self.gamma = 1.0 / spacing if convention == "alignn" else 1.0 / spacing**2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(E,) -> (E, bins)."""
        return torch.exp(-self.gamma * (x[:, None] - self.centers) ** 2)


class MultiquadricRBF(GaussianRBF):
    """sqrt(1 + gamma (x - c_k)^2), PotNet's expansion of the infinite-edge potentials
    (gamma as for :class:`GaussianRBF`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(E,) -> (E, bins)."""
        return torch.sqrt(1.0 + self.gamma * (x[:, None] - self.centers) ** 2)


def mean_pool(x: torch.Tensor, batch: torch.Tensor, size: int) -> torch.Tensor:
    """Mean of the rows of x (N, H) per graph index in batch (N,) -> (size, H)."""
    total = x.new_zeros(size, x.shape[1]).index_add_(0, batch, x)
    count = x.new_zeros(size).index_add_(0, batch, torch.ones_like(batch, dtype=x.dtype))
    return total / count.clamp(min=1)[:, None]


def _mlp(n_in: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden))


class GatedConv(nn.Module):
    """Sum over edges j -> i of ``sigmoid(BN(MLP_g(z))) * MLP_c(z)``, z = [x_i, x_j, e]."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.gate = _mlp(3 * hidden, hidden)
        self.gate_norm = nn.BatchNorm1d(hidden)
        self.core = _mlp(3 * hidden, hidden)

    def forward(
        self, x: torch.Tensor, edge_index: torch.Tensor, edge: torch.Tensor
    ) -> torch.Tensor:
        """x (N, H), edge_index (2, E) [source, target], edge (E, H) -> (N, H)."""
        source, target = edge_index
        z = torch.cat([x[target], x[source], edge], dim=1)
        message = torch.sigmoid(self.gate_norm(self.gate(z))) * self.core(z)
        return torch.zeros_like(x).index_add_(0, target, message)


class LatentEwald(nn.Module):
    """Long-range message linear in the complete sums: u = sum_b V(a, b) q_b per potential."""

    def __init__(self, hidden: int, n_potentials: int, channels: int) -> None:
        super().__init__()
        self.n_potentials, self.channels = n_potentials, channels
        self.charges = nn.Linear(hidden, n_potentials * channels)
        self.out = nn.Linear(n_potentials * channels, hidden)

    def forward(
        self, x: torch.Tensor, inf_edge_index: torch.Tensor, inf_values: torch.Tensor
    ) -> torch.Tensor:
        """x (N, H), inf_edge_index (2, P) [b, a], inf_values (P, n_potentials) -> (N, H)."""
        source, target = inf_edge_index
        q = self.charges(x).view(-1, self.n_potentials, self.channels)
        weighted = (inf_values[:, :, None] * q[source]).flatten(1)
        summed = x.new_zeros(len(x), weighted.shape[1]).index_add_(0, target, weighted)
        return self.out(summed)


class PotNet(nn.Module):
    """PotNet property model; see the module docstring for the variants.

    Args (the ``model`` section of a config; missing keys take :data:`DEFAULTS`):
        variant: ``"latent_ewald"``, ``"published"`` or ``"euclidean"``.
        hidden: feature width (published 256). layers: number of convolutions (3).
        local_bins / infinite_bins: RBF sizes (256 / 64). latent_channels: latent charges
            per potential (latent_ewald only). n_targets: outputs.
        potentials: names of the lattice sums in ``inf_values`` (from the graph settings).
        rbf_convention: RBF widths, ``"alignn"`` (default) or ``"potnet"`` (the published
            code's); see :class:`GaussianRBF`.
        infinite_scaling: published variant only: ``"none"`` (as published) or
            ``"standardised"`` (the mix is standardised with training statistics before the
            RBF; call :meth:`fit_input_statistics` before training).
    """

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        config = {**DEFAULTS, **config}
        self.variant = config["variant"]
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown PotNet variant {self.variant!r}; choose from {VARIANTS}")
        hidden, layers, n_targets = config["hidden"], config["layers"], config["n_targets"]
        potentials = tuple(config.get("graph", {}).get("potentials", ()))
        self.register_buffer("atom_table", torch.as_tensor(atom_feature_table()))
        self.register_buffer("target_mean", torch.zeros(n_targets))
        self.register_buffer("target_std", torch.ones(n_targets))
        self.embedding = nn.Linear(FEATURE_SIZE, hidden)
        rbf_convention = config["rbf_convention"]
        self.infinite_scaling = config["infinite_scaling"]
        if self.infinite_scaling not in INFINITE_SCALINGS:
            raise ValueError(
                f"unknown infinite_scaling {self.infinite_scaling!r}; choose {INFINITE_SCALINGS}"
            )
        self.local_rbf = GaussianRBF(-4.0, 4.0, config["local_bins"], rbf_convention)
        self.local_edge = nn.Sequential(nn.Linear(config["local_bins"], hidden), nn.SiLU())
        self.local_convs = nn.ModuleList(GatedConv(hidden) for _ in range(layers))
        self.norms = nn.ModuleList(nn.BatchNorm1d(hidden) for _ in range(layers))
        if self.variant == "published":
            if set(potentials) != set(PUBLISHED_MIX):
                raise ValueError(f"the published variant needs the sums {tuple(PUBLISHED_MIX)}")
            self.register_buffer("mix", torch.tensor([PUBLISHED_MIX[p] for p in potentials]))
            if self.infinite_scaling == "standardised":
                self.register_buffer("mix_mean", torch.zeros(()))
                self.register_buffer("mix_std", torch.ones(()))
            self.infinite_rbf = MultiquadricRBF(
                -4.0, 4.0, config["infinite_bins"], rbf_convention
            )
            self.infinite_edge = nn.Sequential(
                nn.Linear(config["infinite_bins"], hidden), nn.Softplus(), nn.BatchNorm1d(hidden)
            )
            self.infinite_convs = nn.ModuleList(GatedConv(hidden) for _ in range(layers))
        elif self.variant == "latent_ewald":
            if not potentials:
                raise ValueError("the latent_ewald variant needs lattice sums in the graph")
            self.long_range = nn.ModuleList(
                LatentEwald(hidden, len(potentials), config["latent_channels"])
                for _ in range(layers)
            )
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.Softplus())
        self.output = nn.Linear(hidden, n_targets)

    def set_normalisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Store the training targets' mean and standard deviation, (n_targets,) each."""
        self.target_mean.copy_(torch.as_tensor(mean, dtype=self.target_mean.dtype))
        self.target_std.copy_(torch.as_tensor(std, dtype=self.target_std.dtype))

    def published_mix(self, inf_values: torch.Tensor) -> torch.Tensor:
        """The published variant's infinite-edge input, (P, n_potentials) -> (P,)."""
        return inf_values @ self.mix.to(inf_values.dtype)

    def fit_input_statistics(self, inf_values: torch.Tensor) -> None:
        """Store the mean and standard deviation of the published mix over the training
        pairs' sums `inf_values` (P, n_potentials); a no-op unless the published variant
        uses ``infinite_scaling="standardised"``."""
        if self.variant != "published" or self.infinite_scaling != "standardised":
            return
        mixed = self.published_mix(inf_values.to(self.mix.device)).double()
        self.mix_mean.copy_(mixed.mean())
        self.mix_std.copy_(mixed.std().clamp(min=1e-12))

    def embed(self, batch: Any) -> torch.Tensor:
        """Mean-pooled node features after the convolutions, (B, hidden)."""
        x = self.embedding(self.atom_table[batch.numbers])
        local = self.local_edge(self.local_rbf(-0.75 / batch.edge_distance))
        if self.variant == "published":
            mixed = self.published_mix(batch.inf_values)
            if self.infinite_scaling == "standardised":
                mixed = (mixed - self.mix_mean) / self.mix_std
            infinite = self.infinite_edge(self.infinite_rbf(mixed))
        for k, conv in enumerate(self.local_convs):
            messages = conv(x, batch.edge_index, local)
            if self.variant == "published":
                messages = messages + self.infinite_convs[k](x, batch.inf_edge_index, infinite)
            elif self.variant == "latent_ewald":
                messages = messages + self.long_range[k](x, batch.inf_edge_index, batch.inf_values)
            x = torch.relu(x + self.norms[k](messages))
        return mean_pool(x, batch.batch, batch.num_graphs)

    def forward(self, batch: Any) -> torch.Tensor:
        """Standardised predictions, (B, n_targets)."""
        return self.output(self.head(self.embed(batch)))

    def predict_batch(self, batch: Any) -> torch.Tensor:
        """Predictions in the target's units, (B, n_targets)."""
        return self(batch) * self.target_std + self.target_mean


def build_potnet(config: dict[str, Any]) -> PotNet:
    """Registry builder for ``architecture: "potnet"``."""
    return PotNet(config)


register_architecture("potnet", build_potnet)
