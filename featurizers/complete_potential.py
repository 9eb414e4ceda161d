"""matminer featurizers built on complete interatomic potentials (PotNet's lattice sums).

For a crystal with N atoms in its cell, every requested potential gives a symmetric N x N matrix
M whose entry (a, b) is the sum of the pair potential over ALL periodic images of atom b seen
from atom a (a == b: the images of a itself). The featurizers pool these matrices into a
fixed number of numbers, so the output length never depends on N (matminer #213).

Quantities (``potnet_ase.sums.UNITS`` gives the unit U of each potential):

* site sum ``s_a = sum_b M_ab`` (U): everything atom a feels from the whole infinite crystal
  with unit weights. It is intensive: a supercell has the same site sums.
* pair sum ``M_ab`` (U) for a <= b, and the self-image sum ``M_aa`` (U; the same for every
  atom, a property of the lattice alone); optional. These describe the cell as given: a
  supercell spreads the same images over more pairs, so they are not size-consistent.
* Z-weighted Coulomb (no oxidation states needed; nuclei in a neutralising background, as in
  dscribe's Ewald sum matrix): site potential ``phi_a = k sum_b Zc_ab Z_b`` (V) and energy per
  atom ``sum_a Z_a phi_a / (2 N)`` (eV/atom), k = e^2 / (4 pi eps0) = 14.399645 eV Angstrom.
* Madelung (formal charges q from oxidation states): site potential ``k sum_b Zc_ab q_b`` (V),
  site energy ``q_a phi_a / 2`` (eV) and energy per atom (eV/atom). For a neutral cell the
  energy equals pymatgen's ``EwaldSummation.total_energy`` divided by N.
* element-pair sums (fitted): for elements A <= B, ``sum_{a in A, b in B} (M_ab + M_ba) / N``
  (A != B) or ``sum_{a, b in A} M_ab / N`` (A == B), in U per atom; intensive.

All features are invariant to the order of the atoms and to the choice of lattice basis, and
continuous in the atomic positions (smooth except where a min / max switches atom or a standard
deviation is zero).
"""

from __future__ import annotations

import logging
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from ase.data import chemical_symbols
from matminer.featurizers.base import BaseFeaturizer
from scipy import constants
from sklearn.exceptions import NotFittedError
from tqdm.auto import tqdm

from potnet_ase.api import pair_sums_of_crystals, sums_of_crystals
from potnet_ase.device import resolve_device
from potnet_ase.errors import StructureError
from potnet_ase.structures import Crystal, site_species, to_crystal
from potnet_ase.sums import DEFAULT_POTENTIALS, PairSums, PotentialParameters
from potnet_ase.sums.potentials import check_potentials

logger = logging.getLogger(__name__)

# e^2 / (4 pi eps0) in eV Angstrom, computed exactly as pymatgen's EwaldSummation.CONV_FACT.
COULOMB_CONSTANT = 1e10 * constants.e / (4 * np.pi * constants.epsilon_0)

# Feature tolerance: absolute error per matrix entry, the accuracy of matminer's EwaldEnergy
# (accuracy=4). On 2,000 MP structures no default feature moves by more than 2.1e-3 of its
# spread across structures relative to tol=1e-10, and featurizing takes 0.8x the time of
# tol=1e-6 (benchmarks/bench_featurizers.py --accuracy-only; docs/featurizers.md).
DEFAULT_FEATURE_TOL = 1e-4

OXIDATION_MODES = ("present", "guess", "none")
# Oxidation states are guessed on the reduced formula, as matminer's StructureToOxidStructure
# does (pymatgen's max_sites=-50): the search is combinatorial in the number of sites, and on
# 1,970 MP formulas it is 6.7x faster than guessing whole cells, whose first guess differs for
# 3.5 % of them (often a fractional mixed valence where the formula unit gives integer states).
# Formula units of more sites than this are not guessed.
GUESS_MAX_SITES = 50

SHORT_UNITS = {
    "coulomb": "1/A",
    "london": "1/A^6",
    "pauli": "1",
    "lennard_jones": "1",
    "morse": "1",
    "screened_coulomb": "1/A",
}

CITATIONS = [
    "@inproceedings{lin2023potnet, title={Efficient Approximations of Complete Interatomic "
    "Potentials for Crystal Property Prediction}, author={Lin, Yuchao and Yan, Keqiang and Luo, "
    "Youzhi and Liu, Yi and Qian, Xiaoning and Ji, Shuiwang}, booktitle={Proceedings of the "
    "40th International Conference on Machine Learning}, pages={21260--21287}, year={2023}}",
    "@article{ewald1921, title={Die Berechnung optischer und elektrostatischer Gitterpotentiale},"
    " author={Ewald, P. P.}, journal={Annalen der Physik}, volume={369}, number={3}, "
    "pages={253--287}, year={1921}}",
    "@techreport{crandall1998, title={Fast evaluation of Epstein zeta functions}, "
    "author={Crandall, Richard E.}, institution={Center for Advanced Computation, Reed College},"
    " year={1998}}",
]

IMPLEMENTORS = ["potnet-ase developers"]


def is_structure_entry(entry: Any) -> bool:
    """True when `entry` is one structure rather than a row of featurize arguments."""
    return not isinstance(entry, (tuple, list, np.ndarray))


def as_rows(entries: Any) -> list[tuple]:
    """matminer's reading of ``featurize_many`` input: a list of argument tuples."""
    if hasattr(entries, "to_numpy") and getattr(entries, "ndim", 1) == 2:  # DataFrame
        entries = entries.to_numpy()
    if not isinstance(entries, (tuple, list, np.ndarray)) and not hasattr(entries, "to_numpy"):
        raise TypeError("'entries' must be a list-like object")
    entries = list(entries)
    if entries and is_structure_entry(entries[0]):
        return [(entry,) for entry in entries]
    return [tuple(entry) for entry in entries]


@lru_cache(maxsize=65536)
def guessed_oxidation_states(formula: str) -> tuple[tuple[str, float], ...] | None:
    """pymatgen's first oxidation-state guess for the reduced formula of a cell's composition
    (what matminer's ``StructureToOxidStructure`` assigns), cached per formula because
    guessing is slow (matminer #454). ``None`` when no charge-balanced guess exists or the
    formula unit has more than ``GUESS_MAX_SITES`` atoms."""
    from pymatgen.core import Composition

    try:
        guesses = Composition(formula).oxi_state_guesses(max_sites=-GUESS_MAX_SITES)
    except ValueError:  # pymatgen: the formula unit exceeds GUESS_MAX_SITES atoms
        return None
    if not guesses:
        return None
    return tuple(sorted((str(el), float(q)) for el, q in guesses[0].items()))


def formal_charges(crystal: Crystal, mode: str) -> np.ndarray | None:
    """Formal charges (e) per site: oxidation states carried by the structure, or guessed.

    Args:
        crystal: a validated crystal (``to_crystal``), which keeps the oxidation states of a
            pymatgen ``Structure`` (``Species`` with ``oxi_state``) or the ``initial_charges``
            array of an ``ase.Atoms``.
        mode: ``"present"`` (only carried states), ``"guess"`` (carried, else pymatgen's guess),
            ``"none"``.

    Returns:
        (N,) float64 charges, or ``None`` when the structure has none and none can be guessed.
    """
    if mode == "none":
        return None
    if crystal.charges is not None:
        return crystal.charges
    if mode != "guess":
        return None
    counts = Counter(crystal.numbers.tolist())
    formula = " ".join(f"{chemical_symbols[z]}{n}" for z, n in sorted(counts.items()))
    guess = guessed_oxidation_states(formula)
    if guess is None:
        return None
    by_element = dict(guess)
    return np.asarray([by_element[chemical_symbols[z]] for z in crystal.numbers], dtype=np.float64)


def structure_symbols(structure: Any) -> list[str]:
    """Element symbols per site of a pymatgen ``Structure`` or ``ase.Atoms``."""
    if hasattr(structure, "sites"):
        return [specie.symbol for specie in site_species(structure)]
    return list(structure.get_chemical_symbols())


def pooled(values: np.ndarray) -> np.ndarray:
    """mean, std (population), min, max over the last axis: (..., M) -> (..., 4)."""
    return np.stack([values.mean(-1), values.std(-1), values.min(-1), values.max(-1)], axis=-1)


STATISTICS = ("mean", "std", "min", "max")


class CompletePotentialBase(BaseFeaturizer):
    """Options and batched lattice sums shared by the structure and site featurizers.

    Args:
        potentials: names from ``potnet_ase.sums.POTENTIALS``.
        convention: Pauli convention, ``"physical"`` or ``"potnet"`` (see ``potnet_ase.sums``).
        pauli_alpha: Pauli decay constant, 1/Angstrom.
        tol: absolute error per lattice-sum entry (default 1e-4, see ``DEFAULT_FEATURE_TOL``).
        oxidation_states: ``"present"`` (Madelung features from oxidation states the structure
            carries, NaN without them), ``"guess"`` (guess missing ones with pymatgen, slow
            for complex compositions, cached per formula) or ``"none"`` (no Madelung features).
        device: ``None``/``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...
        batch_size: structures per engine call.
        n_jobs: kept at 1: batching replaces matminer's process pool (which breaks CUDA,
            matminer #638). Any other value raises at featurization.
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
        self.potentials = potentials
        self.convention = convention
        self.pauli_alpha = pauli_alpha
        self.tol = tol
        self.oxidation_states = oxidation_states
        self.device = device
        self.batch_size = batch_size
        self.n_jobs = n_jobs

    # matminer keeps n_jobs behind a read-only property; a plain attribute makes it an
    # ordinary keyword argument for sklearn's get_params / set_params / clone.
    @property
    def n_jobs(self) -> int:
        return self._n_jobs

    @n_jobs.setter
    def n_jobs(self, value: int) -> None:
        self._n_jobs = value

    def _checked_potentials(self) -> tuple[str, ...]:
        names = check_potentials(self.potentials)
        if self.oxidation_states not in OXIDATION_MODES:
            raise ValueError(
                f"oxidation_states must be one of {OXIDATION_MODES}; got {self.oxidation_states!r}"
            )
        if self.n_jobs != 1:
            raise ValueError(
                f"{type(self).__name__} batches structures on one device instead of forking "
                f"processes; keep n_jobs=1 (got {self.n_jobs}) and choose device / batch_size."
            )
        return names

    def _has_coulomb(self) -> bool:
        return "coulomb" in check_potentials(self.potentials)

    def _madelung_enabled(self) -> bool:
        return self._has_coulomb() and self.oxidation_states != "none"

    def _parameters(self) -> PotentialParameters:
        return PotentialParameters(convention=self.convention, pauli_alpha=self.pauli_alpha)

    def lattice_sums(
        self,
        structures: Sequence[Any],
        indices: Sequence[int] | None = None,
        pbar: bool = False,
    ) -> list[tuple[Crystal, dict[str, np.ndarray]] | Exception]:
        """The validated crystal and its N x N matrices per structure, or the exception that
        structure raised. `indices` name the structures in error messages (default: position).
        """
        names = self._checked_potentials()
        parameters, device = self._parameters(), resolve_device(self.device)
        crystals = validated(structures, indices)

        def matrices(members: list[int]) -> list[tuple[Crystal, dict[str, np.ndarray]]]:
            batch = [crystals[k] for k in members]
            sums = sums_of_crystals(
                batch, names, parameters=parameters, tol=self.tol, device=device
            )
            return list(zip(batch, sums, strict=True))

        return self.in_batches(crystals, matrices, pbar)

    def in_batches(
        self,
        crystals: Sequence[Crystal | Exception],
        compute: Callable[[list[int]], list[Any]],
        pbar: bool = False,
    ) -> list[Any]:
        """``compute`` over batches of ``batch_size`` crystals (given as indices into
        `crystals`), one result per crystal; the exceptions in `crystals` pass through.

        Similar crystals are batched together, which keeps the engine's padded blocks tight.
        A batch that fails as a whole (e.g. over the memory limit) is retried one crystal at
        a time, so one bad structure never loses the others.
        """
        results: list[Any] = list(crystals)
        good = [k for k, crystal in enumerate(crystals) if isinstance(crystal, Crystal)]
        good.sort(key=lambda k: (crystals[k].n_atoms, crystals[k].volume / crystals[k].n_atoms))
        size = max(1, int(self.batch_size))
        starts = range(0, len(good), size)
        for start in tqdm(starts, desc=type(self).__name__, unit="batch", disable=not pbar):
            members = good[start : start + size]
            try:
                values = compute(members)
            except Exception:
                logger.debug("batch failed; retrying its %d structures one by one", len(members))
                values = []
                for k in members:
                    try:
                        values.extend(compute([k]))
                    except Exception as error:  # kept per row, as matminer's ignore_errors expects
                        values.append(error)
            for k, value in zip(members, values, strict=True):
                results[k] = value
        return results

    def features_from_sums(
        self, row: tuple, crystal: Crystal, sums: dict[str, np.ndarray]
    ) -> list[float]:
        """Features of one featurize row from its validated crystal and N x N matrices."""
        raise NotImplementedError

    def features_of_rows(
        self, rows: Sequence[tuple], results: Sequence[tuple[Crystal, dict[str, np.ndarray]]]
    ) -> list[list | Exception]:
        """Features of rows whose lattice sums succeeded, or the exception a row raised,
        one row at a time through :meth:`features_from_sums`."""
        output: list[list | Exception] = []
        for row, result in zip(rows, results, strict=True):
            try:
                output.append(self.features_from_sums(row, *result))
            except Exception as error:  # one bad row never loses the others
                output.append(error)
        return output

    def feature_rows(self, rows: Sequence[tuple], pbar: bool = False) -> list[list | Exception]:
        """Features per featurize row, or the exception that row raised (never raised here).

        Args:
            rows: featurize argument tuples, ``(structure,)`` or ``(structure, site index)``.
        """
        # Site rows repeat one structure per site; its sums are taken once.
        structures, slot, first_row = unique_structures(row[0] for row in rows)
        sums = self.lattice_sums(structures, indices=first_row, pbar=pbar)
        output: list[list | Exception] = [sums[k] for k in slot]  # the failures stay as they are
        good = [i for i, k in enumerate(slot) if not isinstance(sums[k], Exception)]
        features = self.features_of_rows([rows[i] for i in good], [sums[slot[i]] for i in good])
        for i, value in zip(good, features, strict=True):
            output[i] = value
        return output

    def featurize_many(
        self,
        entries: Any,
        ignore_errors: bool = False,
        return_errors: bool = False,
        pbar: bool | dict = True,
    ) -> list[list]:
        """Batched featurization with matminer's ``ignore_errors`` / ``return_errors`` rules.

        Rows whose structure (or feature computation) raises get NaN features, plus the error
        text (with its traceback) when ``return_errors``; with ``ignore_errors=False`` the
        first error is raised.
        """
        if return_errors and not ignore_errors:
            raise ValueError("Please set ignore_errors to True to use return_errors.")
        rows = as_rows(entries)
        if not rows:
            return []
        n_features = len(self.feature_labels())
        output: list[list] = []
        for result in self.feature_rows(rows, pbar=bool(pbar)):
            if not isinstance(result, Exception):
                output.append(result + [float("nan")] if return_errors else result)
                continue
            if not ignore_errors:
                raise type(result)(
                    f"{result}\nTO SKIP THESE ERRORS when featurizing specific compounds, "
                    "set 'ignore_errors=True' when running the batch featurize() operation "
                    "(e.g., featurize_many(), featurize_dataframe(), etc.)."
                ).with_traceback(result.__traceback__) from result
            nan = [float("nan")] * n_features
            if return_errors:
                text = traceback.format_exception(type(result), result, result.__traceback__)
                nan = nan + ["".join(text)]
            output.append(nan)
        return output

    def featurize_wrapper(
        self, x: tuple, return_errors: bool = False, ignore_errors: bool = False
    ) -> list:
        """One row through the batched path (used by ``MultipleFeaturizer`` when it iterates
        over entries; prefer ``iterate_over_entries=False`` to keep the batching)."""
        return self.featurize_many(
            [tuple(x)], ignore_errors=ignore_errors, return_errors=return_errors, pbar=False
        )[0]

    def precheck(self, structure: Any, *args: Any) -> bool:
        """True when the structure is a valid 3D crystal these features are defined for
        (periodic, finite coordinates, non-singular cell, ordered, no overlapping atoms)."""
        try:
            to_crystal(structure)
        except StructureError:
            return False
        return True

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Feature labels as scikit-learn expects them (``set_output``, ``ColumnTransformer``)."""
        return np.asarray(self.feature_labels(), dtype=object)

    def citations(self) -> list[str]:
        return list(CITATIONS)

    def implementors(self) -> list[str]:
        return list(IMPLEMENTORS)


def unique_structures(structures: Iterable[Any]) -> tuple[list[Any], list[int], list[int]]:
    """Distinct structure objects (by identity), each input's slot among them, and the input
    position where each first appears: the site featurizer's rows repeat one structure per
    site, and each needs its sums only once."""
    distinct: list[Any] = []
    first_row: list[int] = []
    seen: dict[int, int] = {}
    slot: list[int] = []
    for position, structure in enumerate(structures):
        key = id(structure)
        if key not in seen:
            seen[key] = len(distinct)
            distinct.append(structure)
            first_row.append(position)
        slot.append(seen[key])
    return distinct, slot, first_row


class CompletePotentialFeaturizer(CompletePotentialBase):
    """Structure features from complete interatomic potentials (PotNet lattice sums).

    Feature groups, in label order (U = unit of the potential; see the module docstring):

    1. per potential: site sum mean/std/min/max (U, intensive);
    2. with coulomb: Z-weighted energy per atom (eV/atom) and site potential std/min/max (V),
       intensive, no oxidation states needed;
    3. with coulomb and ``oxidation_states != "none"``: Madelung energy per atom (eV/atom) and
       site Madelung energy std/min/max (eV), intensive, NaN without oxidation states; then
       whether oxidation states were assigned (1 or 0). The flag keeps "no charge-balanced
       assignment exists" (mostly metals) visible after NaN imputation: without it a random
       forest lost that signal on MP band gaps (docs/benchmarks.md);
    4. with ``pair_statistics=True``: per potential, self-image sum (U) and pair sum
       mean/std/min/max over a <= b (U), which describe the cell as given (not
       size-consistent);
    5. with ``element_pairs=True`` (needs ``fit``): per potential and fitted element pair,
       the element-pair sum per atom (U/atom, intensive).

    Every default feature is intensive. The pair statistics are off by default because,
    depending on the cell chosen, they made a random forest worse on MP formation energies
    (docs/benchmarks.md).

    Args:
        pair_statistics: add the cell-dependent pair-sum statistics (group 4).
        element_pairs: add fitted element-pair sums (like matminer's
            PartialRadialDistributionFunction); ``fit`` keeps the most frequent pairs.
        max_element_pairs: how many element pairs ``fit`` keeps (most structures first).
        **options: see :class:`CompletePotentialBase`.
    """

    def __init__(
        self,
        potentials: Sequence[str] = DEFAULT_POTENTIALS,
        convention: str = "physical",
        pauli_alpha: float = 3.0,
        tol: float = DEFAULT_FEATURE_TOL,
        oxidation_states: str = "present",
        pair_statistics: bool = False,
        element_pairs: bool = False,
        max_element_pairs: int = 20,
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
        self.pair_statistics = pair_statistics
        self.element_pairs = element_pairs
        self.max_element_pairs = max_element_pairs

    def fit(self, X: Any, y: Any = None) -> CompletePotentialFeaturizer:
        """Choose the element pairs (only needed with ``element_pairs=True``).

        Args:
            X: structures: a list, Series, one-column DataFrame / array of rows, or any
                other iterable of structures (read once, so a generator streaming a large
                file keeps memory bounded).
        """
        if self.element_pairs:
            present: Counter[tuple[str, str]] = Counter()
            list_like = isinstance(X, (tuple, list, np.ndarray)) or hasattr(X, "to_numpy")
            for (structure,) in as_rows(X) if list_like else ((s,) for s in X):
                try:
                    elements = sorted(set(structure_symbols(structure)))
                except Exception:  # unusable rows are skipped here and fail in featurize
                    continue
                present.update((a, b) for i, a in enumerate(elements) for b in elements[i:])
            ranked = sorted(present.items(), key=lambda item: (-item[1], item[0]))
            self.element_pairs_ = [pair for pair, _ in ranked[: int(self.max_element_pairs)]]
        return self

    def _fitted_pairs(self) -> list[tuple[str, str]]:
        if not self.element_pairs:
            return []
        if not hasattr(self, "element_pairs_"):
            raise NotFittedError(
                "CompletePotentialFeaturizer(element_pairs=True) chooses its element pairs in "
                "fit; call fit(structures) or fit_featurize_dataframe first."
            )
        return self.element_pairs_

    def feature_labels(self) -> list[str]:
        names = self._checked_potentials()
        labels = []
        for p in names:
            labels += [f"{p} site sum {s} ({SHORT_UNITS[p]})" for s in STATISTICS]
        if "coulomb" in names:
            labels.append("coulomb Z-weighted energy per atom (eV/atom)")
            labels += [f"coulomb Z-weighted site potential {s} (V)" for s in STATISTICS[1:]]
        if self._madelung_enabled():
            labels.append("Madelung energy per atom (eV/atom)")
            labels += [f"Madelung site energy {s} (eV)" for s in STATISTICS[1:]]
            labels.append("Madelung oxidation states assigned (1 or 0)")
        if self.pair_statistics:
            for p in names:
                labels.append(f"{p} self-image sum ({SHORT_UNITS[p]})")
                labels += [f"{p} pair sum {s} ({SHORT_UNITS[p]})" for s in STATISTICS]
        for p in names:
            labels += [
                f"{p} element-pair sum {a}-{b} ({SHORT_UNITS[p]} per atom)"
                for a, b in self._fitted_pairs()
            ]
        return labels

    def featurize(self, structure: Any) -> list[float]:
        """Features of one pymatgen ``Structure`` or ``ase.Atoms`` (see the class docstring).

        Raises:
            StructureError: the structure is not a valid 3D crystal (the message says why).
        """
        result = self.feature_rows([(structure,)])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def feature_rows(self, rows: Sequence[tuple], pbar: bool = False) -> list[list | Exception]:
        """Features per row, or the exception that row raised (never raised here)."""
        crystals = validated([row[0] for row in rows])
        charges: list[np.ndarray | None] = [None] * len(rows)
        for k, crystal in enumerate(crystals):
            if isinstance(crystal, Crystal):
                try:  # oxidation-state lookups are per structure and may fail on their own
                    charges[k] = self._charges(crystal)
                except Exception as error:  # one bad row never loses the others
                    crystals[k] = error
        names = self._checked_potentials()
        parameters, device = self._parameters(), resolve_device(self.device)

        def features(members: list[int]) -> list[list[float]]:
            batch = [crystals[k] for k in members]
            sums = pair_sums_of_crystals(
                batch, names, parameters=parameters, tol=self.tol, device=device
            )
            return self.features_of_batch(batch, sums, [charges[k] for k in members]).tolist()

        return self.in_batches(crystals, features, pbar)

    def _charges(self, crystal: Crystal) -> np.ndarray | None:
        if not self._madelung_enabled():
            return None
        return formal_charges(crystal, self.oxidation_states)

    def features_of_batch(
        self,
        crystals: Sequence[Crystal],
        sums: PairSums,
        charges: Sequence[np.ndarray | None],
    ) -> np.ndarray:
        """Features of B crystals from their flat pair sums, (B, n_features).

        Every default feature pools a weighted site sum ``sum_b M_ab w_b`` (w = 1, Z or q),
        taken for the whole batch at once from the flat pairs, so the cost does not grow with
        the number of distinct cell sizes; only the opt-in pair statistics and element pairs
        reshape each crystal's N x N matrices.

        Args:
            crystals: the validated crystals, in the order of `sums`.
            sums: their pair sums (``potnet_ase.api.pair_sums_of_crystals``).
            charges: their formal charges, (N,) each, or ``None`` where there are none
                (ignored unless Madelung features are on).
        """
        names = self._checked_potentials()
        counts = np.array([c.n_atoms for c in crystals])
        first, second = sums.first.cpu().numpy(), sums.second.cpu().numpy()
        values = {p: v.cpu().numpy() for p, v in sums.values.items()}

        def site_sums(potential: str, weights: np.ndarray) -> np.ndarray:
            pair_terms = values[potential] * weights[second]
            return np.bincount(first, weights=pair_terms, minlength=int(counts.sum()))

        ones = np.ones(int(counts.sum()))
        features = [segment_statistics(site_sums(p, ones), counts) for p in names]
        if "coulomb" in names:
            numbers = np.concatenate([c.numbers for c in crystals]).astype(np.float64)
            potential = COULOMB_CONSTANT * site_sums("coulomb", numbers)
            features.append(charge_weighted(potential, numbers, counts, "potential"))
        if self._madelung_enabled():
            assigned = np.array([q is not None for q in charges])
            formal = np.concatenate(
                [np.zeros(n) if q is None else q for n, q in zip(counts, charges, strict=True)]
            )
            potential = COULOMB_CONSTANT * site_sums("coulomb", formal)
            madelung = charge_weighted(potential, formal, counts, "energy")
            madelung[~assigned] = np.nan
            features += [madelung, assigned[:, None].astype(np.float64)]
        pairs = self._fitted_pairs()
        if self.pair_statistics or pairs:
            matrices = [np.stack([m[p] for p in names]) for m in sums.matrices()]  # (P, N, N)
            if self.pair_statistics:
                features.append(np.stack([pair_statistics(m) for m in matrices]))
            if pairs:
                features.append(
                    np.stack(
                        [
                            element_pair_sums(m, c.numbers, pairs).ravel()
                            for m, c in zip(matrices, crystals, strict=True)
                        ]
                    )
                )
        return np.concatenate(features, axis=1)


def validated(
    structures: Sequence[Any], indices: Sequence[int] | None = None
) -> list[Crystal | Exception]:
    """Each structure validated (``to_crystal``), or the exception it raised; `indices` name
    the structures in error messages (default: position)."""
    crystals: list[Crystal | Exception] = []
    names_of = range(len(structures)) if indices is None else indices
    for structure, index in zip(structures, names_of, strict=True):
        try:
            crystals.append(to_crystal(structure, index=index))
        except Exception as error:  # kept per row, as matminer's ignore_errors expects
            crystals.append(error)
    return crystals


def segment_statistics(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """mean, std (population), min, max of each run of `counts` consecutive values,
    (sum of counts,) -> (B, 4)."""
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    mean = np.add.reduceat(values, starts) / counts
    deviation = values - np.repeat(mean, counts)
    std = np.sqrt(np.add.reduceat(deviation * deviation, starts) / counts)
    low, high = np.minimum.reduceat(values, starts), np.maximum.reduceat(values, starts)
    return np.stack([mean, std, low, high], axis=-1)


def charge_weighted(
    potential: np.ndarray, charges: np.ndarray, counts: np.ndarray, spread: str
) -> np.ndarray:
    """Charge-weighted Coulomb energy per atom (eV/atom), then std/min/max of either the site
    potentials (V, ``spread="potential"``) or the site energies ``q phi / 2`` (eV,
    ``spread="energy"``), per run of `counts` atoms; (B, 4).

    Args:
        potential: site potentials ``k (Zc q)_a`` of the crystals' atoms in order, V.
        charges: the charges q that made them, e.
    """
    site_energy = 0.5 * charges * potential
    energy = segment_statistics(site_energy, counts)[:, :1]  # mean site energy = E / N
    spread_of = segment_statistics(potential if spread == "potential" else site_energy, counts)
    return np.concatenate([energy, spread_of[:, 1:]], axis=1)


def pair_statistics(matrices: np.ndarray) -> np.ndarray:
    """Per potential: the self-image sum, then mean/std/min/max of the pair sums over a <= b,
    potential after potential; (P, N, N) -> (5 P,)."""
    first, second = upper_triangle(matrices.shape[-1])
    return np.concatenate([matrices[:, :1, 0], pooled(matrices[:, first, second])], axis=1).ravel()


def upper_triangle(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the pairs a <= b of an n x n matrix (cached per n)."""
    return _upper_triangle(n)


@lru_cache(maxsize=512)
def _upper_triangle(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(n)


def element_pair_sums(
    matrices: np.ndarray, numbers: np.ndarray, pairs: Sequence[tuple[str, str]]
) -> np.ndarray:
    """Element-pair sums per atom, (..., P, len(pairs)): for elements A != B,
    ``sum_{a in A, b in B} (M_ab + M_ba) / N``; for A == B, ``sum_{a, b in A} M_ab / N``.

    Args:
        matrices: (..., P, N, N) symmetric lattice sums.
        numbers: (..., N) atomic numbers.
        pairs: element symbol pairs.
    """
    elements = sorted({el for pair in pairs for el in pair})
    column = {el: k for k, el in enumerate(elements)}
    symbols = np.asarray(chemical_symbols)[numbers]
    one_hot = (symbols[..., None] == np.asarray(elements)).astype(np.float64)  # (..., N, K)
    blocks = np.einsum("...na,...pnm,...mb->...pab", one_hot, matrices, one_hot)  # (..., P, K, K)
    a = np.asarray([column[x] for x, _ in pairs])
    b = np.asarray([column[y] for _, y in pairs])
    factor = np.where(a == b, 1.0, 2.0)
    return blocks[..., a, b] * factor / numbers.shape[-1]


__all__ = [
    "COULOMB_CONSTANT",
    "CompletePotentialBase",
    "CompletePotentialFeaturizer",
    "DEFAULT_FEATURE_TOL",
    "SHORT_UNITS",
    "formal_charges",
]
