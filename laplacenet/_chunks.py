"""Sums over the data axis, taken chunk by chunk so that peak memory does not grow with N."""
import numpy as np

__all__ = ["DEFAULT_CHUNK_ROWS", "rows_for_budget", "chunk_slices", "data_sum"]

DEFAULT_CHUNK_ROWS = 8192
#: bytes one chunk of per-pattern Jacobians may take (chunk * K * W * 8)
JACOBIAN_CHUNK_BYTES = 64 * 2**20


def rows_for_budget(bytes_per_row, budget=JACOBIAN_CHUNK_BYTES):
    """How many rows of ``bytes_per_row`` fit in ``budget`` (at least one)."""
    return max(1, int(budget // max(1, bytes_per_row)))


def chunk_slices(n_rows, chunk_size):
    for start in range(0, n_rows, chunk_size):
        yield slice(start, min(start + chunk_size, n_rows))


def data_sum(fn, X, T, chunk_size):
    """``sum over chunks of fn(X_chunk, T_chunk)``; ``fn`` returns an array or a tuple of arrays."""
    total = None
    for sl in chunk_slices(X.shape[0], chunk_size):
        part = fn(X[sl], T[sl])
        if total is None:
            total = [np.array(p, dtype=float, copy=True) for p in part] if isinstance(part, tuple) \
                else np.array(part, dtype=float, copy=True)
        elif isinstance(part, tuple):
            for acc, p in zip(total, part):
                acc += p
        else:
            total += part
    return tuple(total) if isinstance(total, list) else total
