"""Dask arrays as data (the ``laplacenet[dask]`` extra): validation, sums, maps and serial passes.

A dask array of inputs ``X (N, D)`` is a column of row blocks, its partitions. Validation checks shapes at
once and values partition by partition, inside every computation that reads them, with the messages of
the numpy checks. A sum over the data runs the numpy :func:`laplacenet.core._chunks.data_sum` on each partition
as one task (still ``chunk_size`` rows at a time, so a worker's memory stays bounded), adds the partial
sums in a tree and computes the result on the active dask scheduler: threads, processes or the
``dask.distributed.Client`` the user created. Per-pattern outputs stay lazy dask arrays; a serial pass
computes one partition at a time. The per-partition functions are module-level and take the
chunk function as an argument, so they pickle for process and distributed schedulers (cloudpickle carries
closures over numpy arrays and the network).

Nothing here imports dask at module level: :mod:`laplacenet.core._chunks` and :mod:`laplacenet.core._validation`
come here only when given a dask array.
"""
import numpy as np

from ._chunks import data_sum, is_dask_array, map_rows
from ._validation import canonical_targets, check_X

#: partial sums added together by one task of the tree reduction
SPLIT_EVERY = 8


# --- validation ---------------------------------------------------------------------------------------

def check_dask_X(X, n_inputs=None, name="X"):
    """A dask ``X`` as a float64 dask array ``(N, n_inputs)``, one block across the columns.

    The dtype, the shape and N >= 1 are checked now; finiteness is checked per partition whenever the result
    is computed, raising the ``ValueError`` of :func:`laplacenet.core._validation.check_X`. The chunk sizes must
    be known (call ``X.compute_chunk_sizes()`` on an array from boolean indexing, for instance).
    """
    if np.dtype(X.dtype).kind not in "biuf":
        raise ValueError(f"{name} must be a 2-D array of numbers; it could not be converted to float "
                         f"(dask array of dtype {X.dtype})")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D of shape (N, D); got {X.ndim}-D with shape {X.shape}")
    _check_known_shape(X, name)
    if X.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one row; got shape {X.shape}")
    if n_inputs is not None and X.shape[1] != n_inputs:
        raise ValueError(f"{name} must have {n_inputs} columns (the network's inputs); got {X.shape[1]}")
    X = X.astype(float)
    if X.numblocks[1] != 1:
        X = X.rechunk({1: -1})
    return X.map_blocks(_finite_partition, name, dtype=float, meta=np.empty((0, 0)))


def check_dask_data(net, X, T, name_X="X", name_T="T"):
    """Validate ``X`` and ``T`` when either is a dask array; return both as dask arrays.

    ``X`` as by :func:`check_dask_X` (a numpy ``X`` is checked in full, then wrapped). ``T`` becomes the
    canonical ``(N, K)`` float targets, one block across the columns, its row chunks those of ``X``; a dask
    ``T`` is canonicalised (one-hot encoding of labels included) by the likelihood's ``check_targets`` per
    partition whenever it is computed. To raise shape errors now, the first row of a dask ``T`` is computed
    and checked at once.
    """
    import dask.array as da

    X = check_X(X, net.n_inputs, name_X)
    if T is None:
        raise ValueError(f"{name_T} must be given: targets with one row per row of {name_X}")
    check, K = net.likelihood.check_targets, net.n_outputs
    if is_dask_array(T):
        _check_known_shape(T, name_T)
        _check_first_row(check, T, K, name_T)
    else:
        T = canonical_targets(check, T, K, name_T)
    if T.shape[0] != X.shape[0]:
        raise ValueError(f"{name_T} must have one row per row of {name_X} ({X.shape[0]}); got {T.shape[0]} rows")
    if not is_dask_array(X):
        X = da.from_array(X, chunks=(T.chunks[0], -1))
    rows = X.chunks[0]
    if not is_dask_array(T):
        return X, da.from_array(T, chunks=(rows, -1))
    T = T.rechunk({0: rows, **{axis: -1 for axis in range(1, T.ndim)}})
    axes = {"new_axis": 1} if T.ndim == 1 else {"drop_axis": list(range(2, T.ndim))}
    T = T.map_blocks(_targets_partition, check, K, name_T, chunks=(rows, (K,)), dtype=float,
                     meta=np.empty((0, 0)), **axes)
    return X, T


def _check_known_shape(A, name):
    if any(np.isnan(n) for n in A.shape):
        raise ValueError(f"{name} must have known chunk sizes; got a dask array of shape {A.shape} "
                         f"(call {name}.compute_chunk_sizes() first)")


def _check_first_row(check, T, K, name_T):
    """Canonicalise the first row of a dask ``T`` now, so that shape errors surface before any computation."""
    head = (T[:1] if T.ndim else T).compute()
    try:
        canonical_targets(check, head, K, name_T)
    except ValueError as ex:
        raise ValueError(str(ex).replace(f"shape {head.shape}", f"shape {T.shape}")) from None


def _finite_partition(X, name):
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} must be finite; it contains NaN or inf")
    return X


def _targets_partition(T, check, K, name_T):
    return canonical_targets(check, T, K, name_T)


# --- sums and maps over partitions ------------------------------------------------------------------------

def dask_data_sum(fn, X, T, chunk_size):
    """:func:`laplacenet.core._chunks.data_sum` of dask ``X`` and ``T``: one task per partition, a tree of sums.

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
    """:func:`laplacenet.core._chunks.map_rows` of a dask ``X``: lazy dask arrays with ``X``'s row chunks."""
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
