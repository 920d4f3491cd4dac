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

The loop's types are in :mod:`.hyper_types`, the log coordinates and the fixed-point and online methods in
``_hyper_methods``, the gradient method in ``_hyper_gradient`` and the guard in ``_hyper_guard``; this module
holds the starting values, one evaluated state and the restart's problem, and the loop over restarts.
"""
import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..core._chunks import DEFAULT_CHUNK_ROWS, data_sum, map_rows
from ..core._threads import one_blas_thread, run_parallel, task_workers
from ..core._validation import (check_alpha, check_beta, check_callback, check_data, check_positive_int, check_w,
                                restart_seeds)
from ..core.curvature.backprop import forward_pass
from ..core.exceptions import EvidenceConvergenceWarning, NotPositiveDefiniteError
from ..core.network import MLP
from ..core.training import check_train_kwargs, train
from ._hyper_gradient import gradient
from ._hyper_guard import ill_determined, negative_data_curvature
from ._hyper_methods import Coordinates, fixed_point, online
from .evidence import CG_STEPS, n_betas, weight_moves
from .evidence_terms import posterior_evidence_terms
from .reestimation import check_reestimable, covered_groups, data_curvature, evidence_statistics, reestimate_from
from .hyper_types import EvidenceCycle, EvidenceOptions, EvidenceResult, evidence_options
from .laplace import build_posterior
from .options import Curvature

__all__ = ["fit_evidence", "EvidenceOptions", "EvidenceCycle", "EvidenceResult"]


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
        """:class:`EvidenceStatistics` at w, and dw/dtheta for the slope (``_hyper_gradient._slope``) when a worker
        is free to find it meanwhile (the A^-1 of the statistics and the conjugate gradients of dw/dtheta take
        about as long on large networks), else None. Both are what they would be alone."""
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
        flaw = (ill_determined(best, self) or negative_data_curvature(best)) if best.report.converged else None
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


# --- the loop over restarts --------------------------------------------------------------------------

_METHODS = {"fixed_point": fixed_point, "gradient": gradient, "online": online}

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
            coords = Coordinates(alpha, beta, groups, options.bound)
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
