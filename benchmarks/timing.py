"""The timing rule of every benchmark (DESIGN.md section 6): medians over repeats."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def median_seconds(function: Callable[[], object], repeats: int, warm_up: bool = True) -> float:
    """Median wall time of `function()` over `repeats` calls, seconds, after one untimed call
    (lazy imports, allocator and cache warm-up) unless `warm_up` is False."""
    if warm_up:
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))
