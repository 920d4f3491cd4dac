"""MAP training: minimise E(w) by Newton's method on the package's own curvature, or by scipy.optimize.

The methods, the rule that picks one, the convergence test and what the counts in :class:`TrainReport`
mean are described in ``docs/howto/train.rst``; the measurements behind the rule in ``docs/performance.md``.
"""
import functools
import inspect
import numbers
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from ._newton import Objective, Outcome, Stopping, newton_decrement
from ._newton_cg import newton_cg
from ._newton_dense import newton_dense
from ._threads import one_blas_thread
from ._validation import check_chunk_size, check_finite_result, check_positive_int, check_w, restart_seeds
from .exceptions import ConvergenceWarning
from .objective import validate_problem

__all__ = ["train", "TrainReport", "auto_method"]

_GRADIENT_METHODS = ("L-BFGS-B", "BFGS", "CG")
TRAIN_METHODS = ("auto", "newton", "newton-cg") + _GRADIENT_METHODS
#: the gradient-norm bound used when some alpha is 0 and no ``gtol`` is given (A may then be singular)
FALLBACK_GTOL = 1e-6
#: iteration limits when ``maxiter`` is None: Newton iterations, and quasi-Newton / CG iterations
DEFAULT_MAXITER = {"newton": 1000, "newton-cg": 1000, "gradient": 20000}
#: Newton-CG steps after a gradient method: polishing its result, or leaving the saddle point it stopped at
POLISH_STEPS = 20
#: rounds of (first-order method, Newton-CG polish) at most
GRADIENT_ROUNDS = 3
#: 'auto' takes the dense method while one of its iterations costs at most this many Hessian-vector products
DENSE_BUDGET = 40.0


@dataclass
class TrainReport:
    """What MAP training did.

    Attributes
    ----------
    converged : bool
        Whether the kept solution passes the convergence test: the Newton decrement at most ``tol``, or,
        when ``gtol`` was given (or some alpha is 0), the gradient norm at most ``gtol``; and, for the Newton
        methods, no negative curvature of the Hessian found there (a saddle point is not a minimum): ``'newton'``
        tests the lowest eigenvalue of the exact Hessian, ``'newton-cg'`` looks for it by a few Lanczos steps.
    n_iter : int
        Iterations of the kept restart (Newton trial steps, or the scipy optimiser's iterations plus any
        Newton polishing steps).
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
    decrement : float
        The Newton decrement sqrt(g^T A^-1 g) at the returned weights, A = Gauss-Newton matrix + diag(alpha);
        NaN when some alpha is 0.
    method : str
        The method that ran (what ``'auto'`` chose).
    n_gradients, n_hessians, n_hvps, n_diagonals : int
        Passes over the data, summed over all restarts: error-and-gradient evaluations; dense W x W
        Hessians formed; Hessian-vector or Gauss-Newton-vector products (one per direction); Gauss-Newton
        diagonals (the preconditioner of ``'newton-cg'`` and of the decrement's CG).
    """

    converged: bool
    n_iter: int
    error: float
    grad_norm: float
    message: str
    restart_errors: list = field(default_factory=list)
    best_restart: int = 0
    decrement: float = np.nan
    method: str = ""
    n_gradients: int = 0
    n_hessians: int = 0
    n_hvps: int = 0
    n_diagonals: int = 0


def dense_iteration_cost(n_params, n_data):
    """One iteration of ``'newton'`` in Hessian-vector products, W / 22 + W^2 / (260 N), as measured.

    The exact Hessian costs ~N W^2 and its Cholesky factorisation ~W^3 / 3, a product ~N W; the constants were
    fitted to single-threaded timings of the three on eight networks (W = 241 to 3 760, N = 142 to 1 437),
    within 10 % for W <= 900 (``benchmarks/training.py``).
    """
    return n_params / 22 + n_params ** 2 / (260 * max(n_data, 1))


def auto_method(n_params, n_data):
    """The method ``'auto'`` picks for W = ``n_params`` and N = ``n_data``: 'newton' or 'L-BFGS-B'.

    'newton' while :func:`dense_iteration_cost` is at most ``DENSE_BUDGET`` (40 products: W up to about 740 at
    N = 350, 880 at large N). There, in ``benchmarks/training.py``, the dense method converged most often from
    cold starts (notably on regression at large beta, where the others ran out of iterations) and was much
    the fastest from warm starts. Beyond, L-BFGS-B with its Newton-CG finish was faster than Newton-CG on
    cold starts (digits, W = 3 760: 1.3-3 s against 4-8 s) and no slower on warm ones.
    """
    return "newton" if dense_iteration_cost(n_params, n_data) <= DENSE_BUDGET else "L-BFGS-B"


def train(net, X, T, alpha, beta=None, w0=None, method="auto", *, restarts=1, seed=None, gtol=None, tol=1e-6,
          maxiter=None, chunk_size=None, warn=True):
    """Find the MAP weights, the minimum of E(w) (PRML 5.2, 5.7.1).

    Parameters
    ----------
    net, X, T, alpha, beta
        As for :func:`laplacenet.error`.
    w0 : (W,) array, optional
        Starting weights; ``net.init(seed)`` when omitted. With restarts, the first restart starts here.
    method : str
        ``'newton'``: trust-region Newton on the dense exact Hessian, factored by Cholesky (Levenberg-Marquardt
        damping). ``'newton-cg'``: trust-region Newton-CG (Steihaug) on Hessian-vector products by the
        R-operator, no W x W matrix. ``'L-BFGS-B'``, ``'BFGS'``, ``'CG'``: ``scipy.optimize.minimize`` with the
        analytic gradient, then Newton-CG: up to 20 steps if it stopped short of the test, and its check for
        negative curvature where it passed (three such rounds at most). ``'auto'`` (default):
        'newton' while a dense iteration is cheap, else 'L-BFGS-B' (see :func:`auto_method`).
    restarts : int
        Number of starts; the one of lowest E is kept and every final E is reported.
    seed : int, optional
        Seed of the random initialisations (restart i uses ``seed + i``).
    gtol : float, optional
        An absolute bound on the Euclidean norm of the gradient. When given it alone decides convergence;
        when None (default) the Newton decrement does.
    tol : float
        Converged when the Newton decrement lambda = sqrt(g^T A^-1 g), with A the Gauss-Newton matrix plus
        diag(alpha), is at most this: w is then within lambda posterior standard deviations of the minimum
        of the local quadratic model, and E(w) - E(w_MAP) is about lambda^2 / 2 nats, whatever the units of
        X and T. When some alpha is 0, A may be singular and the gradient norm is tested against ``gtol``
        (1e-6 when not given) instead.
    maxiter : int, optional
        Iteration limit per restart; by default 1000 for the Newton methods, 20000 for the others.
    chunk_size : int, optional
        Rows of data per chunk for every pass; by default the gradient takes 8192 rows and each curvature
        route keeps to its own memory budget.
    warn : bool
        Emit a :class:`ConvergenceWarning` when the kept solution has not converged.

    Returns
    -------
    w : (W,) array
    report : TrainReport

    Raises
    ------
    NonFiniteError
        When E or its gradient is not finite at the weights kept (inputs, targets or beta too large).
    """
    _, X, T, alpha, beta = validate_problem(net, np.zeros(net.n_params), X, T, alpha, beta)
    restarts = check_positive_int(restarts, "restarts")
    chunk_size = check_chunk_size(chunk_size)
    obj = Objective(net, X, T, alpha, beta, chunk_size)
    method = _check_method(method, net.n_params, X.shape[0])
    stop = _stopping(obj, method, gtol, tol, maxiter)
    seeds = restart_seeds(seed, restarts)
    starts = [np.array(check_w(net, w0, "w0"))] if w0 is not None else []  # a copy: w is returned
    starts += [net.init(s) for s in seeds[len(starts):]]
    minimiser = _MINIMISERS.get(method) or functools.partial(_gradient_method, method=method)
    with one_blas_thread():
        runs = [minimiser(obj, w_start, stop) for w_start in starts]
    errors = [run.E for run in runs]
    best = int(np.argmin(errors))
    check_finite_result(np.append(runs[best].g, runs[best].E), "E(w) and its gradient where training stopped")
    report = _report(runs[best], stop, method, obj, errors, best)
    if warn and not report.converged:
        warnings.warn(_warning(report, stop, runs[best]), ConvergenceWarning, stacklevel=2)
    return runs[best].w, report


def check_train_kwargs(train_kwargs, reserved=(), caller="the caller", name="train_kwargs"):
    """``train_kwargs`` as a dict of keyword arguments of :func:`train`: None or a mapping whose keys are
    keyword parameters of train other than ``reserved`` (those ``caller`` sets itself)."""
    if train_kwargs is None:
        return {}
    if not isinstance(train_kwargs, Mapping):
        raise ValueError(f"{name} must be a dict of keyword arguments of laplacenet.train or None; got "
                         f"{train_kwargs!r}")
    allowed = [p.name for p in inspect.signature(train).parameters.values()
               if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is not p.empty
               and p.name not in reserved]
    unknown = sorted(set(train_kwargs) - set(allowed), key=str)
    if unknown:
        taken = [key for key in unknown if key in reserved]
        if taken:
            raise ValueError(f"{name} must not set {taken}: {caller} controls them")
        raise ValueError(f"{name} has keys that are not options of laplacenet.train: {unknown}; the options are "
                         f"{', '.join(allowed)}")
    return dict(train_kwargs)


def _check_method(method, n_params, n_data):
    if not isinstance(method, str) or method not in TRAIN_METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, TRAIN_METHODS))}; got {method!r}")
    return auto_method(n_params, n_data) if method == "auto" else method


def _stopping(obj, method, gtol, tol, maxiter):
    if gtol is not None and not _positive_number(gtol):
        raise ValueError(f"gtol must be a positive number (a bound on the gradient norm) or None; got {gtol!r}")
    if not _positive_number(tol):
        raise ValueError(f"tol must be a positive number (a bound on the Newton decrement, in posterior "
                         f"standard deviations); got {tol!r}")
    if maxiter is None:
        maxiter = DEFAULT_MAXITER.get(method, DEFAULT_MAXITER["gradient"])
    maxiter = check_positive_int(maxiter, "maxiter")
    by_gradient = gtol is not None or not obj.decrement_defined
    return Stopping(float(tol), float(FALLBACK_GTOL if gtol is None else gtol), maxiter, by_gradient)


def _positive_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and np.isfinite(value) \
        and value > 0


_MINIMISERS = {"newton": newton_dense, "newton-cg": newton_cg}


def _gradient_method(obj, w, stop, *, method):
    """scipy's quasi-Newton or CG method, then Newton-CG: polishing where it stopped short of the test, and where
    it passed, the Lanczos check for negative curvature (a first-order method can stop at a saddle point, whose
    gradient is as small as a minimum's), followed out of the saddle if found. A polish that runs out of its
    ``POLISH_STEPS`` hands back to the first method (at most ``GRADIENT_ROUNDS`` rounds).

    Without ``gtol`` it aims at ||g|| <= tol sqrt(min alpha), which implies lambda <= tol (A >= min(alpha) I),
    and the decrement is computed once at the end.
    """
    bound = stop.gtol if stop.by_gradient else stop.tol * np.sqrt(obj.prior.min())
    n_iter, messages = 0, []
    for _ in range(GRADIENT_ROUNDS):
        # L-BFGS-B compares its gtol with the largest gradient component; ask for the 2-norm bound.
        options = {"maxiter": stop.maxiter - n_iter, "gtol": bound / np.sqrt(w.size)}
        if method == "L-BFGS-B":
            options.update(ftol=0.0, maxcor=30, maxfun=2 * (stop.maxiter - n_iter))
        res = minimize(obj.value_and_gradient, w, jac=True, method=method, options=options)
        w, n_iter = res.x, n_iter + int(res.nit)
        messages.append(f"{method}: {res.message}")
        if n_iter >= stop.maxiter:
            E, g = obj.value_and_gradient(w)
            return Outcome(w, float(E), g, n_iter, _decrement_at(obj, w, g), "; ".join(messages))
        steps = min(POLISH_STEPS, stop.maxiter - n_iter)
        polish = newton_cg(obj, w, Stopping(stop.tol, stop.gtol, steps, stop.by_gradient))
        w, n_iter = polish.w, n_iter + polish.n_iter
        messages.append(f"{polish.n_iter} Newton-CG polishing steps ({polish.message})")
        if polish.n_iter < steps or n_iter >= stop.maxiter:
            break
    return Outcome(polish.w, polish.E, polish.g, n_iter, polish.decrement, "; ".join(messages),
                   polish.negative_curvature)


def _decrement_at(obj, w, g):
    """The decrement by CG preconditioned with the Gauss-Newton diagonal (NaN when some alpha is 0)."""
    if not obj.decrement_defined:
        return np.nan
    M = obj.gn_diagonal(w)
    return newton_decrement(obj, w, g, lambda r: r / M)


def _report(run, stop, method, obj, errors, best):
    converged = stop.met(run.g, run.decrement) and not run.negative_curvature
    return TrainReport(converged=converged, n_iter=run.n_iter, error=run.E,
                       grad_norm=float(np.linalg.norm(run.g)), message=run.message, restart_errors=errors,
                       best_restart=best, decrement=run.decrement, method=method, n_gradients=obj.n_gradients,
                       n_hessians=obj.n_hessians, n_hvps=obj.n_hvps, n_diagonals=obj.n_diagonals)


def _warning(report, stop, run):
    test = (f"gradient norm {report.grad_norm:.3g} > gtol {stop.gtol:g}" if stop.by_gradient else
            f"Newton decrement {report.decrement:.3g} > tol {stop.tol:g} (gradient norm {report.grad_norm:.3g})")
    if run.negative_curvature and stop.met(run.g, run.decrement):
        test = f"the Hessian has negative curvature at the returned weights (gradient norm {report.grad_norm:.3g})"
    if report.method in _GRADIENT_METHODS:
        remedy = "increase maxiter, or try method='newton' or 'newton-cg'"
    elif report.message.startswith("iteration limit"):
        remedy = (f"increase maxiter (it was {stop.maxiter}), or try method="
                  f"{'newton-cg' if report.method == 'newton' else 'newton'!r} or 'L-BFGS-B'")
    else:
        remedy = (f"try method={'newton-cg' if report.method == 'newton' else 'newton'!r} or 'L-BFGS-B'"
                  + (", or leave gtol=None for the scale-aware decrement test" if stop.by_gradient else ""))
    return (f"MAP training did not converge: {test} after {report.n_iter} iterations of {report.method!r} "
            f"(E = {report.error:.6g}; optimiser: {report.message}). {remedy[:1].upper() + remedy[1:]}.")
