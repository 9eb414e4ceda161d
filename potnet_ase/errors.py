"""Typed errors. Every one is a ``ValueError`` so generic handlers (matminer's
``ignore_errors``, scikit-learn) treat bad input as bad input, and every message names
the offending structure and what to do about it."""

from __future__ import annotations


class PotNetInputError(ValueError):
    """Base class for input the package cannot use as given."""


class StructureError(PotNetInputError):
    """A structure that is not a valid periodic crystal (cell, coordinates, overlaps, ...)."""


class UnsupportedElementError(PotNetInputError):
    """A structure contains an element the chosen model or feature set does not cover."""


class CheckpointError(PotNetInputError):
    """A model file that is missing, corrupt, or not a potnet-ase checkpoint."""


class ResourceLimitError(PotNetInputError):
    """A job whose memory need exceeds the configured limit; the message names the limit."""


class DeviceError(PotNetInputError):
    """A device string that torch does not know, or a device this machine does not have."""


class ConfigError(PotNetInputError):
    """A training or model configuration with an unknown key, a wrong type or a bad value."""
