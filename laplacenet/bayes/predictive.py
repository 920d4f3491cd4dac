"""Predictive distributions of a Laplace posterior (PRML 5.7.1, 5.7.3).

The linearised predictive expands the output activations to first order about w_MAP,
``a(x, w) ~ a(x, w_MAP) + G (w - w_MAP)`` with ``G = da/dw`` (K, W) (5.169), so that under
q(w) = N(w_MAP, A^-1) the activations are Gaussian with mean ``a(x, w_MAP)`` and covariance
``G A^-1 G^T`` (5.173, 5.188). For many test points that covariance is one triangular solve
``L^-1 G^T`` per chunk of points, never a loop over points.

Every quantity here is per pattern, so the test points are taken chunk by chunk through
:func:`laplacenet.core._chunks.map_rows`: a dask ``X_new`` is processed partition by partition on the active dask
scheduler, its moments lazy dask arrays with ``X_new``'s row chunks.
"""
import numpy as np
from scipy.special import expit, logsumexp, softmax

from ..core._chunks import chunk_slices, map_rows, rows_for_budget
from ..core._validation import check_flag, check_positive_int, check_random_seed, check_X
from ..core.curvature.backprop import backprop, forward_pass, hidden_slopes
from ..core.curvature.jacobian import row_jacobians
from ..core.curvature.outer import jacobian_chunk_rows

__all__ = ["predict"]

PREDICT_METHODS = ("linear", "bridge", "linear_mc", "mc")


def predict(posterior, X_new, method="linear", return_noise=True, full_cov=False, n_samples=1000, seed=None):
    """The predictive distribution of a :class:`~laplacenet.LaplacePosterior` at ``X_new``.

    Parameters
    ----------
    posterior : LaplacePosterior
    X_new : (N, D) array
        A numpy or a dask array (see Notes).
    method : {'linear', 'bridge', 'linear_mc', 'mc'}
        ``'linear'``: the linearised network in closed form - Gaussian (5.172, 5.173); Bernoulli, the
        moderated output (5.186-5.190); categorical, the generalised probit approximation below.
        ``'bridge'``: classification only, the mean of the Laplace bridge's Dirichlet (see Notes) over the
        same linearised Gaussian of the activations.
        ``'linear_mc'``: Monte Carlo over the same linearised Gaussian of the activations: draws
        ``w_s ~ q(w)`` and uses ``a(x, w_MAP) + G (w_s - w_MAP)``; for classification this is the integral
        the moderated outputs approximate. ``'mc'``: Monte Carlo over the network itself, no
        linearisation: the activations ``a(x, w_s)`` of weight samples ``w_s ~ q(w)``.
    return_noise : bool
        Gaussian only: add the noise covariance diag(1/beta_k) to the variance (5.173); ``False`` gives
        the variance of the function alone. Ignored for classification (there is no additive noise).
    full_cov : bool
        Return the full (K, K) covariance of each pattern instead of the per-output variances.
    n_samples : int
        Weight samples for the Monte Carlo methods (at least 2). All test points share the samples.
    seed : None, int >= 0 or numpy Generator, optional
        Seed of the Monte Carlo samples (a Generator is drawn from as it is); checked whatever the method.

    Returns
    -------
    mean : (N, K) array
        Gaussian: ``y(x, w_MAP)`` (``'linear'``) or the sample mean of the outputs. Bernoulli: the moderated
        probability p(t = 1 | x) as ``(N, 1)``, keeping the (N, K) shape of every likelihood. Categorical:
        the class probabilities ``(N, K)``, rows summing to 1.
    variance : (N, K) array, or (N, K, K) with ``full_cov``
        Gaussian: the predictive variance ``1/beta_k + g_k^T A^-1 g_k`` (5.173), or its covariance.
        Classification: the variance (covariance) of the output activations, ``G A^-1 G^T`` (5.188).
        The Monte Carlo methods return sample (co)variances, normalised by ``n_samples - 1``.
        Both are numpy arrays for a numpy ``X_new`` and lazy dask arrays for a dask one (see Notes).

    Notes
    -----
    Categorical ``'linear'`` uses the generalised probit approximation of the Gaussian-softmax integral,
    ``p_k = softmax_k(c_k / sqrt(1 + pi/8 * S_kk))``, with ``c = P a`` the activations at w_MAP and
    ``S = P G A^-1 G^T P`` their covariance, both *centred* by ``P = I - 1 1^T / K`` (the mean over classes
    removed): each activation is scaled by its own moderation factor kappa(S_kk) of (4.154), cross-covariances
    are otherwise ignored
    (Gibbs 1997; the mean-field family of Lu, Ie & Sha 2020, arXiv:2006.07584). Centring removes the part
    of the covariance along ``a + c 1``, a shift the softmax ignores: the likelihood has no curvature along it,
    so the posterior leaves it as wide as the prior (4-20 squared logits on the benchmark's data sets), and
    the uncentred diagonal moderated every class by that prior variance (iris: test NLL 0.19 uncentred, 0.08
    centred; the integral itself, ``'linear_mc'``, 0.10). Centred, the approximation is invariant to adding
    a constant to all activations, as the integral is. For two classes it does not coincide with the Bernoulli
    moderated output, which is exact in form (use one logistic output for two classes).

    ``'bridge'`` maps the Gaussian of the activations to a Dirichlet by the Laplace bridge (MacKay 1998,
    "Choice of basis for Laplace approximation"; Hobbhahn, Kristiadi & Hennig 2022, "Fast predictive
    uncertainty for classification with Bayesian deep networks", UAI) with concentrations
    ``alpha_k = (1 - 2/K + exp(a_k) / K^2 sum_l exp(-a_l)) / S_kk`` on the centred ``S``, and returns the
    Dirichlet mean ``alpha / sum(alpha)``. The mean depends on the variances only through their ratios (it is
    unchanged when the covariance is scaled by any c > 0); for two classes, whose centred variances are equal,
    it is the softmax of ``a``, and for more, equal variances give ``1 - 2/K + exp(a_k) / K^2 sum_l exp(-a_l)``
    normalised, not the softmax.

    For a dask ``X_new`` the mean and variance are lazy dask arrays with its row chunks, as
    :meth:`laplacenet.MLP.forward` returns: nothing is computed until asked (``dask.compute(mean, variance)``
    computes the two in one pass), and then every partition is processed once, where it lies, on the active
    dask scheduler. The Monte Carlo weight samples are drawn once, by this call, and shared by all
    partitions, so the numbers equal those for the same rows in memory.
    """
    return _predict(posterior, X_new, method, return_noise, full_cov, n_samples, seed)


def two_class_probabilities(posterior, X_new, method, n_samples=1000, seed=None):
    """``(N, 2)``: p(t = 0 | x) and p(t = 1 | x) of a Bernoulli network, as :func:`predict` gives the second.

    Each is the predictive mean of its own activation (``-a`` and ``a``, of the same variance), never one minus
    the other, which rounds to 0 once the other is within 1e-16 of 1 (activations above about 37).
    """
    if posterior.net.likelihood.name != "bernoulli":
        raise ValueError("two_class_probabilities is for a Bernoulli likelihood (one logistic output); this "
                         f"network's likelihood is {posterior.net.likelihood.name!r}")
    return _predict(posterior, X_new, method, True, False, n_samples, seed, both_classes=True)[0]


def _predict(posterior, X_new, method, return_noise, full_cov, n_samples, seed, both_classes=False):
    """:func:`predict`; with ``both_classes`` (Bernoulli), means ``(N, 2)`` of the two classes' activations."""
    net = posterior.net
    X = check_X(X_new, net.n_inputs, "X_new")
    seed = check_random_seed(seed)
    return_noise, full_cov = check_flag(return_noise, "return_noise"), check_flag(full_cov, "full_cov")
    if method not in PREDICT_METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, PREDICT_METHODS))}; got {method!r}")
    if method == "bridge" and net.likelihood.uses_beta:
        raise ValueError("method='bridge' is for classification (a Bernoulli or categorical likelihood); "
                         f"this network's likelihood is {net.likelihood.name!r}")
    if method in ("linear", "bridge"):
        moments, rows = _linear_predictive(posterior, method, both_classes), posterior.prediction_chunk_rows()
    else:
        n_samples = check_positive_int(n_samples, "n_samples", minimum=2)
        moments, rows = _sampled_predictive(posterior, method, n_samples, seed, both_classes)
    noise = None
    if net.likelihood.uses_beta and return_noise:
        noise = np.diag(1.0 / np.broadcast_to(posterior.beta, (net.n_outputs,)))  # PRML (5.173)

    def predictive(Xc):
        mean, cov = moments(Xc)
        if noise is not None:
            cov = cov + noise
        return mean, (cov if full_cov else np.diagonal(cov, axis1=1, axis2=2).copy())

    return map_rows(predictive, X, rows)


def linearised_moments(posterior, X):
    """Activations at w_MAP ``(N, K)`` and their linearised covariance ``G A^-1 G^T`` ``(N, K, K)``.

    G is taken in its factors - each layer's input and the rows of ``d a_L / d a_l`` backpropagated to it
    (PRML 5.73) - so that a structured posterior need not assemble it. ``X`` is validated, numpy or dask
    (lazy dask results, as for :func:`predict`).
    """
    return map_rows(_linearised(posterior), X, posterior.prediction_chunk_rows())


def moderated_bernoulli(a, variance):
    """``sigma(kappa(s^2) a)`` with ``kappa(s^2) = (1 + pi s^2 / 8)^-1/2`` (PRML 5.190, 4.153-4.155)."""
    return expit(a / np.sqrt(1.0 + np.pi * variance / 8.0))


def centred_covariance(cov):
    """``P cov P`` with ``P = I - 1 1^T / K`` for each ``(K, K)`` block of ``cov (N, K, K)``: the covariance of
    the activations less their mean over classes, which the softmax ignores."""
    return cov - cov.mean(axis=1, keepdims=True) - cov.mean(axis=2, keepdims=True) \
        + cov.mean(axis=(1, 2), keepdims=True)


def moderated_softmax(a, cov):
    """Generalised probit approximation: ``softmax(c_k / sqrt(1 + pi/8 S_kk))`` over each row ``(N, K)``, with
    ``c`` the activations less their mean and ``S`` the centred covariance (:func:`centred_covariance`; see
    :func:`predict`)."""
    variances = np.diagonal(centred_covariance(cov), axis1=1, axis2=2)
    centred = a - a.mean(axis=1, keepdims=True)
    return softmax(centred / np.sqrt(1.0 + np.pi * variances / 8.0), axis=1)  # PRML (4.153)-(4.155) per class


def laplace_bridge(a, cov):
    """The mean ``(N, K)`` of the Laplace bridge's Dirichlet for activations ``N(a, cov)`` (see :func:`predict`).

    Two classes may be given as one logistic activation ``(N, 1)`` with variance ``(N, 1, 1)``; the result is
    then p(class 1) ``(N, 1)``.
    """
    if a.shape[1] == 1:  # one logistic output: the softmax of (0, a), whose centred variances are equal
        return expit(a)
    K = a.shape[1]
    variances = np.maximum(np.diagonal(centred_covariance(cov), axis1=1, axis2=2), np.finfo(float).tiny)
    log_ratio = a + logsumexp(-a, axis=1, keepdims=True) - 2.0 * np.log(K)  # ln(exp(a_k) sum_l exp(-a_l) / K^2)
    constant = np.log1p(-2.0 / K) if K > 2 else -np.inf
    return softmax(np.logaddexp(constant, log_ratio) - np.log(variances), axis=1)  # Dirichlet mean, in logs


_LINEAR_MEANS = {
    ("gaussian", "linear"): lambda a, cov: a,  # PRML (5.172)
    ("bernoulli", "linear"): lambda a, cov: moderated_bernoulli(a, cov[:, :, 0]),
    ("categorical", "linear"): moderated_softmax,
    ("bernoulli", "bridge"): laplace_bridge,
    ("categorical", "bridge"): laplace_bridge,
}


# --- per-chunk moments: functions of a chunk of validated rows Xc (n, D), returning (n, K) and (n, K, K) ---

def _linearised(posterior):
    """``Xc -> (a, G A^-1 G^T)``: the activations at w_MAP and their linearised covariance."""
    net = posterior.net
    layers, K = net.unpack(posterior.mean), net.n_outputs

    def moments(Xc):
        fw = forward_pass(net, layers, Xc)
        deltas = backprop(layers, hidden_slopes(net, fw), np.broadcast_to(np.eye(K), (fw.y.shape[0], K, K)))
        return fw.a[-1], posterior.linearised_covariance(fw.z, deltas)  # PRML (5.173), (5.188)

    return moments


def _linear_predictive(posterior, method="linear", both_classes=False):
    """``Xc -> (mean, G A^-1 G^T)`` with the closed-form predictive mean of the likelihood (with
    ``both_classes``, of a Bernoulli network: the means of ``-a`` and ``a``, ``(n, 2)``)."""
    linearised, mean_of = _linearised(posterior), _LINEAR_MEANS[posterior.net.likelihood.name, method]

    def moments(Xc):
        a, cov = linearised(Xc)
        if both_classes:
            return np.hstack([mean_of(-a, cov), mean_of(a, cov)]), cov
        return mean_of(a, cov), cov

    return moments


def _sampled_predictive(posterior, method, n_samples, seed, both_classes=False):
    """``(Xc -> (mean, cov), rows per chunk)``: the mean of the outputs and the sample covariance of the
    activations over ``n_samples`` weight samples, drawn here once and shared by every chunk (with
    ``both_classes``, of a Bernoulli network: the mean outputs of ``-a`` and ``a``, ``(n, 2)``)."""
    net, K = posterior.net, posterior.net.n_outputs
    activations = activations_per_draw(posterior, method, posterior.sample(n_samples, seed))

    def moments(Xc):
        samples = activations(Xc)
        S, n = samples.shape[:2]
        mean = net.likelihood.link(samples.reshape(S * n, K)).reshape(S, n, K).mean(axis=0)
        if both_classes:
            mean = np.hstack([net.likelihood.link(-samples.reshape(S * n, K)).reshape(S, n, K).mean(axis=0), mean])
        dev = samples - samples.mean(axis=0)
        return mean, dev.transpose(1, 2, 0) @ dev.transpose(1, 0, 2) / (S - 1)

    rows = min(jacobian_chunk_rows(net, posterior.chunk_size), rows_for_budget(8 * n_samples * K))
    return moments, rows


def activations_per_draw(posterior, method, weights):
    """``Xc -> a_s (S, n, K)``: the output activations of the weight draws ``weights (S, W)``, of the network
    itself (``'mc'``, :func:`sampled_activations`) or of its linearisation about w_MAP (``'linear_mc'``)."""
    net = posterior.net
    if method == "mc":
        def network(Xc):  # in blocks of draws whose activations of every layer fit the chunk budget
            blocks = chunk_slices(len(weights), rows_for_budget(8 * Xc.shape[0] * max(net.sizes)))
            return np.concatenate([sampled_activations(net, weights[sl], Xc) for sl in blocks])

        return network
    layers, deviations = net.unpack(posterior.mean), weights - posterior.mean

    def linearised(Xc):
        fw = forward_pass(net, layers, Xc)
        n, K = fw.y.shape
        G = row_jacobians(net, layers, fw, np.broadcast_to(np.eye(K), (n, K, K)))
        shifts = (G.reshape(n * K, -1) @ deviations.T).reshape(n, K, -1)  # G (w_s - w_MAP), (5.169)
        return fw.a[-1][None] + shifts.transpose(2, 0, 1)

    return linearised


def sampled_activations(net, samples, X):
    """Output activations ``(S, n, K)`` at each of the S weight vectors ``samples`` (S, W) for ``X`` (n, D)."""
    S = samples.shape[0]
    z = X
    for l, ((ws, bs), d_in, d_out) in enumerate(zip(net.layer_slices, net.sizes[:-1], net.sizes[1:])):
        W = samples[:, ws].reshape(S, d_out, d_in)
        a = z @ W.transpose(0, 2, 1) + samples[:, None, bs]  # PRML (5.62) for every draw at once
        if l < net.n_layers - 1:
            z = net.activation.h(a)
    return a
