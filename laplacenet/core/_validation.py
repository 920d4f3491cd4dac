"""Input validation at the public boundary: done once, then the core trusts its arrays."""
import math
import numbers

import numpy as np

from ._chunks import is_dask_array
from ._config import check_matrix_budget, check_max_bytes
from ._dense import count_non_finite, max_asymmetry, symmetrise
from .exceptions import NonFiniteError

#: what to do when a quantity computed from valid arguments overflows
SCALE_REMEDY = ("Rescale the problem: standardise the inputs X (and the targets of a regression), use a smaller "
                "beta, or start from smaller weights.")


def float_array(value, name, expected):
    """``value`` as a C-ordered float64 array; a complex one is refused before the cast, which would drop its
    imaginary part. C order whatever the input's layout (a DataFrame's values are often F-ordered): BLAS rounds
    products of the two layouts differently, and the same data must give the same numbers."""
    try:
        a = np.asarray(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {expected}; it could not be converted to an array") from None
    refuse_complex(a, name)
    try:
        return np.asarray(a, dtype=float, order="C")
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {expected}; it could not be converted to float") from None


def refuse_complex(value, name):
    """A ValueError naming ``name`` when ``value`` (an array, a dask array or a sequence) is complex."""
    try:
        complex_ = np.iscomplexobj(value)
    except (TypeError, ValueError):  # not convertible: the caller's own conversion says so
        return
    if complex_:
        raise ValueError(f"{name} must be real numbers; got complex values")


def check_X(X, n_inputs=None, name="X"):
    """``X`` as a finite float64 array of shape ``(N, n_inputs)`` with N >= 1.

    A dask array stays a dask array (see :func:`check_dask_X`): its shape is checked here, its finiteness per
    partition whenever it is computed.
    """
    if is_dask_array(X):
        refuse_complex(X, name)
        return check_dask_X(X, n_inputs, name)
    X = float_array(X, name, "a 2-D array of numbers")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D of shape (N, D); got {X.ndim}-D with shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one row; got shape {X.shape}")
    if n_inputs is not None and X.shape[1] != n_inputs:
        raise ValueError(f"{name} must have {n_inputs} columns (the network's inputs); got {X.shape[1]}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} must be finite; it contains NaN or inf")
    return X


def check_data(net, X, T, name_X="X", name_T="T"):
    """Validate ``X`` and ``T`` together; return ``X (N, D)`` and canonical ``T (N, K)`` float arrays.

    If either is a dask array both come back as dask arrays with aligned row chunks (see
    :func:`check_dask_data`).
    """
    if is_dask_array(X) or is_dask_array(T):
        refuse_complex(X, name_X)
        refuse_complex(T, name_T)
        return check_dask_data(net, X, T, name_X, name_T)
    X = check_X(X, net.n_inputs, name_X)
    if T is None:
        raise ValueError(f"{name_T} must be given: targets with one row per row of {name_X}")
    T = canonical_targets(net.likelihood.check_targets, T, net.n_outputs, name_T)
    if T.shape[0] != X.shape[0]:
        raise ValueError(f"{name_T} must have one row per row of {name_X} ({X.shape[0]}); got {T.shape[0]} rows")
    return X, T


def canonical_targets(check_targets, T, n_outputs, name_T="T"):
    """``check_targets(T, n_outputs)`` (a likelihood's), C-ordered like :func:`float_array`'s arrays, its error
    messages naming ``name_T``; complex T is refused."""
    refuse_complex(T, name_T)
    try:
        return np.ascontiguousarray(check_targets(T, n_outputs))
    except ValueError as ex:
        msg = str(ex)
        raise ValueError(name_T + msg[1:] if msg.startswith("T ") else msg) from None


# --- dask arrays (the laplacenet[dask] extra): shapes now, values per partition when computed ----------

def check_dask_X(X, n_inputs=None, name="X"):
    """A dask ``X`` as a float64 dask array ``(N, n_inputs)``, one block across the columns.

    The dtype, the shape and N >= 1 are checked now; finiteness is checked per partition whenever the result
    is computed, raising the ``ValueError`` of :func:`check_X`. The chunk sizes must be known (call
    ``X.compute_chunk_sizes()`` on an array from boolean indexing, for instance).
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


def check_w(net, w, name="w"):
    """``w`` as a finite float64 vector of length ``net.n_params``."""
    w = float_array(w, name, f"a vector of {net.n_params} numbers")
    if w.shape != (net.n_params,):
        raise ValueError(f"{name} must be a vector of length {net.n_params} for {net!r}; got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{name} must be finite; it contains NaN or inf")
    return w


def check_alpha(net, alpha, allow_zero=True, name="alpha"):
    """A scalar prior precision, or one per prior group (``net.n_groups``: weights and biases per layer).

    Returns a float or a float array of shape ``(n_groups,)``. ``allow_zero`` admits alpha = 0 (no prior:
    the data term alone), which the functional core accepts and the Bayesian layer does not.
    """
    bound = "non-negative" if allow_zero else "positive"
    if isinstance(alpha, (bool, np.bool_)) or alpha is None:
        raise ValueError(f"{name} must be a {bound} finite number or {net.n_groups} of them (one per prior "
                         f"group {net.group_names}); got {alpha!r}")
    return _number_or_vector(alpha, name, net.n_groups, f"prior group {net.group_names}", allow_zero)


def check_beta(net, beta, name="beta"):
    """Noise precision of the Gaussian likelihood: a positive scalar or one per output ``(K,)``.

    Ignored (returned as None) for classification likelihoods.
    """
    if not net.likelihood.uses_beta:
        return None
    K = net.n_outputs
    if isinstance(beta, (bool, np.bool_)) or beta is None:
        raise ValueError(f"{name} must be a positive finite number (or {K} of them, one per output) for a "
                         f"Gaussian likelihood; got {beta!r}")
    return _number_or_vector(beta, name, K, "output", allow_zero=False)


def _number_or_vector(value, name, size, per, allow_zero):
    """``value`` as a finite float > 0 (>= 0 with ``allow_zero``), or a ``(size,)`` array of them, one per ``per``;
    a length-1 vector is a scalar."""
    bound = "non-negative" if allow_zero else "positive"
    a = float_array(value, name, f"a {bound} finite number or {size} of them")
    if a.ndim == 1 and a.shape[0] == 1:
        a = a[0]
    if a.ndim > 1 or (a.ndim == 1 and a.shape[0] != size):
        raise ValueError(f"{name} must be a scalar or a vector of length {size} (one per {per}); got shape {a.shape}")
    ok = np.all(np.isfinite(a)) and (np.all(a >= 0) if allow_zero else np.all(a > 0))
    if not ok:
        raise ValueError(f"{name} must be {bound} and finite; got {value!r}")
    return float(a) if a.ndim == 0 else a.copy()


def _is_integer(value, minimum):
    """Whether ``value`` is an integer (not a bool) of at least ``minimum``."""
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, numbers.Integral) and value >= minimum


def check_positive_int(value, name, minimum=1):
    """An integer >= ``minimum``."""
    if not _is_integer(value, minimum):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def check_finite_number(value, name):
    """``value`` as a float; a ValueError naming ``name`` unless it converts to a finite one (bools refused)."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number; got {value!r}") from None
    if not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    return value


def check_number(value, name, positive=False, unit=""):
    """A finite float that is >= 0 (> 0 with ``positive``)."""
    ok = not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.number)) \
        and np.isfinite(value) and (value > 0 if positive else value >= 0)
    if not ok:
        raise ValueError(f"{name} must be a {'positive' if positive else 'non-negative'} finite number{unit}; "
                         f"got {value!r}")
    return float(value)


# The architectures hidden="auto" chooses from, simplest first (a tie goes to the simpler): no hidden layer (the
# Bayesian linear or logistic model), then one hidden layer of doubling width - the grid of compare_models'
# default (1, 2, 4, 8) widened on both sides. One layer is a universal approximator (PRML 5.1); the evidence
# changes with ln M rather than M, so doubling spends the fits evenly; beyond 16 units most fits on the data
# sizes a W x W Hessian suits prune units (gamma far below W), and the widest candidate sets the cost.
AUTO_HIDDEN = ((), (1,), (2,), (4,), (8,), (16,))


def check_hidden(hidden, auto=False):
    """Hidden-layer widths as a tuple of positive ints: an int is one layer, () or 0 none. With ``auto``, the
    string ``'auto'`` is accepted too, and returned as it is (the estimators then choose from
    :data:`AUTO_HIDDEN`)."""
    if auto and isinstance(hidden, str) and hidden == "auto":
        return hidden
    given = hidden  # named in the error as given: -1, not (-1,)
    if isinstance(hidden, numbers.Integral) and not isinstance(hidden, (bool, np.bool_)):
        hidden = () if hidden == 0 else (hidden,)
    try:
        widths = tuple(hidden)
        ok = all(isinstance(m, numbers.Integral) and not isinstance(m, (bool, np.bool_)) and m >= 1 for m in widths)
    except TypeError:
        ok = False
    if not ok:
        alternative = ", or 'auto'" if auto else ""
        raise ValueError(f"hidden must be a positive int or a sequence of them (hidden-layer widths){alternative}; "
                         f"got {given!r}")
    return tuple(int(m) for m in widths)


def is_finite_number(value):
    """Whether ``value`` is a finite real number within float64's range (not a bool, not an int beyond it)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float64
        return False


def check_flag(value, name):
    """``True`` or ``False`` (numpy's bools too), as a bool; a ValueError naming ``name`` otherwise: a truthy
    string such as ``'no'`` must not pass for True."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def check_callback(callback, name="callback"):
    """None or a callable, returned as it is; a ValueError naming ``name`` otherwise."""
    if callback is not None and not callable(callback):
        raise ValueError(f"{name} must be callable or None; got {callback!r}")
    return callback


def check_choice(value, kind, table, name):
    """``value`` itself when it is a ``kind`` already, else ``table[value]``; a ValueError naming ``name`` and
    listing the keys of ``table`` when ``value`` is none of them."""
    if isinstance(value, kind):
        return value
    if not isinstance(value, str) or value not in table:
        choices = ", ".join(repr(k) for k in table)
        raise ValueError(f"{name} must be one of {choices}; got {value!r}")
    return table[value]


def _optional_integer(value, name, minimum, expected):
    """None, or an integer >= ``minimum``; a ValueError saying that ``name`` must be ``expected`` otherwise."""
    if value is None:
        return None
    if not _is_integer(value, minimum):
        raise ValueError(f"{name} must be {expected}; got {value!r}")
    return int(value)


def check_chunk_size(chunk_size, name="chunk_size"):
    """Rows of data per chunk: None (each route sizes its own chunks) or an integer >= 1."""
    return _optional_integer(chunk_size, name, 1, "an integer >= 1 (rows of data per chunk) or None")


def check_directions(net, v, name="v"):
    """``v`` as a finite float64 array of shape (W,) or (W, k), k >= 1: directions for a Hessian product."""
    W = net.n_params
    if np.iscomplexobj(v):
        raise ValueError(f"{name} must be real; got a complex array")
    try:
        V = np.asarray(v, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers of shape ({W},) or ({W}, k)") from None
    if V.ndim not in (1, 2) or V.shape[0] != W or (V.ndim == 2 and V.shape[1] == 0):
        raise ValueError(f"{name} must have shape ({W},) or ({W}, k) with k >= 1 for {net!r}; got shape {V.shape}")
    if not np.all(np.isfinite(V)):
        raise ValueError(f"{name} must be finite; it contains NaN or inf")
    return V


def check_seed(seed, name="seed"):
    """A random seed: None or a non-negative integer (restarts add their index to it)."""
    return _optional_integer(seed, name, 0, "None or a non-negative integer")


def restart_seeds(seed, restarts):
    """The seeds of ``restarts`` restarts from one ``seed`` (None is 0): restart r starts from ``seed + r``."""
    base = check_seed(seed) or 0
    return [base + r for r in range(restarts)]


def check_random_seed(seed, name="seed"):
    """A seed of random draws: None, a non-negative integer, or a numpy Generator (returned as it is)."""
    return seed if isinstance(seed, np.random.Generator) else check_seed(seed, name)


def check_finite_result(value, what, remedy=SCALE_REMEDY):
    """``value`` (a number or an array) unchanged when every entry is finite, else a :class:`NonFiniteError`
    saying ``what`` overflowed and what to do. O(size), in blocks: no mask as large as the array."""
    a = np.asarray(value)
    bad = count_non_finite(a)
    if bad:
        raise NonFiniteError(f"{what} is not finite ({bad} of its {a.size} values are inf or NaN): float64 "
                             f"overflowed. {remedy}")
    return value


#: largest max|A - A^T| / max|A| accepted as "symmetric" for a matrix given by the caller
SYMMETRY_RTOL = 1e-8


def check_symmetric_matrix(A, name, max_bytes=None):
    """``A`` as a finite, square, symmetric (to ``SYMMETRY_RTOL``) float array: a symmetrised F-ordered copy.

    The copy is the one W x W matrix formed, subject to the matrix budget.
    """
    refuse_complex(A, name)
    try:
        A = np.asarray(A, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a square 2-D array of numbers") from None
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square 2-D array; got shape {A.shape}")
    check_matrix_budget(A.shape[0], f"a copy of {name}", check_max_bytes(max_bytes))
    if count_non_finite(A):
        raise ValueError(f"{name} must be finite; it contains NaN or inf")
    asym = max_asymmetry(A)
    scale = max(float(np.max(A)), -float(np.min(A)))  # max|A| without a W x W temporary
    if asym > SYMMETRY_RTOL * scale:
        raise ValueError(f"{name} must be symmetric; max|{name} - {name}^T| / max|{name}| = {asym / scale:.3g} "
                         f"exceeds {SYMMETRY_RTOL:g}")
    return symmetrise(np.array(A, order="F"))


def rows_array(B, shapes):
    """``B`` as a float64 array; complex or non-numeric input is a ValueError naming the ``shapes`` expected."""
    refuse_complex(B, "B")
    try:
        return np.asarray(B, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"B must be an array of numbers of shape {shapes}") from None


def check_finite_rows(B):
    """A ValueError naming ``B`` unless every entry is finite."""
    if not np.all(np.isfinite(B)):
        raise ValueError("B must be finite; it contains NaN or inf")
