"""Site featurizer from complete interatomic potentials, for matminer's
``SiteStatsFingerprint`` and other site-level pipelines.

``featurize(structure, index)`` describes one site a; the lattice sums of a structure are
computed once and reused for all of its sites (``SiteStatsFingerprint`` asks site by site).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from featurizers.complete_potential import (
    COULOMB_CONSTANT,
    DEFAULT_FEATURE_TOL,
    SHORT_UNITS,
    CompletePotentialBase,
    formal_charges,
)
from potnet_ase.structures import Crystal
from potnet_ase.sums import DEFAULT_POTENTIALS


class CompletePotentialSiteFeaturizer(CompletePotentialBase):
    """Features of one site a from complete interatomic potentials.

    In label order (U = unit of the potential):

    1. per potential: site sum ``sum_b M_ab`` (U) and self-image sum ``M_aa`` (U);
    2. with coulomb: Z-weighted site potential ``k sum_b Zc_ab Z_b`` (V), k = 14.399645 eV A;
    3. with coulomb and ``oxidation_states != "none"``: Madelung site potential
       ``k sum_b Zc_ab q_b`` (V) and site energy ``q_a`` times half of it (eV); NaN without
       oxidation states.

    All are intensive (a supercell gives its copies of a site the same values). Options as in
    :class:`featurizers.complete_potential.CompletePotentialBase`; no ``fit`` is needed.
    """

    def __init__(
        self,
        potentials: Sequence[str] = DEFAULT_POTENTIALS,
        convention: str = "physical",
        pauli_alpha: float = 3.0,
        tol: float = DEFAULT_FEATURE_TOL,
        oxidation_states: str = "present",
        device: str | None = None,
        batch_size: int = 128,
        n_jobs: int = 1,
    ) -> None:
        super().__init__(
            potentials=potentials,
            convention=convention,
            pauli_alpha=pauli_alpha,
            tol=tol,
            oxidation_states=oxidation_states,
            device=device,
            batch_size=batch_size,
            n_jobs=n_jobs,
        )
        self._cache: tuple[tuple, Crystal, dict[str, np.ndarray]] | None = None

    def feature_labels(self) -> list[str]:
        names = self._checked_potentials()
        labels = []
        for p in names:
            unit = SHORT_UNITS[p]
            labels += [f"{p} site sum ({unit})", f"{p} self-image sum ({unit})"]
        if "coulomb" in names:
            labels.append("coulomb Z-weighted site potential (V)")
        if self._madelung_enabled():
            labels += ["Madelung site potential (V)", "Madelung site energy (eV)"]
        return labels

    def featurize(self, structure: Any, index: int) -> list[float]:
        """Features of site `index` of a pymatgen ``Structure`` or ``ase.Atoms``.

        The sums of the most recent structure are kept (keyed by its geometry and the
        options), so featurizing every site of one structure costs one lattice sum.
        """
        key = (geometry_key(structure), self._option_key())
        if self._cache is None or self._cache[0] != key:
            result = self.lattice_sums([structure])[0]
            if isinstance(result, Exception):
                raise result
            self._cache = (key, *result)
        _, crystal, sums = self._cache
        return self.features_from_sums((structure, index), crystal, sums)

    def _option_key(self) -> tuple:
        return (tuple(self.potentials), self.convention, self.pauli_alpha, self.tol)

    def features_from_sums(
        self, row: tuple, crystal: Crystal, sums: dict[str, np.ndarray]
    ) -> list[float]:
        index = int(row[1])
        if not -crystal.n_atoms <= index < crystal.n_atoms:
            raise IndexError(f"site index {index} is out of range for {crystal.label}")
        names = self._checked_potentials()
        features: list[float] = []
        for p in names:
            features += [float(sums[p][index].sum()), float(sums[p][index, index])]
        if "coulomb" in names:
            row_c = sums["coulomb"][index]
            features.append(COULOMB_CONSTANT * float(row_c @ crystal.numbers.astype(np.float64)))
        if self._madelung_enabled():
            charges = formal_charges(crystal, self.oxidation_states)
            if charges is None:
                features += [float("nan")] * 2
            else:
                potential = COULOMB_CONSTANT * float(sums["coulomb"][index] @ charges)
                features += [potential, 0.5 * float(charges[index]) * potential]
        return features

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_cache"] = None  # a cache, not state: keep pickles (and process pools) light
        return state


def geometry_key(structure: Any) -> bytes | None:
    """Bytes that change whenever the cell, positions or elements of a pymatgen ``Structure``
    or ``ase.Atoms`` change; ``None`` for anything else (disordered structures included),
    which validation then rejects with its own message."""
    try:
        if hasattr(structure, "lattice"):
            arrays = (structure.lattice.matrix, structure.cart_coords, structure.atomic_numbers)
        else:
            arrays = (structure.cell.array, structure.get_positions(), structure.numbers)
    except Exception:  # not a structure we can key; to_crystal says why
        return None
    return b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)
