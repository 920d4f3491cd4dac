"""Trust-region (Levenberg-Marquardt) Newton on the dense exact Hessian plus diag(alpha) (PRML 5.4.5).

Each step of :func:`newton_dense` solves (H + mu I) p = -g by a Cholesky factorisation, the damping mu (the
multiplier of a trust-region constraint on ||p||) raised after a rejected step or an indefinite H and lowered
after a good one. Where H is indefinite, its lowest eigenpair comes from ``_lanczos.py`` and the step continued
along that eigenvector to a trust radius is tried beside the damped one (the hard case of Moré & Sorensen
1983), so that a saddle point is left at once. The decrement is computed with the factored Hessian as
preconditioner, once the Newton step's own estimate of it is small.
"""
from dataclasses import dataclass

import numpy as np
from scipy.linalg import LinAlgError, cho_solve, cholesky, solve_triangular

from ._lanczos import NEGATIVE_CURVATURE, Eigenpair, lowest_eigenpair, rough_eigenvector
from ._newton import ACCEPT, ROUNDING, diagonal_preconditioner, finish, gain_ratio, new_radius, newton_decrement, where

#: where H is indefinite, the damping is first tried at -v^T H v times 1 + this, v the last eigenvector
SHIFT_MARGIN = 0.25


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
            diagonal_preconditioner(np.maximum(np.abs(np.diag(model.H)), obj.prior))
        if stop.met(g, decrement) and not model.negative_curvature:
            return finish(obj, w, E, g, n_iter, decrement, "converged", precondition)
        if n_iter >= stop.maxiter:
            return finish(obj, w, E, g, n_iter, decrement, "iteration limit reached" + where(model.negative),
                          precondition, model.negative_curvature)
        step = _damped_step(obj, model, region, stop.maxiter - n_iter)
        n_iter += step.tries
        if step.w is None:
            reason = "iteration limit reached" if n_iter >= stop.maxiter else "no decrease of E along the damped " \
                "Newton step (at the rounding floor, or damping out of range)"
            return finish(obj, w, E, g, n_iter, decrement, reason + where(model.negative), precondition,
                          model.negative_curvature)
        w, E, g, region = step.w, step.E, step.g, step.region
        del model, precondition  # so that the next Hessian is formed without this one's H and factor alive


def _dense_decrement(obj, w, g, L, stop):
    """The decrement by CG preconditioned with the factored Hessian, once its own estimate is small."""
    if L is None or not obj.decrement_defined:
        return np.nan
    if not stop.wants_decrement(np.linalg.norm(solve_triangular(L, g, lower=True, check_finite=False))):
        return np.nan
    return newton_decrement(obj, w, g, _factor_preconditioner(L))


def _factor_preconditioner(L):
    return lambda r: cho_solve((L, True), r, check_finite=False)


@dataclass(frozen=True)
class _Region:
    """What one dense step hands the next: the damping mu, the trust radius of steps along negative curvature
    and the last eigenvector of negative curvature."""

    mu: float = 0.0
    radius: float = np.inf
    vector: np.ndarray = None


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
    lowest: Eigenpair = None

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
        guess = _shift_guess(H, rough_eigenvector(H))
    F, m = _damped_factor(H, max(region.mu, _floor(H), guess), _floor(H))
    return _Model(w, E, g, H, F, m, lowest_eigenpair(H, F, m, region.vector) if F is not None else None)


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
        radius = new_radius(radius, continued[0].rho, radius) if extend else radius
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
    return _Trial(p, E_new, g_new, gain_ratio(model.E, E_new, model.decrease(p)))


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
