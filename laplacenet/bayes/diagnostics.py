"""Is the Gaussian good enough? Pareto-smoothed importance sampling against the true posterior.

The Laplace approximation q(w) = N(w_MAP, A^-1) (PRML 5.167) stands in for the posterior
p(w | D) proportional to exp(-E(w)) (5.165). Independent draws w_s ~ q give the importance ratios
``r_s = p~(w_s) / q(w_s)`` with ``ln p~(w) = -E(w)``; when q is a good approximation they are nearly
constant, when it misses mass they have a heavy right tail. Pareto-smoothed importance sampling (PSIS)
fits a generalised Pareto distribution to the largest ratios; its shape k-hat is the diagnostic of
Yao, Vehtari, Simpson & Gelman (2018, "Yes, but did it work?: Evaluating variational inference"):
k-hat < 0.5 good, < 0.7 usable, >= 0.7 unreliable. Vehtari, Simpson, Gelman, Yao & Gabry (2024,
"Pareto smoothed importance sampling", JMLR 25(72)) make the usable bound depend on the number of draws
S: ``min(1 - 1/log10(S), 0.7)``. PSIS itself is ArviZ's: ``arviz.psislw`` (arviz 0.x) or
``arviz_stats.base.array_stats.psislw`` (the arviz 1.x API), imported only when needed.
"""
import importlib.metadata
import importlib.util
import warnings
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np
from scipy.special import logsumexp

from ..core._chunks import data_sum, map_rows, rows_for_budget
from ..core._fingerprint import differences, training_fingerprint
from ..core._validation import check_data, check_finite_result, check_positive_int, check_random_seed, check_X
from ..core.curvature.outer import jacobian_chunk_rows
from .laplace import LaplacePosterior
from .predictive import activations_per_draw, sampled_activations
from ..core.priors import alpha_per_param

__all__ = ["LaplaceDiagnostic", "diagnose"]

#: PSIS fits its Pareto tail to the largest S/5 ratios and needs at least 5 of them.
MIN_DRAWS = 25
#: log ratios whose spread (max - min, nats) is below this (plus rounding) are taken as constant: weights within
#: 1e-4 of uniform. Training stopped at a Newton decrement d leaves ratios linear in the draws, spread about
#: 2 sqrt(2 ln S) d: 5e-6 for 1000 draws at the default d <= 1e-6, above the 1e-6 this was (k-hat -0.15).
EXACT_SPREAD = 1e-4


@dataclass(frozen=True)
class LaplaceDiagnostic:
    """How well the Laplace Gaussian q(w) matches the posterior exp(-E(w)): PSIS over independent draws.

    Attributes
    ----------
    khat : float
        The Pareto shape of the importance ratios' right tail. ``-inf`` when the log ratios agree to within
        ``EXACT_SPREAD`` nats plus rounding (q is the posterior, as for Bayesian linear regression at its exact
        mode): there is no tail, and the weights are uniform. ``+inf`` when the largest ratios span more than
        double precision (over ~708 nats), where no Pareto tail can be fitted and the weights are the raw
        normalised ratios.
    threshold : float
        ``min(1 - 1/log10(S), 0.7)``: the largest k-hat for which PSIS is reliable with S draws (Vehtari et
        al. 2024).
    ess : float
        Effective sample size of the smoothed importance weights, ``1 / sum_s w_s^2``; S when they are equal.
    n_draws : int
        S, the number of independent draws from q.
    verdict : str
        ``'good'`` (k-hat < 0.5 and <= threshold), ``'ok'`` (0.5 <= k-hat <= threshold), ``'more draws'``
        (threshold < k-hat < 0.7: more draws would make PSIS reliable) or ``'unreliable'`` (k-hat >= 0.7:
        the Gaussian misses posterior mass; no number of draws fixes importance sampling from it).
    samples : (S, W) array
        The draws w_s ~ q.
    log_ratios : (S,) array
        ``ln p~(w_s) - ln q(w_s)`` with ``ln p~ = -E(w)``, unnormalised.
    log_weights : (S,) array
        Pareto-smoothed, self-normalised log importance weights (``logsumexp = 0``).
    predictive_mean, predictive_variance : (N_new, K) arrays or None
        The importance-weighted predictive at ``X_new`` when it was given (see :func:`diagnose`).
    linearised : LaplaceDiagnostic or None
        From :func:`diagnose`: the same draws judged against the posterior of the network linearised about
        w_MAP, the model ``predict``'s default (``method='linear'``) integrates. Its k-hat says whether the
        error bars and probabilities of ``predict`` can be trusted; the k-hat above, whether sampling the
        network itself (``method='mc'``) can.
    likelihood : str or None
        The likelihood's name (for :attr:`advice`).
    advice : str
        One line on what the numbers mean for ``predict`` and what to do next.
    """

    khat: float
    threshold: float
    ess: float
    n_draws: int
    verdict: str
    samples: np.ndarray
    log_ratios: np.ndarray
    log_weights: np.ndarray
    predictive_mean: Optional[np.ndarray] = None
    predictive_variance: Optional[np.ndarray] = None
    linearised: Optional["LaplaceDiagnostic"] = None
    likelihood: Optional[str] = None

    def __str__(self):
        text = (f"Pareto k-hat {_khat_text(self.khat)} ({self.verdict}; reliable below {self.threshold:.3g} "
                f"with {self.n_draws} draws), importance-sampling ESS {self.ess:.1f} of {self.n_draws}")
        if self.linearised is None:
            return text
        glm = self.linearised
        return (f"linearised model (what predict uses): k-hat {_khat_text(glm.khat)} ({glm.verdict}), ESS "
                f"{glm.ess:.1f}; network itself (weight-space sampling, method='mc'): k-hat "
                f"{_khat_text(self.khat)} ({self.verdict}), ESS {self.ess:.1f}; {self.n_draws} draws, reliable "
                f"below {self.threshold:.3g}\n{self.advice}")

    @property
    def advice(self):
        """One line: can the error bars of ``predict`` be trusted, and what to do next."""
        glm = self.linearised
        if glm is None:
            return ("k-hat judges the Gaussian over the weights; diagnose a posterior or an estimator with its "
                    "training data for the linearised predictive's k-hat")
        if glm.verdict in ("good", "ok"):
            trust = "predict's error bars (the linearised predictive) can be trusted as a Laplace approximation"
            if self.verdict in ("good", "ok"):
                return trust + "; weight-space sampling (method='mc') is sound too"
            if self.verdict == "more draws":
                return trust + "; for weight-space sampling (method='mc') rerun diagnose with more draws"
            return trust + "; keep method='linear' (or 'linear_mc'): sampling the network itself (method='mc') " \
                           "is not, its Gaussian misses posterior mass"
        if glm.verdict == "more draws":
            return "rerun diagnose with more draws before trusting predict's error bars"
        if self.likelihood == "gaussian":
            return ("predict's error bars are doubtful: the curvature is not the Gauss-Newton matrix at a converged "
                    "mode - use hessian='outer' and check that training converged")
        return ("predict's probabilities are doubtful: the linearised posterior is far from Gaussian (typical of "
                "confidently separated classes) - prefer more data, a last-layer posterior (subset='last_layer'), "
                "or MCMC for calibrated probabilities")


def diagnose(posterior, X, T, draws=1000, seed=None, *, X_new=None):
    """Pareto k-hat of the Laplace approximation against the true posterior (Yao et al. 2018).

    Draws ``w_s ~ N(w_MAP, A^-1)`` independently, forms the importance ratios between the unnormalised
    posterior ``exp(-E(w))`` (PRML 5.165: data error plus prior, at the posterior's alpha and beta) and the
    Gaussian, and smooths them by PSIS (ArviZ's implementation).

    Parameters
    ----------
    posterior : LaplacePosterior or fitted BayesianMLPRegressor / BayesianMLPClassifier
        An estimator's ``posterior_``, fed the data as the estimator saw it (standardised, labels encoded); the
        predictive of ``X_new`` is then in the user's units.
    X : (N, D) array
        The inputs the posterior was built on: other data (another number of rows, or, for an estimator, other
        column means) is a ValueError, since k-hat judges the Gaussian against the posterior it approximates.
    T : array
        Targets, as for :func:`laplacenet.error`.
    draws : int
        S, independent draws from the Gaussian (at least ``MIN_DRAWS`` = 25; k-hat is noisy below a few
        hundred).
    seed : int or numpy.random.Generator, optional
        Seed of the draws; the same seed gives the same draws as :meth:`LaplacePosterior.sample`.
    X_new : (N_new, D) array, optional
        Inputs at which to return the importance-weighted predictive: the self-normalised smoothed weights
        applied to the per-draw outputs ``y(x, w_s)``. The mean is ``sum_s w_s y(x, w_s)`` (probabilities for
        classification). The variance is, for a Gaussian likelihood, the weighted variance of the outputs
        plus the noise ``1/beta_k``, and for classification the weighted variance of the output activations
        (the conventions of :func:`laplacenet.bayes.predictive.predict`).

    Returns
    -------
    LaplaceDiagnostic
        The weight-space k-hat, with ``linearised``, the k-hat of the linearised (GLM) posterior that
        ``predict`` uses, judged on the same draws, and ``advice``. ``str()`` of it says both in two lines.

    Notes
    -----
    Two targets are judged. The network's own posterior exp(-E(w)) is what sampling the network
    (``predict(method='mc')``) needs; for a tanh network of more than a few units its k-hat is usually far
    above 0.7, because the Gaussian's tails reach weights where the network saturates. The linearised
    network's posterior - the likelihood of ``a(x, w_MAP) + G (w - w_MAP)`` times the prior - is what the
    default predictive integrates: for a Gaussian likelihood and the Gauss-Newton (``'outer'``) curvature at a
    converged mode q is exactly that posterior (k-hat ``-inf``); for classification k-hat measures how far the
    linearised logistic or softmax posterior is from its Gaussian.

    k-hat sees a Gaussian whose tails are too light: posterior mass where q has little gives a heavy tail of
    ratios. A Gaussian much wider than the posterior gives bounded ratios, hence a small k-hat, but many draws
    of low weight: read the importance ESS beside k-hat. With a ``subset`` posterior the other weights stay
    at w_MAP, and the comparison is with the posterior of the covered weights given them.
    """
    posterior, fitted = posterior_and_estimator(posterior, "posterior", "a LaplacePosterior (from laplacenet.laplace) "
                                                "or a fitted estimator", says_unfitted=False)
    net = posterior.net
    X_user, T_user = check_data(net, X, T) if fitted is None else fitted._user_data(X, T)
    found = differences(training_fingerprint(posterior, fitted), X_user, T_user)
    if found:  # k-hat compares the Gaussian with the posterior of the data it was built from, no other
        raise ValueError(f"X, T must be the data the posterior was built on; these are not ({'; '.join(found)}). "
                         f"For held-out data use predict, or to_inference_data and ArviZ")
    X, T = (X_user, T_user) if fitted is None else fitted._on_fitted_scale(X_user, T_user)
    seed = check_random_seed(seed)
    draws = check_positive_int(draws, "draws", minimum=MIN_DRAWS)
    if X_new is not None:  # a fitted estimator's checked as its predict checks it (columns in the fitted order)
        X_new = check_X(X_new, net.n_inputs, "X_new") if fitted is None else fitted._check_X(X_new)
    samples = posterior.sample(draws, seed)
    q = log_q(posterior, samples)
    result = importance_diagnostic(log_posterior(posterior, samples, X, T), q, samples)
    linearised = importance_diagnostic(linearised_log_posterior(posterior, samples, X, T), q, samples)
    result = replace(result, linearised=linearised, likelihood=net.likelihood.name)
    if X_new is None:
        return result
    rows = draw_chunk_rows(net, draws, posterior.chunk_size)
    mean, variance = weighted_predictive(posterior, samples, np.exp(result.log_weights), X_new, rows)
    if fitted is not None and fitted.scaling_.y_scale is not None:
        with np.errstate(over="ignore"):
            mean, variance = fitted.scaling_.means(mean), fitted.scaling_.variances(variance)
    remedy = "Rescale X_new as the inputs the posterior was built from were rescaled."
    check_finite_result(mean, "the importance-weighted predictive mean at X_new", remedy)
    check_finite_result(variance, "the importance-weighted predictive variance at X_new", remedy)
    return replace(result, predictive_mean=mean, predictive_variance=variance)


def importance_diagnostic(log_p_draws, log_q_draws, samples):
    """:class:`LaplaceDiagnostic` from ``ln p~(w_s)`` and ``ln q(w_s)`` (S,) of S independent draws ``samples``."""
    log_p_draws, log_q_draws = np.asarray(log_p_draws, dtype=float), np.asarray(log_q_draws, dtype=float)
    with np.errstate(invalid="ignore"):
        log_ratios = check_finite_result(log_p_draws - log_q_draws, "the log importance ratios ln p~(w_s) - ln q(w_s)")
    S = log_ratios.size
    spread = float(np.ptp(log_ratios))
    scale = float(np.max(np.abs(log_p_draws)) + np.max(np.abs(log_q_draws)))
    if spread <= EXACT_SPREAD + 1e3 * np.finfo(float).eps * scale:
        # No tail to fit (and ArviZ's GPD fit refuses equal values): the weights are uniform.
        khat, log_weights = -np.inf, np.full(S, -np.log(S))
    elif _tail_span(log_ratios) > -np.log(np.finfo(float).tiny):
        # The largest ratios span more than double precision: exp() of the tail underflows and the Pareto
        # fit breaks down (arviz-stats returns NaN weights). The tail is heavier than any finite k-hat shows.
        khat, log_weights = np.inf, log_ratios - logsumexp(log_ratios)
    else:
        log_weights, khat = psis(log_ratios)
    ess = float(1.0 / np.sum(np.exp(2.0 * log_weights)))
    threshold = min(1.0 - 1.0 / np.log10(S), 0.7)  # Vehtari et al. (2024)
    return LaplaceDiagnostic(float(khat), float(threshold), ess, S, _verdict(khat, threshold), samples,
                             log_ratios, log_weights)


def _tail_span(log_ratios):
    """Nats between the largest log ratio and the cutoff below PSIS's tail of ``min(S/5, 3 sqrt(S))`` draws."""
    S = log_ratios.size
    tail = int(np.ceil(min(0.2 * S, 3.0 * np.sqrt(S))))
    ordered = np.sort(log_ratios)
    return float(ordered[-1] - ordered[-tail - 1])


def _khat_text(khat):
    return f"{khat:.3g}" if np.isfinite(khat) else ("-inf (exact)" if khat < 0 else "inf")


def _verdict(khat, threshold):
    if khat >= 0.7:
        return "unreliable"
    if khat > threshold:
        return "more draws"
    return "good" if khat < 0.5 else "ok"


def psis(log_ratios):
    """Pareto-smoothed importance sampling by the installed ArviZ: ``(log_weights (S,), khat)``.

    The returned log weights are smoothed and normalised (``logsumexp = 0``). NumPy's floating-point warnings
    from inside the Pareto fit (``overflow encountered in expm1`` for a heavy tail) are not passed on: the k-hat
    they come with says what they would.
    """
    if arviz_generation() == 0:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            log_weights, khat = arviz0().psislw(np.array(log_ratios, dtype=float))
    else:
        from arviz_stats.base import array_stats
        # arviz_stats' psislw takes log-likelihood-like values and smooths their negation (its PSIS-LOO
        # convention: log weights = -log likelihood), so the ratios go in negated.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            log_weights, khat = array_stats.psislw(-np.asarray(log_ratios, dtype=float), r_eff=1.0)
    return np.asarray(log_weights, dtype=float), float(khat)


def arviz_generation():
    """0 when arviz 0.x is installed, 1 for the arviz 1.x API (arviz >= 1, or arviz-base and arviz-stats).

    Raises
    ------
    ImportError
        When neither is installed.
    """
    try:
        version = importlib.metadata.version("arviz")
    except importlib.metadata.PackageNotFoundError:
        version = None
    if version is not None and importlib.util.find_spec("arviz") is not None \
            and int(version.split(".")[0]) < 1:
        return 0
    if importlib.util.find_spec("arviz_base") is not None and importlib.util.find_spec("arviz_stats") is not None:
        return 1
    raise ImportError("laplacenet's ArviZ features need ArviZ: `pip install arviz` (or, for the arviz 1.x API, "
                      "`pip install arviz-base arviz-stats arviz-plots`)")


def posterior_and_estimator(source, name, expected, says_unfitted=True):
    """``(posterior, estimator or None)``: ``source`` itself when it is a LaplacePosterior, else the ``posterior_``
    of a fitted estimator. Anything else is a ValueError saying that ``name`` must be ``expected``; with
    ``says_unfitted``, an unfitted laplacenet estimator's own ``_check_fitted`` says first that it is not fitted."""
    if isinstance(source, LaplacePosterior):
        return source, None
    if isinstance(getattr(source, "posterior_", None), LaplacePosterior):
        return source.posterior_, source
    if says_unfitted and callable(getattr(source, "_check_fitted", None)):
        source._check_fitted()
    raise ValueError(f"{name} must be {expected}; got {type(source).__name__}")


def arviz0():
    """The ``arviz`` module of arviz 0.x (see :func:`arviz_generation`), imported without its FutureWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # arviz 0.x announces its refactor on import
        import arviz
    return arviz


# --- per-draw quantities, vectorised over the draws and chunked over the data ------------------------

def draw_chunk_rows(net, n_draws, chunk_size=None):
    """Rows of data per chunk so that the ``(S, rows, d_l)`` activations of all draws fit the budget."""
    rows = rows_for_budget(8 * n_draws * max(net.sizes))
    return rows if chunk_size is None else min(rows, chunk_size)


def pointwise_nll(net, samples, X, T, beta, activations=None):
    """``(S, n)``: the data error of each pattern under each draw (the likelihood's ``nll``, no constants)."""
    a = sampled_activations(net, samples, X) if activations is None else activations
    S, n, K = a.shape
    targets = np.broadcast_to(T, (S, n, K)).reshape(S * n, K)
    return net.likelihood.nll(a.reshape(S * n, K), targets, beta).reshape(S, n)


def log_posterior(posterior, samples, X, T):
    """``(S,)``: ``-E(w_s)``, the unnormalised log posterior of each draw (PRML 5.165), chunked over the data."""
    net = posterior.net
    rows = draw_chunk_rows(net, samples.shape[0], posterior.chunk_size)
    data_part = data_sum(lambda Xc, Tc: pointwise_nll(net, samples, Xc, Tc, posterior.beta).sum(axis=1), X, T, rows)
    return -(data_part + log_prior_kernel(posterior, samples))


def linearised_log_posterior(posterior, samples, X, T):
    """``(S,)``: the unnormalised log posterior of each draw under the network linearised about w_MAP,
    ``a(x, w) = a(x, w_MAP) + G (w - w_MAP)`` (PRML 5.169) - the model the linearised predictive integrates.

    For a Gaussian likelihood it is quadratic in w with Hessian beta G^T G + alpha, so at a converged mode a
    posterior built on the Gauss-Newton (``'outer'``) curvature is exactly this distribution (k-hat ``-inf``).
    """
    net = posterior.net
    activations = activations_per_draw(posterior, "linear_mc", samples)
    rows = min(draw_chunk_rows(net, samples.shape[0], posterior.chunk_size),
               jacobian_chunk_rows(net, posterior.chunk_size))

    def data_part(Xc, Tc):
        return pointwise_nll(net, samples, Xc, Tc, posterior.beta, activations(Xc)).sum(axis=1)

    return -(data_sum(data_part, X, T, rows) + log_prior_kernel(posterior, samples))


def log_prior_kernel(posterior, samples):
    """``(S,)``: ``sum_g alpha_g/2 ||w_g||^2`` of each draw (PRML 5.162, grouped as in 5.122)."""
    return 0.5 * ((samples * samples) @ alpha_per_param(posterior.net, posterior.alpha))


def log_q(posterior, samples):
    """``(S,)``: ``ln N(w_s | w_MAP, A^-1) = -1/2 d^T A d + 1/2 ln|A| - W/2 ln 2 pi`` with ``d = w_s - w_MAP``.

    Over the weights the posterior covers (``posterior.subset_slice``); A may be dense, a diagonal vector or a
    structured LinearOperator (``'kron'``, ``'lowrank'``), used through products only.
    """
    d = (samples - posterior.mean)[:, posterior.subset_slice]
    A = posterior.precision
    if isinstance(A, np.ndarray) and A.ndim == 1:
        quadratic = (d * d) @ A
    else:
        quadratic = np.einsum("ws,ws->s", A @ d.T, d.T)
    return -0.5 * quadratic + 0.5 * posterior.log_det - 0.5 * d.shape[1] * np.log(2.0 * np.pi)


def weighted_predictive(posterior, samples, weights, X_new, rows):
    """Importance-weighted predictive ``(mean, variance)`` at ``X_new``, each ``(N_new, K)``."""
    net = posterior.net

    def moments(Xc):
        a = sampled_activations(net, samples, Xc)
        S, n, K = a.shape
        y = net.likelihood.link(a.reshape(S * n, K)).reshape(S, n, K)
        mean = np.tensordot(weights, y, axes=1)
        spread = y if net.likelihood.uses_beta else a
        centre = mean if net.likelihood.uses_beta else np.tensordot(weights, a, axes=1)
        return mean, np.tensordot(weights, (spread - centre) ** 2, axes=1)

    mean, variance = map_rows(moments, X_new, rows)
    if net.likelihood.uses_beta:
        variance = variance + 1.0 / np.broadcast_to(posterior.beta, (net.n_outputs,))  # PRML (5.173)
    return mean, variance
