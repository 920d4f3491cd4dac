"""Input validation at the public boundary: done once, then the core trusts its arrays."""
import math
import numbers

import numpy as np

from ._chunks import is_dask_array
from ._dense import count_non_finite
from .exceptions import NonFiniteError

__all__ = ["check_X", "check_data", "check_w", "check_alpha", "check_beta", "check_positive_int", "check_flag", "is_finite_number",
           "check_chunk_size", "check_seed", "check_random_seed", "canonical_targets", "refuse_complex",
           "check_finite_result", "SCALE_REMEDY"]

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

    A dask array stays a dask array (see :func:`laplacenet.core._dask.check_dask_X`): its shape is checked here,
    its finiteness per partition whenever it is computed.
    """
    if is_dask_array(X):
        from ._dask import check_dask_X
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
    :func:`laplacenet.core._dask.check_dask_data`).
    """
    if is_dask_array(X) or is_dask_array(T):
        from ._dask import check_dask_data
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
    a = float_array(alpha, name, f"a {bound} finite number or {net.n_groups} of them")
    if a.ndim == 1 and a.shape[0] == 1:
        a = a[0]
    if a.ndim > 1 or (a.ndim == 1 and a.shape[0] != net.n_groups):
        raise ValueError(f"{name} must be a scalar or a vector of length {net.n_groups} (one per prior group "
                         f"{net.group_names}); got shape {a.shape}")
    ok = np.all(np.isfinite(a)) and (np.all(a >= 0) if allow_zero else np.all(a > 0))
    if not ok:
        raise ValueError(f"{name} must be {bound} and finite; got {alpha!r}")
    return float(a) if a.ndim == 0 else a.copy()


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
    b = float_array(beta, name, f"a positive finite number or {K} of them")
    if b.ndim == 1 and b.shape[0] == 1:
        b = b[0]
    if b.ndim > 1 or (b.ndim == 1 and b.shape[0] != K):
        raise ValueError(f"{name} must be a scalar or a vector of length {K} (one per output); got shape {b.shape}")
    if not (np.all(np.isfinite(b)) and np.all(b > 0)):
        raise ValueError(f"{name} must be positive and finite; got {beta!r}")
    return float(b) if b.ndim == 0 else b.copy()


def _is_integer(value, minimum):
    """Whether ``value`` is an integer (not a bool) of at least ``minimum``."""
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, numbers.Integral) and value >= minimum


def check_positive_int(value, name, minimum=1):
    """An integer >= ``minimum``."""
    if not _is_integer(value, minimum):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


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


def check_number(value, name, positive=False, unit=""):
    """A finite float that is >= 0 (> 0 with ``positive``)."""
    ok = not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.number)) \
        and np.isfinite(value) and (value > 0 if positive else value >= 0)
    if not ok:
        raise ValueError(f"{name} must be a {'positive' if positive else 'non-negative'} finite number{unit}; "
                         f"got {value!r}")
    return float(value)


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


def check_seed(seed, name="seed"):
    """A random seed: None or a non-negative integer (restarts add their index to it)."""
    return _optional_integer(seed, name, 0, "None or a non-negative integer")


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
