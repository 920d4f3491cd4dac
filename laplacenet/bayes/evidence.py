"""The Laplace log evidence for the hyperparameters and its gradient in them (PRML 5.7.2, 5.7.3; MacKay 1992).

:func:`log_evidence` is the Laplace approximation to ln p(D | alpha, beta) (5.175; 5.183 for classification).
:func:`log_evidence_gradient` is its gradient in ln alpha and ln beta, at fixed w (:func:`evidence_slope`, from the
statistics of :mod:`laplacenet.bayes.reestimation`, which holds MacKay's re-estimation and gamma) or with w
retrained (:func:`retrained_slope`: dw/dtheta by the implicit function theorem, :func:`weight_moves`, and the
change of ln|A| along it); :func:`evidence_hessian` is its Hessian at fixed w. The loop that maximises the
evidence, retraining w as the hyperparameters move, is :mod:`laplacenet.bayes.hyper`.
"""
import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import LinAlgError, cho_solve, cholesky

from ..core._chunks import DEFAULT_CHUNK_ROWS
from ..core._config import fits_matrix_budget
from ..core._threads import run_parallel
from ..core.curvature.diagonal import outer_diagonal
from ..core.routes import data_hessian
from ..core.curvature.rop import data_hvp
from .laplace import build_posterior, posterior_curvature, validate_bayesian
from .options import STRUCTURED, Curvature
from ..core.objective import data_gradient
from ..core.priors import alpha_per_param
from .evidence_terms import EvidenceTerms, posterior_evidence_terms
from .reestimation import Reestimate, group_index, reestimate, statistics
from .symmetry import symmetry_term  # noqa: F401 (symmetry_term stays importable from here)
from ..core.training import dense_iteration_cost

__all__ = ["log_evidence", "log_evidence_gradient", "reestimate", "EvidenceTerms", "EvidenceGradient", "Reestimate"]


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
    at = statistics(net, w_map, X, T, alpha, beta, hessian, jitter, chunk_size, subset, rank, lowrank_hessian,
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
    ``groups`` (of :func:`~laplacenet.bayes.reestimation.covered_groups`), then one per beta (``n_beta``: 0, 1, or
    K for a beta per output)."""
    chunk_rows = chunk_size or DEFAULT_CHUNK_ROWS
    index = group_index(net, alpha)
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
