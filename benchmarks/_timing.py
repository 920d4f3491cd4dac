"""Timing shared by the benchmark scripts (imported as ``_timing``: scripts run from their own folder)."""
import time

import numpy as np


def best_time(fn, repeat):
    """Best wall time in seconds of ``repeat`` calls of ``fn()``."""
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best
