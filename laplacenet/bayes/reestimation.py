"""MacKay's re-estimation of the hyperparameters and gamma, the number of well-determined parameters (PRML 5.7.2,
5.7.3; MacKay 1992).

:func:`reestimate` is one step of the fixed-point updates of alpha and beta (5.177-5.180); :class:`Reestimate` its
result. It reads off a posterior at fixed w what the updates and the evidence gradient of
:mod:`laplacenet.bayes.evidence` both need, :class:`EvidenceStatistics`: gamma per prior group (5.179) from the
diagonal of A^-1 or a structured precision's eigenvalues (:func:`effective_parameters_by_group`, and
:func:`effective_parameters` for a posterior), the squared norms of the weights, the squared residuals and, for a
beta per output, gamma_k = beta_k tr(A^-1 H_k) from the per-output data curvature (:func:`data_curvature`).
"""
from dataclasses import dataclass
from typing import Any, NamedTuple, Optional

import numpy as np

from ..core._chunks import DEFAULT_CHUNK_ROWS, data_sum
from ..core.curvature.backprop import forward_pass
from ..core.curvature.kron import combine_output_factors, data_kron_factors
from .laplace import build_posterior, posterior_curvature, validate_bayesian
from .options import STRUCTURED, Curvature, as_curvature
from ..core.priors import alpha_per_param

__all__ = ["reestimate", "Reestimate"]


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
    at = statistics(net, w_map, X, T, alpha, beta, hessian, jitter, chunk_size, subset, rank, lowrank_hessian,
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


def statistics(net, w_map, X, T, alpha, beta, *options):
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
    gamma_groups = effective_parameters_by_group(net, alpha, posterior, covariance)
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
    index = group_index(net, alpha)[posterior.subset_slice]
    groups = np.unique(index)
    return groups, np.searchsorted(groups, index)


def effective_parameters_by_group(net, alpha, posterior, covariance=None):
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


def effective_parameters(posterior):
    """gamma, the number of well-determined parameters of a posterior (PRML 5.179): ``sum_g gamma_g`` of
    :func:`effective_parameters_by_group` at the posterior's alpha, over the weights it covers."""
    return float(np.sum(effective_parameters_by_group(posterior.net, posterior.alpha, posterior)))


def covered_groups(net, alpha, posterior):
    """The prior groups a posterior covers, as :class:`EvidenceStatistics` lists them."""
    return np.unique(group_index(net, alpha)[posterior.subset_slice])


def group_index(net, alpha):
    """The prior group of each weight: ``net.group_index`` for grouped alphas, else all 0."""
    return net.group_index if np.ndim(alpha) == 1 else np.zeros(net.n_params, dtype=np.int64)


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
