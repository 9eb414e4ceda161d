"""Forces and stress of any differentiable energy E(positions, cell), by autograd.

Stress uses the strain derivative: positions and cell are deformed by (I + eps) and
``sigma = (1/V) dE/d eps`` at eps = 0, symmetrised, in ASE's Voigt order
(xx, yy, zz, yz, xz, xy) and sign (positive = tensile; a compressed cell has negative stress).
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def voigt(stress: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6) in ASE's order xx, yy, zz, yz, xz, xy (symmetrised)."""
    s = 0.5 * (stress + stress.transpose(-1, -2))
    return torch.stack(
        [s[..., 0, 0], s[..., 1, 1], s[..., 2, 2], s[..., 1, 2], s[..., 0, 2], s[..., 0, 1]],
        dim=-1,
    )


def energy_forces_stress(
    energy_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    positions: torch.Tensor,
    cell: torch.Tensor,
    *,
    stress: bool = True,
    create_graph: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Energy, forces and stress of one structure.

    Args:
        energy_of: maps (positions (N, 3), cell (3, 3)) to a scalar energy (eV).
        positions: (N, 3) Cartesian positions, Angstrom.
        cell: (3, 3) lattice vectors as rows, Angstrom.
        stress: also return the stress.
        create_graph: keep the graph of the derivatives (for training on forces).

    Returns:
        energy (scalar, eV), forces (N, 3, eV/Angstrom) and stress (6, eV/Angstrom^3, Voigt)
        or None.
    """
    positions = positions.detach().requires_grad_(True)
    strain = torch.zeros(3, 3, dtype=cell.dtype, device=cell.device, requires_grad=stress)
    deformation = torch.eye(3, dtype=cell.dtype, device=cell.device) + strain
    energy = energy_of(positions @ deformation, cell.detach() @ deformation)
    inputs = (positions, strain) if stress else (positions,)
    grads = torch.autograd.grad(energy, inputs, create_graph=create_graph)
    forces = -grads[0]
    if not stress:
        return energy, forces, None
    volume = torch.linalg.det(cell.detach()).abs()
    return energy, forces, voigt(grads[1] / volume)
