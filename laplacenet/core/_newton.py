"""Newton-type minimisation of E(w) on the package's own curvature, and the Newton decrement.

* :func:`newton_dense` - trust-region Newton on the dense exact Hessian plus diag(alpha) (PRML 5.4.5): each
  step solves (H + mu I) p = -g by a Cholesky factorisation, the damping mu (Levenberg-Marquardt, the
  multiplier of a trust-region constraint on ||p||) raised after a rejected step or an indefinite H and
  lowered after a good one; where H is indefinite, the step continued along its lowest eigenvector is tried too.
* :func:`newton_cg` - trust-region Newton-CG (Steihaug): conjugate gradients on exact Hessian-vector
  products by the R-operator (PRML 5.96-5.111), preconditioned by the Gauss-Newton diagonal plus alpha,
  stopped at the trust-region boundary, at negative curvature or at a residual that shrinks with the gradient;
  Lanczos looks for negative curvature where the convergence test passes.
* :func:`newton_decrement` - lambda = sqrt(g^T A^-1 g), A = Gauss-Newton matrix + diag(alpha) (PRML 5.84
  plus the prior), by preconditioned conjugate gradients on Gauss-Newton products.

Both methods start with the undamped Newton step (mu = 0, no trust radius), so that a warm start near a
minimum converges at Newton's quadratic rate; the damping or the radius comes into play only after a step fails.
Neither reports convergence where it has found negative curvature: a saddle point is not a minimum.
"""
from dataclasses import dataclass

import numpy as np
from scipy.linalg import LinAlgError, cho_solve, cholesky, solve_triangular

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
#: largest relative residual of the CG solve for a Newton-CG step (Eisenstat-Walker forcing term)
FORCING = 0.5
#: H has negative curvature (w is a saddle, not a minimum) when its lowest eigenvalue is below -this max|H_ii|
NEGATIVE_CURVATURE = 1e-8
#: Lanczos steps on (H + m I)^-1 for the lowest eigenpair of an indefinite H, and on H for a first rough one
EIGEN_STEPS = 8
ROUGH_STEPS = 20
#: Lanczos steps (Hessian-vector products) by which Newton-CG looks for negative curvature where its test passes
CURVATURE_STEPS = 30
#: where H is indefinite, the damping is first tried at -v^T H v times 1 + this, v the last eigenvector
SHIFT_MARGIN = 0.25
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


def _diagonal_preconditioner(M):
    return lambda r: r / M


def _factor_preconditioner(L):
    return lambda r: cho_solve((L, True), r, check_finite=False)


def _gain_ratio(E, E_new, predicted):
    """Actual over predicted decrease of E. Below the rounding of E the model is trusted (1) unless E rose."""
    if predicted <= ROUNDING * abs(E):
        return 1.0 if E_new <= E + ROUNDING * abs(E) else -np.inf
    return (E - E_new) / predicted


def _finish(obj, w, E, g, n_iter, decrement, message, precondition, negative_curvature=False):
    if np.isnan(decrement):
        decrement = newton_decrement(obj, w, g, precondition)
    return Outcome(w, float(E), g, n_iter, decrement, message, negative_curvature)


# --- dense: damped Newton on a factored Hessian, with negative curvature -----------------------------------------

def newton_dense(obj, w, stop):
    """Trust-region (Levenberg-Marquardt) Newton on the dense exact Hessian; returns an :class:`Outcome`.

    Where H is indefinite, its lowest eigenpair (lambda_1, v) is found, and beside each damped step the step
    continued along v to a trust radius is tried (the hard case of Moré & Sorensen 1983), so that a saddle
    point is left at once. A point where lambda_1 < -``NEGATIVE_CURVATURE`` max|H_ii| is no minimum: it is
    never reported converged, however small its gradient or decrement.
    """
    E, g = obj.value_and_gradient(w)
    region, n_iter = _Region(), 0
    while True:
        model = _model(obj, w, E, g, region)
        decrement = _dense_decrement(obj, w, g, model.L, stop)
        precondition = _factor_preconditioner(model.F) if model.F is not None else \
            _diagonal_preconditioner(np.maximum(np.abs(np.diag(model.H)), obj.prior))
        if stop.met(g, decrement) and not model.negative_curvature:
            return _finish(obj, w, E, g, n_iter, decrement, "converged", precondition)
        if n_iter >= stop.maxiter:
            return _finish(obj, w, E, g, n_iter, decrement, "iteration limit reached" + _where(model.negative),
                           precondition, model.negative_curvature)
        step = _damped_step(obj, model, region, stop.maxiter - n_iter)
        n_iter += step.tries
        if step.w is None:
            reason = "iteration limit reached" if n_iter >= stop.maxiter else "no decrease of E along the damped " \
                "Newton step (at the rounding floor, or damping out of range)"
            return _finish(obj, w, E, g, n_iter, decrement, reason + _where(model.negative), precondition,
                           model.negative_curvature)
        w, E, g, region = step.w, step.E, step.g, step.region
        del model, precondition  # so that the next Hessian is formed without this one's H and factor alive


def _where(lowest):
    """What a message adds where negative curvature was found (``lowest`` not None)."""
    if lowest is None:
        return ""
    return f", where the Hessian has negative curvature (lowest eigenvalue {lowest.value:.3g})"


def _dense_decrement(obj, w, g, L, stop):
    """The decrement by CG preconditioned with the factored Hessian, once its own estimate is small."""
    if L is None or not obj.decrement_defined:
        return np.nan
    if not stop.wants_decrement(np.linalg.norm(solve_triangular(L, g, lower=True, check_finite=False))):
        return np.nan
    return newton_decrement(obj, w, g, _factor_preconditioner(L))


@dataclass(frozen=True)
class _Region:
    """What one dense step hands the next: the damping mu, the trust radius of steps along negative curvature
    and the last eigenvector of negative curvature."""

    mu: float = 0.0
    radius: float = np.inf
    vector: np.ndarray = None


@dataclass(frozen=True)
class _Eigenpair:
    value: float
    vector: np.ndarray


@dataclass(frozen=True)
class _Model:
    """The quadratic model of E at w: the exact Hessian H and the factor F of H + m I, with m = 0 where H is
    positive definite and otherwise the damping that made it so, beside the lowest eigenpair of H."""

    w: np.ndarray
    E: float
    g: np.ndarray
    H: np.ndarray
    F: np.ndarray
    m: float = 0.0
    lowest: _Eigenpair = None

    @property
    def L(self):
        """The Cholesky factor of H itself, None where H is indefinite."""
        return self.F if self.m == 0.0 else None

    @property
    def floor(self):
        """The smallest damping worth trying."""
        return _floor(self.H)

    @property
    def negative_curvature(self):
        """Whether lambda_1 < -NEGATIVE_CURVATURE max|H_ii|: then w is no minimum, whatever its gradient."""
        return self.lowest is not None and self.lowest.value < -NEGATIVE_CURVATURE * _scale(self.H)

    @property
    def negative(self):
        """The lowest eigenpair where H has negative curvature, else None."""
        return self.lowest if self.negative_curvature else None

    def decrease(self, p):
        """The decrease of E the model predicts for the step p."""
        return -(self.g @ p + 0.5 * p @ (self.H @ p))


def _model(obj, w, E, g, region):
    """The model at w; where H is indefinite, the damping starts from what the last eigenvector suggests."""
    H = obj.hessian(w)
    guess = _shift_guess(H, region.vector)
    L = _cholesky(H) if guess <= 0 else None  # v^T H v < 0 proves H indefinite: no factorisation to try
    if L is not None:
        return _Model(w, E, g, H, L)
    if region.vector is None:
        guess = _shift_guess(H, _rough_eigenvector(H))
    F, m = _damped_factor(H, max(region.mu, _floor(H), guess), _floor(H))
    return _Model(w, E, g, H, F, m, _lowest_eigenpair(H, F, m, region.vector) if F is not None else None)


def _scale(H):
    return np.abs(np.diag(H)).max() or 1.0


def _floor(H):
    """The smallest damping worth trying, 1e-10 max|H_ii|."""
    return 1e-10 * _scale(H)


def _cholesky(A, shift=0.0):
    """Lower Cholesky factor of A + shift I, or None when that is not positive definite; one W x W copy of A,
    shifted and factored in place."""
    B = np.array(A, order="F")
    B[np.diag_indices_from(B)] += shift
    try:
        return cholesky(B, lower=True, overwrite_a=True, check_finite=False)
    except LinAlgError:
        return None


def _damped_factor(H, trial, floor):
    """The factor of H + trial I and the trial, raising it four-fold until positive definite (None: no luck)."""
    while trial <= 1e20 * floor:
        F = _cholesky(H, trial)
        if F is not None:
            return F, trial
        trial *= 4
    return None, trial


def _shift_guess(H, vector):
    """-v^T H v (1 + SHIFT_MARGIN): about -lambda_1, from below, for the last eigenvector v (H changes little
    from one step to the next); 0 without v."""
    return 0.0 if vector is None else -(1 + SHIFT_MARGIN) * (vector @ (H @ vector))


def _start(n):
    """The same start vector for the eigensolvers on every run, orthogonal to no symmetry of the weights."""
    return np.random.default_rng(0).standard_normal(n)


def _rough_eigenvector(H):
    """An eigenvector of about lambda_1 by ROUGH_STEPS Lanczos steps on H."""
    return _lowest_ritz_pair(lambda v: H @ v, _start(len(H)), ROUGH_STEPS).vector


def _lowest_eigenpair(H, F, m, start):
    """The lowest eigenpair of H by EIGEN_STEPS Lanczos steps on (H + m I)^-1 = (F F^T)^-1 (shift-invert).

    The largest eigenvalue of (H + m I)^-1, 1 / (lambda_1 + m), stands well apart from the rest even where
    lambda_1 is tiny beside the largest eigenvalue of H, where Lanczos on H itself crawls (seconds at W = 241,
    as measured); started from the last eigenvector, a few steps find it.
    """
    return _lowest_ritz_pair(lambda v: cho_solve((F, True), v, check_finite=False),
                             _start(len(H)) if start is None else start, EIGEN_STEPS, H)


def _lowest_ritz_pair(apply, start, steps, H=None):
    """The lowest Rayleigh-Ritz pair of H (``apply`` itself when None) on the Krylov space of ``apply`` from
    ``start``: Lanczos with full reorthogonalisation, for a fixed number of steps so that rounding moves the
    result by rounding only, whatever the BLAS."""
    Q = np.zeros((start.size, min(steps, start.size)))
    AQ = np.zeros_like(Q)
    Q[:, 0] = start / np.linalg.norm(start)
    for j in range(Q.shape[1]):
        AQ[:, j] = apply(Q[:, j])
        z = AQ[:, j] - Q @ (Q.T @ AQ[:, j])
        z -= Q @ (Q.T @ z)  # twice is enough (Parlett 1998, 6.9)
        if j + 1 == Q.shape[1] or np.linalg.norm(z) <= 1e-12 * np.linalg.norm(AQ[:, j]):
            break  # (or an invariant subspace: its Ritz pairs are exact)
        Q[:, j + 1] = z / np.linalg.norm(z)
    Q, AQ = Q[:, :j + 1], AQ[:, :j + 1]
    values, vectors = np.linalg.eigh(Q.T @ (AQ if H is None else H @ Q))
    return _Eigenpair(float(values[0]), Q @ vectors[:, 0])


@dataclass(frozen=True)
class _Trial:
    p: np.ndarray
    E: float
    g: np.ndarray
    rho: float


@dataclass(frozen=True)
class _Step:
    w: np.ndarray
    E: float
    g: np.ndarray
    region: _Region
    tries: int


def _damped_step(obj, model, region, max_tries):
    """An accepted step p = -(H + m I)^-1 g, trying m = 0 first when H is positive definite.

    Where H has negative curvature, p continued along v to the trust radius is tried too and the lower E
    taken (p alone is not tried where it would change E by less than its rounding: at a saddle point). A
    rejected continued step quarters the radius, a good one doubles it. A rejected p raises m four-fold (at
    least to the damping ``mu`` that worked last); an accepted one sets the next damping by Nielsen's rule
    m * max(1/3, 1 - (2 rho - 1)^3).
    """
    F, trial = model.F, model.m
    radius = _radius_cap(model, region.radius)
    for tries in range(1, max_tries + 1):
        if F is None:
            break
        p = -cho_solve((F, True), model.g, check_finite=False)  # PRML (4.92), Newton-Raphson, damped
        extend = model.negative_curvature and p @ p < radius ** 2
        damped = [] if extend and model.decrease(p) <= ROUNDING * abs(model.E) else [_try(obj, model, p)]
        continued = [_try(obj, model, _along_negative_curvature(p, model.lowest.vector, radius))] if extend else []
        radius = _new_radius(radius, continued[0].rho, radius) if extend else radius
        best = min(damped + continued, key=lambda t: t.E)
        if best.rho > ACCEPT:
            rho = min(max(damped[0].rho, 0.0), 1.0) if damped else 0.5
            mu = trial * max(1 / 3, 1 - (2 * rho - 1) ** 3) if trial else region.mu / 3
            vector = region.vector if model.lowest is None else model.lowest.vector
            return _Step(model.w + best.p, best.E, best.g, _Region(mu, radius, vector), tries)
        if damped:
            F, trial = _damped_factor(model.H, max(4 * trial, region.mu, model.floor), model.floor)
    return _Step(None, model.E, model.g, region, tries)


def _try(obj, model, p):
    E_new, g_new = obj.value_and_gradient(model.w + p)
    return _Trial(p, E_new, g_new, _gain_ratio(model.E, E_new, model.decrease(p)))


def _radius_cap(model, radius):
    """The trust radius along negative curvature, at most sqrt(2 E / -lambda_1), where the model along v alone
    would have E reach 0 (E is never negative)."""
    if not model.negative_curvature:
        return radius
    return min(radius, np.sqrt(2 * model.E / -model.lowest.value))


def _along_negative_curvature(p, v, radius):
    """p + tau v with ||p + tau v|| = radius and tau of the sign of p^T v, which lowers the model: the step of
    the hard case of the trust-region subproblem (Moré & Sorensen 1983; Nocedal & Wright 2006, 4.3)."""
    b = p @ v
    tau = np.sqrt(b * b + radius ** 2 - p @ p) + abs(b)
    return p + (tau if b >= 0 else -tau) * v


# --- matrix-free: Steihaug trust region on R-operator products ------------------------------------------------

def newton_cg(obj, w, stop):
    """Trust-region Newton-CG on exact Hessian-vector products; returns an :class:`Outcome`.

    The trust region is ||p||_M <= radius in the norm of the preconditioner M (Gauss-Newton diagonal plus
    alpha); it starts unbounded, is set by the first step, quartered after a poor step and doubled after a
    good one that reached it. CG meets negative curvature only where the gradient has a part along it, so
    where the test passes, a few Lanczos steps look for it; what they find is followed to the trust radius.
    """
    E, g = obj.value_and_gradient(w)
    M = obj.gn_diagonal(w)
    radius, n_iter, decrement, lowest = np.inf, 0, np.nan, None
    while True:
        scaled = np.sqrt(g @ (g / M))  # ||g|| in the metric M^-1: the decrement of the diagonal model
        if np.isnan(decrement) and stop.wants_decrement(scaled):
            decrement = newton_decrement(obj, w, g, _diagonal_preconditioner(M))
        if stop.met(g, decrement):
            lowest = lowest or _negative_curvature_by_lanczos(obj, w, M)
            if lowest is None:
                return _finish(obj, w, E, g, n_iter, decrement, "converged", _diagonal_preconditioner(M))
        if n_iter >= stop.maxiter:
            return _finish(obj, w, E, g, n_iter, decrement, "iteration limit reached" + _where(lowest),
                           _diagonal_preconditioner(M), lowest is not None)
        if lowest is not None:
            p, curvature = _along_eigenvector(g, lowest, M, min(radius, np.sqrt(2 * E / -lowest.value)))
        else:
            p, curvature, interior = _steihaug(obj, w, g, M, radius, _forcing(g, scaled, stop))
            if interior and np.isnan(decrement) and stop.wants_decrement(np.sqrt(max(-(g @ p), 0.0))):
                decrement = newton_decrement(obj, w, g, _diagonal_preconditioner(M))
                if stop.met(g, decrement):
                    continue
        n_iter += 1
        E_new, g_new = obj.value_and_gradient(w + p)
        rho = _gain_ratio(E, E_new, -(g @ p + 0.5 * curvature))
        radius = _new_radius(radius, rho, np.sqrt(p @ (M * p)))
        if rho > ACCEPT:
            w, E, g, decrement, lowest = w + p, E_new, g_new, np.nan, None
            M = obj.gn_diagonal(w)


def _negative_curvature_by_lanczos(obj, w, M):
    """The lowest Ritz pair of H after CURVATURE_STEPS Lanczos steps on Hessian-vector products, if its value is
    below -NEGATIVE_CURVATURE max(M) (H then has negative curvature); else None."""
    lowest = _lowest_ritz_pair(lambda v: obj.hvp(w, v), _start(w.size), CURVATURE_STEPS)
    return lowest if lowest.value < -NEGATIVE_CURVATURE * M.max() else None


def _along_eigenvector(g, lowest, M, radius):
    """The step along the eigenvector v to ||p||_M = radius, downhill (g^T p <= 0), and its p^T H p."""
    v = lowest.vector
    p = (-radius / np.sqrt(v @ (M * v))) * (1.0 if g @ v <= 0 else -1.0) * v
    return p, lowest.value * (p @ p)


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
