"""Package-wide settings."""

__all__ = ["get_matrix_budget", "set_matrix_budget", "check_matrix_budget"]

_settings = {"matrix_budget": 2 * 2**30}


def get_matrix_budget():
    """Largest W x W float64 matrix, in bytes, that laplacenet will form (default 2 GiB)."""
    return _settings["matrix_budget"]


def set_matrix_budget(n_bytes):
    """Set the largest W x W matrix, in bytes, that laplacenet will form; returns the previous value."""
    if isinstance(n_bytes, bool) or not isinstance(n_bytes, (int, float)) or not n_bytes > 0:
        raise ValueError(f"n_bytes must be a positive number of bytes; got {n_bytes!r}")
    previous = _settings["matrix_budget"]
    _settings["matrix_budget"] = int(n_bytes)
    return previous


def check_matrix_budget(n_params, what="the Hessian", max_bytes=None):
    """Raise ValueError if a dense (n_params, n_params) float64 matrix exceeds the budget."""
    budget = get_matrix_budget() if max_bytes is None else max_bytes
    need = 8 * n_params * n_params
    if need > budget:
        raise ValueError(
            f"forming {what} as a dense {n_params} x {n_params} matrix needs {need / 2**30:.2f} GiB, above the "
            f"budget of {budget / 2**30:.2f} GiB; use laplacenet.hvp or laplacenet.hessian_operator for "
            f"matrix-free products, method='diag' or laplacenet.hessian_diagonal for the diagonal, or raise "
            f"the budget with laplacenet.set_matrix_budget")
