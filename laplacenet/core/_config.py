"""Package-wide settings: the matrix budget.

The budget bounds the size of every single dense W x W float64 matrix laplacenet allocates (every Hessian,
precision, Cholesky factor and inverse), checked before the first of them is formed. It is a bound on one
matrix, not on the peak memory of a call, which holds a few such matrices at once; the multiples measured are
in ``docs/howto/reliability.rst``.
"""
import numbers

import numpy as np

_settings = {"matrix_budget": 2 * 2**30}

#: what to do instead when a dense matrix of the functional core would not fit
CORE_REMEDY = ("use laplacenet.hvp or laplacenet.hessian_operator for matrix-free products, method='diag' or "
               "laplacenet.hessian_diagonal for the diagonal, or raise the budget with laplacenet.set_matrix_budget")
#: what to do instead when a dense posterior precision would not fit
BAYESIAN_REMEDY = ("use a posterior that is never formed as a W x W matrix - hessian='kron' (Kronecker factors), "
                   "hessian='lowrank' with rank=k (the top k eigenpairs), subset='last_layer' (the output layer "
                   "alone) or hessian='diag' - or raise the budget with laplacenet.set_matrix_budget")


def get_matrix_budget():
    """The largest dense W x W float64 matrix, in bytes, that laplacenet will form (default 2 GiB).

    See :func:`set_matrix_budget` for what it bounds.
    """
    return _settings["matrix_budget"]


def set_matrix_budget(n_bytes):
    """Set the largest dense W x W float64 matrix, in bytes, that laplacenet will form; returns the previous value.

    The budget bounds every single dense matrix of order W (or W_L, the output layer's parameters, for
    ``subset='last_layer'``) that any call allocates: Hessians, posterior precisions, their Cholesky factors and
    inverses, the state of :class:`laplacenet.IncrementalInverse` and the finite-difference Hessians of
    :mod:`laplacenet.check`. A call that would form a larger one raises ValueError before allocating it.

    It is not a bound on the peak memory of a call, which holds a few such matrices at once. Measured with
    ``tracemalloc`` at W = 1 042: a dense :func:`laplacenet.laplace` peaks at 2.0 matrices (``'outer'``) to 2.7
    (``'exact'``), 2 of them its result (the precision and its Cholesky factor); :meth:`LaplacePosterior.update`
    at 2.2; :func:`laplacenet.log_evidence` at 3; :func:`laplacenet.fit_evidence` and the estimators' ``fit`` at
    6 (the table is in ``docs/howto/reliability.rst``). To keep a call within M bytes of extra memory, set the
    budget to M divided by its multiple.

    Parameters
    ----------
    n_bytes : int or float
        A finite number of bytes, at least 8 (one float64); a float is rounded down.
    """
    if isinstance(n_bytes, (bool, np.bool_)) or not isinstance(n_bytes, numbers.Real) \
            or not np.isfinite(n_bytes) or not n_bytes >= 8:
        raise ValueError(f"n_bytes must be a finite number of bytes >= 8 (one float64); got {n_bytes!r}")
    previous = _settings["matrix_budget"]
    _settings["matrix_budget"] = int(n_bytes)
    return previous


def check_max_bytes(max_bytes, name="max_bytes"):
    """``max_bytes`` of a public call: None (the package budget) or a positive finite number of bytes, as an int."""
    if max_bytes is None:
        return None
    if isinstance(max_bytes, (bool, np.bool_)) or not isinstance(max_bytes, numbers.Real) \
            or not np.isfinite(max_bytes) or not max_bytes > 0:
        raise ValueError(f"{name} must be None (the budget of laplacenet.get_matrix_budget) or a positive finite "
                         f"number of bytes; got {max_bytes!r}")
    return int(max_bytes)


def check_matrix_budget(n_params, what="the Hessian", max_bytes=None, remedy=CORE_REMEDY):
    """Raise ValueError if a dense (n_params, n_params) float64 matrix exceeds the budget.

    ``max_bytes`` overrides the package budget (it is validated here); ``remedy`` says what to do instead.
    """
    check_array_budget((n_params, n_params), what, max_bytes, remedy)


def check_array_budget(shape, what, max_bytes=None, remedy=CORE_REMEDY):
    """Raise ValueError if a dense float64 array of ``shape`` (rows, columns) exceeds the budget: the budget bounds
    every array of order W, a W x k basis as well as a W x W matrix."""
    max_bytes = check_max_bytes(max_bytes)
    n_bytes = 8 * int(np.prod(shape, dtype=object))
    budget = get_matrix_budget() if max_bytes is None else max_bytes
    if n_bytes > budget:
        raise ValueError(f"forming {what} as a dense {' x '.join(map(str, shape))} matrix needs {_size(n_bytes)}, "
                         f"above the budget of {_size(budget)}; {remedy}")


def _size(n_bytes):
    """``n_bytes`` in GiB, MiB, KiB or bytes, to three significant digits: '0.00 GiB' said nothing of 648 bytes."""
    for unit, name in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n_bytes >= unit:
            return f"{n_bytes / unit:.3g} {name}"
    return f"{n_bytes:.3g} bytes"


def fits_matrix_budget(n_params, max_bytes=None):
    """Whether a dense (n_params, n_params) float64 matrix fits ``max_bytes`` (validated), or the budget."""
    return 8 * n_params * n_params <= (get_matrix_budget() if max_bytes is None else max_bytes)
