"""The 92-dimensional CGCNN-style atom encoding, built from pymatgen element data.

One-hot blocks (Xie & Grossman, PRL 120, 145301 (2018), Table S2), in this order:

=====================  =====  ====================================================
property               bins   binning
=====================  =====  ====================================================
group                  18     groups 1-18 (lanthanides and actinides: group 3)
period                 8      periods 1-7, plus one slot for the f-block series
electronegativity      10     Pauling, equal bins over the covered elements
covalent radius        10     pymatgen ``atomic_radius_calculated`` (Angstrom)
valence electrons      12     electrons outside the noble-gas core, capped at 12
first ionisation       10     eV, equal bins on a log scale
electron affinity      10     eV, equal bins
block                  4      s, p, d, f
atomic volume          10     molar volume (cm^3/mol), equal bins on a log scale
=====================  =====  ====================================================

CGCNN's published table has 92 columns with 91 listed bins; the extra f-block period slot
here makes the same width. Missing data leave that block all zero. Elements 1-100 are
covered; anything else raises :class:`~potnet_ase.errors.UnsupportedElementError`.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np

from potnet_ase.errors import UnsupportedElementError

MAX_NUMBER = 100
FEATURE_SIZE = 92
_NOBLE_GAS_CORE = (0, 2, 10, 18, 36, 54, 86)


def _properties(z: int) -> dict[str, float | str | None]:
    from pymatgen.core import Element

    element = Element.from_Z(z)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns for every missing datum

        def safe(getter):
            try:
                value = getter()
                return None if value is None or not np.isfinite(float(value)) else float(value)
            except (ValueError, TypeError, AttributeError, IndexError, KeyError):
                return None

        core = max(c for c in _NOBLE_GAS_CORE if c < z) if z > 2 else 0
        return {
            "group": element.group,
            "period": 8 if element.block == "f" else element.row,
            "electronegativity": safe(lambda: element.X),
            "covalent_radius": safe(lambda: element.atomic_radius_calculated),
            "valence": min(z - core, 12),
            "ionisation": safe(lambda: np.log(element.ionization_energies[0])),
            "affinity": safe(lambda: element.electron_affinity),
            "block": element.block,
            "volume": safe(lambda: np.log(element.molar_volume)),
        }


def _one_hot(index: int | None, size: int) -> np.ndarray:
    row = np.zeros(size)
    if index is not None and 0 <= index < size:
        row[index] = 1.0
    return row


def _binned(values: list[float | None], bins: int) -> list[np.ndarray]:
    known = np.array([v for v in values if v is not None])
    edges = np.linspace(known.min(), known.max(), bins + 1)[1:-1]
    return [
        _one_hot(None if v is None else int(np.searchsorted(edges, v, side="right")), bins)
        for v in values
    ]


@lru_cache(maxsize=1)
def atom_feature_table() -> np.ndarray:
    """(MAX_NUMBER + 1, 92) float32 array; row Z is element Z's encoding (row 0 unused)."""
    props = [_properties(z) for z in range(1, MAX_NUMBER + 1)]
    blocks = [
        [_one_hot(None if p["group"] is None else int(p["group"]) - 1, 18) for p in props],
        [_one_hot(int(p["period"]) - 1, 8) for p in props],
        _binned([p["electronegativity"] for p in props], 10),
        _binned([p["covalent_radius"] for p in props], 10),
        [_one_hot(int(p["valence"]) - 1, 12) for p in props],
        _binned([p["ionisation"] for p in props], 10),
        _binned([p["affinity"] for p in props], 10),
        [_one_hot("spdf".index(str(p["block"])), 4) for p in props],
        _binned([p["volume"] for p in props], 10),
    ]
    table = np.zeros((MAX_NUMBER + 1, FEATURE_SIZE), dtype=np.float32)
    table[1:] = np.concatenate([np.stack(block) for block in blocks], axis=1)
    return table


def check_elements(numbers: np.ndarray, label: str, supported: set[int] | None = None) -> None:
    """Raise UnsupportedElementError when `numbers` holds an element outside `supported`
    (default: the elements the atom encoding covers, Z = 1..100)."""
    numbers = np.asarray(numbers)
    allowed = supported if supported is not None else set(range(1, MAX_NUMBER + 1))
    unknown = sorted({int(z) for z in numbers} - allowed)
    if unknown:
        from pymatgen.core import Element

        names = []
        for z in unknown:
            try:
                names.append(Element.from_Z(z).symbol)
            except ValueError:
                names.append(f"Z={z}")
        raise UnsupportedElementError(
            f"{label} contains {', '.join(names)}, which this model does not cover "
            f"(supported: atomic numbers 1-{MAX_NUMBER}); remove those structures or use a "
            "model trained on these elements."
        )
