"""Export to ArviZ: the Laplace posterior as ``arviz.InferenceData`` (arviz 0.x) or ``xarray.DataTree`` (1.x).

The draws are INDEPENDENT draws from the Laplace Gaussian N(w_MAP, A^-1) (PRML 5.167), not a Markov chain:
``chains x draws`` of them, cut into equal "chains" only because ArviZ's containers have a chain axis.
ArviZ and xarray are imported inside the functions, never when laplacenet is imported.
"""
import os
import secrets
import warnings

import numpy as np
from scipy.special import expit, softmax

from ._chunks import chunk_slices
from ._validation import check_data, check_positive_int
from ._version import __version__
from .curvature.backprop import forward_pass
from .curvature.jacobian import row_jacobians
from .curvature.outer import jacobian_chunk_rows
from .diagnostics import (MIN_DRAWS, arviz_generation, draw_chunk_rows, importance_diagnostic, log_posterior,
                          log_prior_kernel, log_q, pointwise_nll, sampled_activations)
from .evidence import posterior_evidence_terms
from .exceptions import NotFittedError
from .laplace import LaplacePosterior
from .priors import alpha_per_param

__all__ = ["to_inference_data", "write_netcdf", "read_netcdf"]

SAMPLING_NOTE = ("independent draws from the Laplace Gaussian N(w_MAP, A^-1) (PRML 5.167), not Markov chains: "
                 "the 'chains' are equal groups of independent draws")


def to_inference_data(posterior_or_estimator, X, y, draws=1000, chains=4, seed=None, *, method="linear_mc"):
    """The Laplace posterior, its predictive and the data as an ArviZ container.

    The weight draws are ``chains * draws`` INDEPENDENT draws from the Laplace Gaussian N(w_MAP, A^-1)
    (PRML 5.167); ArviZ's chain axis only groups them, so R-hat is about 1 and the effective sample size about
    the number of draws by construction, and say nothing about the quality of the approximation. That is what
    the recorded Pareto k-hat of :func:`laplacenet.diagnose` measures.

    Parameters
    ----------
    posterior_or_estimator : LaplacePosterior, or a fitted BayesianMLPRegressor / BayesianMLPClassifier
    X : (N, D) array
        Inputs, usually the training inputs.
    y : array
        Targets for ``X``: as for :func:`laplacenet.error` with a posterior; as given to ``fit`` (class labels
        for a classifier) with an estimator.
    draws, chains : int
        Draws per chain and number of chains; at least 25 draws in all (for PSIS).
    seed : int or numpy.random.Generator, optional
        Seed of the weight draws and of the posterior-predictive noise. The weight draws are those of
        ``diagnose(posterior, X, T, chains * draws, seed)``, so the recorded k-hat is that call's.
    method : {'linear_mc', 'mc'}
        The model whose likelihood and predictive each draw w_s gives, named as in
        :func:`laplacenet.predictive.predict`. ``'linear_mc'`` (default): the network linearised about w_MAP,
        output activations ``a(x, w_MAP) + G (w_s - w_MAP)`` (PRML 5.169), the model behind laplacenet's
        closed-form predictive (5.172, 5.188), so that ``loo`` and ``compare`` judge the predictive laplacenet
        reports. ``'mc'``: the network itself at each draw, ``a(x, w_s)``. Sampled networks far from w_MAP
        can fit the data very badly where the Gaussian is wider than the posterior, and then PSIS-LOO of
        ``'mc'`` is dominated by them. The two coincide for a network without hidden layers.

    Returns
    -------
    arviz.InferenceData or xarray.DataTree
        ``InferenceData`` with arviz 0.x; ``DataTree`` with the arviz 1.x API (arviz >= 1, or arviz-base,
        arviz-stats and arviz-plots). Its groups:

        * ``posterior``: per layer l, ``W{l}`` with dims ``(chain, draw, <units of l>, <units of l-1>)`` and
          ``b{l}`` with ``(chain, draw, <units of l>)``; the unit dims are ``input``, ``hidden1``, ...,
          ``output``, with integer coordinates.
        * ``posterior_predictive``: ``y`` drawn from the likelihood at each weight draw: the output plus
          Gaussian noise of precision beta, or class labels (0..C-1, the index into ``classes_``) drawn from
          the output probabilities. Dims ``(chain, draw, obs)``, plus ``output`` for several regression
          outputs.
        * ``log_likelihood``: ``y`` with dims ``(chain, draw, obs)``: ``ln p(t_n | x_n, w_s)`` of each pattern
          (its outputs together), normalised (the Gaussian's ``1/2 ln beta - 1/2 ln 2 pi`` included).
        * ``sample_stats``: ``log_p`` = -E(w_s), the unnormalised log posterior (PRML 5.165) of the model
          whose likelihood is stored (the network, or with ``'linear_mc'`` the linearised network), and
          ``log_q`` = ln N(w_s | w_MAP, A^-1), per draw. With the arviz 1.x API,
          ``arviz_stats.loo_approximate_posterior(data, data.sample_stats.log_p, data.sample_stats.log_q)``
          corrects PSIS-LOO for the approximation (Magnusson et al. 2019).
        * ``observed_data``: ``y`` (class labels as 0..C-1); ``constant_data``: ``X``, dims ``(obs, input)``.

        The attrs of the ``posterior`` group and of the container hold alpha, beta (regression), gamma, the
        log evidence, the Hessian route and ``subset``, the network, ``method``, the sampling note and the
        PSIS diagnostic of the Gaussian against the network's true posterior whatever ``method``
        (``pareto_khat``, ``pareto_khat_threshold``, ``importance_ess``, ``laplace_verdict``).
    """
    posterior, fitted = _resolve(posterior_or_estimator)
    net = posterior.net
    X_shown, T_shown = check_data(net, X, y if fitted is None else fitted._encoded_targets(y), "X", "y")
    X, T = (X_shown, T_shown) if fitted is None else fitted.posterior_data(X, y)
    scaling = None if fitted is None else fitted.scaling_
    if method not in _ACTIVATIONS:
        raise ValueError(f"method must be one of {', '.join(map(repr, _ACTIVATIONS))}; got {method!r}")
    chains = check_positive_int(chains, "chains")
    draws = check_positive_int(draws, "draws")
    S = chains * draws
    if S < MIN_DRAWS:
        raise ValueError(f"chains * draws must be at least {MIN_DRAWS} (PSIS fits a Pareto tail to the largest "
                         f"S/5 importance ratios); got {chains} * {draws} = {S}")
    rng = np.random.default_rng(seed)
    samples = posterior.sample(S, rng)
    nll, predictive = _pointwise(posterior, samples, X, T, rng, _ACTIVATIONS[method])
    log_p = -(nll.sum(axis=1) + log_prior_kernel(posterior, samples))  # -E(w_s), PRML (5.165)
    log_q_values = log_q(posterior, samples)
    true_log_p = log_p if method == "mc" else log_posterior(posterior, samples, X, T)
    attrs = _metadata(posterior, fitted, X, T, importance_diagnostic(true_log_p, log_q_values, samples))
    attrs["method"] = method
    log_lik = _log_likelihood_constant(net, posterior.beta) - nll
    if scaling is not None and scaling.y_scale is not None:  # densities and draws of t in the user's units
        log_lik += scaling.log_jacobian(1)
        predictive = scaling.means(predictive)
    groups = _groups(net, samples, log_lik, predictive, {"log_p": log_p, "log_q": log_q_values}, X_shown, T_shown,
                     (chains, draws))
    groups["posterior"].attrs.update(attrs)
    return _container(groups, attrs)


def write_netcdf(data, path):
    """Write an ``InferenceData`` or a ``DataTree`` to netCDF (engine h5netcdf), atomically.

    The file is written under a temporary name in the same directory and renamed over ``path``
    (``os.replace``), so ``path`` is never left half-written.

    Parameters
    ----------
    data : arviz.InferenceData or xarray.DataTree
        From :func:`to_inference_data`.
    path : str or os.PathLike

    Returns
    -------
    str
        ``path``.
    """
    import xarray
    if not (isinstance(data, xarray.DataTree) or _is_inference_data(data)):
        raise ValueError(f"data must be an arviz.InferenceData or an xarray.DataTree; got {type(data).__name__}")
    path = os.fspath(path)
    directory, name = os.path.split(os.path.abspath(path))
    temporary = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
    try:
        data.to_netcdf(temporary, engine="h5netcdf")
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def read_netcdf(path):
    """Read a netCDF file written by :func:`write_netcdf` into memory (the file is closed afterwards).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    arviz.InferenceData or xarray.DataTree
        The container of the installed ArviZ, as :func:`to_inference_data` returns it.
    """
    if arviz_generation() == 0:
        arviz = _arviz0()
        with arviz.rc_context({"data.load": "eager"}):
            return arviz.from_netcdf(os.fspath(path))
    import xarray
    return xarray.load_datatree(os.fspath(path), engine="h5netcdf")


# --- the pieces --------------------------------------------------------------------------------------

def _resolve(source):
    """``(posterior, fitted estimator or None)`` from a LaplacePosterior or a fitted estimator."""
    if isinstance(source, LaplacePosterior):
        return source, None
    if isinstance(getattr(source, "posterior_", None), LaplacePosterior):
        return source.posterior_, source
    if hasattr(source, "fit") and hasattr(source, "get_params"):
        raise NotFittedError(f"this {type(source).__name__} is not fitted yet; call fit(X, y) first")
    raise ValueError(f"posterior_or_estimator must be a LaplacePosterior or a fitted BayesianMLPRegressor / "
                     f"BayesianMLPClassifier; got {type(source).__name__}")


def _pointwise(posterior, samples, X, T, rng, activations):
    """Per draw and pattern: the data error ``(S, N)`` and a posterior-predictive draw ``(S, N, K)``."""
    net = posterior.net
    S, (N, K) = samples.shape[0], T.shape
    nll = np.empty((S, N))
    predictive = np.empty((S, N, K if net.likelihood.uses_beta else 1))  # class labels: one per pattern
    rows = min(draw_chunk_rows(net, S, posterior.chunk_size), jacobian_chunk_rows(net, posterior.chunk_size))
    for sl in chunk_slices(N, rows):
        a = activations(posterior, samples, X[sl])
        nll[:, sl] = pointwise_nll(net, samples, X[sl], T[sl], posterior.beta, activations=a)
        predictive[:, sl] = _PREDICTIVE_DRAWS[net.likelihood.name](a, posterior.beta, rng)
    return nll, predictive


def _network_activations(posterior, samples, X):
    return sampled_activations(posterior.net, samples, X)


def _linearised_activations(posterior, samples, X):
    """``(S, n, K)``: ``a(x, w_MAP) + G (w_s - w_MAP)`` with ``G`` (n, K, W) the output Jacobians (PRML 5.169)."""
    net = posterior.net
    layers = net.unpack(posterior.mean)
    fw = forward_pass(net, layers, X)
    n, K = fw.y.shape
    G = row_jacobians(net, layers, fw, np.broadcast_to(np.eye(K), (n, K, K)))
    shifts = G.reshape(n * K, -1) @ (samples - posterior.mean).T
    return fw.a[-1][None] + shifts.reshape(n, K, -1).transpose(2, 0, 1)


_ACTIVATIONS = {"linear_mc": _linearised_activations, "mc": _network_activations}


def _gaussian_draw(a, beta, rng):
    return a + rng.standard_normal(a.shape) / np.sqrt(np.broadcast_to(beta, (a.shape[-1],)))  # t ~ N(y, 1/beta)


def _bernoulli_draw(a, beta, rng):
    return (rng.random(a.shape) < expit(a)).astype(float)


def _categorical_draw(a, beta, rng):
    # Inverse CDF: the label is the number of cumulative probabilities below a uniform draw.
    cumulative = np.cumsum(softmax(a, axis=-1), axis=-1)
    labels = np.minimum((cumulative < rng.random(a.shape[:-1] + (1,))).sum(axis=-1), a.shape[-1] - 1)
    return labels[..., None].astype(float)


_PREDICTIVE_DRAWS = {"gaussian": _gaussian_draw, "bernoulli": _bernoulli_draw, "categorical": _categorical_draw}


def _log_likelihood_constant(net, beta):
    """The normaliser the likelihood's ``nll`` leaves out: ``sum_k (1/2 ln beta_k - 1/2 ln 2 pi)`` (Gaussian)."""
    if not net.likelihood.uses_beta:
        return 0.0
    return float(np.sum(0.5 * np.log(np.broadcast_to(beta, (net.n_outputs,))) - 0.5 * np.log(2.0 * np.pi)))


def _observed(net, T):
    """The targets as ArviZ shows them: ``(N,)`` for one output or class labels, ``(N, K)`` otherwise."""
    if net.likelihood.name == "categorical":
        return np.argmax(T, axis=1)
    if net.likelihood.name == "bernoulli":
        return T[:, 0].astype(np.int64)
    return T[:, 0] if net.n_outputs == 1 else T


def _unit_dims(net):
    return ["input"] + [f"hidden{l}" for l in range(1, net.n_layers)] + ["output"]


def _groups(net, samples, log_lik, predictive, sample_stats, X, T, shape):
    """``{group: xarray.Dataset}`` with named dims and integer coordinates; ``shape`` is ``(chains, draws)``."""
    import xarray
    N = X.shape[0]
    units = _unit_dims(net)
    coords = {"chain": np.arange(shape[0]), "draw": np.arange(shape[1]), "obs": np.arange(N),
              **{dim: np.arange(size) for dim, size in zip(units, net.sizes)}}
    sample_dims = ["chain", "draw"]
    weights = {}
    for l, (ws, bs) in enumerate(net.layer_slices, start=1):
        d_in, d_out = net.sizes[l - 1], net.sizes[l]
        weights[f"W{l}"] = (sample_dims + [units[l], units[l - 1]], samples[:, ws].reshape(*shape, d_out, d_in))
        weights[f"b{l}"] = (sample_dims + [units[l]], samples[:, bs].reshape(*shape, d_out))
    observed = _observed(net, T)
    y_dims = ["obs", "output"][:observed.ndim]
    predicted = predictive.reshape(*shape, *observed.shape).astype(observed.dtype)
    content = {
        "posterior": weights,
        "posterior_predictive": {"y": (sample_dims + y_dims, predicted)},
        "log_likelihood": {"y": (sample_dims + ["obs"], log_lik.reshape(*shape, N))},
        "sample_stats": {name: (sample_dims, values.reshape(shape)) for name, values in sample_stats.items()},
        "observed_data": {"y": (y_dims, observed)},
        "constant_data": {"X": (["obs", "input"], X)},
    }
    datasets = {}
    for group, variables in content.items():
        used = {dim for dims, _ in variables.values() for dim in dims}
        datasets[group] = xarray.Dataset(variables, coords={dim: coords[dim] for dim in coords if dim in used})
    return datasets


def _metadata(posterior, fitted, X, T, diagnostic):
    """The attrs: hyperparameters, evidence, network, sampling note and the PSIS diagnostic (netCDF-safe)."""
    net = posterior.net
    if fitted is not None:
        gamma, log_evidence = float(fitted.gamma_), float(fitted.log_evidence_)
    else:
        covered = posterior.subset_slice
        variances = posterior.variances()[covered]
        # PRML (5.179): gamma = W - sum_i alpha_i (A^-1)_ii over the weights the posterior covers
        gamma = float(variances.size - np.sum(alpha_per_param(net, posterior.alpha)[covered] * variances))
        log_evidence = posterior_evidence_terms(net, posterior.mean, X, T, posterior.alpha, posterior.beta,
                                                posterior, False, posterior.chunk_size).total  # PRML (5.175)
    attrs = {
        "inference_library": "laplacenet",
        "inference_library_version": __version__,
        "sampling": SAMPLING_NOTE,
        "sizes": np.asarray(net.sizes, dtype=np.int64),
        "activation": net.activation.name,
        "likelihood": net.likelihood.name,
        "hessian": posterior.hessian,
        "subset": posterior.subset or "all",
        "jitter": float(posterior.jitter),
        "alpha": _attr_number(posterior.alpha),
        "gamma": gamma,
        "log_evidence": float(log_evidence),
        "n_data": int(posterior.n_data),
        "pareto_khat": diagnostic.khat,
        "pareto_khat_threshold": diagnostic.threshold,
        "importance_ess": diagnostic.ess,
        "laplace_verdict": diagnostic.verdict,
    }
    if posterior.beta is not None:
        attrs["beta"] = _attr_number(posterior.beta if fitted is None else fitted.beta_)
    if getattr(fitted, "classes_", None) is not None:
        attrs["classes"] = [str(c) for c in fitted.classes_]
    return attrs


def _attr_number(value):
    return float(value) if np.ndim(value) == 0 else np.asarray(value, dtype=float)


def _container(datasets, attrs):
    if arviz_generation() == 0:
        return _arviz0().InferenceData(attrs=attrs, **datasets)
    import xarray
    tree = xarray.DataTree.from_dict(datasets)
    tree.attrs.update(attrs)
    return tree


def _arviz0():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # arviz 0.x announces its refactor on import
        import arviz
    return arviz


def _is_inference_data(data):
    try:
        generation = arviz_generation()
    except ImportError:
        return False
    return generation == 0 and isinstance(data, _arviz0().InferenceData)
