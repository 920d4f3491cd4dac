"""MAP training: minimise E(w) with scipy.optimize and the analytic gradient."""
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize
from scipy.sparse.linalg import LinearOperator, minres

from ._chunks import DEFAULT_CHUNK_ROWS
from ._validation import check_positive_int, check_w
from .exceptions import ConvergenceWarning
from .curvature.rop import data_hvp
from .objective import error_and_gradient, validate_problem
from .priors import alpha_per_param

__all__ = ["train", "TrainReport"]

_GRADIENT_METHODS = ("L-BFGS-B", "BFGS", "CG")


@dataclass
class TrainReport:
    """What MAP training did.

    Attributes
    ----------
    converged : bool
        Whether the gradient norm of the kept solution is at most ``gtol``.
    n_iter : int
        Optimiser iterations of the kept restart.
    error : float
        E(w) at the returned weights.
    grad_norm : float
        Euclidean norm of the gradient there.
    message : str
        The optimiser's own message for the kept restart.
    restart_errors : list of float
        Final E of every restart, in the order run.
    best_restart : int
        Index of the kept restart.
    """

    converged: bool
    n_iter: int
    error: float
    grad_norm: float
    message: str
    restart_errors: list = field(default_factory=list)
    best_restart: int = 0


def train(net, X, T, alpha, beta=None, w0=None, method="L-BFGS-B", *, restarts=1, seed=None, gtol=1e-6,
          maxiter=20000, chunk_size=DEFAULT_CHUNK_ROWS, warn=True):
    """Find the MAP weights, the minimum of E(w) (PRML 5.2, 5.7.1).

    Parameters
    ----------
    net, X, T, alpha, beta
        As for :func:`laplacenet.error`.
    w0 : (W,) array, optional
        Starting weights; ``net.init(seed)`` when omitted. With restarts, the first restart starts here.
    method : str
        A gradient-based ``scipy.optimize.minimize`` method: 'L-BFGS-B', 'BFGS' or 'CG'.
    restarts : int
        Number of starts; the one of lowest E is kept and every final E is reported.
    seed : int, optional
        Seed of the random initialisations (restart i uses ``seed + i``).
    gtol : float
        Converged when the Euclidean norm of the gradient is at most this.
    maxiter : int
        Iteration limit per restart.
    warn : bool
        Emit a :class:`ConvergenceWarning` when the kept solution has not converged.

    Returns
    -------
    w : (W,) array
    report : TrainReport
    """
    _, X, T, alpha, beta = validate_problem(net, np.zeros(net.n_params), X, T, alpha, beta)
    if method not in _GRADIENT_METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, _GRADIENT_METHODS))}; got {method!r}")
    restarts = check_positive_int(restarts, "restarts")
    maxiter = check_positive_int(maxiter, "maxiter")
    if not (np.isfinite(gtol) and gtol > 0):
        raise ValueError(f"gtol must be a positive number; got {gtol!r}")
    base_seed = 0 if seed is None else seed
    starts = [check_w(net, w0, "w0")] if w0 is not None else []
    starts += [net.init(base_seed + i) for i in range(len(starts), restarts)]

    fun = lambda v: error_and_gradient(net, v, X, T, alpha, beta, chunk_size)
    prior = alpha_per_param(net, alpha)
    hessp = lambda v, p: data_hvp(net, v, X, T, p, beta, chunk_size) + prior * p
    runs = [_minimise(fun, hessp, w_start, method, gtol, maxiter) for w_start in starts]
    errors = [run[1] for run in runs]
    best = int(np.argmin(errors))
    w, E, g, n_iter, message = runs[best]
    report = TrainReport(converged=bool(np.linalg.norm(g) <= gtol), n_iter=n_iter, error=E,
                         grad_norm=float(np.linalg.norm(g)), message=message, restart_errors=errors,
                         best_restart=best)
    if warn and not report.converged:
        warnings.warn(f"MAP training did not converge: gradient norm {report.grad_norm:.3g} > gtol {gtol:g} "
                      f"after {n_iter} iterations (E = {E:.6g}; optimiser: {message}). Increase maxiter, "
                      f"rescale the data or try another method.", ConvergenceWarning, stacklevel=2)
    return w, report


def _minimise(fun, hessp, w_start, method, gtol, maxiter):
    """One run: the quasi-Newton method, then Newton polishing when it stalls above ``gtol``."""
    # L-BFGS-B compares gtol with the largest gradient component; ask for the 2-norm bound.
    options = {"maxiter": maxiter, "gtol": gtol / np.sqrt(w_start.size)}
    if method == "L-BFGS-B":
        options.update(ftol=0.0, maxcor=30)
    res = minimize(fun, w_start, jac=True, method=method, options=options)
    w, n_iter, message = res.x, int(res.nit), str(res.message)
    E, g = fun(w)
    if np.linalg.norm(g) > gtol and n_iter < maxiter:
        w, E, g, steps = _newton_polish(fun, hessp, w, E, g, gtol, min(20, maxiter - n_iter))
        n_iter += steps
        message = f"{message}; {steps} Newton polishing steps"
    return w, float(E), g, n_iter, message


def _newton_polish(fun, hessp, w, E, g, gtol, max_steps=20):
    """Newton steps H p = -g (MINRES on R-operator products, PRML 5.96-5.111) judged by the gradient norm.

    Near a minimum a quasi-Newton line search stalls once the decrease of E falls below its rounding
    (E ~ 1e2 rounds at ~1e-14), while the gradient can still be driven down at quadratic rate.
    """
    n = w.size
    steps = 0
    for steps in range(1, max_steps + 1):
        H = LinearOperator((n, n), matvec=lambda p: hessp(w, p), dtype=float)
        p, _ = minres(H, -g, rtol=1e-10, maxiter=4 * n)
        for scale in (1.0, 0.5, 0.25, 0.125):
            E_new, g_new = fun(w + scale * p)
            if np.linalg.norm(g_new) < np.linalg.norm(g) and E_new <= E + 1e-10 * abs(E):
                break
        else:
            return w, E, g, steps
        w, E, g = w + scale * p, E_new, g_new
        if np.linalg.norm(g) <= gtol:
            break
    return w, E, g, steps
