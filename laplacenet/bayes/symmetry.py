"""The hidden-unit symmetry term of the log evidence, counting only the units the posterior can tell apart.

A hidden layer of M units has M! orderings and 2^M sign flips that give the same function (PRML 5.1.1), so the
posterior has that many copies of every mode, and a Laplace approximation around one of them accounts for one
only: ``ln M! + M ln 2`` is added per hidden layer (MacKay 1992). A unit whose weights the posterior cannot tell
from zero adds no copies - its Gaussian already spans where a permutation or a flip would take it - so only the
distinguishable units are counted. The derivation is in the documentation's concepts page on the evidence.

* :func:`distinguishable_units` - per hidden layer, which units a posterior tells from zero (a Wald test).
* :func:`symmetry_term` - ``sum over hidden layers of ln M_a! + M_a ln 2``.
"""
import numpy as np
from scipy.special import gammaln
from scipy.stats import chi2

from ..core.priors import alpha_per_param

__all__ = ["distinguishable_units", "symmetry_term"]

#: the level of the Wald test: a block of k weights is distinguishable from zero when its statistic exceeds the
#: chi-square quantile chi2_k(LEVEL)
LEVEL = 0.95


def symmetry_term(net, n_units=None):
    """``sum over hidden layers of ln M! + M ln 2`` (MacKay 1992).

    Parameters
    ----------
    net : MLP
    n_units : sequence of int, optional
        The units M_a counted in each hidden layer (e.g. those of :func:`distinguishable_units`); every unit of
        every hidden layer when None.

    Returns
    -------
    float
    """
    counts = np.asarray(net.sizes[1:-1] if n_units is None else n_units, dtype=float)
    if counts.shape != (net.n_layers - 1,):
        raise ValueError(f"n_units must give one count per hidden layer ({net.n_layers - 1}); got {n_units!r}")
    return float(np.sum(gammaln(counts + 1.0) + counts * np.log(2.0)))


def distinguishable_units(posterior, *, level=LEVEL):
    """The hidden units a Laplace posterior tells from zero, one boolean mask ``(M_l,)`` per hidden layer.

    A unit counts when both its incoming block (its row of W_l and its bias b_l[j]) and its outgoing block (its
    column of W_{l+1}) are distinguishable from zero by :func:`wald_units`, with the posterior's marginal
    variances. Weights the posterior does not cover (``subset='last_layer'``) are given their prior variance
    1/alpha_i: under a positive semi-definite curvature the posterior is never wider than the prior
    (``A = H + diag(alpha)`` with ``H >= 0`` gives ``(A^-1)_ii <= 1/alpha_i``), so the statistic is then never
    larger than a full posterior would make it, and the count never larger: conservative.

    Parameters
    ----------
    posterior : LaplacePosterior
    level : float
        The level of the Wald test, in (0, 1).

    Returns
    -------
    tuple of (M_l,) bool arrays
        One per hidden layer, from the input side; ``()`` for a network without hidden layers.
    """
    return wald_units(posterior.net, posterior.mean, marginal_variances(posterior), level)


def marginal_variances(posterior):
    """``(W,)``: the posterior variance of every weight, the prior's 1/alpha_i where the posterior has none."""
    variances = 1.0 / alpha_per_param(posterior.net, posterior.alpha)
    covered = posterior.subset_slice
    variances[covered] = posterior.variances()[covered]
    return variances


def wald_units(net, w, variances, level=LEVEL):
    """Per hidden layer, ``(M_l,)`` bool: units whose incoming and outgoing weights are both told from zero.

    For a block of k weights with marginal variances var_i the Wald statistic is ``d^2 = sum_i w_i^2 / var_i``;
    the block is distinguishable from zero when ``d^2 > chi2_k(level)``, the chi-square quantile with k degrees
    of freedom (the distribution of d^2 when the weights are zero and the variances their only spread). Unit j of
    hidden layer l has the incoming block ``(W_l[j, :], b_l[j])``, k = d_{l-1} + 1, and the outgoing block
    ``W_{l+1}[:, j]``, k = d_{l+1}.

    Parameters
    ----------
    net : MLP
    w : (W,) array
    variances : (W,) array
        Positive marginal variances of the weights.
    level : float
        In (0, 1).

    Returns
    -------
    tuple of (M_l,) bool arrays
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1); got {level!r}")
    layers, spreads = net.unpack(np.asarray(w, dtype=float)), net.unpack(np.asarray(variances, dtype=float))
    masks = []
    for l in range(net.n_layers - 1):
        (W_in, b_in), (W_out, _) = layers[l], layers[l + 1]
        (V_in, v_b), (V_out, _) = spreads[l], spreads[l + 1]
        incoming = np.sum(W_in ** 2 / V_in, axis=1) + b_in ** 2 / v_b
        outgoing = np.sum(W_out ** 2 / V_out, axis=0)
        masks.append((incoming > chi2.ppf(level, W_in.shape[1] + 1)) & (outgoing > chi2.ppf(level, W_out.shape[0])))
    return tuple(masks)


def posterior_symmetry(posterior):
    """``(term, counts)``: :func:`symmetry_term` over the :func:`distinguishable_units` of ``posterior``, and those
    counts per hidden layer (a tuple of ints)."""
    counts = tuple(int(np.count_nonzero(mask)) for mask in distinguishable_units(posterior))
    return symmetry_term(posterior.net, counts), counts
