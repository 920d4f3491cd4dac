"""The gradient method of the evidence loop: a trust-region ascent of ln Z in (ln alpha, ln beta) (PRML 5.7.2).

:func:`gradient` takes a Newton step of a local model of ln Z, no longer than the trust radius (at most
``MAX_RADIUS``), and keeps it only if the evidence after retraining is higher. The model's slope is that of ln Z
with w retrained (:func:`_slope`), its Hessian first the one at fixed w (:func:`_model_hessian`, or the curvature
MacKay's update implies), then corrected by BFGS secant updates (:func:`_secant_update`); a step heading at a
rejected point goes at most halfway to it (:func:`_short_of_rejected`).
"""
import numpy as np

from ..core.exceptions import NonFiniteError, NotPositiveDefiniteError
from ._hyper_guard import ill_determined
from .evidence import CG_STEPS, evidence_hessian, evidence_slope, retrained_slope

#: the largest trust radius of the gradient method in ln alpha, ln beta (a factor e^2 = 7.4 per step): longer
#: steps buy few cycles and can cost a retraining at hyperparameters far from any good one
MAX_RADIUS = 2.0


def gradient(problem, alpha, beta, w, options, coords):
    """Trust-region ascent of ln Z in log coordinates; a step counts only if the retrained evidence rises.

    The model has the slope of ln Z with w retrained (:func:`_slope`) and, at first, the Hessian at fixed w
    (:func:`_model_hessian`), more curved than that of ln Z with w retrained; secant updates from the slopes of
    accepted steps correct it (:func:`_secant_update`), and the radius (at most ``MAX_RADIUS``) bounds the steps.
    A step heading at or past a rejected point goes at most halfway to it (:func:`_short_of_rejected`).
    """
    problem.keep_covariance = True
    state = problem.evaluate(alpha, beta, w)
    slope, hess = _slope(problem, state), _model_hessian(problem, state)
    _release_covariance(state)
    radius, rejected = options.radius, []
    for _ in range(options.cycles - 1):
        theta = coords.theta(state.alpha, state.beta)
        step = -np.linalg.solve(hess, slope)  # the Newton step of the model, then shortened to the radius
        step *= min(1.0, radius / max(np.max(np.abs(step)), 1e-300))
        step = _short_of_rejected(np.clip(theta + step, coords.lower, coords.upper) - theta, theta, rejected)
        predicted = float(slope @ step + 0.5 * step @ hess @ step)
        if predicted < options.tol:
            return state, True, (f"no step of the local model of the log evidence promises a gain above "
                                 f"tol={options.tol:g} (trust radius {radius:.3g})")
        size = np.max(np.abs(step))
        try:
            trial = problem.evaluate(*coords.hyperparameters(theta + step), state.w, accepted=None)
        except (NotPositiveDefiniteError, NonFiniteError):  # no minimum there, or one out of float64: failed
            radius = size / 4.0
            rejected.append(theta + step)
            continue
        gain = trial.log_evidence - state.log_evidence
        flaw = None if gain <= 0.0 else ill_determined(trial, problem)
        if gain <= 0.0 or flaw is not None:  # rejected: the radius shrinks, unless the promise was small already
            problem.decide(False)
            if predicted < 10.0 * options.tol:
                if flaw is not None:
                    return state, True, (f"a step promising {predicted:.3g} nats reached an ill-determined state "
                                         f"({flaw}); the best state so far is kept")
                return state, True, (f"a step promising {predicted:.3g} nats lowered the log evidence: at its "
                                     f"maximum to within 10 tol={10 * options.tol:g}")
            radius = size / 4.0
            rejected.append(theta + step)
            continue
        problem.decide(True)
        if gain > 0.75 * predicted and size > 0.99 * radius:
            radius = min(2.0 * radius, MAX_RADIUS)
        elif gain < 0.25 * predicted:
            radius = size / 2.0
        step = coords.theta(trial.alpha, trial.beta) - theta
        state, previous_slope = trial, slope
        slope = _slope(problem, state)
        hess = _secant_update(hess, step, slope - previous_slope, lambda: _model_hessian(problem, state))
        _release_covariance(state)
        if gain < options.tol:
            return state, True, f"the log evidence rose by less than tol={options.tol:g}"
    return state, False, f"cycles={options.cycles} reached"


def _short_of_rejected(step, theta, rejected):
    """``step`` from ``theta``, shortened to at most half the distance to every rejected point it heads at
    (within 8 degrees): a trial there was refused, so along that line the maximum is nearer (for a unimodal ln Z
    it is). Without it the radius, doubled after good steps, led back to and past such points: on iris with 50
    units, each of those trials retrained into another minimum of E, at 0.2 s a time."""
    for point in rejected:
        to_point = point - theta
        distance, length = np.linalg.norm(to_point), np.linalg.norm(step)
        if distance > 0.0 and step @ to_point >= 0.99 * length * distance and length >= 0.5 * distance:
            step = step * (0.5 * distance / length)
    return step


def _release_covariance(state):
    """Drop the W x W A^-1 the slope and model were built from (a rejected trial's goes with the trial)."""
    state.stats = state.stats._replace(covariance=None)


def _secant_update(hess, step, change, fallback):
    """The model Hessian after a step ``step`` that changed the slope by ``change`` (BFGS on ``-hess``): the fixed-w
    curvature overstates that of ln Z with w retrained, and the secant corrects it; ``fallback()`` where the step
    showed no concavity."""
    B, y = -hess, -change
    curvature = float(y @ step)
    Bs = B @ step
    if curvature <= 1e-12 * float(step @ Bs) or not np.isfinite(curvature):
        return fallback()
    updated = -(B + np.outer(y, y) / curvature - np.outer(Bs, Bs) / float(step @ Bs))
    return updated if _concave(updated) else fallback()


def _concave(hess):
    """Whether a model Hessian is negative definite well enough to take its Newton step: every eigenvalue below
    -1e-12 times the largest in magnitude. A secant update in rounding can leave it singular (one pattern
    fitted exactly: [[-a, a], [a, -a]])."""
    values = np.linalg.eigvalsh(hess)
    return bool(np.all(np.isfinite(values)) and values[-1] < -1e-12 * abs(values[0]))

def _slope(problem, state):
    """The slope of ln Z in theta at ``state`` with w retrained (:func:`retrained_slope`); at fixed w where the
    data curvature next to w is not positive definite (an exact Hessian of a structured posterior), and for a
    subset posterior. Its ln Z is the evidence of the output layer on fixed features; with the features
    retrained it omits their prior, so that its maximum pulls alpha down while they overfit (breast_cancer, 20
    units, five splits: alpha 0.25 -> 0.02, ln Z +2.6, test NLL of the MAP network 0.075 -> 0.121)."""
    net, stats = problem.net, state.stats
    slope = evidence_slope(problem.X, state.alpha, state.beta, stats, net.n_outputs)
    if state.posterior.subset is not None:
        return slope
    try:
        slope = slope + retrained_slope(net, state.w, problem.X, problem.T, state.alpha, state.beta, stats,
                                        state.posterior, problem.curvature, stats.covariance,
                                        CG_STEPS, state.moves)
    except NotPositiveDefiniteError:
        pass
    return slope


def _model_hessian(problem, state):
    """The Hessian of ln Z in theta at fixed w (exact where available and concave, else the curvature of MacKay's
    update): the model's first curvature, more curved than that of ln Z with w retrained."""
    hess = evidence_hessian(problem.net, state.alpha, state.beta, state.stats, state.posterior)
    if hess is None or not _concave(hess):
        hess = _fixed_point_curvature(state)
    return hess


def _fixed_point_curvature(state):
    """``-diag(alpha_g ||w_g||^2 / 2, beta_k E_D,k)``: the curvature MacKay's update implies (its log step is the
    gradient divided by these), a stand-in where the exact one is not available."""
    stats = state.stats
    alphas = np.atleast_1d(state.alpha)[stats.groups] if np.ndim(state.alpha) else np.array([state.alpha])
    diag = [0.5 * alphas * stats.sq_norms]
    if stats.residuals is not None:
        residuals = stats.residuals if stats.gamma_outputs is not None else np.array([stats.residuals.sum()])
        diag.append(0.5 * np.atleast_1d(state.beta) * residuals)
    return -np.diag(np.maximum(np.concatenate(diag), 1e-12))
