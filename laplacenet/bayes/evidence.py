"""The evidence for the hyperparameters and their re-estimation (PRML 5.7.2, 5.7.3; MacKay 1992).

* :func:`log_evidence` - the Laplace approximation to ln p(D | alpha, beta) (5.175; 5.183 for classification).
* :func:`reestimate` - one step of the fixed-point updates of alpha and beta (5.177-5.180).
* :func:`log_evidence_gradient` - its gradient in ln alpha and ln beta, at fixed w or with w retrained.

The loop that maximises the evidence, retraining w as the hyperparameters move, is :mod:`laplacenet.bayes.hyper`.
"""
import functools
from dataclasses import dataclass
from typing import Any, NamedTuple, Optional

import numpy as np
from scipy.linalg import LinAlgError, cho_solve, cholesky

from ..core._chunks import DEFAULT_CHUNK_ROWS, data_sum
from ..core._config import fits_matrix_budget
from ..core._threads import run_parallel
from ..core.curvature.backprop import forward_pass
from ..core.curvature.diagonal import outer_diagonal
from ..core.routes import data_hessian
from ..core.curvature.kron import combine_output_factors, data_kron_factors
from ..core.curvature.rop import data_hvp
from .laplace import build_posterior, posterior_curvature, validate_bayesian
from .options import STRUCTURED, Curvature, as_curvature
from ..core.objective import data_gradient
from ..core.priors import alpha_per_param
from .evidence_terms import EvidenceTerms, posterior_evidence_terms
from .symmetry import symmetry_term  # noqa: F401 (symmetry_term stays importable from here)
from ..core.training import dense_iteration_cost

__all__ = ["log_evidence", "log_evidence_gradient", "reestimate", "EvidenceTerms", "EvidenceGradient", "Reestimate"]


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


# --- the evidence ------------------------------------------------------------------------------------

def log_evidence(net, w_map, X, T, alpha, beta=None, hessian="exact", *, symmetry=True, terms=False,
                 jitter=0.0, chunk_size=None, subset=None, rank=None, lowrank_hessian="outer", lowrank_diag=False):
    """The Laplace approximation to the log evidence ln p(D | alpha, beta) (PRML 5.175, 5.183).

    ``-E(w_MAP) - 1/2 ln|A| + sum_g W_g/2 ln alpha_g`` plus, for a Gaussian likelihood,
    ``N/2 sum_k ln beta_k - N K/2 ln 2 pi`` (K outputs; ``N K/2 ln beta`` for one beta).

    With ``subset='last_layer'`` the weights outside the output layer are fixed at w_MAP and carry no prior
    terms: ``ln p(D | w_MAP) - sum_{output layer} alpha_i/2 w_i^2 + sum_{output layer} 1/2 ln alpha_i
    - 1/2 ln|H_LL + alpha I|`` (laplace-torch's last-layer log marginal likelihood).

    Parameters
    ----------
    net, w_map, X, T, alpha, beta, hessian
        As for :func:`laplacenet.laplace`.
    symmetry : bool
        Add ``ln M_a! + M_a ln 2`` for every hidden layer, M_a its units whose incoming and outgoing weights the
        posterior tells from zero: the M_a! orderings and 2^M_a sign flips that give the same function (MacKay
        1992), so that networks of different widths compare fairly (see
        :func:`laplacenet.bayes.symmetry.distinguishable_units`; the counts are ``n_distinguishable`` of the terms).
        True by default, as everywhere a log evidence is reported (:func:`laplacenet.fit_evidence`'s loop, whose
        objective leaves it out, is the exception).
    terms : bool
        Return an :class:`EvidenceTerms` whose fields add up to the total instead of the float.
    jitter, chunk_size, subset, rank, lowrank_hessian, lowrank_diag
        As for :func:`laplacenet.laplace`.

    Returns
    -------
    float, or EvidenceTerms with ``terms=True``
    """
    w, X, T, alpha, beta = validate_bayesian(net, w_map, X, T, alpha, beta)
    curvature = Curvature(hessian, jitter, chunk_size, subset, rank, lowrank_hessian, lowrank_diag).within(net.n_params)
    posterior = build_posterior(net, w, X, T, alpha, beta, curvature)
    result = posterior_evidence_terms(net, w, X, T, alpha, beta, posterior, bool(symmetry), curvature.chunk_size)
    return result if terms else result.total


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
    at = _statistics(net, w_map, X, T, alpha, beta, hessian, jitter, chunk_size, subset, rank, lowrank_hessian,
                     lowrank_diag)
    return reestimate_from(net, at.X, at.alpha, at.beta, at.stats, at.posterior.hessian)


class _AtMode(NamedTuple):
    w: np.ndarray
    X: np.ndarray
    T: np.ndarray
    alpha: Any
    beta: Any
    curvature: Curvature
    stats: "EvidenceStatistics"
    posterior: Any


def _statistics(net, w_map, X, T, alpha, beta, *options):
    """The public arguments of :func:`reestimate` validated (``options`` those of :class:`Curvature`, in its order),
    with the posterior and :class:`EvidenceStatistics` at ``w_map``: an :class:`_AtMode`."""
    w, X, T, alpha, beta = validate_bayesian(net, w_map, X, T, alpha, beta)
    curvature = Curvature(*options).within(net.n_params)
    check_reestimable(curvature, beta)
    H, pieces = data_curvature(net, w, X, T, beta, curvature)
    posterior = build_posterior(net, w, X, T, alpha, beta, curvature, H=H)
    stats = evidence_statistics(net, w, X, T, alpha, beta, pieces, posterior)
    return _AtMode(w, X, T, alpha, beta, curvature, stats, posterior)


def check_reestimable(curvature, beta):
    """Refuse up front what :func:`reestimate` cannot do: a beta per output with ``hessian='lowrank'``."""
    if as_curvature(curvature).hessian == "lowrank" and np.ndim(beta) == 1:
        raise ValueError("cannot re-estimate a beta per output with hessian='lowrank': gamma_k = beta_k tr(A^-1 H_k) "
                         "needs H as a sum of per-output pieces, and its top-k eigenpairs are not. Use one beta, or "
                         "hessian='kron', 'outer' or 'diag'")


def data_curvature(net, w, X, T, beta, curvature):
    """The data curvature of a posterior (see :func:`laplacenet.bayes.laplace.posterior_curvature`) and, for a vector
    beta, its per-output pieces H_k (``H = sum_k beta_k H_k``); ``curvature`` is a Curvature or a hessian string."""
    structure = as_curvature(curvature)
    if np.ndim(beta) == 0 or structure.hessian == "lowrank":
        return posterior_curvature(net, w, X, T, beta, structure), None
    if structure.hessian == "kron":
        pieces = data_kron_factors(net, w, X, T, None, structure.chunk_size, per_output=True)
        return combine_output_factors(pieces, beta), pieces
    # The Gaussian data error is linear in beta, so H_k is the data Hessian at beta = e_k.
    pieces = [posterior_curvature(net, w, X, T, e_k, structure) for e_k in np.eye(net.n_outputs)]
    return sum(b * H_k for b, H_k in zip(beta, pieces)), pieces


class EvidenceStatistics(NamedTuple):
    """What re-estimation and the evidence gradient read off a posterior at fixed w (validated arrays).

    ``groups`` are the prior groups the posterior covers (all of them for a scalar alpha: one entry); for each,
    ``gamma_groups`` = W_g - alpha_g tr_g(A^-1) (5.179) and ``sq_norms`` = ||w_g||^2. ``residuals`` is
    ``sum_n (y_nk - t_nk)^2`` per output and ``gamma_outputs`` ``beta_k tr(A^-1 H_k)`` for a beta per output
    (both None for classification; the latter None for one beta).
    """

    groups: np.ndarray
    gamma_groups: np.ndarray
    sq_norms: np.ndarray
    residuals: Optional[np.ndarray]
    gamma_outputs: Optional[np.ndarray]
    covariance: Optional[np.ndarray]

    @property
    def gamma(self):
        return float(np.sum(self.gamma_groups))


def evidence_statistics(net, w, X, T, alpha, beta, pieces, posterior, keep_covariance=False):
    """:class:`EvidenceStatistics` of a built posterior, on validated arrays (``pieces``: the per-output curvature
    of :func:`data_curvature` for a beta per output, else None; ``keep_covariance``: keep A^-1 of a dense posterior,
    whose diagonal then gives gamma, for a caller that needs it next)."""
    covered = posterior.subset_slice
    groups, local = _covered_group_index(net, alpha, posterior)
    covariance = None
    if posterior.hessian not in STRUCTURED and (pieces is not None or keep_covariance):
        covariance = posterior.covariance()
    gamma_groups = well_determined_groups(net, alpha, posterior, covariance)
    sq_norms = np.bincount(local, weights=w[covered] ** 2, minlength=groups.size)
    if not net.likelihood.uses_beta:
        return EvidenceStatistics(groups, gamma_groups, sq_norms, None, None, covariance)
    residuals = _squared_residuals(net, w, X, T, posterior.chunk_size)
    gamma_outputs = None
    if pieces is not None:
        if posterior.hessian in STRUCTURED:
            gamma_outputs = beta * posterior.precision.trace_products(pieces)
        else:
            gamma_outputs = np.array([b * _trace_product(covariance, H_k) for b, H_k in zip(beta, pieces)])
    return EvidenceStatistics(groups, gamma_groups, sq_norms, residuals, gamma_outputs, covariance)


def _covered_group_index(net, alpha, posterior):
    """The prior groups a posterior covers and, for each weight it covers, the position of its group in them."""
    index = _group_index(net, alpha)[posterior.subset_slice]
    groups = np.unique(index)
    return groups, np.searchsorted(groups, index)


def well_determined_groups(net, alpha, posterior, covariance=None):
    """``gamma_g = W_g - alpha_g tr_g(A^-1)`` (PRML 5.179) for each prior group the posterior covers (one entry for
    a scalar alpha), from the structured precision's eigenvalues or the diagonal of A^-1 (of ``covariance``, A^-1
    held as a matrix or a vector, when given)."""
    if posterior.hessian in STRUCTURED:
        gamma_all = posterior.precision.gamma_groups(net.group_index, net.n_groups)
        return gamma_all[covered_groups(net, alpha, posterior)] if np.ndim(alpha) == 1 else np.array([gamma_all.sum()])
    covered = posterior.subset_slice
    groups, local = _covered_group_index(net, alpha, posterior)
    variances = posterior.variances()[covered] if covariance is None else _diagonal(covariance)
    return np.bincount(local, weights=1.0 - alpha_per_param(net, alpha)[covered] * variances, minlength=groups.size)


def well_determined(posterior):
    """gamma, the number of well-determined parameters of a posterior (PRML 5.179): ``sum_g gamma_g`` of
    :func:`well_determined_groups` at the posterior's alpha, over the weights it covers."""
    return float(np.sum(well_determined_groups(posterior.net, posterior.alpha, posterior)))


@dataclass(frozen=True)
class EvidenceGradient:
    """The gradient of the Laplace log evidence in the log hyperparameters, at fixed w.

    Attributes
    ----------
    alpha : float or (n_groups,) array
        ``d ln Z / d ln alpha_g = (gamma_g - alpha_g ||w_g||^2) / 2`` (0 for groups a subset leaves out).
    beta : float, (K,) array or None
        ``d ln Z / d ln beta = (N K - gamma - beta sum ||y - t||^2) / 2`` (per output: ``N - gamma_k - ...``);
        None for classification.
    """

    alpha: Any
    beta: Any


def log_evidence_gradient(net, w_map, X, T, alpha, beta=None, hessian="exact", *, jitter=0.0, chunk_size=None,
                          subset=None, rank=None, lowrank_hessian="outer", lowrank_diag=False, retrained=False):
    """The gradient of the Laplace log evidence (PRML 5.175, 5.183) in ln alpha and ln beta, at fixed w or with w
    retrained.

    With ``E_W = ||w||^2 / 2`` and ``E_D`` the data error per unit beta, ``d ln Z / d ln alpha = gamma / 2 -
    alpha E_W`` and ``d ln Z / d ln beta = (N K - gamma) / 2 - beta E_D``: both vanish exactly at the fixed
    point of re-estimation (5.178, 5.180), which is therefore the maximum of the evidence over alpha and beta
    with w held. Held w means the curvature held too; with ``jitter > 0`` gamma counts the jitter as data
    curvature (as :func:`reestimate` does), so the formula is then no longer the exact derivative. It is the
    gradient of the evidence without the symmetry term (``symmetry=False``), which is piecewise constant in the
    hyperparameters: its count of distinguishable units changes in steps.

    ``retrained=True`` adds what the evidence gains as w_MAP moves with the hyperparameters: the data curvature
    depends on w, so ln|A| changes along ``dw / d ln alpha = -H^-1 alpha w`` (and ``dw / d ln beta = -H^-1 beta
    grad E_D``; H the exact Hessian of E, by conjugate gradients on R-operator products preconditioned by A where A
    is another matrix), and the maximum of ln Z with w retrained, the one :func:`~laplacenet.fit_evidence` seeks,
    is not MacKay's fixed point (it is, exactly, for a linear-Gaussian model, whose curvature does not depend on
    w). The change of ln|A| along each direction is ``tr(A^-1 dH)`` by a central difference of the data curvature
    (two more curvatures per hyperparameter; a difference of ln|A| for ``'kron'`` and ``'lowrank'``).
    ``w_map`` must be the minimum of E at ``alpha``, ``beta``. With ``subset='last_layer'`` every weight is still
    retrained (dw/dtheta by CG over all of them), and the prior of the weights outside the subset, which ln Z
    leaves out, adds ``(alpha w) . dw/dtheta`` over them.

    Parameters
    ----------
    net, w_map, X, T, alpha, beta, hessian, jitter, chunk_size, subset, rank, lowrank_hessian, lowrank_diag
        As for :func:`laplacenet.laplace`.
    retrained : bool
        The total derivative, with w_MAP retrained, instead of the one at fixed w.

    Returns
    -------
    EvidenceGradient
    """
    if not isinstance(retrained, (bool, np.bool_)):
        raise TypeError(f"retrained must be True or False; got {retrained!r}")
    at = _statistics(net, w_map, X, T, alpha, beta, hessian, jitter, chunk_size, subset, rank, lowrank_hessian,
                     lowrank_diag)
    X, alpha, beta, stats = at.X, at.alpha, at.beta, at.stats
    slope = evidence_slope(X, alpha, beta, stats, net.n_outputs)
    if retrained:
        slope = slope + retrained_slope(net, at.w, X, at.T, alpha, beta, stats, at.posterior, at.curvature)
    n_alpha = stats.groups.size
    if np.ndim(alpha) == 1:
        d_alpha = np.zeros(net.n_groups)
        d_alpha[stats.groups] = slope[:n_alpha]
    else:
        d_alpha = float(slope[0])
    d_beta = None if beta is None else (float(slope[n_alpha]) if np.ndim(beta) == 0 else slope[n_alpha:])
    return EvidenceGradient(d_alpha, d_beta)


def evidence_slope(X, alpha, beta, stats, n_outputs):
    """``d ln Z / d theta`` at fixed w, theta = (ln alpha over ``stats.groups``, then ln beta), a vector."""
    alphas = np.broadcast_to(alpha, (np.max(stats.groups) + 1,))[stats.groups] if np.ndim(alpha) else \
        np.array([alpha])
    parts = [0.5 * (stats.gamma_groups - alphas * stats.sq_norms)]
    if stats.residuals is not None:
        N = X.shape[0]
        if stats.gamma_outputs is None:
            parts.append([0.5 * (N * n_outputs - stats.gamma - beta * stats.residuals.sum())])
        else:
            parts.append(0.5 * (N - stats.gamma_outputs - beta * stats.residuals))
    return np.concatenate(parts).astype(float)


#: relative steps of the central differences along dw/dtheta: of the data curvature (a trace of the difference,
#: without the cancellation of a difference of ln|A|: truncation O(h^2), rounding of H amplified by 1e5) and of
#: ln|A| (the structured posteriors)
STEP_CURVATURE, STEP_CENTRAL = 1e-5, 1e-4
#: conjugate-gradient steps at most for dw/dtheta in the evidence loop: at the digits fit with 50 hidden units the
#: Gauss-Newton start is 50 % off, 20 steps 14 %, 40 steps 2 %, 100 steps 1e-5, at 0.013 s a step
CG_STEPS = 40


def retrained_slope(net, w, X, T, alpha, beta, stats, posterior, curvature, covariance=None, cg_steps=None,
                    moves=None):
    """What ``d ln Z / d theta`` gains when w_MAP moves with theta: ``-(1/2) (d ln|A| / dw) . (dw / d theta_j)``.

    At fixed w the slope (:func:`evidence_slope`) vanishes at MacKay's fixed point; with w retrained, ln Z also
    changes through ln|A(w)| (the data curvature depends on w), and the evidence maximum moves. By the implicit
    function theorem at grad E = 0, ``dw / d theta_j = -H^-1 d(grad E) / d theta_j`` (H the exact Hessian of E,
    :func:`_weight_moves`) with ``d(grad E) / d ln alpha_g = alpha_g w_g`` (on group g) and ``d(grad E) / d ln
    beta_k = beta_k grad E_D,k``; the change of ln|A| along each is ``tr(A^-1 (H(w + h v) - H(w - h v))) / 2h``
    for a posterior held as an array (dense or diagonal; ``covariance``, its A^-1, if already at hand) and a
    central difference of ln|A| rebuilt at ``w +- h v`` for the structured ones. (The -E term contributes
    nothing: grad E = 0.) With a subset posterior every weight is still retrained: dw/dtheta is over all of them,
    its A (the subset's) changes as they move, and as ln Z has the prior of the covered weights only, the others
    add ``(alpha w) . dw/dtheta`` over them (grad E_D = -alpha w there). A vector like :func:`evidence_slope`'s.
    ``cg_steps`` caps the conjugate-gradient steps for dw/dtheta (None: until converged, at most 2 W); ``moves``,
    dw/dtheta from :func:`weight_moves` if already at hand.
    """
    n_beta, chunk_size = n_betas(net, stats.gamma_outputs is not None), curvature.chunk_size
    if moves is None:
        moves = weight_moves(net, w, X, T, alpha, beta, stats.groups, n_beta, posterior, chunk_size, cg_steps)
    prior_push = alpha_per_param(net, alpha) * w
    scale = max(1.0, float(np.max(np.abs(w))))
    dense = posterior.hessian not in STRUCTURED
    if dense:  # A held as an array: d ln|A| = tr(A^-1 dA), by a central difference of the data curvature
        covariance = posterior.covariance() if covariance is None else covariance
    slope = np.zeros(moves.shape[1])
    if posterior.subset is not None:  # d(-E_D - prior over the subset)/dw = alpha w off the subset
        outside = prior_push.copy()
        outside[posterior.subset_slice] = 0.0
        slope += outside @ moves
    for j, v in enumerate(moves.T):
        size = float(np.max(np.abs(v)))
        if size == 0.0:
            continue
        if dense:
            h = STEP_CURVATURE * scale / size
            change, minus = run_parallel([functools.partial(posterior_curvature, net, w + sign * h * v, X, T, beta,
                                                            curvature) for sign in (1.0, -1.0)])
            change -= minus
            del minus
            slope[j] -= 0.25 * float(np.vdot(covariance, change)) / h
        else:
            h = STEP_CENTRAL * scale / size  # truncation O(h^2), ~1e-6 of the slope; rounding grows as 1/h
            ends = run_parallel([_log_det_at(net, w + sign * h * v, X, T, alpha, beta, curvature)
                                 for sign in (1.0, -1.0)])
            slope[j] -= 0.25 * (ends[0] - ends[1]) / h
    return slope


def weight_moves(net, w, X, T, alpha, beta, groups, n_beta, posterior, chunk_size=None, cg_steps=None):
    """``dw / d theta`` (W, len(groups) + n_beta) for :func:`retrained_slope`: one column per prior group in
    ``groups`` (of :func:`covered_groups`), then one per beta (``n_beta``: 0, 1, or K for a beta per output)."""
    chunk_rows = chunk_size or DEFAULT_CHUNK_ROWS
    index = _group_index(net, alpha)
    prior_push = alpha_per_param(net, alpha) * w
    pushes = [np.where(index == g, prior_push, 0.0) for g in groups]
    if n_beta == 1:
        pushes.append(data_gradient(net, w, X, T, beta, chunk_rows))
    elif n_beta:
        pushes += [data_gradient(net, w, X, T, beta * e_k, chunk_rows) for e_k in np.eye(net.n_outputs)]
    return _weight_moves(net, w, X, T, alpha, beta, np.column_stack(pushes), posterior, chunk_size,
                         maxiter=2 * w.size if cg_steps is None else cg_steps)


def n_betas(net, per_output):
    """How many beta columns dw/dtheta has: 0 for classification, else 1, or K for a beta per output."""
    return 0 if not net.likelihood.uses_beta else (net.n_outputs if per_output else 1)


def covered_groups(net, alpha, posterior):
    """The prior groups a posterior covers, as :class:`EvidenceStatistics` lists them."""
    return np.unique(_group_index(net, alpha)[posterior.subset_slice])


def _group_index(net, alpha):
    """The prior group of each weight: ``net.group_index`` for grouped alphas, else all 0."""
    return net.group_index if np.ndim(alpha) == 1 else np.zeros(net.n_params, dtype=np.int64)


def _log_det_at(net, w, X, T, alpha, beta, curvature):
    return lambda: build_posterior(net, w, X, T, alpha, beta, curvature).log_det


def _weight_moves(net, w, X, T, alpha, beta, P, posterior, chunk_size, rtol=1e-9, maxiter=100):
    """``dw / d theta_j = -H^-1 p_j`` (columns of ``P``), H the exact Hessian of E at w: the implicit function
    theorem at grad E = 0. ``-A^-1 P`` where A is that Hessian (``hessian='exact'``, no jitter); where forming and
    factoring H costs less than ``maxiter`` Hessian-vector products (:func:`laplacenet.core.training.
    dense_iteration_cost`, the rule of dense Newton training) and fits the matrix budget, by that factor; otherwise
    conjugate gradients on R-operator products (PRML 5.4.6) from ``-A^-1 P``, preconditioned by A, for at most
    ``maxiter`` products (each lowers the H-norm error). Where H shows negative curvature (w no minimum),
    ``-A^-1 P``. A subset posterior preconditions its own weights; the others take the Gauss-Newton diagonal plus
    alpha."""
    prior = alpha_per_param(net, alpha)[:, None]
    solve = posterior.solve if posterior.subset is None else \
        _subset_preconditioner(posterior, outer_diagonal(net, w, X, T, beta, chunk_size)[:, None] + prior)
    start = -solve(P)
    if posterior.hessian == "exact" and posterior.jitter == 0.0 and posterior.subset is None:
        return start
    if dense_iteration_cost(w.size, X.shape[0]) <= maxiter and fits_matrix_budget(w.size):
        H = data_hessian(net, w, X, T, beta, "exact", chunk_size)  # cheaper than maxiter products: formed, factored
        H[np.diag_indices_from(H)] += prior[:, 0]
        try:
            return -cho_solve((cholesky(H, lower=True, overwrite_a=True, check_finite=False), True), P,
                              check_finite=False)
        except LinAlgError:  # negative curvature: w is no minimum
            return start

    def H(V):
        return data_hvp(net, w, X, T, V, beta, chunk_size) + prior * V

    V = start.copy()
    R = -P - H(V)
    Z = solve(R)
    D, rz = Z.copy(), np.sum(R * Z, axis=0)
    target = rtol * np.linalg.norm(P, axis=0)
    for _ in range(maxiter):
        active = np.linalg.norm(R, axis=0) > target
        if not active.any():
            break
        HD = H(D)
        curvature = np.sum(D * HD, axis=0)
        if np.any(curvature[active] <= 0.0):
            return start
        step = np.where(active, rz / np.where(active, curvature, 1.0), 0.0)
        V += step * D
        R -= step * HD
        Z = solve(R)
        rz_new = np.sum(R * Z, axis=0)
        D = Z + np.where(active, rz_new / np.where(rz > 0.0, rz, 1.0), 0.0) * D
        rz = rz_new
    return V


def _subset_preconditioner(posterior, diagonal):
    """``R -> M^-1 R`` for M = the subset posterior's A on its weights, ``diagonal`` (W, 1) on the others."""
    covered = posterior.subset_slice

    def solve(R):
        Z = R / diagonal
        Z[covered] = posterior.solve(R[covered])
        return Z
    return solve


def evidence_hessian(net, alpha, beta, stats, posterior):
    """The Hessian in theta of the log evidence at fixed w, ``(n, n)``, or None where it is not available.

    Exact for a dense or diagonal posterior with one beta (or none) and no jitter (see
    :func:`log_evidence_gradient`): with ``T_g = tr_g(A^-1)`` and ``C_gh = sum over (i in g, j in h) of
    (A^-1)_ij^2``, ``d2/dln a_g dln a_h = -delta_gh a_g (||w_g||^2 + T_g) / 2 + a_g a_h C_gh / 2``, and the terms in
    ln beta follow from ``beta A^-1 G = I - sum_h a_h A^-1 P_h``. The log evidence at fixed w is concave in
    theta (ln|A| is a log-sum-exp of theta), so the matrix is negative semi-definite.
    """
    if posterior.hessian in STRUCTURED or posterior.jitter != 0.0 or stats.gamma_outputs is not None:
        return None
    covered = posterior.subset_slice
    index = net.group_index[covered] if np.ndim(alpha) == 1 else np.zeros(covered.stop - covered.start, np.int64)
    local = np.searchsorted(stats.groups, index)
    indicator = np.zeros((local.size, stats.groups.size))
    indicator[np.arange(local.size), local] = 1.0
    covariance = stats.covariance if stats.covariance is not None else posterior.covariance()
    squares = covariance ** 2 @ indicator if covariance.ndim == 2 else (covariance ** 2)[:, None] * indicator
    C = indicator.T @ squares
    a = np.broadcast_to(alpha, (np.max(stats.groups) + 1,))[stats.groups] if np.ndim(alpha) else np.array([alpha])
    traces = (np.bincount(local, minlength=a.size) - stats.gamma_groups) / a
    aC = a[:, None] * C * a[None, :]
    hess = 0.5 * aC - np.diag(0.5 * a * (stats.sq_norms + traces))
    if stats.residuals is None:
        return 0.5 * (hess + hess.T)  # symmetric to the last bit
    n_covered = local.size
    cross = 0.5 * a * (traces - C @ a)
    beta_beta = -0.5 * beta * stats.residuals.sum() - 0.5 * stats.gamma \
        + 0.5 * (n_covered - 2.0 * np.dot(a, traces) + aC.sum())
    hess = np.block([[hess, cross[:, None]], [cross[None, :], np.array([[beta_beta]])]])
    return 0.5 * (hess + hess.T)


def _diagonal(covariance):
    """The variances of a covariance held as a matrix, or already as a vector (a diagonal posterior)."""
    return covariance if covariance.ndim == 1 else np.diag(covariance).copy()


def reestimate_from(net, X, alpha, beta, stats, hessian):
    """The fixed-point update (5.178, 5.180) from :class:`EvidenceStatistics`."""
    grouped = np.ndim(alpha) == 1
    names = [net.group_names[g] for g in stats.groups] if grouped else ["all weights"]
    _check_gamma(stats.gamma_groups, names, hessian)
    new_alpha_covered = stats.gamma_groups / _positive(stats.sq_norms, "||w_g||^2 of prior group" if grouped
                                                       else "w^T w", names if grouped else ["w"])  # PRML (5.178)
    gamma_groups = None
    if grouped:
        new_alpha = alpha.copy()
        new_alpha[stats.groups] = new_alpha_covered
        gamma_groups = np.zeros(net.n_groups)
        gamma_groups[stats.groups] = stats.gamma_groups
    else:
        new_alpha = float(new_alpha_covered[0])
    gamma = stats.gamma
    if stats.residuals is None:
        return Reestimate(new_alpha, None, gamma, gamma_groups, None)
    N, K = X.shape[0], net.n_outputs
    if stats.gamma_outputs is None:
        misfit = _positive(np.array([N * K - gamma]), "N K - gamma", ["all outputs"])[0]
        new_beta = misfit / _positive(np.array([stats.residuals.sum()]), "sum ||y - t||^2", ["all outputs"])[0]
        return Reestimate(new_alpha, float(new_beta), gamma, gamma_groups, None)  # PRML (5.180)
    outputs = [f"output {k}" for k in range(K)]
    new_beta = (_positive(N - stats.gamma_outputs, "N - gamma_k", outputs)
                / _positive(stats.residuals, "sum (y_k - t_k)^2", outputs))
    return Reestimate(new_alpha, new_beta, gamma, gamma_groups, stats.gamma_outputs)


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

