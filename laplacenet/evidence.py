"""The evidence for the hyperparameters and their re-estimation (PRML 5.7.2, 5.7.3; MacKay 1992).

* :func:`log_evidence` - the Laplace approximation to ln p(D | alpha, beta) (5.175; 5.183 for classification).
* :func:`reestimate` - one step of the fixed-point updates of alpha and beta (5.177-5.180).
* :func:`fit_evidence` - alternate MAP training and re-estimation until the evidence settles.
"""
import warnings
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
from scipy.linalg import eigh
from scipy.special import gammaln

from ._chunks import DEFAULT_CHUNK_ROWS, data_sum
from ._validation import check_positive_int, check_w
from .curvature.backprop import forward_pass
from .curvature.kron import combine_output_factors, data_kron_factors
from .exceptions import EvidenceConvergenceWarning
from .laplace import (STRUCTURED, as_structure, build_posterior, check_number, check_options, posterior_curvature,
                      validate_bayesian)
from .objective import data_error
from .priors import alpha_per_param, group_sums, prior_error
from .training import train

__all__ = ["log_evidence", "reestimate", "fit_evidence", "EvidenceTerms", "Reestimate", "EvidenceCycle",
           "EvidenceResult", "data_curvature", "evidence_terms", "posterior_evidence_terms", "reestimate_at",
           "check_reestimable", "symmetry_term"]


@dataclass(frozen=True)
class EvidenceTerms:
    """The log evidence as named terms (PRML 5.175, 5.183) that add up to :attr:`total`.

    Attributes
    ----------
    data_fit : float
        ``-E_D(w_MAP)``: minus the data error (beta/2 sum ||y - t||^2, or the cross-entropy).
    prior : float
        ``-sum_g alpha_g/2 ||w_g||^2``.
    log_det : float
        ``-1/2 ln|A|``.
    log_alpha : float
        ``sum_g W_g/2 ln alpha_g``.
    log_beta : float
        ``N/2 sum_k ln beta_k`` (``N K/2 ln beta`` for one beta); 0 for classification.
    log_2pi : float
        ``-N K/2 ln 2 pi``; 0 for classification.
    symmetry : float
        ``sum over hidden layers of ln M! + M ln 2`` with ``symmetry=True`` (MacKay 1992), else 0.
    """

    data_fit: float
    prior: float
    log_det: float
    log_alpha: float
    log_beta: float
    log_2pi: float
    symmetry: float

    @property
    def total(self):
        """The log evidence: the sum of the terms."""
        return (self.data_fit + self.prior + self.log_det + self.log_alpha + self.log_beta + self.log_2pi
                + self.symmetry)


@dataclass(frozen=True)
class Reestimate:
    """One re-estimation step (PRML 5.177-5.180).

    Attributes
    ----------
    alpha : float or (n_groups,) array
        The new prior precision(s), same form as the alpha given.
    beta : float, (K,) array or None
        The new noise precision(s); None for classification.
    gamma : float
        The effective number of well-determined parameters, ``W - sum_g alpha_g tr_g(A^-1)`` (5.179).
    gamma_groups : (n_groups,) array or None
        ``gamma_g = W_g - alpha_g tr_g(A^-1)`` per prior group when alpha is grouped (0 for the groups
        outside a ``subset``, whose alpha is kept).
    gamma_outputs : (K,) array or None
        ``gamma_k = beta_k tr(A^-1 H_k)`` per output when beta is a vector.
    """

    alpha: Any
    beta: Any
    gamma: float
    gamma_groups: Optional[np.ndarray] = None
    gamma_outputs: Optional[np.ndarray] = None


@dataclass(frozen=True)
class EvidenceCycle:
    """One cycle of :func:`fit_evidence`: the hyperparameters trained at and what came out."""

    restart: int
    cycle: int
    alpha: Any
    beta: Any
    gamma: float
    log_evidence: float
    train_error: float
    train_converged: bool


@dataclass
class EvidenceResult:
    """What :func:`fit_evidence` found (for the restart of highest evidence).

    Attributes
    ----------
    w : (W,) array
        w_MAP at the returned alpha and beta.
    alpha, beta
        The hyperparameters of the last cycle: w was trained at them and the evidence is evaluated there.
    gamma : float
        Well-determined parameters at the last cycle.
    log_evidence : float
    history : list of EvidenceCycle
        One entry per cycle of the kept restart.
    converged : bool
        Whether the log evidence changed by less than ``tol`` between the last two cycles.
    posterior : LaplacePosterior
        The Laplace posterior at w, alpha, beta.
    best_restart : int
    restarts : list of EvidenceResult
        Every restart, in the order run (each with an empty ``restarts``).
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


# --- the evidence ------------------------------------------------------------------------------------

def log_evidence(net, w_map, X, T, alpha, beta=None, hessian="exact", *, symmetry=False, terms=False,
                 jitter=0.0, chunk_size=None, subset=None, rank=None, lowrank_hessian="outer", lowrank_diag=False):
    """The Laplace approximation to the log evidence ln p(D | alpha, beta) (PRML 5.175, 5.183).

    ``-E(w_MAP) - 1/2 ln|A| + sum_g W_g/2 ln alpha_g`` plus, for a Gaussian likelihood,
    ``N/2 sum_k ln beta_k - N K/2 ln 2 pi`` (K outputs; ``N K/2 ln beta`` for one beta).

    With ``subset='last_layer'`` the weights outside the output layer are fixed at w_MAP and carry no prior
    terms: ``ln p(D | w_MAP) - sum_{output layer} alpha_i/2 w_i^2 + sum_{output layer} 1/2 ln alpha_i
    - 1/2 ln|H_LL + alpha I|`` (laplace-torch's last-layer log marginal likelihood).

    Parameters
    ----------
    net, w_map, X, T, alpha, beta, hessian, jitter, chunk_size, subset, rank, lowrank_hessian, lowrank_diag
        As for :func:`laplacenet.laplace`.
    symmetry : bool
        Add ``ln M! + M ln 2`` for every hidden layer of M units: the M! orderings and 2^M sign flips
        that give the same function (MacKay 1992), so that networks of different widths compare fairly.
    terms : bool
        Return an :class:`EvidenceTerms` whose fields add up to the total instead of the float.

    Returns
    -------
    float, or EvidenceTerms with ``terms=True``
    """
    w, X, T, alpha, beta = validate_bayesian(net, w_map, X, T, alpha, beta)
    structure, jitter, chunk_size = check_options(hessian, jitter, chunk_size, subset, rank, lowrank_hessian,
                                                  lowrank_diag, net.n_params)
    posterior = build_posterior(net, w, X, T, alpha, beta, structure, jitter, chunk_size)
    result = posterior_evidence_terms(net, w, X, T, alpha, beta, posterior, bool(symmetry), chunk_size)
    return result if terms else result.total


def posterior_evidence_terms(net, w, X, T, alpha, beta, posterior, symmetry=False, chunk_size=None):
    """:class:`EvidenceTerms` of a built posterior (its ln|A| and the prior over the weights it covers)."""
    subset = None if posterior.subset is None else posterior.subset_slice
    return evidence_terms(net, w, X, T, alpha, beta, posterior.log_det, symmetry, chunk_size, subset)


def evidence_terms(net, w, X, T, alpha, beta, log_det, symmetry=False, chunk_size=None, subset=None):
    """:class:`EvidenceTerms` on validated arrays, given ``ln|A|``; ``subset`` (a slice of w) restricts the
    prior terms to the weights the posterior covers."""
    N, K = X.shape[0], net.n_outputs
    alphas = np.broadcast_to(alpha, (net.n_groups,))
    if net.likelihood.uses_beta:
        log_beta = 0.5 * N * float(np.sum(np.log(np.broadcast_to(beta, (K,)))))
        log_2pi = -0.5 * N * K * np.log(2.0 * np.pi)
    else:
        log_beta = log_2pi = 0.0
    if subset is None:
        prior, log_alpha = -prior_error(net, w, alpha), 0.5 * float(np.dot(net.group_sizes, np.log(alphas)))
    else:
        a = alpha_per_param(net, alpha)[subset]
        prior, log_alpha = -0.5 * float(np.dot(a, w[subset] ** 2)), 0.5 * float(np.sum(np.log(a)))
    return EvidenceTerms(
        data_fit=-data_error(net, w, X, T, beta, chunk_size or DEFAULT_CHUNK_ROWS),
        prior=prior,
        log_det=-0.5 * log_det,
        log_alpha=log_alpha,
        log_beta=log_beta, log_2pi=float(log_2pi), symmetry=symmetry_term(net) if symmetry else 0.0)


def symmetry_term(net):
    """``sum over hidden layers of ln M! + M ln 2``: the weight-space symmetries of M units (MacKay 1992)."""
    hidden = np.asarray(net.sizes[1:-1], dtype=float)
    return float(np.sum(gammaln(hidden + 1.0) + hidden * np.log(2.0)))


# --- re-estimation -----------------------------------------------------------------------------------

def reestimate(net, w_map, X, T, alpha, beta=None, hessian="exact", *, jitter=0.0, chunk_size=None, subset=None,
               rank=None, lowrank_hessian="outer", lowrank_diag=False):
    """One step of the evidence re-estimation of alpha and beta (PRML 5.177-5.180, MacKay 1992).

    * scalar alpha: ``gamma = sum_i lambda_i / (alpha + lambda_i)`` from the eigenvalues lambda_i of the data
      Hessian (5.179), ``alpha = gamma / w^T w`` (5.178);
    * grouped alpha: ``gamma_g = W_g - alpha_g tr_g(A^-1)``, ``alpha_g = gamma_g / ||w_g||^2``;
    * one beta: ``1/beta = sum_n ||y_n - t_n||^2 / (N K - gamma)`` (5.180 with K outputs);
    * a beta per output: ``gamma_k = beta_k tr(A^-1 H_k)`` with H_k the Hessian of
      ``1/2 sum_n (y_nk - t_nk)^2`` (so the data Hessian is ``sum_k beta_k H_k``) and
      ``1/beta_k = sum_n (y_nk - t_nk)^2 / (N - gamma_k)``;
    * classification: alpha only (``beta`` is None).

    The structures use the same formulas on their own eigenvalues. ``'kron'``: every weight or bias group
    is one Kronecker block, so ``gamma_g = sum lambda / (alpha_g + lambda)`` over the eigenvalues
    ``lam_i mu_j / N`` of ``(1/N) Q (x) Z`` (``lam_i`` of Q for a bias block), grouped alpha or not; H_k
    are the Kronecker blocks of output k. ``'lowrank'``: ``gamma = sum_j lam_j / (alpha + lam_j)`` over the
    k eigenvalues (and ``W_g - alpha_g tr_g(A^-1)`` in general, exactly, from the factors); a beta per
    output is refused (the truncated H is not a sum of per-output pieces). ``subset='last_layer'``: gamma
    counts the output layer only; a scalar alpha becomes ``gamma / ||w_L||^2``, and of a grouped alpha only
    the output layer's groups are re-estimated, the others kept.

    The eigenvalues are used as they are; nothing is clipped. The exact Hessian may have negative
    eigenvalues (away from a minimum, and even at one: see :func:`fit_evidence`). While A = H + alpha I
    stays positive definite (every lambda_i > -alpha) they enter gamma with their sign; if that leaves
    gamma (or a gamma_g) <= 0 a ValueError says so instead of returning alpha <= 0. When A is not
    positive definite the :class:`~laplacenet.NotPositiveDefiniteError` of :func:`laplacenet.laplace` is
    raised. A ``jitter`` counts as curvature of the data in gamma (it is in A), not in the gamma_k.

    Parameters
    ----------
    net, w_map, X, T, alpha, beta, hessian, jitter, chunk_size, subset, rank, lowrank_hessian, lowrank_diag
        As for :func:`laplacenet.laplace`; w_map should be the MAP weights at these alpha, beta.

    Returns
    -------
    Reestimate
        The new ``alpha``, ``beta`` and ``gamma`` (and gamma per group / per output where relevant).
    """
    w, X, T, alpha, beta = validate_bayesian(net, w_map, X, T, alpha, beta)
    structure, jitter, chunk_size = check_options(hessian, jitter, chunk_size, subset, rank, lowrank_hessian,
                                                  lowrank_diag, net.n_params)
    check_reestimable(structure, beta)
    H, pieces = data_curvature(net, w, X, T, beta, structure, chunk_size)
    posterior = build_posterior(net, w, X, T, alpha, beta, structure, jitter, chunk_size, H=H)
    return reestimate_at(net, w, X, T, alpha, beta, H, pieces, posterior)


def check_reestimable(hessian, beta):
    """Refuse up front what :func:`reestimate` cannot do: a beta per output with ``hessian='lowrank'``."""
    if as_structure(hessian).hessian == "lowrank" and np.ndim(beta) == 1:
        raise ValueError("cannot re-estimate a beta per output with hessian='lowrank': gamma_k = beta_k tr(A^-1 H_k) "
                         "needs H as a sum of per-output pieces, and its top-k eigenpairs are not. Use one beta, or "
                         "hessian='kron', 'outer' or 'diag'")


def data_curvature(net, w, X, T, beta, hessian, chunk_size=None):
    """The data curvature of a posterior (see :func:`laplacenet.laplace.posterior_curvature`) and, for a vector
    beta, its per-output pieces H_k (``H = sum_k beta_k H_k``); ``hessian`` is a string or a Structure."""
    structure = as_structure(hessian)
    if np.ndim(beta) == 0 or structure.hessian == "lowrank":
        return posterior_curvature(net, w, X, T, beta, structure, chunk_size), None
    if structure.hessian == "kron":
        pieces = data_kron_factors(net, w, X, T, None, chunk_size, per_output=True)
        return combine_output_factors(pieces, beta), pieces
    # The Gaussian data error is linear in beta, so H_k is the data Hessian at beta = e_k.
    pieces = [posterior_curvature(net, w, X, T, e_k, structure, chunk_size) for e_k in np.eye(net.n_outputs)]
    return sum(b * H_k for b, H_k in zip(beta, pieces)), pieces


def reestimate_at(net, w, X, T, alpha, beta, H, pieces, posterior):
    """:func:`reestimate` on validated arrays, the data curvature ``H`` and the posterior built from it."""
    grouped = np.ndim(alpha) == 1
    structured = posterior.hessian in STRUCTURED
    covered = posterior.subset_slice
    need_covariance = not structured and (grouped or pieces is not None)
    covariance = posterior.covariance() if need_covariance else None
    if grouped:
        in_subset = np.zeros(net.n_groups, dtype=bool)
        in_subset[net.group_index[covered]] = True
        if structured:
            gamma_groups = posterior.precision.gamma_groups(net.group_index, net.n_groups)
        else:
            variances = np.zeros(net.n_params)
            variances[covered] = covariance if covariance.ndim == 1 else np.diag(covariance)
            sizes = np.bincount(net.group_index[covered], minlength=net.n_groups)
            gamma_groups = sizes - alpha * group_sums(net, variances)  # W_g - alpha_g tr_g(A^-1)
        gamma = float(np.sum(gamma_groups))
        names = [name for name, inside in zip(net.group_names, in_subset) if inside]
        _check_gamma(gamma_groups[in_subset], names, posterior.hessian)
        new_alpha = alpha.copy()
        new_alpha[in_subset] = gamma_groups[in_subset] / _positive(group_sums(net, w * w)[in_subset],
                                                                   "||w_g||^2 of prior group", names)
    else:
        if structured:
            gamma = float(np.sum(posterior.precision.gamma_groups(net.group_index, net.n_groups)))
        else:
            curvature = H + posterior.jitter if H.ndim == 1 else _shifted(H, posterior.jitter)
            lam = curvature if H.ndim == 1 else eigh(curvature, eigvals_only=True, check_finite=False)
            gamma = float(np.sum(lam / (alpha + lam)))  # PRML (5.179)
        gamma_groups = None
        _check_gamma(np.array([gamma]), ["all weights"], posterior.hessian)
        w_covered = w[covered]
        new_alpha = float(gamma / _positive(np.array([w_covered @ w_covered]), "w^T w", ["w"])[0])  # PRML (5.178)
    if not net.likelihood.uses_beta:
        return Reestimate(new_alpha, None, gamma, gamma_groups, None)
    residuals = _squared_residuals(net, w, X, T, posterior.chunk_size)
    N, K = X.shape[0], net.n_outputs
    if pieces is None:
        misfit = _positive(np.array([N * K - gamma]), "N K - gamma", ["all outputs"])[0]
        new_beta = misfit / _positive(np.array([residuals.sum()]), "sum ||y - t||^2", ["all outputs"])[0]
        return Reestimate(new_alpha, float(new_beta), gamma, gamma_groups, None)  # PRML (5.180)
    if structured:
        gamma_outputs = beta * posterior.precision.trace_products(pieces)
    else:
        gamma_outputs = np.array([b * _trace_product(covariance, H_k) for b, H_k in zip(beta, pieces)])
    names = [f"output {k}" for k in range(K)]
    new_beta = _positive(N - gamma_outputs, "N - gamma_k", names) / _positive(residuals, "sum (y_k - t_k)^2", names)
    return Reestimate(new_alpha, new_beta, gamma, gamma_groups, gamma_outputs)


def _check_gamma(gamma, names, hessian):
    """alpha = gamma / ||w||^2 needs gamma > 0; negative eigenvalues of the data Hessian can break that."""
    bad = ~(gamma > 0)
    if np.any(bad):
        detail = ", ".join(f"{name}: {g:.6g}" for name, g, b in zip(names, gamma, bad) if b)
        raise ValueError(
            f"cannot re-estimate alpha: gamma must be positive; got {detail}. The data Hessian from "
            f"hessian={hessian!r} has negative eigenvalues, which enter gamma = sum lambda / (alpha + lambda) "
            f"with their sign (the exact Hessian can have them even at a minimum of E). Use hessian='outer', "
            f"whose eigenvalues are never negative, or train to a proper minimum.")


def _shifted(H, jitter):
    if jitter == 0.0:
        return H
    H = H.copy()
    H[np.diag_indices_from(H)] += jitter
    return H


def _trace_product(covariance, H_k):
    """``tr(A^-1 H_k)`` for symmetric matrices, or for diagonal ones given as vectors."""
    return float(np.sum(covariance * H_k))


def _positive(values, what, names):
    """``values`` unchanged when all are > 0; otherwise a ValueError naming the offenders."""
    bad = ~(values > 0)
    if np.any(bad):
        detail = ", ".join(f"{name}: {v:.6g}" for name, v, b in zip(names, values, bad) if b)
        raise ValueError(f"cannot re-estimate: {what} must be positive; got {detail}")
    return values


def _squared_residuals(net, w, X, T, chunk_size):
    """``(K,)``: ``sum_n (y_nk - t_nk)^2`` per output, at w."""
    layers = net.unpack(w)
    return data_sum(lambda Xc, Tc: ((forward_pass(net, layers, Xc).y - Tc) ** 2).sum(axis=0), X, T,
                    chunk_size or DEFAULT_CHUNK_ROWS)


# --- the evidence loop -------------------------------------------------------------------------------

_RESERVED_TRAIN_KWARGS = ("w0", "restarts", "seed", "alpha", "beta")


def fit_evidence(net, X, T, alpha, beta=None, hessian="exact", *, cycles=20, tol=1e-6, w0=None, restarts=1,
                 seed=None, train_kwargs=None, callback=None, fall_tol=1e-2, jitter=0.0, chunk_size=None, subset=None,
                 rank=None, lowrank_hessian="outer", lowrank_diag=False):
    """Maximise the evidence over alpha (and beta): alternate MAP training and re-estimation (PRML 5.7.2).

    Each cycle trains w_MAP at the current alpha, beta (warm-started from the previous w), builds the
    Laplace posterior there, evaluates the log evidence (5.175, 5.183) and re-estimates alpha, beta
    (5.177-5.180) for the next cycle. It stops when the log evidence changes by less than ``tol``.

    Parameters
    ----------
    net, X, T
        As for :func:`laplacenet.train`.
    alpha, beta
        Starting hyperparameters (alpha > 0; scalar or per group; beta scalar or per output).
    hessian : {'exact', 'outer', 'diag', 'fd', 'kron', 'lowrank'}
        ``'outer'`` is the robust choice here (``'kron'`` and ``'lowrank'`` for networks too large for it). The exact data Hessian can have eigenvalues in (-alpha, 0)
        even at a minimum of E - a hidden unit pruned to zero weights gives a pair +-c from its input and
        output weights - and each such eigenvalue adds ``lambda / (alpha + lambda)``, large and negative,
        to gamma; :func:`reestimate` then raises rather than return a negative alpha.
    cycles : int
        At most this many train / re-estimate cycles per restart.
    tol : float
        ABSOLUTE tolerance, in nats, on the change of the log evidence between consecutive cycles. The log
        evidence is a log-probability whose scale grows with N, and differences of it are what model
        comparison reads, so an absolute threshold means the same at every N.
    w0 : (W,) array, optional
        Starting weights of the first restart; ``net.init(seed + r)`` otherwise.
    restarts : int
        Independent runs from different initial weights; the one of highest final evidence is kept and
        all are recorded in ``restarts``.
    seed : int, optional
        Seed of the initial weights (restart r uses ``seed + r``; 0 when None).
    train_kwargs : dict, optional
        Passed to :func:`laplacenet.train` (``method``, ``gtol``, ``maxiter``, ``chunk_size``, ``warn``).
    callback : callable, optional
        Called with an :class:`EvidenceCycle` after every cycle (for progress display).
    fall_tol : float
        A fall of the log evidence from one cycle to the next larger than this (nats) is warned about.
        Small dips are expected near convergence: the fixed point of (5.178, 5.180) is close to, but not
        exactly at, the maximum of the Laplace evidence, whose ln|A| also moves with w_MAP.
        With ``subset='last_layer'`` larger falls are possible: the hidden weights move with alpha when
        w_MAP is retrained but carry no prior term in the last-layer evidence, so the loop's fixed point
        need not be near that evidence's maximum.
    jitter, chunk_size, subset, rank, lowrank_hessian, lowrank_diag
        As for :func:`laplacenet.laplace` (and :func:`reestimate` for what a structure re-estimates).

    Returns
    -------
    EvidenceResult

    Warns
    -----
    EvidenceConvergenceWarning
        When the kept run did not converge within ``cycles``, or when its evidence fell by more than
        ``fall_tol`` between cycles; the message carries the trace.
    """
    _, X, T, alpha, beta = validate_bayesian(net, np.zeros(net.n_params), X, T, alpha, beta)
    structure, jitter, chunk_size = check_options(hessian, jitter, chunk_size, subset, rank, lowrank_hessian,
                                                  lowrank_diag, net.n_params)
    check_reestimable(structure, beta)
    cycles = check_positive_int(cycles, "cycles")
    restarts = check_positive_int(restarts, "restarts")
    tol = check_number(tol, "tol", positive=True, unit=" (nats of log evidence)")
    fall_tol = check_number(fall_tol, "fall_tol", unit=" (nats of log evidence)")
    if callback is not None and not callable(callback):
        raise ValueError(f"callback must be callable or None; got {callback!r}")
    train_kwargs = dict(train_kwargs or {})
    reserved = sorted(set(train_kwargs) & set(_RESERVED_TRAIN_KWARGS))
    if reserved:
        raise ValueError(f"train_kwargs must not set {reserved}: fit_evidence controls them")
    starts = [check_w(net, w0, "w0")] if w0 is not None else []
    base_seed = 0 if seed is None else seed
    starts += [net.init(base_seed + r) for r in range(len(starts), restarts)]
    options = (structure, jitter, chunk_size, cycles, tol, train_kwargs, callback)
    runs = [_evidence_run(net, X, T, alpha, beta, w_start, r, *options) for r, w_start in enumerate(starts)]
    best = int(np.argmax([run.log_evidence for run in runs]))
    kept = runs[best]
    _warn_if_unsettled(kept, tol, fall_tol, cycles)
    return EvidenceResult(kept.w, kept.alpha, kept.beta, kept.gamma, kept.log_evidence, kept.history,
                          kept.converged, kept.posterior, best, runs)


def _evidence_run(net, X, T, alpha, beta, w, restart, structure, jitter, chunk_size, cycles, tol, train_kwargs,
                  callback):
    """One restart of the evidence loop on validated arrays."""
    history, converged, previous = [], False, None
    for cycle in range(cycles):
        w, report = train(net, X, T, alpha, beta, w0=w, **train_kwargs)
        H, pieces = data_curvature(net, w, X, T, beta, structure, chunk_size)
        posterior = build_posterior(net, w, X, T, alpha, beta, structure, jitter, chunk_size, H=H)
        evidence = posterior_evidence_terms(net, w, X, T, alpha, beta, posterior, False, chunk_size).total
        step = reestimate_at(net, w, X, T, alpha, beta, H, pieces, posterior)
        info = EvidenceCycle(restart, cycle, alpha, beta, step.gamma, evidence, report.error, report.converged)
        history.append(info)
        if callback is not None:
            callback(info)
        if previous is not None and abs(evidence - previous) < tol:
            converged = True
            break
        previous = evidence
        alpha, beta = step.alpha, step.beta
    return EvidenceResult(w, info.alpha, info.beta, info.gamma, evidence, history, converged, posterior)


def _warn_if_unsettled(run, tol, fall_tol, cycles):
    evidences = [c.log_evidence for c in run.history]
    fell = [c for c in range(1, len(evidences)) if evidences[c] < evidences[c - 1] - fall_tol]
    problems = []
    if not run.converged:
        problems.append(f"the log evidence did not settle within tol={tol:g} in {cycles} cycles (raise cycles or "
                        f"loosen tol)")
    if fell:
        problems.append(f"the log evidence fell by more than fall_tol={fall_tol:g} at cycle(s) {fell} (the fixed "
                        f"point of the re-estimation is not the maximum of the Laplace evidence when ln|A| moves "
                        f"with w_MAP, or training jumped to another minimum; the history has every cycle)")
    if not problems:
        return
    trace = "\n".join(f"  cycle {c.cycle}: log evidence {c.log_evidence:.10g}, alpha {_fmt(c.alpha)}, "
                      f"beta {_fmt(c.beta)}, gamma {c.gamma:.6g}, E(w) {c.train_error:.6g}" for c in run.history)
    warnings.warn(f"fit_evidence (restart {run.history[0].restart}): {'; and '.join(problems)}. Trace:\n{trace}",
                  EvidenceConvergenceWarning, stacklevel=3)


def _fmt(value):
    if value is None:
        return "None"
    return np.array2string(np.asarray(value), precision=6) if np.ndim(value) else f"{value:.6g}"
