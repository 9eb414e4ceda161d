"""Smooth radial functions: the cutoff envelope and the radial basis of the force field.

Both vanish, with their first and second derivatives, at the cutoff, so the energy, the forces
and the force derivatives (the Hessian seen by MD integrators) are continuous when an atom
crosses the cutoff sphere: no neighbour-count truncation, no jump.
"""

from __future__ import annotations

import math

import torch


def polynomial_envelope(distance: torch.Tensor, cutoff: float | torch.Tensor, power: int = 6):
    """Smooth step from 1 at r = 0 to 0 at r >= cutoff (Klicpera et al., DimeNet)::

        f(x) = 1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2),  x = r / cutoff

    f(1) = f'(1) = f''(1) = 0. Beyond the cutoff the value is exactly 0.

    Args:
        distance: (E,) distances, Angstrom.
        cutoff: Angstrom, a float or a tensor broadcastable to `distance`.
        power: p, the smoothness order.
    """
    x = distance / cutoff
    p = power
    value = (
        1.0
        - (p + 1) * (p + 2) / 2 * x**p
        + p * (p + 2) * x ** (p + 1)
        - p * (p + 1) / 2 * x ** (p + 2)
    )
    return torch.where(x < 1.0, value, torch.zeros_like(value))


class BesselBasis(torch.nn.Module):
    """Radial basis ``sqrt(2/rc) sin(n pi r / rc) / r`` for n = 1..K, times the envelope.

    Shape: (E,) distances -> (E, K). Every basis function vanishes smoothly at the cutoff.
    """

    def __init__(self, cutoff: float, size: int = 8, envelope_power: int = 6) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        self.envelope_power = int(envelope_power)
        frequencies = torch.arange(1, size + 1, dtype=torch.get_default_dtype()) * math.pi
        self.register_buffer("frequencies", frequencies / self.cutoff)

    def forward(self, distance: torch.Tensor) -> torch.Tensor:
        d = distance.unsqueeze(-1)
        basis = math.sqrt(2.0 / self.cutoff) * torch.sin(self.frequencies * d) / d
        return basis * polynomial_envelope(d, self.cutoff, self.envelope_power)
