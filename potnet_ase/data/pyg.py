"""The torch-geometric names this package uses, imported in one place.

torch-geometric 2.8 calls ``torch.jit.script`` while importing, which torch >= 2.10 reports
with a DeprecationWarning from inside torch; it is silenced here, for that import only, so
that users running with warnings as errors can import potnet-ase.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=DeprecationWarning)
    from torch_geometric.data import Batch, Data
    from torch_geometric.loader import DataLoader

__all__ = ["Batch", "Data", "DataLoader"]
