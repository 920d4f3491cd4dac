"""The Laplace log evidence as named terms (PRML 5.175, 5.183), given a posterior's ln|A|.

Below the posterior (:mod:`laplacenet.bayes.laplace`) and the evidence routes (:mod:`laplacenet.bayes.evidence`),
which both build on it.
"""
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np

from ..core._chunks import DEFAULT_CHUNK_ROWS
from ..core.objective import data_error
from ..core.priors import alpha_per_param, prior_error
from .symmetry import posterior_symmetry

__all__ = ["EvidenceTerms"]


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
        ``sum over hidden layers of ln M_a! + M_a ln 2`` over the M_a distinguishable units of each hidden layer
        with ``symmetry=True`` (MacKay 1992; see :func:`laplacenet.bayes.symmetry.distinguishable_units`), else 0.
    n_distinguishable : tuple of int or None
        M_a per hidden layer, from the input side, with ``symmetry=True``; None without. Not a term of the sum.
    """

    data_fit: float
    prior: float
    log_det: float
    log_alpha: float
    log_beta: float
    log_2pi: float
    symmetry: float
    n_distinguishable: Optional[tuple] = None

    @property
    def total(self):
        """The log evidence: the sum of the terms."""
        return (self.data_fit + self.prior + self.log_det + self.log_alpha + self.log_beta + self.log_2pi
                + self.symmetry)


def posterior_evidence_terms(net, w, X, T, alpha, beta, posterior, symmetry=False, chunk_size=None):
    """:class:`EvidenceTerms` of a built posterior (its ln|A| and the prior over the weights it covers), with the
    symmetry term of its distinguishable hidden units when ``symmetry``."""
    subset = None if posterior.subset is None else posterior.subset_slice
    terms = evidence_terms(net, w, X, T, alpha, beta, posterior.log_det, chunk_size, subset)
    if not symmetry:
        return terms
    term, counts = posterior_symmetry(posterior)
    return replace(terms, symmetry=term, n_distinguishable=counts)


def evidence_terms(net, w, X, T, alpha, beta, log_det, chunk_size=None, subset=None):
    """:class:`EvidenceTerms` without the symmetry term on validated arrays, given ``ln|A|``; ``subset`` (a slice
    of w) restricts the prior terms to the weights the posterior covers."""
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
        log_beta=log_beta, log_2pi=float(log_2pi), symmetry=0.0)
