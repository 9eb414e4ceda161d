"""Physical constants and unit conversions, each stated once (from ``ase.units``, CODATA 2014).

Energies are in eV, lengths in Angstrom, charges in e, stresses in eV/Angstrom^3 inside the
package; GPa and kBar only at the boundaries (data files, metrics, reports).
"""

from __future__ import annotations

from ase import units as _ase

COULOMB_CONSTANT: float = _ase._e / (4 * 3.141592653589793 * _ase._eps0) * 1e10
"""e^2 / (4 pi eps0) in eV Angstrom / e^2 (14.399645...): Coulomb energy of two unit charges
one Angstrom apart."""

GPA: float = _ase.GPa
"""One GPa in eV/Angstrom^3 (1 eV/A^3 = 160.21766 GPa)."""

KBAR: float = 0.1 * _ase.GPa
"""One kBar in eV/Angstrom^3 (VASP's stress unit)."""

EV_PER_A3_TO_GPA: float = 1.0 / _ase.GPa
"""Multiply a stress in eV/Angstrom^3 by this for GPa."""
