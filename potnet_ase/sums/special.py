"""The upper incomplete gamma function Gamma(s, x) (not regularised) for the orders the
lattice sums need: integers s >= 1 and half-integers of either sign.

``torch.special.gammaincc`` is the regularised function and returns 0 at s = 0 and NaN for
s < 0, so it cannot serve the reciprocal-space terms (s = 3/2 - p <= 0 for p >= 3/2). We use
closed forms and the recurrence ``Gamma(s+1, x) = s Gamma(s, x) + x^s e^-x``:
upwards from ``Gamma(1/2, x) = sqrt(pi) erfc(sqrt x)`` or ``Gamma(1, x) = e^-x``, and downwards
(``Gamma(s, x) = (Gamma(s+1, x) - x^s e^-x) / s``) for negative s. The downward recurrence
loses about log10(x^2) digits to cancellation at large x, where the values are far below any
tolerance anyway.
"""

from __future__ import annotations

import math

import torch


def _check_order(s: float) -> None:
    if not (float(s) * 2).is_integer() or s == 0 or (s < 0 and float(s).is_integer()):
        raise ValueError(f"upper_gamma supports integer s >= 1 and half-integer s; got s = {s}")


def _power(x: torch.Tensor, exponent: float) -> torch.Tensor:
    """x ** exponent, with integer exponents as integers (multiplications, not exp/log)."""
    return x ** int(exponent) if float(exponent).is_integer() else x**exponent


def upper_gamma(s: float, x: torch.Tensor) -> torch.Tensor:
    """Gamma(s, x) for x > 0, elementwise, differentiable in x.

    Args:
        s: the order: a positive integer or any half-integer (..., -3/2, -1/2, 1/2, 3/2, ...).
        x: tensor of arguments, x > 0.
    """
    _check_order(s)
    exp_minus_x = torch.exp(-x)
    if float(s).is_integer():
        base, value = 1.0, exp_minus_x
    else:
        base, value = 0.5, math.sqrt(math.pi) * torch.special.erfc(torch.sqrt(x))
    order = base
    while order < s:  # upward: Gamma(o+1) = o Gamma(o) + x^o e^-x
        value = order * value + _power(x, order) * exp_minus_x
        order += 1.0
    while order > s:  # downward: Gamma(o-1) = (Gamma(o) - x^(o-1) e^-x) / (o-1)
        order -= 1.0
        value = (value - _power(x, order) * exp_minus_x) / order
    return value
