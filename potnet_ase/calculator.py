"""The ASE calculator: PotNet force fields, PotNet property predictions and complete potentials.

::

    from potnet_ase import PotNetCalculator
    atoms.calc = PotNetCalculator()              # the default shipped force field
    atoms.get_potential_energy()                 # eV
    atoms.get_forces()                           # (N, 3) eV/Angstrom
    atoms.get_stress()                           # Voigt xx, yy, zz, yz, xz, xy, eV/Angstrom^3
    atoms.calc.predict(atoms)                    # {"band_gap_eV": ..., ...}
    atoms.calc.complete_potentials(atoms)        # {"coulomb": N x N, "london": ..., ...}

Forces are ``-dE/dx`` and the stress is ``(1/V) dE/d(strain)`` (positive = tensile, ASE's sign),
both by autograd through the network and the lattice sums, so they are exact derivatives of the
energy (test them with ``ase.calculators.fd``).

The calculator is bound to one system size: a call with a different number of atoms raises a
:class:`~potnet_ase.errors.StructureError` (a changed count in an MD or relaxation loop is almost
always a bug); call ``calc.reset(system=True)`` to rebind it on purpose. For many structures use
``calc.predict(list_of_structures)``, which batches.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes

from potnet_ase.autograd import voigt
from potnet_ase.device import resolve_device
from potnet_ase.errors import PotNetInputError, StructureError
from potnet_ase.forcefield.graph import build_graph
from potnet_ase.forcefield.io import list_forcefields, load_forcefield
from potnet_ase.forcefield.model import PotNetForceField, energy_forces_stress
from potnet_ase.structures import Crystal, to_crystal

logger = logging.getLogger(__name__)

ENERGY_PROPERTIES = ("energy", "free_energy", "forces", "stress")
# Preferred default force fields, first available wins: the model for all six mlearn
# elements, else the silicon model.
DEFAULT_FORCEFIELDS = ("ff-mlearn6", "ff-si")
DTYPES = {"float64": torch.float64, "float32": torch.float32}


def default_forcefield() -> str | None:
    shipped = set(list_forcefields())
    return next((name for name in DEFAULT_FORCEFIELDS if name in shipped), None)


def prediction_key(target: str, units: str) -> str:
    """Result name with its units: ``("band_gap", "eV") -> "band_gap_eV"``,
    ``("bulk_modulus", "log10(GPa)") -> "bulk_modulus_log10_GPa"``,
    ``("formation_energy", "eV/atom") -> "formation_energy_eV_per_atom"``."""
    slug = units.replace("/", "_per_").replace("^", "")
    slug = re.sub(r"[^0-9A-Za-z_]+", "_", slug).strip("_")
    return f"{target}_{slug}" if slug else target


class PotNetCalculator(Calculator):
    """ASE calculator for PotNet force fields and property models.

    Args:
        model: a force field: shipped name (``potnet_ase.forcefield.list_forcefields()``),
            directory of a saved one, or a :class:`~potnet_ase.forcefield.PotNetForceField`;
            ``"default"`` picks the shipped default; ``None`` loads no energy model (then only
            :meth:`predict` and :meth:`complete_potentials` are available).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"`` ...
        dtype: ``"float64"`` (default; needed for finite-difference-exact forces and long MD)
            or ``"float32"`` (faster). The lattice sums are always float64.
        property_models: property models for :meth:`predict`: ``None`` (all shipped ones,
            loaded on first use), a list of names / paths, or of model objects with a
            ``predict(structures, batch_size)`` method.
        batch_size: structures per batch in :meth:`predict`.
        **kwargs: passed to ASE's ``Calculator`` (e.g. ``label``, ``directory``).

    Every stored parameter is JSON-serialisable (``calc.todict()`` goes into trajectories);
    a model object passed in is stored by its name.
    """

    implemented_properties = ENERGY_PROPERTIES
    default_parameters: dict[str, Any] = {
        "model": "default",
        "device": "auto",
        "dtype": "float64",
        "property_models": None,
        "batch_size": 64,
    }

    def __init__(
        self,
        model: str | PotNetForceField | None = "default",
        device: str | None = "auto",
        dtype: str = "float64",
        property_models: Sequence[Any] | None = None,
        batch_size: int = 64,
        **kwargs: Any,
    ) -> None:
        if dtype not in DTYPES:
            raise PotNetInputError(f"dtype must be one of {list(DTYPES)}; got {dtype!r}")
        self.device = resolve_device(device)
        self.dtype = DTYPES[dtype]
        self.forcefield = self._load(model)
        name = getattr(self.forcefield, "name", "custom") if self.forcefield is not None else None
        model_parameter = model if isinstance(model, str) or model is None else name
        if model == "default":
            model_parameter = name
        stored_models = None
        if property_models is not None:
            stored_models = [
                m if isinstance(m, str) else str(getattr(m, "name", type(m).__name__))
                for m in property_models
            ]
        self._property_model_specs = list(property_models) if property_models is not None else None
        self._property_models: list[tuple[str, Any]] | None = None
        self._system_size: int | None = None
        # Instance-level tuple: what this calculator's model actually provides.
        self.implemented_properties = ENERGY_PROPERTIES if self.forcefield is not None else ()
        super().__init__(
            model=model_parameter,
            device=str(device) if device is not None else "auto",
            dtype=dtype,
            property_models=stored_models,
            batch_size=int(batch_size),
            **kwargs,
        )

    def _load(self, model: Any) -> PotNetForceField | None:
        if model is None:
            return None
        if model == "default":
            name = default_forcefield()
            if name is None:
                raise PotNetInputError(
                    "no force field is shipped with this installation; pass model= a saved "
                    "force-field directory, or model=None for predictions only."
                )
            model = name
        if isinstance(model, PotNetForceField):
            loaded = copy.deepcopy(model)
            loaded.name = getattr(model, "name", "custom")
        elif isinstance(model, str):
            loaded = load_forcefield(model)
        else:
            raise PotNetInputError(
                f"model must be a force-field name, a directory or a PotNetForceField; got "
                f"{type(model).__name__}"
            )
        return loaded.to(device=self.device, dtype=self.dtype).eval()

    def reset(self, system: bool = False) -> None:
        """Clear cached results; with ``system=True`` also unbind the system size."""
        super().reset()
        if system:
            self._system_size = None

    def _check_system(self, atoms: Any) -> Crystal:
        """Validate `atoms` in full (structures.to_crystal) at every call: its overlap check is
        O(N log N), well under a millisecond for hundreds of atoms, so MD and relaxation steps
        need no cheaper path that could miss a diverged or collapsed system."""
        crystal = to_crystal(atoms)
        if self._system_size is not None and crystal.n_atoms != self._system_size:
            raise StructureError(
                f"{crystal.label} has {crystal.n_atoms} atoms, but this calculator was used on a "
                f"system of {self._system_size} atoms; the atom count changed between calls. "
                "Attach a new PotNetCalculator, call calc.reset(system=True) if this is "
                "intended, or use calc.predict(structures) for many structures."
            )
        self.forcefield.species(torch.as_tensor(crystal.numbers, device=self.device), crystal.label)
        self._system_size = crystal.n_atoms
        return crystal

    def calculate(
        self,
        atoms: Any = None,
        properties: Sequence[str] = ("energy",),
        system_changes: Sequence[str] = tuple(all_changes),
    ) -> None:
        """Energy (eV), free energy (= energy), forces (eV/A) and stress (Voigt, eV/A^3)."""
        if self.forcefield is None:
            raise PotNetInputError(
                "this PotNetCalculator has no force field (model=None); use predict() or "
                "complete_potentials(), or pass model= a force field."
            )
        super().calculate(atoms, properties, system_changes)
        crystal = self._check_system(self.atoms)
        graph = build_graph([crystal], self.forcefield.cutoff).to(self.device)
        as_tensor = {"dtype": self.dtype, "device": self.device}
        positions = torch.as_tensor(crystal.positions, **as_tensor)
        cells = torch.as_tensor(crystal.cell[None], **as_tensor)
        # Energy alone skips the backward pass; forces and stress share one.
        derivatives = bool(set(properties) & {"forces", "stress"})
        out = energy_forces_stress(
            self.forcefield, positions, cells, graph, forces=derivatives, stress=derivatives
        )
        energy = float(out.energy[0].detach())
        self.results = {"energy": energy, "free_energy": energy}
        if derivatives:
            self.results["forces"] = out.forces.detach().cpu().numpy().astype(np.float64)
            self.results["stress"] = voigt(out.stress)[0].detach().cpu().numpy().astype(np.float64)

    def _loaded_property_models(self) -> list[tuple[list[str], Any]]:
        """(result names, model) pairs, loaded once; a model with several targets gives one
        name per output column."""
        if self._property_models is not None:
            return self._property_models
        specs = self._property_model_specs
        if specs is None:
            from potnet_ase.models import list_pretrained

            specs = [e["name"] for e in list_pretrained() if e.get("kind") == "property"]
        models: list[tuple[list[str], Any]] = []
        taken: set[str] = set()
        for spec in specs:
            model = spec
            if isinstance(spec, str):
                from potnet_ase.models import load_model

                model = load_model(spec, device=self.device)
            config = getattr(model, "config", None) or {}
            targets = config.get("target") or getattr(model, "target", None) or str(spec)
            targets = [targets] if isinstance(targets, str) else list(targets)
            units = config.get("units", getattr(model, "units", ""))
            units = [units] * len(targets) if isinstance(units, str) else list(units)
            names = []
            for target, unit in zip(targets, units, strict=True):
                key = prediction_key(str(target), str(unit or ""))
                if key in taken:  # two models predicting the same quantity
                    key = f"{config.get('name', spec)}:{key}"
                taken.add(key)
                names.append(key)
            models.append((names, model))
        self._property_models = models
        return models

    def prediction_names(self) -> list[str]:
        """Names of the values :meth:`predict` returns (units in the names)."""
        return [key for names, _ in self._loaded_property_models() for key in names]

    def predict(
        self,
        structures: Any,
        properties: Sequence[str] | None = None,
        batch_size: int | None = None,
    ) -> dict[str, float] | dict[str, np.ndarray]:
        """PotNet property predictions, batched.

        Args:
            structures: one ``ase.Atoms`` / pymatgen ``Structure``, or a list of them.
            properties: result names (see :meth:`prediction_names`) to compute; default all.
            batch_size: structures per batch (default: the calculator's ``batch_size``).

        Returns:
            For one structure ``{name: float}``; for a list ``{name: (n,) array}``. Names carry
            the units (``band_gap_eV``, ``formation_energy_per_atom_eV_per_atom``,
            ``bulk_modulus_log10_GPa``). Nothing is written to ``self.results``.
        """
        single = not isinstance(structures, (list, tuple))
        items = [structures] if single else list(structures)
        for k, item in enumerate(items):
            to_crystal(item, index=None if single else k)
        known = self.prediction_names()
        wanted = known if properties is None else list(properties)
        unknown = [p for p in wanted if p not in known]
        if unknown:
            raise PotNetInputError(f"unknown predictions {unknown}; available: {known}")
        size = int(batch_size or self.parameters["batch_size"])
        results: dict[str, np.ndarray] = {}
        for names, model in self._loaded_property_models():
            if not set(names) & set(wanted):
                continue
            values = np.asarray(model.predict(items, batch_size=size), dtype=np.float64)
            columns = values.reshape(len(items), -1)
            for k, key in enumerate(names):
                if key in wanted:
                    results[key] = columns[:, k].copy()
        if single:
            return {key: float(values[0]) for key, values in results.items()}
        return results

    def complete_potentials(
        self,
        atoms: Any,
        potentials: Sequence[str] = ("coulomb", "london", "pauli"),
        **options: Any,
    ) -> dict[str, np.ndarray]:
        """The complete-potential N x N matrices of `atoms` (see
        :func:`potnet_ase.complete_potentials`; options such as ``convention``, ``tol``).
        Nothing is written to ``self.results``."""
        from potnet_ase.api import complete_potentials

        return complete_potentials(atoms, potentials, device=self.device, **options)
