"""Newton-type minimisation of E(w) on the package's own curvature, and the Newton decrement.

* :func:`newton_dense` - trust-region Newton on the dense exact Hessian plus diag(alpha) (PRML 5.4.5): each
  step solves (H + mu I) p = -g by a Cholesky factorisation, the damping mu (Levenberg-Marquardt, the
  multiplier of a trust-region constraint on ||p||) raised after a rejected step or an indefinite H and
  lowered after a good one.
* :func:`newton_cg` - trust-region Newton-CG (Steihaug): conjugate gradients on exact Hessian-vector
  products by the R-operator (PRML 5.96-5.111), preconditioned by the Gauss-Newton diagonal plus alpha,
  stopped at the trust-region boundary, at negative curvature or at a residual that shrinks with the gradient.
* :func:`newton_decrement` - lambda = sqrt(g^T A^-1 g), A = Gauss-Newton matrix + diag(alpha) (PRML 5.84
  plus the prior), by preconditioned conjugate gradients on Gauss-Newton products.

Both methods start with the undamped Newton step (mu = 0, no trust radius), so that a warm start near a
minimum converges at Newton's quadratic rate; the damping or the radius comes into play only after a step fails.
"""
from dataclasses import dataclass

import numpy as np
from scipy.linalg import LinAlgError, cho_solve, cholesky, solve_triangular

from ._chunks import DEFAULT_CHUNK_ROWS
from .curvature.diagonal import outer_diagonal
from .curvature.hessian import data_hessian
from .curvature.rop import data_gnvp, data_hvp
from .objective import error_and_gradient
from .priors import alpha_per_param

__all__ = ["Objective", "Stopping", "Outcome", "newton_dense", "newton_cg", "newton_decrement"]

#: a step is accepted when E falls by more than this fraction of the decrease its quadratic model predicts
ACCEPT = 1e-4
#: a predicted decrease below this many roundings of E cannot be measured: the step is taken unless E rose
ROUNDING = 100 * np.finfo(float).eps
#: largest relative residual of the CG solve for a Newton-CG step (Eisenstat-Walker forcing term)
FORCING = 0.5
#: the decrement is checked by CG on Gauss-Newton products once the Newton step's own estimate is this close
CHECK_FACTOR = 10.0


class Objective:
    """E(w), its gradient and curvature on validated arrays, counting every pass over the data.

    ``chunk_size`` (rows) applies to every pass when given; otherwise the gradient takes
    ``DEFAULT_CHUNK_ROWS`` and each curvature route keeps to its own memory budget.
    """

    def __init__(self, net, X, T, alpha, beta, chunk_size=None):
        self.net, self.X, self.T, self.alpha, self.beta = net, X, T, alpha, beta
        self.chunk_size = chunk_size
        self.prior = alpha_per_param(net, alpha)
        self.n_gradients = self.n_hessians = self.n_hvps = self.n_diagonals = 0

    @property
    def decrement_defined(self):
        """A = Gauss-Newton + diag(alpha) is positive definite only when every alpha is."""
        return bool(np.all(self.prior > 0))

    def value_and_gradient(self, w):
        self.n_gradients += 1
        return error_and_gradient(self.net, w, self.X, self.T, self.alpha, self.beta,
                                  self.chunk_size or DEFAULT_CHUNK_ROWS)

    def hessian(self, w):
        """Exact Hessian of E, (W, W) (PRML 5.92-5.95 plus the prior)."""
        self.n_hessians += 1
        H = data_hessian(self.net, w, self.X, self.T, self.beta, "exact", self.chunk_size)
        H[np.diag_indices_from(H)] += self.prior
        return H

    def hvp(self, w, v):
        self.n_hvps += 1
        return data_hvp(self.net, w, self.X, self.T, v, self.beta, self.chunk_size) + self.prior * v

    def gnvp(self, w, v):
        self.n_hvps += 1
        return data_gnvp(self.net, w, self.X, self.T, v, self.beta, self.chunk_size) + self.prior * v

    def gn_diagonal(self, w):
        """Diagonal of the Gauss-Newton matrix plus alpha, (W,) (PRML 5.84), kept off 0 (a weight with no data
        curvature and alpha = 0) so that it can precondition."""
        self.n_diagonals += 1
        d = outer_diagonal(self.net, w, self.X, self.T, self.beta, self.chunk_size) + self.prior
        return np.maximum(d, 1e-12 * d.max() or 1.0)


@dataclass(frozen=True)
class Stopping:
    """When a run stops: ``tol`` on the decrement, or ``gtol`` on the gradient norm when ``by_gradient``."""

    tol: float
    gtol: float
    maxiter: int
    by_gradient: bool

    def met(self, g, decrement):
        if self.by_gradient:
            return bool(np.linalg.norm(g) <= self.gtol)
        return bool(decrement <= self.tol)

    def wants_decrement(self, estimate):
        """Whether a cheap estimate of the decrement is small enough to compute the decrement itself."""
        return not self.by_gradient and estimate <= CHECK_FACTOR * self.tol


@dataclass
class Outcome:
    """One run of a minimiser; ``decrement`` is NaN where A is not positive definite."""

    w: np.ndarray
    E: float
    g: np.ndarray
    n_iter: int
    decrement: float
    message: str


def newton_decrement(obj, w, g, precondition, rtol=1e-2, delay=4, maxiter=None):
    """lambda = sqrt(g^T A^-1 g), A = Gauss-Newton + diag(alpha), by preconditioned CG from x = 0.

    A is the Laplace posterior precision (PRML 5.166) with the outer-product Hessian (5.84); lambda^2 / 2
    approximates E(w) - E(w_MAP) (Boyd & Vandenberghe 2004, 9.5.1).

    ``precondition(r)`` applies an approximation of A^-1. CG raises g^T x_k towards g^T A^-1 g by
    alpha_k r_k^T z_k per step, the fall of the A-norm error; it stops when the rise over the last ``delay``
    steps, or the bound ||r||^2 / min(alpha) on the error, is below rtol^2 of g^T x_k. NaN when some
    alpha is 0.
    """
    if not obj.decrement_defined:
        return np.nan
    if not g.any():
        return 0.0
    floor = obj.prior.min()
    r = g.copy()
    z = precondition(r)
    d, rz = z.copy(), r @ z
    energy, rises = 0.0, []
    for _ in range(maxiter or 2 * g.size):
        Ad = obj.gnvp(w, d)
        step = rz / (d @ Ad)
        energy += step * rz
        rises.append(step * rz)
        r -= step * Ad
        left = min((r @ r) / floor, sum(rises[-delay:]) if len(rises) > delay else np.inf)
        if left <= rtol ** 2 * energy:
            break
        z = precondition(r)
        rz, rz_old = r @ z, rz
        d = z + (rz / rz_old) * d
    return float(np.sqrt(energy))


def _diagonal_preconditioner(M):
    return lambda r: r / M


def _factor_preconditioner(L):
    return lambda r: cho_solve((L, True), r, check_finite=False)


def _gain_ratio(E, E_new, predicted):
    """Actual over predicted decrease of E. Below the rounding of E the model is trusted (1) unless E rose."""
    if predicted <= ROUNDING * abs(E):
        return 1.0 if E_new <= E + ROUNDING * abs(E) else -np.inf
    return (E - E_new) / predicted


def _finish(obj, w, E, g, n_iter, decrement, message, precondition):
    if np.isnan(decrement):
        decrement = newton_decrement(obj, w, g, precondition)
    return Outcome(w, float(E), g, n_iter, decrement, message)


# --- dense: damped Newton on a factored Hessian ---------------------------------------------------------------

def _cholesky(A, shift=0.0):
    """Lower Cholesky factor of A + shift I, or None when that is not positive definite."""
    try:
        return cholesky(A + shift * np.eye(A.shape[0]) if shift else A, lower=True, check_finite=False)
    except LinAlgError:
        return None


def newton_dense(obj, w, stop):
    """Trust-region (Levenberg-Marquardt) Newton on the dense exact Hessian; returns an :class:`Outcome`."""
    E, g = obj.value_and_gradient(w)
    mu, n_iter = 0.0, 0
    while True:
        H = obj.hessian(w)
        L = _cholesky(H)
        decrement = _dense_decrement(obj, w, g, L, stop)
        precondition = _factor_preconditioner(L) if L is not None else \
            _diagonal_preconditioner(np.maximum(np.abs(np.diag(H)), obj.prior))
        if stop.met(g, decrement):
            return _finish(obj, w, E, g, n_iter, decrement, "converged", precondition)
        if n_iter >= stop.maxiter:
            return _finish(obj, w, E, g, n_iter, decrement, "iteration limit reached", precondition)
        step = _damped_step(obj, w, E, g, H, L, mu, stop.maxiter - n_iter)
        n_iter += step.tries
        if step.w is None:
            return _finish(obj, w, E, g, n_iter, decrement, "no decrease of E along the damped Newton step "
                           "(at the rounding floor, or damping out of range)", precondition)
        w, E, g, mu = step.w, step.E, step.g, step.mu


def _dense_decrement(obj, w, g, L, stop):
    """The decrement by CG preconditioned with the factored Hessian, once its own estimate is small."""
    if L is None or not obj.decrement_defined:
        return np.nan
    if not stop.wants_decrement(np.linalg.norm(solve_triangular(L, g, lower=True, check_finite=False))):
        return np.nan
    return newton_decrement(obj, w, g, _factor_preconditioner(L))


@dataclass
class _Step:
    w: np.ndarray
    E: float
    g: np.ndarray
    mu: float
    tries: int


def _damped_step(obj, w, E, g, H, L, mu, max_tries):
    """An accepted step (H + m I) p = -g, trying m = 0 first when H is positive definite.

    A rejected trial raises m four-fold (at least to the damping ``mu`` that worked last); an accepted one
    sets the next damping by Nielsen's rule m * max(1/3, 1 - (2 rho - 1)^3).
    """
    floor = 1e-10 * (np.abs(np.diag(H)).max() or 1.0)
    trial = 0.0 if L is not None else max(mu, floor)
    for tries in range(1, max_tries + 1):
        F, trial = _damped_factor(H, L, trial, floor)
        if F is None:
            break
        p = -cho_solve((F, True), g, check_finite=False)  # PRML (4.92), Newton-Raphson, damped
        predicted = -(g @ p + 0.5 * p @ (H @ p))
        E_new, g_new = obj.value_and_gradient(w + p)
        rho = _gain_ratio(E, E_new, predicted)
        if rho > ACCEPT:
            mu = trial * max(1 / 3, 1 - (2 * min(rho, 1.0) - 1) ** 3) if trial else mu / 3
            return _Step(w + p, E_new, g_new, mu, tries)
        trial = max(4 * trial, mu, floor)
    return _Step(None, E, g, mu, tries)


def _damped_factor(H, L, trial, floor):
    """The factor of H + trial I and the trial, raising it four-fold until positive definite (None: no luck)."""
    if trial == 0.0:
        return L, trial
    while trial <= 1e20 * floor:
        F = _cholesky(H, trial)
        if F is not None:
            return F, trial
        trial *= 4
    return None, trial


# --- matrix-free: Steihaug trust region on R-operator products ------------------------------------------------

def newton_cg(obj, w, stop):
    """Trust-region Newton-CG on exact Hessian-vector products; returns an :class:`Outcome`.

    The trust region is ||p||_M <= radius in the norm of the preconditioner M (Gauss-Newton diagonal plus
    alpha); it starts unbounded, is set by the first step, quartered after a poor step and doubled after a
    good one that reached it.
    """
    E, g = obj.value_and_gradient(w)
    M = obj.gn_diagonal(w)
    radius, n_iter, decrement = np.inf, 0, np.nan
    while True:
        scaled = np.sqrt(g @ (g / M))  # ||g|| in the metric M^-1: the decrement of the diagonal model
        if np.isnan(decrement) and stop.wants_decrement(scaled):
            decrement = newton_decrement(obj, w, g, _diagonal_preconditioner(M))
        if stop.met(g, decrement):
            return _finish(obj, w, E, g, n_iter, decrement, "converged", _diagonal_preconditioner(M))
        if n_iter >= stop.maxiter:
            return _finish(obj, w, E, g, n_iter, decrement, "iteration limit reached", _diagonal_preconditioner(M))
        p, curvature, interior = _steihaug(obj, w, g, M, radius, _forcing(g, scaled, stop))
        if interior and np.isnan(decrement) and stop.wants_decrement(np.sqrt(max(-(g @ p), 0.0))):
            decrement = newton_decrement(obj, w, g, _diagonal_preconditioner(M))
            if stop.met(g, decrement):
                return _finish(obj, w, E, g, n_iter, decrement, "converged", None)
        n_iter += 1
        E_new, g_new = obj.value_and_gradient(w + p)
        rho = _gain_ratio(E, E_new, -(g @ p + 0.5 * curvature))
        radius = _new_radius(radius, rho, np.sqrt(p @ (M * p)))
        if rho > ACCEPT:
            w, E, g, decrement = w + p, E_new, g_new, np.nan
            M = obj.gn_diagonal(w)


def _forcing(g, scaled, stop):
    """Relative residual for the CG of a Newton-CG step (Eisenstat-Walker): min(FORCING, sqrt(||g||_{M^-1})),
    superlinear, but no smaller than half the reduction the convergence test still asks for."""
    eta = min(FORCING, np.sqrt(scaled))
    needed = stop.gtol / np.linalg.norm(g) if stop.by_gradient else stop.tol / max(scaled, 1e-300)
    return min(FORCING, max(eta, 0.5 * needed))


def _new_radius(radius, rho, step_norm):
    """Quarter the radius after a poor step, double it after a good one that reached it; the first sets it."""
    if rho < 0.25:
        return 0.25 * step_norm
    if not np.isfinite(radius):
        return step_norm * (2 if rho > 0.75 else 1)
    return 2 * radius if rho > 0.75 and step_norm >= 0.99 * radius else radius


def _steihaug(obj, w, g, M, radius, eta):
    """Truncated preconditioned CG on the model g^T p + p^T H p / 2 within ||p||_M <= radius.

    Returns ``p``, ``p^T H p`` and whether p is interior (CG reached ||r||_{M^-1} <= eta ||g||_{M^-1}: an
    inexact Newton step) rather than stopped at the boundary or at negative curvature.
    """
    p, r = np.zeros_like(g), g.copy()
    z = r / M
    d, rz = -z, r @ z
    if rz == 0.0:
        return p, 0.0, True
    target = eta ** 2 * rz
    pHp = 0.0
    for _ in range(g.size):
        Hd = obj.hvp(w, d)
        dHd = d @ Hd
        step = rz / dHd if dHd > 0 else np.inf
        if step == np.inf or (p + step * d) @ (M * (p + step * d)) >= radius ** 2:
            tau = _to_boundary(p, d, M, radius)
            return p + tau * d, pHp + 2 * tau * (p @ Hd) + tau ** 2 * dHd, False
        pHp += 2 * step * (p @ Hd) + step ** 2 * dHd
        p += step * d
        r += step * Hd
        z = r / M
        rz, rz_old = r @ z, rz
        if rz <= target:
            break
        d = -z + (rz / rz_old) * d
    return p, pHp, True


def _to_boundary(p, d, M, radius):
    """tau >= 0 with ||p + tau d||_M = radius; with no radius yet, stop where CG is (or take d itself)."""
    if not np.isfinite(radius):
        return 0.0 if p.any() else 1.0
    a, b, c = d @ (M * d), 2 * (p @ (M * d)), p @ (M * p) - radius ** 2
    return (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a)
