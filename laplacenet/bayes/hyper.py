"""The evidence loop: alpha and beta that maximise the Laplace evidence, with w_MAP retrained (PRML 5.7.2).

Three ways to move the hyperparameters, one guard around them all:

* ``'fixed_point'`` - MacKay's re-estimation (5.178, 5.180) after every training to convergence;
* ``'gradient'`` - a trust-region ascent on the log evidence in (ln alpha, ln beta): its gradient with w retrained
  (the change of ln|A| as w_MAP moves included) and a secant-corrected Hessian propose a step, the step is kept
  only if the evidence *after retraining* is higher;
* ``'online'`` - a few optimiser iterations between re-estimation steps, training to convergence only at the end
  (Immer et al. 2021, "Scalable marginal likelihood estimation for model selection in deep learning").

Whatever the method, the loop keeps the state of highest evidence it has evaluated at converged weights and
returns it, never a later, worse one; it stops when the evidence has fallen ``patience`` cycles running.
The derivation (why the plain fixed point can run away when W is comparable to N) is in the documentation's
concepts page on the evidence.
"""
import warnings
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
from scipy.linalg import eigvalsh

from ..core._chunks import DEFAULT_CHUNK_ROWS, data_sum, map_rows
from ..core._threads import one_blas_thread, run_parallel, task_workers
from ..core._validation import (check_alpha, check_beta, check_callback, check_data, check_number,
                                check_positive_int, check_w, restart_seeds)
from ..core.curvature.backprop import forward_pass
from .evidence import (CG_STEPS, evidence_hessian, evidence_slope, n_betas, posterior_evidence_terms, retrained_slope,
                       weight_moves)
from .reestimation import check_reestimable, covered_groups, data_curvature, evidence_statistics, reestimate_from
from ..core.exceptions import EvidenceConvergenceWarning, NonFiniteError, NotPositiveDefiniteError
from .laplace import build_posterior
from ..core.network import MLP
from .options import Curvature
from ..core.priors import alpha_per_param
from ..core.training import check_train_kwargs, train

__all__ = ["fit_evidence", "EvidenceOptions", "EvidenceCycle", "EvidenceResult"]

EVIDENCE_METHODS = ("fixed_point", "gradient", "online")
#: the largest trust radius of the gradient method in ln alpha, ln beta (a factor e^2 = 7.4 per step): longer
#: steps buy few cycles and can cost a retraining at hyperparameters far from any good one
MAX_RADIUS = 2.0
#: ``'online'``: the hyperparameters have settled when no ln alpha or ln beta moves by more than this in a step
#: (the evidence at unconverged weights moves by more than ``tol`` long after they have)
ONLINE_SETTLED = 1e-3


@dataclass(frozen=True)
class EvidenceOptions:
    """How :func:`fit_evidence` maximises the evidence; validated once, then passed around whole.

    Attributes
    ----------
    method : {'fixed_point', 'gradient', 'online'}
        See :func:`fit_evidence`.
    cycles : int
        At most this many evaluations of (train, posterior, evidence) per restart.
    tol : float
        Converged when the log evidence changes by less than this between cycles (``'fixed_point'``,
        ``'online'``, which also stops once no ln alpha or ln beta moves by more than ``ONLINE_SETTLED``), or
        when the gain the local model of ln Z predicts is below it (``'gradient'``). Nats, absolute: differences
        of the log evidence are what model comparison reads, whatever N.
    patience : int
        Stop after the log evidence has been below the best seen for this many cycles running.
    fall_tol : float
        A fall of the log evidence between consecutive accepted cycles larger than this is warned about
        (``'fixed_point'``; the other methods never accept a fall).
    radius : float
        ``'gradient'``: the first trust radius, the largest change of any ln alpha or ln beta in one step
        (1 = a factor e). ``'online'``: the largest such change per re-estimation step.
    steps : int
        ``'online'``: optimiser iterations between two re-estimation steps.
    bound : float
        alpha and beta are kept within a factor ``bound`` of their starting values; a value that reaches the
        bound is reported (:class:`~laplacenet.EvidenceConvergenceWarning`): an alpha going to 0 or to infinity is
        a degenerate evidence maximum (an improper prior, or a pruned group), not a result.
    """

    method: str = "gradient"
    cycles: int = 50
    tol: float = 1e-3
    patience: int = 3
    fall_tol: float = 1e-2
    radius: float = 1.0
    steps: int = 10
    bound: float = 1e6

    def __post_init__(self):
        if self.method not in EVIDENCE_METHODS:
            raise ValueError(f"method must be one of {', '.join(map(repr, EVIDENCE_METHODS))}; got {self.method!r}")
        for name in ("cycles", "patience", "steps"):
            object.__setattr__(self, name, check_positive_int(getattr(self, name), name))
        object.__setattr__(self, "tol", check_number(self.tol, "tol", positive=True, unit=" (nats of log evidence)"))
        object.__setattr__(self, "fall_tol", check_number(self.fall_tol, "fall_tol", unit=" (nats of log evidence)"))
        object.__setattr__(self, "radius", check_number(self.radius, "radius", positive=True))
        bound = check_number(self.bound, "bound", positive=True)
        if bound <= 1.0:
            raise ValueError(f"bound must be a factor larger than 1; got {self.bound!r}")
        object.__setattr__(self, "bound", bound)


def evidence_options(options=None, **overrides):
    """An :class:`EvidenceOptions` from None, a dict of its fields or an instance, with ``overrides`` (keywords whose
    value is not None) applied on top."""
    if options is None:
        options = EvidenceOptions()
    elif isinstance(options, dict):
        unknown = sorted(set(options) - {f.name for f in fields(EvidenceOptions)})
        if unknown:
            raise ValueError(f"options has unknown keys {unknown}; valid: {[f.name for f in fields(EvidenceOptions)]}")
        options = EvidenceOptions(**options)
    elif not isinstance(options, EvidenceOptions):
        raise TypeError(f"options must be an EvidenceOptions, a dict of its fields or None; got {options!r}")
    given = {name: value for name, value in overrides.items() if value is not None}
    return replace(options, **given) if given else options


@dataclass(frozen=True)
class EvidenceCycle:
    """One cycle of :func:`fit_evidence`: the hyperparameters trained at and what came out.

    ``accepted`` is False for a ``'gradient'`` step the loop rejected (its evidence was lower) and for the
    intermediate rounds of ``'online'``, whose weights are not trained to convergence.
    """

    restart: int
    cycle: int
    alpha: Any
    beta: Any
    gamma: float
    log_evidence: float
    train_error: float
    train_converged: bool
    accepted: bool = True


@dataclass
class EvidenceResult:
    """What :func:`fit_evidence` found (for the restart of highest evidence).

    Attributes
    ----------
    w : (W,) array
        w_MAP at the returned alpha and beta.
    alpha, beta
        The hyperparameters of the returned state: the accepted cycle of highest evidence.
    gamma : float
        Well-determined parameters there.
    log_evidence : float
    history : list of EvidenceCycle
        One entry per cycle of the kept restart.
    converged : bool
        The evidence loop met its tolerance AND the MAP training of the returned state converged.
    posterior : LaplacePosterior
        The Laplace posterior at w, alpha, beta.
    best_restart : int
    restarts : list of EvidenceResult
        Every restart, in the order run (each with an empty ``restarts``).
    best_cycle : int
        The cycle of ``history`` the returned state comes from.
    train_converged : bool
        Whether the MAP training of the returned state converged.
    message : str
        Why the loop stopped.
    at_bound : list of str
        Hyperparameters (``'alpha'``, group names such as ``'W1'``, ``'beta'``) that ended on the bound of the loop
        (:class:`EvidenceOptions`): a warning was given.
    """

    w: np.ndarray
    alpha: Any
    beta: Any
    gamma: float
    log_evidence: float
    history: list
    converged: bool
    posterior: Any
    best_restart: int = 0
    restarts: list = field(default_factory=list)
    best_cycle: int = 0
    train_converged: bool = True
    message: str = ""
    at_bound: list = field(default_factory=list)


def starting_alpha(net, alpha):
    """The starting prior precision: a number or one per group as given, or set from the initialisation scale.

    ``'auto'``: one alpha, ``W / sum_l d_l``, the precision whose prior has the mean square of
    :meth:`MLP.init`'s weights (N(0, 1/fan-in) weights and zero biases: E||w||^2 = sum_l d_l). ``'layers'``: one
    alpha per prior group (the weights and the biases of every layer, MacKay 1992), the fan-in d_{l-1} for the
    weights of layer l and 1 for its biases.
    """
    if isinstance(alpha, str):
        if alpha == "auto":
            return net.n_params / float(sum(net.sizes[1:]))
        if alpha == "layers":
            return np.ravel([[float(fan_in), 1.0] for fan_in in net.sizes[:-1]])
        raise ValueError(f"alpha must be a positive number, one per prior group, 'auto' or 'layers'; got {alpha!r}")
    return check_alpha(net, alpha, allow_zero=False)


def starting_beta(net, T, beta, chunk_size=DEFAULT_CHUNK_ROWS):
    """The starting noise precision: as given, or ``'auto'``: one over the mean variance of the targets (the noise
    level of a model that explains nothing, the stable side of the fixed point); None for classification."""
    if not net.likelihood.uses_beta:
        return None
    if isinstance(beta, str):
        if beta != "auto":
            raise ValueError(f"beta must be a positive number, one per output, or 'auto'; got {beta!r}")
        N = T.shape[0]
        sums, squares = data_sum(lambda Xc, Tc: (Tc.sum(axis=0), (Tc * Tc).sum(axis=0)), T, T, chunk_size)
        variance = float(np.mean(squares / N - (sums / N) ** 2))
        return 1.0 / variance if variance > 0.0 else 1.0
    return check_beta(net, beta)


# --- one evaluated state -----------------------------------------------------------------------------

@dataclass
class _State:
    """Everything one (alpha, beta, w) evaluation gives: trained weights, posterior, evidence, statistics."""

    alpha: Any
    beta: Any
    w: np.ndarray
    report: Any
    posterior: Any
    log_evidence: float
    stats: Any
    cycle: int
    moves: Any = None  # dw/dtheta, when worked out beside the statistics (a free worker); else by the slope

    @property
    def gamma(self):
        return self.stats.gamma


class _Problem:
    """The fixed parts of one restart: data, :class:`Curvature`, training options, progress callback, the
    history."""

    def __init__(self, net, X, T, curvature, train_kwargs, callback, restart):
        self.net, self.X, self.T, self.curvature = net, X, T, curvature
        self.train_kwargs, self.callback, self.restart = train_kwargs, callback, restart
        self.history = []
        self.keep_covariance = False  # whether the statistics keep A^-1 (the gradient method's slope reads it)
        self.features = None  # a last-layer posterior's hidden layers, fixed after the first training

    def evaluate(self, alpha, beta, w0, maxiter=None, accepted=True):
        """Train from ``w0`` at (alpha, beta), build the posterior, evaluate the evidence; record a cycle.

        ``accepted=None`` leaves the verdict open: the cycle is recorded, and reported, by :meth:`decide`.
        """
        net, X, T = self.net, self.X, self.T
        kwargs = dict(self.train_kwargs)
        if maxiter is not None:
            kwargs.update(maxiter=maxiter, warn=False)
        if self.features is not None:
            w, report = self.features.train(T, alpha, beta, w0, kwargs)
        else:
            w, report = train(net, X, T, alpha, beta, w0=w0, **kwargs)
            if self.curvature.subset == "last_layer" and net.n_layers > 1:
                self.features = _FixedFeatures(net, w, X, self.curvature.chunk_size)
        H, pieces = data_curvature(net, w, X, T, beta, self.curvature)
        posterior = build_posterior(net, w, X, T, alpha, beta, self.curvature, H=H, take_H=True)
        evidence = posterior_evidence_terms(net, w, X, T, alpha, beta, posterior, False,
                                            self.curvature.chunk_size).total
        stats, moves = self.statistics(w, alpha, beta, pieces, posterior)
        state = _State(alpha, beta, w, report, posterior, evidence, stats, len(self.history), moves)
        self.history.append(EvidenceCycle(self.restart, state.cycle, alpha, beta, state.gamma, evidence,
                                          report.error, report.converged, bool(accepted)))
        if accepted is not None:
            self.decide(accepted)
        return state

    def statistics(self, w, alpha, beta, pieces, posterior):
        """:class:`EvidenceStatistics` at w, and dw/dtheta for the slope (:func:`_slope`) when a worker is free to
        find it meanwhile (the A^-1 of the statistics and the conjugate gradients of dw/dtheta take about as
        long on large networks), else None. Both are what they would be alone."""
        net, X, T = self.net, self.X, self.T

        def stats():
            return evidence_statistics(net, w, X, T, alpha, beta, pieces, posterior, self.keep_covariance)
        if not (self.keep_covariance and posterior.subset is None and task_workers() > 1):
            return stats(), None
        groups, n_beta = covered_groups(net, alpha, posterior), n_betas(net, pieces is not None)

        def moves():
            try:
                return weight_moves(net, w, X, T, alpha, beta, groups, n_beta, posterior,
                                    self.curvature.chunk_size, CG_STEPS)
            except NotPositiveDefiniteError:  # left to the slope, which handles it
                return None
        return tuple(run_parallel([stats, moves]))

    def decide(self, accepted):
        """Settle whether the last cycle was kept, and report it to the callback."""
        self.history[-1] = info = replace(self.history[-1], accepted=bool(accepted))
        if self.callback is not None:
            self.callback(info)

    def reestimated(self, state):
        """MacKay's update (5.178, 5.180) at ``state``: ``(alpha, beta)``."""
        step = reestimate_from(self.net, self.X, state.alpha, state.beta, state.stats, state.posterior.hessian)
        return step.alpha, step.beta

    def result(self, best, converged, message, at_bound):
        """The run's :class:`EvidenceResult`; not converged where the returned state's evidence is not to be trusted
        (its training, or its gamma: a loop that could never leave such a start must not call it a maximum)."""
        flaw = (_ill_determined(best, self) or _negative_data_curvature(best)) if best.report.converged else None
        if flaw is not None:
            converged, message = False, f"{message}; but the returned state is ill-determined: {flaw}"
        return EvidenceResult(best.w, best.alpha, best.beta, best.gamma, best.log_evidence, self.history,
                              bool(converged and best.report.converged), best.posterior, best_cycle=best.cycle,
                              train_converged=bool(best.report.converged), message=message, at_bound=at_bound)


class _FixedFeatures:
    """The hidden layers of a last-layer fit, trained once (the first evaluation, at the starting alpha and beta)
    and then fixed: later evaluations retrain the output layer alone, a linear (Gaussian) or generalised linear
    model on the features ``Z`` of the last hidden layer. The last-layer evidence is that model's (PRML 3.86 for
    a Gaussian likelihood), so the loop maximises an evidence of the network it trains. Retraining the hidden
    weights as well, which that evidence gives no prior term, let alpha fall while they overfit (diabetes, 10
    units: test R^2 -1.04 against 0.49)."""

    def __init__(self, net, w, X, chunk_size):
        self.start = net.layer_slices[-1][0].start  # the output layer's W_L, then b_L, end the flat vector
        self.hidden = w[:self.start].copy()
        layers = net.unpack(w)
        self.Z = map_rows(lambda Xc: forward_pass(net, layers, Xc).z[-1], X, chunk_size or DEFAULT_CHUNK_ROWS)
        self.output = MLP(net.sizes[-2:], net.activation, net.likelihood.name)

    def train(self, T, alpha, beta, w0, kwargs):
        """The output layer trained from ``w0``'s at (alpha, beta), behind the fixed hidden weights."""
        output_alpha = alpha if np.ndim(alpha) == 0 else np.asarray(alpha)[-2:]  # the groups W_L, b_L
        w, report = train(self.output, self.Z, T, output_alpha, beta, w0=w0[self.start:], **kwargs)
        return np.concatenate([self.hidden, w]), report


# --- log coordinates ---------------------------------------------------------------------------------

class _Coordinates:
    """theta = (ln alpha over the groups a posterior re-estimates, ln beta): to and from (alpha, beta)."""

    def __init__(self, alpha, beta, groups, bound):
        self.template_alpha, self.groups = alpha, groups
        self.scalar_beta = beta is None or np.ndim(beta) == 0
        self.n_beta = 0 if beta is None else np.size(beta)
        start = self.theta(alpha, beta)
        self.lower, self.upper = start - np.log(bound), start + np.log(bound)

    def theta(self, alpha, beta):
        ln_alpha = np.log(np.atleast_1d(alpha)[self.groups] if np.ndim(alpha) else [alpha])
        return np.concatenate([ln_alpha, np.log(np.atleast_1d(beta)) if self.n_beta else []])

    def hyperparameters(self, theta):
        theta = np.clip(theta, self.lower, self.upper)
        n_alpha = theta.size - self.n_beta
        if np.ndim(self.template_alpha):
            alpha = np.array(self.template_alpha, dtype=float)
            alpha[self.groups] = np.exp(theta[:n_alpha])
        else:
            alpha = float(np.exp(theta[0]))
        if not self.n_beta:
            return alpha, None
        beta = np.exp(theta[n_alpha:])
        return alpha, float(beta[0]) if self.scalar_beta else beta

    def at_bound(self, theta):
        """Indices of theta that sit on the box."""
        scale = np.log(2.0)
        return np.flatnonzero((theta <= self.lower + scale) | (theta >= self.upper - scale))


def _clipped_move(coords, state, target, radius):
    """The hyperparameters ``target`` pulled back so no ln alpha or ln beta moves by more than ``radius``."""
    theta = coords.theta(state.alpha, state.beta)
    step = np.clip(coords.theta(*target) - theta, -radius, radius)
    return coords.hyperparameters(theta + step)


# --- the three methods -------------------------------------------------------------------------------

def _fixed_point(problem, alpha, beta, w, options, coords):
    """MacKay's loop: train to convergence, re-estimate, repeat; keep the best state."""
    best = state = problem.evaluate(alpha, beta, w)
    previous, falls = state.log_evidence, 0
    for _ in range(options.cycles - 1):
        try:
            target = problem.reestimated(state)
        except ValueError as ex:  # gamma <= 0 or a zero residual: the update is undefined here
            return best, False, f"re-estimation is undefined at cycle {state.cycle} ({ex})"
        alpha, beta = _clipped_move(coords, state, target, np.inf)
        try:
            state = problem.evaluate(alpha, beta, state.w)
        except NotPositiveDefiniteError as ex:
            return best, False, f"the posterior after cycle {state.cycle} is not positive definite ({ex})"
        except NonFiniteError as ex:  # a training that overflowed float64: no state to evaluate there
            return best, False, f"the training after cycle {state.cycle} overflowed ({ex})"
        if abs(state.log_evidence - previous) < options.tol:
            best = state if state.log_evidence >= best.log_evidence and _well_determined(state, problem) else best
            return best, True, f"the log evidence changed by less than tol={options.tol:g}"
        previous = state.log_evidence
        if state.log_evidence > best.log_evidence and _well_determined(state, problem):
            best, falls = state, 0
        else:
            falls += 1
            if falls >= options.patience:
                return best, False, (f"the log evidence stayed below its best (cycle {best.cycle}) for "
                                     f"{falls} cycles")
    return best, False, f"cycles={options.cycles} reached"


def _gradient(problem, alpha, beta, w, options, coords):
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
        flaw = None if gain <= 0.0 else _ill_determined(trial, problem)
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


def _well_determined(state, problem):
    """A state that may replace a better-known one: its training converged (the Laplace evidence is taken at a
    minimum of E), and every gamma_g > 0 (and gamma < N K): otherwise negative curvature of an exact Hessian,
    not data, makes ln|A| small, and a rising 'evidence' there is the Laplace approximation failing."""
    return _ill_determined(state, problem) is None


def _ill_determined(state, problem):
    """Why the evidence of ``state`` is not to be trusted (:func:`_well_determined`), or None."""
    stats = state.stats
    if not state.report.converged:
        return "its MAP training did not converge"
    if np.any(stats.gamma_groups < 0.0):
        return (f"gamma = {stats.gamma:.6g} with some gamma_g < 0 (PRML 5.179): the data Hessian has eigenvalues in "
                f"(-alpha, 0), which shrink ln|A| where the data determine nothing"
                + ("; hessian='outer' (positive semi-definite) avoids this" if state.posterior.hessian == "exact"
                   else ""))
    if not np.all(stats.gamma_groups > 0.0):
        return "gamma_g = 0 for some prior group (PRML 5.179): the data determine none of its weights"
    if stats.residuals is None:
        return None
    n_values = problem.X.shape[0] * problem.net.n_outputs
    if stats.gamma >= n_values:
        return f"gamma = {stats.gamma:.6g} >= N K = {n_values}: every residual is fitted, and beta has no estimate"
    return None


def _negative_data_curvature(state):
    """Why the returned state's gamma is not to be trusted although positive, or None: an exact data Hessian with an
    eigenvalue below -alpha/3 (one that takes more than half a parameter off gamma, lambda / (alpha + lambda) <
    -1/2, PRML 5.179). Negative terms can cancel positive ones: a 6-unit sinusoid fit returned gamma 5e-5 of 19
    with beta 57.5 against 107 by the outer product, reported converged. Checked once, at the end: one
    eigenvalue of the W x W data Hessian."""
    posterior = state.posterior
    if posterior.hessian not in ("exact", "fd") or posterior.subset is not None:
        return None
    prior = alpha_per_param(posterior.net, state.alpha)
    data = np.array(posterior.precision, dtype=float)  # the data curvature plus the jitter, which gamma counts
    data[np.diag_indices_from(data)] -= prior
    lowest = float(eigvalsh(data, subset_by_index=[0, 0], check_finite=False)[0])
    if lowest >= -float(np.max(prior)) / 3.0:
        return None
    return (f"the exact data Hessian has an eigenvalue of {lowest:.3g}, below -alpha/3 = {-np.max(prior) / 3:.3g}: "
            f"its negative terms cancel part of gamma = {state.gamma:.6g} (PRML 5.179), so gamma, the re-estimated "
            f"alpha and beta and the evidence are not to be trusted; hessian='outer' (positive semi-definite) avoids "
            f"this")


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


def _online(problem, alpha, beta, w, options, coords):
    """A few optimiser iterations, one re-estimation step, repeated; then training to convergence once."""
    previous = None
    for _ in range(options.cycles - 1):
        state = problem.evaluate(alpha, beta, w, maxiter=options.steps, accepted=False)
        w = state.w
        try:
            target = problem.reestimated(state)
        except ValueError:  # undefined at these unconverged weights: train further at the same values
            target = (state.alpha, state.beta)
        alpha, beta = _clipped_move(coords, state, target, options.radius)
        settled = np.max(np.abs(coords.theta(alpha, beta) - coords.theta(state.alpha, state.beta))) < ONLINE_SETTLED
        if settled or (previous is not None and abs(state.log_evidence - previous) < options.tol):
            break
        previous = state.log_evidence
    final = problem.evaluate(alpha, beta, w)
    return final, True, "trained to convergence at the hyperparameters of the last online step"


_METHODS = {"fixed_point": _fixed_point, "gradient": _gradient, "online": _online}

_RESERVED_TRAIN_KWARGS = ("w0", "restarts", "seed", "alpha", "beta")


def fit_evidence(net, X, T, alpha="auto", beta="auto", hessian="exact", *, method=None, options=None, cycles=None,
                 tol=None, w0=None, restarts=1, seed=None, train_kwargs=None, callback=None, fall_tol=None,
                 jitter=0.0, chunk_size=None, subset=None, rank=None, lowrank_hessian="outer", lowrank_diag=False):
    """Maximise the Laplace evidence over alpha (and beta), retraining w_MAP as they move (PRML 5.7.2).

    Every cycle trains w_MAP at the current hyperparameters (warm-started from the weights of the best state),
    builds the Laplace posterior there and evaluates the log evidence (5.175, 5.183). How the hyperparameters
    move between cycles is the ``method``:

    * ``'gradient'`` (default) - a trust-region ascent of ln Z in (ln alpha, ln beta) with w_MAP retrained: the
      gradient with w retrained (:func:`laplacenet.log_evidence_gradient` with ``retrained=True``: the one at
      fixed w plus the change of ln|A| as w_MAP moves) and a Hessian (at fixed w, then corrected by BFGS secant
      updates) give a Newton step no longer than the trust radius; it is kept only if the log evidence after
      retraining is higher, and the radius grows or shrinks with the ratio of the gain to the model's
      prediction. Converged when the model predicts a gain below ``tol``. The evidence of the returned state is
      the highest evaluated, by construction. Its maximum is not MacKay's fixed point wherever the curvature
      depends on w (any hidden layer); the concepts page on the evidence derives it.
    * ``'fixed_point'`` - MacKay's updates (5.178, 5.180) after every training. Their fixed point is the
      stationary point of ln Z at fixed w, but the path ignores how w_MAP moves: when W is comparable to N it
      can drift toward interpolation (beta growing, gamma -> N) while the evidence falls. The best state is
      kept and the loop stops after ``patience`` falls.
    * ``'online'`` - ``steps`` optimiser iterations, then one re-estimation step (no larger than ``radius``),
      repeated until the hyperparameters settle; then one training to convergence (Immer et al. 2021). The
      intermediate evidences are at unconverged weights and not candidates for the result; the final state is.

    The log evidence the loop maximises, and reports in ``history`` and ``log_evidence``, leaves out the
    hidden-unit symmetry term (:func:`laplacenet.bayes.symmetry.symmetry_term`): its count of distinguishable units is
    piecewise constant in alpha and beta, a step function with no gradient to follow. What the library reports as
    a model's log evidence adds it at the end: ``result.posterior.log_evidence(X, T)``, :func:`laplacenet.log_evidence`
    at ``result.w``, the estimators' ``log_evidence_`` and :func:`laplacenet.compare_models`.

    Parameters
    ----------
    net, X, T
        As for :func:`laplacenet.train`.
    alpha : float, (n_groups,) array, 'auto' or 'layers'
        Starting prior precision(s); see :func:`starting_alpha` for the two set from the initialisation scale.
    beta : float, (K,) array or 'auto'
        Starting noise precision(s) (Gaussian likelihood; ignored otherwise); ``'auto'`` is one over the
        variance of the targets (see :func:`starting_beta`). Starting on the stable side - a strong prior and a
        model that explains nothing yet - lets the evidence relax them instead of chasing an overfitted start.
    hessian : {'exact', 'outer', 'diag', 'fd', 'kron', 'lowrank'}
        Curvature of the posterior. ``'outer'`` is the robust choice here (``'kron'`` and ``'lowrank'`` for
        networks too large for it): the exact data Hessian can have eigenvalues in (-alpha, 0) even at a
        minimum of E - a hidden unit pruned to zero weights gives a pair +-c from its input and output weights
        - and each such eigenvalue adds ``lambda / (alpha + lambda)``, large and negative, to gamma. The loop
        never moves to a state with some gamma_g <= 0, and returns one (its start) only as not converged.
    method : {'gradient', 'fixed_point', 'online'}, optional
        Overrides ``options.method``.
    options : EvidenceOptions or dict, optional
        Every setting of the loop (:class:`EvidenceOptions`); ``cycles``, ``tol`` and ``fall_tol`` given as
        keywords override it.
    cycles, tol, fall_tol
        As in :class:`EvidenceOptions`.
    w0 : (W,) array, optional
        Starting weights of the first restart; ``net.init(seed + r)`` otherwise.
    restarts : int
        Independent runs from different initial weights; the one of highest evidence is kept and all are
        recorded in ``restarts``.
    seed : int, optional
        Seed of the initial weights (restart r uses ``seed + r``; 0 when None).
    train_kwargs : dict, optional
        Passed to :func:`laplacenet.train` (``method``, ``tol``, ``gtol``, ``maxiter``, ``chunk_size``, ``warn``).
    callback : callable, optional
        Called with an :class:`EvidenceCycle` after every cycle (for progress display).
    jitter, chunk_size, subset, rank, lowrank_hessian, lowrank_diag
        As for :func:`laplacenet.laplace` (and :func:`laplacenet.reestimate` for what a structure re-estimates).
        With ``subset='last_layer'`` the hidden layers are trained once, by the first cycle at the starting
        alpha and beta, and then held: later cycles retrain the output layer alone, so that the loop is the
        evidence framework of a linear or generalised linear model on those features (PRML 3.5, 4.5), whose
        evidence the last-layer one is. The starting ``alpha`` is then the features' prior.

    Returns
    -------
    EvidenceResult

    Warns
    -----
    EvidenceConvergenceWarning
        When the kept run did not converge (the reason and the trace are in the message), when a hyperparameter
        reached ``options.bound``, or (``'fixed_point'``) when its evidence fell by more than ``fall_tol``.
    """
    options = evidence_options(options, method=method, cycles=cycles, tol=tol, fall_tol=fall_tol)
    curvature = Curvature(hessian, jitter, chunk_size, subset, rank, lowrank_hessian, lowrank_diag)
    return evidence_fit(net, X, T, alpha, beta, curvature, options, w0=w0, restarts=restarts, seed=seed,
                        train_kwargs=train_kwargs, callback=callback, stacklevel=4)


def evidence_fit(net, X, T, alpha, beta, curvature, options, *, w0=None, restarts=1, seed=None, train_kwargs=None,
                 callback=None, stacklevel=3):
    """:func:`fit_evidence` with its curvature options as a :class:`Curvature` and its loop's settings as an
    :class:`EvidenceOptions`; its warning points ``stacklevel`` frames up (3: at the caller of this function)."""
    X, T = check_data(net, X, T)
    curvature = curvature.within(net.n_params)
    alpha = starting_alpha(net, alpha)
    beta = starting_beta(net, T, beta, curvature.chunk_size or DEFAULT_CHUNK_ROWS)
    check_reestimable(curvature, beta)
    restarts = check_positive_int(restarts, "restarts")
    check_callback(callback)
    train_kwargs = check_train_kwargs(train_kwargs, _RESERVED_TRAIN_KWARGS, "fit_evidence")
    starts = [check_w(net, w0, "w0")] if w0 is not None else []
    starts += [net.init(s) for s in restart_seeds(seed, restarts)[len(starts):]]
    runs = []
    with one_blas_thread():  # the loop's end point must not depend on how the BLAS threads round
        for r, w_start in enumerate(starts):
            problem = _Problem(net, X, T, curvature, train_kwargs, callback, r)
            groups = _reestimated_groups(net, alpha, curvature)
            coords = _Coordinates(alpha, beta, groups, options.bound)
            best, converged, message = _METHODS[options.method](problem, alpha, beta, w_start, options, coords)
            runs.append(problem.result(best, converged, message, _at_bound(net, coords, best)))
    kept_index = int(np.argmax([run.log_evidence for run in runs]))
    kept = runs[kept_index]
    _warn_if_unsettled(kept, options, stacklevel)
    return replace(kept, best_restart=kept_index, restarts=runs)


def _reestimated_groups(net, alpha, curvature):
    """The prior groups a posterior of ``curvature`` re-estimates: all, or the output layer's with a subset."""
    if np.ndim(alpha) == 0:
        return np.zeros(1, dtype=np.int64)
    if curvature.subset == "last_layer":
        return np.array([2 * (net.n_layers - 1), 2 * (net.n_layers - 1) + 1])
    return np.arange(net.n_groups)


def _at_bound(net, coords, state):
    """Names of the hyperparameters of ``state`` that sit on the bound of the loop."""
    names = ([net.group_names[g] for g in coords.groups] if np.ndim(state.alpha) else ["alpha"])
    names += ["beta"] if coords.scalar_beta else [f"beta_{k}" for k in range(coords.n_beta)]
    return [names[i] for i in coords.at_bound(coords.theta(state.alpha, state.beta))]


def _warn_if_unsettled(run, options, stacklevel=3):
    problems = []
    if not run.converged:
        problems.append(f"the loop did not converge ({run.message})" + (
            "; the MAP training of the returned state did not converge" if not run.train_converged else ""))
    evidences = [c.log_evidence for c in run.history if c.accepted]
    fell = [i for i in range(1, len(evidences)) if evidences[i] < evidences[i - 1] - options.fall_tol]
    if fell and options.method == "fixed_point":
        problems.append(f"the log evidence fell by more than fall_tol={options.fall_tol:g} {len(fell)} times "
                        f"(the fixed point of re-estimation ignores how w_MAP moves); the best state, cycle "
                        f"{run.best_cycle}, is returned")
    if run.at_bound:
        grouped = any(name not in ("alpha", "beta") and not name.startswith("beta_") for name in run.at_bound)
        problems.append(f"{', '.join(run.at_bound)} reached the bound (a factor {options.bound:g} from the start): "
                        f"the evidence pushes {'them' if len(run.at_bound) > 1 else 'it'} toward 0 or infinity (an "
                        f"improper prior, a pruned group or a noise-free fit), where the Laplace evidence is not to "
                        f"be trusted" + ("; use one alpha for all weights" if grouped else ""))
    if not problems:
        return
    trace = "\n".join(f"  cycle {c.cycle}{'' if c.accepted else ' (not kept)'}: log evidence "
                      f"{c.log_evidence:.10g}, alpha {_fmt(c.alpha)}, beta {_fmt(c.beta)}, gamma {c.gamma:.6g}, "
                      f"E(w) {c.train_error:.6g}, training {'converged' if c.train_converged else 'NOT converged'}"
                      for c in run.history)
    warnings.warn(f"fit_evidence (restart {run.history[0].restart}): {'; and '.join(problems)}. Trace:\n{trace}",
                  EvidenceConvergenceWarning, stacklevel=stacklevel)


def _fmt(value):
    if value is None:
        return "None"
    return np.array2string(np.asarray(value), precision=6) if np.ndim(value) else f"{value:.6g}"
