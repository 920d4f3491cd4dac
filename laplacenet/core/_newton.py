"""What both Newton minimisers of E(w) share: the objective, the stopping rule, the outcome and the decrement.

:class:`Objective` gives E(w), its gradient and curvature on validated arrays and counts every pass over the
data; :class:`Stopping` says when a run stops (``tol`` on the Newton decrement, or ``gtol`` on the gradient
norm) and :class:`Outcome` what it ends with. :func:`newton_decrement` is lambda = sqrt(g^T A^-1 g),
A = Gauss-Newton matrix + diag(alpha) (PRML 5.84 plus the prior), by preconditioned conjugate gradients on
Gauss-Newton products. The rest is the acceptance of a step both methods use: the gain ratio of actual over
predicted decrease, the trust radius that follows from it and the message where negative curvature was found.
The methods themselves are in ``_newton_dense.py`` and ``_newton_cg.py``; both start with the undamped Newton
step (mu = 0, no trust radius), so that a warm start near a minimum converges at Newton's quadratic rate, and
neither reports convergence where it has found negative curvature: a saddle point is not a minimum.
"""
from dataclasses import dataclass

import numpy as np

from ._chunks import DEFAULT_CHUNK_ROWS
from .curvature.diagonal import outer_diagonal
from .routes import data_hessian
from .curvature.rop import data_gnvp, data_hvp
from .objective import error_and_gradient
from .priors import alpha_per_param

#: a step is accepted when E falls by more than this fraction of the decrease its quadratic model predicts
ACCEPT = 1e-4
#: a predicted decrease below this many roundings of E cannot be measured: the step is taken unless E rose
ROUNDING = 100 * np.finfo(float).eps
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
    """One run of a minimiser; ``decrement`` is NaN where A is not positive definite; ``negative_curvature``
    says that the exact Hessian at w was found to have some (w is then no minimum, and not converged)."""

    w: np.ndarray
    E: float
    g: np.ndarray
    n_iter: int
    decrement: float
    message: str
    negative_curvature: bool = False


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
        if not rz > 0.0:  # the residual underflowed (a gradient of ~1e-160 and below): nothing left to add
            break
        Ad = obj.gnvp(w, d)
        curvature = d @ Ad
        if not curvature > 0.0:
            break
        step = rz / curvature
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


def diagonal_preconditioner(M):
    return lambda r: r / M


def gain_ratio(E, E_new, predicted):
    """Actual over predicted decrease of E. Below the rounding of E the model is trusted (1) unless E rose."""
    if predicted <= ROUNDING * abs(E):
        return 1.0 if E_new <= E + ROUNDING * abs(E) else -np.inf
    return (E - E_new) / predicted


def finish(obj, w, E, g, n_iter, decrement, message, precondition, negative_curvature=False):
    if np.isnan(decrement):
        decrement = newton_decrement(obj, w, g, precondition)
    return Outcome(w, float(E), g, n_iter, decrement, message, negative_curvature)


def where(lowest):
    """What a message adds where negative curvature was found (``lowest`` not None)."""
    if lowest is None:
        return ""
    return f", where the Hessian has negative curvature (lowest eigenvalue {lowest.value:.3g})"


def new_radius(radius, rho, step_norm):
    """Quarter the radius after a poor step, double it after a good one that reached it; the first sets it."""
    if rho < 0.25:
        return 0.25 * step_norm
    if not np.isfinite(radius):
        return step_norm * (2 if rho > 0.75 else 1)
    return 2 * radius if rho > 0.75 and step_norm >= 0.99 * radius else radius
