"""Passes over the data axis, taken chunk by chunk so that peak memory does not grow with N.

* :func:`data_sum` - a sum over the patterns (every error, gradient and curvature route goes through it);
* :func:`map_rows` - per-pattern outputs (forward passes, predictive moments);
* :func:`iter_chunks` - a serial pass for what is not a sum (Woodbury updates).

``X`` and ``T`` may be numpy arrays or dask arrays (``laplacenet[dask]``). Dask arrays are processed partition
by partition on the active dask scheduler (threads, processes or a ``dask.distributed.Client``): a sum runs
:func:`data_sum` on each partition as one task and adds the partial sums in a tree; per-pattern outputs stay
lazy; a serial pass computes one partition at a time. The per-partition functions are module-level, so they
pickle. Dask itself is imported only when one is given, inside the functions.
"""
import functools
import sys

import numpy as np

from ._threads import run_parallel, task_workers

DEFAULT_CHUNK_ROWS = 8192
#: bytes one chunk of per-pattern Jacobians may take (chunk * K * W * 8)
JACOBIAN_CHUNK_BYTES = 64 * 2**20


def is_dask_array(x):
    """Whether ``x`` is a ``dask.array.Array`` (without importing dask: if it is not loaded, x cannot be one)."""
    dask_array = sys.modules.get("dask.array")
    return dask_array is not None and isinstance(x, dask_array.Array)


def rows_for_budget(bytes_per_row, budget=JACOBIAN_CHUNK_BYTES):
    """How many rows of ``bytes_per_row`` fit in ``budget`` (at least one)."""
    return max(1, int(budget // max(1, bytes_per_row)))


def chunk_slices(n_rows, chunk_size):
    for start in range(0, n_rows, chunk_size):
        yield slice(start, min(start + chunk_size, n_rows))


def data_sum(fn, X, T, chunk_size):
    """``sum over chunks of fn(X_chunk, T_chunk)``; ``fn`` returns an array or a tuple of arrays.

    Parameters
    ----------
    fn : callable
        ``fn(X_chunk (n, D), T_chunk (n, K))`` on numpy rows, returning an array or a tuple of arrays.
    X : (N, D) validated numpy or dask array.
    T : (N, K) validated numpy or dask array, row chunks aligned with X's when dask.
    chunk_size : int
        Rows per call of ``fn`` (within each partition for dask arrays).

    Returns
    -------
    The sum, of the type and shapes ``fn`` returns, as numpy arrays. For dask arrays it is computed, one task
    per partition and a tree reduction, on the active dask scheduler; ``fn`` must then pickle (closures over
    numpy arrays and the network do, by cloudpickle).
    """
    if is_dask_array(X) or is_dask_array(T):
        return dask_data_sum(fn, X, T, chunk_size)
    slices = list(chunk_slices(X.shape[0], chunk_size))
    wave = max(1, min(task_workers(), len(slices)))  # chunks computed at once; summed in row order all the same
    total = None
    for start in range(0, len(slices), wave):
        for part in run_parallel([functools.partial(fn, X[sl], T[sl]) for sl in slices[start:start + wave]]):
            total = _accumulate(total, part)
    return tuple(total) if isinstance(total, list) else total


def _accumulate(total, part):
    """``total += part`` in place; a float copy of ``part`` (a list of them for a tuple) when ``total`` is None."""
    if total is None:
        return [np.array(p, dtype=float, copy=True) for p in part] if isinstance(part, tuple) \
            else np.array(part, dtype=float, copy=True)
    if isinstance(part, tuple):
        for acc, p in zip(total, part):
            acc += p
    else:
        total += part
    return total


def map_rows(fn, X, chunk_size=DEFAULT_CHUNK_ROWS):
    """Per-pattern outputs ``fn(X_chunk)`` stacked over the rows of ``X``.

    Parameters
    ----------
    fn : callable
        ``fn(X_chunk (n, D))`` on numpy rows, returning an array or a tuple of arrays, each with n rows
        first: ``(n, ...)``.
    X : (N, D) validated numpy or dask array.
    chunk_size : int
        Rows per call of ``fn`` (within each partition for dask arrays).

    Returns
    -------
    An array ``(N, ...)`` or a tuple of them, like ``fn``'s. For numpy ``X``, numpy arrays computed chunk by
    chunk. For dask ``X``, lazy dask arrays with ``X``'s row chunks: nothing is computed, except one call of
    ``fn`` on a row of zeros to learn the output shapes and dtypes.
    """
    if is_dask_array(X):
        return dask_map_rows(fn, X, chunk_size)
    parts = [fn(X[sl]) for sl in chunk_slices(X.shape[0], chunk_size)]
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate(column) for column in zip(*parts))
    return np.concatenate(parts)


def iter_chunks(arrays, chunk_size):
    """Numpy chunks of ``chunk_size`` rows of an array, or of a tuple of row-aligned arrays, in row order.

    For serial passes over the data that are not sums, such as Woodbury updates. Dask arrays (all of them
    dask, with the same row chunks, as :func:`laplacenet.core._validation.check_data` returns them) are computed
    one partition at a time on the active scheduler, when the iteration reaches it, then cut into chunks;
    memory holds one partition. Yields an array, or a tuple of arrays when given a tuple.
    """
    single = not isinstance(arrays, tuple)
    arrays = (arrays,) if single else arrays
    if is_dask_array(arrays[0]):
        blocks = iter_partitions(arrays)
    else:
        blocks = [arrays]
    for block in blocks:
        for sl in chunk_slices(block[0].shape[0], chunk_size):
            yield block[0][sl] if single else tuple(A[sl] for A in block)


# --- dask arrays: sums and maps over partitions ----------------------------------------------------------

#: partial sums added together by one task of the tree reduction
SPLIT_EVERY = 8


def dask_data_sum(fn, X, T, chunk_size):
    """:func:`data_sum` of dask ``X`` and ``T``: one task per partition, a tree of sums.

    ``fn`` goes into the graph once, as its own key, and reaches each worker once. Returns numpy arrays.
    """
    import dask

    fn_key = dask.delayed(fn, traverse=False)
    X_parts, T_parts = _partitions(X, T)
    partials = [dask.delayed(_partition_sum)(fn_key, Xp, Tp, chunk_size) for Xp, Tp in zip(X_parts, T_parts)]
    while len(partials) > 1:
        partials = [dask.delayed(_add_partials)(*partials[i:i + SPLIT_EVERY])
                    for i in range(0, len(partials), SPLIT_EVERY)]
    return partials[0].compute()


def dask_map_rows(fn, X, chunk_size):
    """:func:`map_rows` of a dask ``X``: lazy dask arrays with ``X``'s row chunks."""
    import dask
    import dask.array as da

    probe = fn(np.zeros((1, X.shape[1])))
    single = not isinstance(probe, tuple)
    probe = (probe,) if single else probe
    fn_key = dask.delayed(fn, traverse=False)
    blocks = [(dask.delayed(_partition_map, nout=len(probe))(fn_key, Xp, chunk_size, single), n)
              for Xp, n in zip(_partitions(X)[0], X.chunks[0]) if n > 0]
    outputs = tuple(da.concatenate([da.from_delayed(block[i], (n,) + out.shape[1:], dtype=out.dtype)
                                    for block, n in blocks])
                    for i, out in enumerate(probe))
    return outputs[0] if single else outputs


def iter_partitions(arrays):
    """Tuples of numpy partitions (row blocks) of row-aligned dask ``arrays``, computed one at a time."""
    import dask

    for blocks in zip(*_partitions(*arrays)):
        yield dask.compute(*blocks)


def _partitions(*arrays):
    """The row blocks of dask arrays ``(N, ...)`` one block wide, as lists of Delayed, optimised together."""
    import dask

    if not all(is_dask_array(A) for A in arrays) or len({A.chunks[0] for A in arrays}) != 1 \
            or any(A.numblocks[1:] != (1,) * (A.ndim - 1) for A in arrays):
        got = ", ".join(f"{type(A).__name__} with chunks {getattr(A, 'chunks', None)}" for A in arrays)
        raise ValueError("the data must be dask arrays with the same row chunks and one block across the other "
                         f"axes, as laplacenet.core._validation.check_data returns them; got {got}")
    arrays = dask.optimize(*arrays)
    return [list(A.to_delayed(optimize_graph=False).ravel()) for A in arrays]


def _partition_sum(fn, X, T, chunk_size):
    """The numpy data sum of one partition; None for an empty one."""
    return data_sum(fn, X, T, chunk_size)


def _partition_map(fn, X, chunk_size, single):
    """``fn`` on one non-empty partition, ``chunk_size`` rows at a time; always a tuple of arrays."""
    outputs = map_rows(fn, X, chunk_size)
    return (outputs,) if single else outputs


def _add_partials(*partials):
    """Sum of partial sums (arrays or tuples of arrays), skipping the None of empty partitions."""
    partials = [p for p in partials if p is not None]
    if not partials:
        return None
    if isinstance(partials[0], tuple):
        return tuple(sum(column[1:], column[0]) for column in zip(*partials))
    return sum(partials[1:], partials[0])
