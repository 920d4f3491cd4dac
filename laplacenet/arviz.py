"""Export to ArviZ: the Laplace posterior as ``arviz.InferenceData`` (arviz 0.x) or ``xarray.DataTree`` (1.x).

The draws are INDEPENDENT draws from the Laplace Gaussian N(w_MAP, A^-1) (PRML 5.167), not a Markov chain:
``chains x draws`` of them, cut into equal "chains" only because ArviZ's containers have a chain axis.
ArviZ and xarray are imported inside the functions, never when laplacenet is imported.
"""
import os
import warnings

import numpy as np
from scipy.special import expit, softmax

from .core._chunks import chunk_slices
from .core._fingerprint import differences, training_fingerprint
from ._labels import class_targets, label_indices
from ._files import write_atomically
from .core._validation import check_data, check_positive_int, check_random_seed
from ._version import __version__
from .core.curvature.outer import jacobian_chunk_rows
from .bayes.diagnostics import (MIN_DRAWS, arviz0, arviz_generation, draw_chunk_rows, importance_diagnostic,
                                linearised_log_posterior, log_posterior, log_prior_kernel, log_q, pointwise_nll,
                                posterior_and_estimator)
from .bayes.evidence_terms import posterior_evidence_terms
from .bayes.reestimation import effective_parameters
from .bayes.predictive import activations_per_draw

__all__ = ["to_inference_data"]

SAMPLING_NOTE = ("independent draws from the Laplace Gaussian N(w_MAP, A^-1) (PRML 5.167), not Markov chains: "
                 "the 'chains' are equal groups of independent draws")


def to_inference_data(posterior_or_estimator, X, y, draws=1000, chains=4, seed=None, *, method="linear_mc",
                      feature_names=None, classes=None):
    """The Laplace posterior, its predictive and the data as an ArviZ container.

    The weight draws are ``chains * draws`` INDEPENDENT draws from the Laplace Gaussian N(w_MAP, A^-1)
    (PRML 5.167); ArviZ's chain axis only groups them, so R-hat is about 1 and the effective sample size about
    the number of draws by construction, and say nothing about the quality of the approximation. That is what
    the recorded Pareto k-hat of :func:`laplacenet.diagnose` measures.

    Parameters
    ----------
    posterior_or_estimator : LaplacePosterior, or a fitted BayesianMLPRegressor / BayesianMLPClassifier
    X : (N, D) array or pandas.DataFrame
        Inputs: the training inputs for leave-one-out (``log_likelihood`` on other data is a test-set score, and
        a warning says so). A DataFrame's columns name the ``input`` coordinates.
    y : array, pandas.Series or pandas.DataFrame
        Targets for ``X``: with an estimator as given to ``fit`` (class labels of any type for a classifier);
        with a posterior as for :func:`laplacenet.error` (class labels 0..C-1, or one-hot), or labels of
        ``classes``. The columns of a regression's DataFrame (or a Series' name) name the ``output``
        coordinates.
    draws, chains : int
        Draws per chain and number of chains; at least 25 draws in all (for PSIS).
    seed : int or numpy.random.Generator, optional
        Seed of the weight draws and of the posterior-predictive noise. The weight draws are those of
        ``diagnose(posterior, X, T, chains * draws, seed)``, so the recorded k-hat is that call's.
    method : {'linear_mc', 'mc'}
        The model whose likelihood and predictive each draw w_s gives, named as in
        :func:`laplacenet.bayes.predictive.predict`. ``'linear_mc'`` (default): the network linearised about w_MAP,
        output activations ``a(x, w_MAP) + G (w_s - w_MAP)`` (PRML 5.169), the model behind laplacenet's
        closed-form predictive (5.172, 5.188), so that ``loo`` and ``compare`` judge the predictive laplacenet
        reports. ``'mc'``: the network itself at each draw, ``a(x, w_s)``. Sampled networks far from w_MAP
        can fit the data very badly where the Gaussian is wider than the posterior, and then PSIS-LOO of
        ``'mc'`` is dominated by them. The two coincide for a network without hidden layers.
    feature_names : sequence of D str, optional
        Coordinates of the ``input`` dimension; by default the columns of a DataFrame ``X``, else the
        estimator's ``feature_names_in_`` when it has them, else 0..D-1.
    classes : sequence of C labels, optional
        With a posterior of a classifier: the label of each class in the order of the network's outputs (for a
        logistic output, the label of target 0, then that of target 1, whose probability it gives), so that
        ``y`` may hold them. An estimator has its own ``classes_``.

    Returns
    -------
    arviz.InferenceData or xarray.DataTree
        ``InferenceData`` with arviz 0.x; ``DataTree`` with the arviz 1.x API (arviz >= 1, or arviz-base,
        arviz-stats and arviz-plots). Its groups:

        * ``posterior``: per layer l, ``W{l}`` with dims ``(chain, draw, <units of l>, <units of l-1>)`` and
          ``b{l}`` with ``(chain, draw, <units of l>)``; the unit dims are ``input``, ``hidden1``, ...,
          ``output``. ``input`` has the feature names as coordinates (see ``feature_names``); ``output`` the
          class labels of a softmax output, the label whose probability a logistic output gives (the second
          class), or a regression's target names (see ``y``); the hidden units and unnamed ones 0, 1, ....
        * ``posterior_predictive``: ``y`` drawn from the likelihood at each weight draw: the output plus
          Gaussian noise of precision beta, or class labels (as in ``observed_data``) drawn from the output
          probabilities. Dims ``(chain, draw, obs)``, plus ``output`` for several regression outputs.
        * ``log_likelihood``: ``y`` with dims ``(chain, draw, obs)``: ``ln p(t_n | x_n, w_s)`` of each pattern
          (its outputs together), normalised (the Gaussian's ``1/2 ln beta - 1/2 ln 2 pi`` included).
        * ``sample_stats``: ``log_p`` = -E(w_s), the unnormalised log posterior (PRML 5.165) of the model
          whose likelihood is stored (the network, or with ``'linear_mc'`` the linearised network), and
          ``log_q`` = ln N(w_s | w_MAP, A^-1), per draw. With the arviz 1.x API,
          ``arviz_stats.loo_approximate_posterior(data, data.sample_stats.log_p, data.sample_stats.log_q)``
          corrects PSIS-LOO for the approximation (Magnusson et al. 2019).
        * ``observed_data``: ``y`` as given: an estimator's class labels as given to ``fit`` (strings stay
          strings), a posterior's as 0..C-1 or the labels of ``classes``; ``constant_data``: ``X``, dims
          ``(obs, input)``.

        The attrs of the ``posterior`` group and of the container hold alpha, beta (regression), gamma, the
        log evidence, the Hessian route and ``subset``, the network, ``method``, the sampling note and the
        PSIS diagnostic of the Gaussian against the network's true posterior whatever ``method``
        (``pareto_khat``, ``pareto_khat_threshold``, ``importance_ess``, ``laplace_verdict``) and against the
        posterior of the network linearised about w_MAP, the one ``predict`` integrates
        (``linearised_pareto_khat``, ``linearised_importance_ess``, ``linearised_verdict``; see
        :func:`laplacenet.diagnose`), and the class labels (``classes``).

    Warns
    -----
    UserWarning
        When ``X``, ``y`` are not the data the posterior was built on (another number of rows, or, for an
        estimator fitted in memory or with ``standardize``, other column means): PSIS-LOO needs the training
        data.
    """
    posterior, fitted = posterior_and_estimator(posterior_or_estimator, "posterior_or_estimator", "a LaplacePosterior "
                                                "or a fitted BayesianMLPRegressor / BayesianMLPClassifier")
    net = posterior.net
    labels = _class_labels(net, fitted, classes)
    X_shown, T_shown = _checked_data(net, fitted, X, y, classes, labels)
    coords = _unit_coordinates(net, fitted, X, y, feature_names, labels)
    X, T = (X_shown, T_shown) if fitted is None else fitted._on_fitted_scale(X_shown, T_shown)
    scaling = None if fitted is None else fitted.scaling_
    if method not in _METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, _METHODS))}; got {method!r}")
    chains = check_positive_int(chains, "chains")
    draws = check_positive_int(draws, "draws")
    S = chains * draws
    if S < MIN_DRAWS:
        raise ValueError(f"chains * draws must be at least {MIN_DRAWS} (PSIS fits a Pareto tail to the largest "
                         f"S/5 importance ratios); got {chains} * {draws} = {S}")
    _warn_if_not_training_data(posterior, fitted, X_shown, T_shown)
    rng = np.random.default_rng(check_random_seed(seed))  # a Generator is used as it is
    samples = posterior.sample(S, rng)
    nll, predictive = _pointwise(posterior, samples, X, T, rng, activations_per_draw(posterior, method, samples))
    log_p = -(nll.sum(axis=1) + log_prior_kernel(posterior, samples))  # -E(w_s), PRML (5.165)
    log_q_values = log_q(posterior, samples)
    true_log_p = log_p if method == "mc" else log_posterior(posterior, samples, X, T)
    glm_log_p = log_p if method == "linear_mc" else linearised_log_posterior(posterior, samples, X, T)
    attrs = _metadata(posterior, fitted, X, T, importance_diagnostic(true_log_p, log_q_values, samples),
                      importance_diagnostic(glm_log_p, log_q_values, samples), labels)
    attrs["method"] = method
    log_lik = _log_likelihood_constant(net, posterior.beta) - nll
    if scaling is not None and scaling.y_scale is not None:  # densities and draws of t in the user's units
        log_lik += scaling.log_jacobian(1)
        predictive = scaling.means(predictive)
    groups = _groups(net, samples, log_lik, predictive, {"log_p": log_p, "log_q": log_q_values}, X_shown, T_shown,
                     (chains, draws), coords, labels)
    groups["posterior"].attrs.update(attrs)
    return _container(groups, attrs)


def write_netcdf(data, path):
    """Write an ``InferenceData`` or a ``DataTree`` to netCDF (engine h5netcdf), atomically.

    The file is written under a temporary name in the same directory and renamed over ``path``
    (``os.replace``), so ``path`` is never left half-written; temporaries left by a killed writer are removed by
    the next write, as for :func:`laplacenet.save`.

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
    write_atomically(path, lambda temporary: data.to_netcdf(temporary, engine="h5netcdf"), "the netCDF file")
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
        arviz = arviz0()
        with arviz.rc_context({"data.load": "eager"}):
            return arviz.from_netcdf(os.fspath(path))
    import xarray
    return xarray.load_datatree(os.fspath(path), engine="h5netcdf")


# --- the pieces --------------------------------------------------------------------------------------

def _class_labels(net, fitted, classes):
    """The labels ``(C,)`` of the classes in the order of the network's outputs, or None for a regression."""
    if fitted is not None:
        if classes is not None:
            raise ValueError(f"classes applies to a LaplacePosterior; a fitted {type(fitted).__name__} has its own "
                             f"classes_")
        return getattr(fitted, "classes_", None)
    if net.likelihood.uses_beta:
        if classes is not None:
            raise ValueError(f"classes applies to the posterior of a classifier; this one has a "
                             f"{net.likelihood.name!r} likelihood")
        return None
    n_classes = 2 if net.likelihood.name == "bernoulli" else net.n_outputs
    if classes is None:
        return np.arange(n_classes)
    labels = np.asarray(classes)
    if labels.ndim != 1 or labels.size != n_classes or np.unique(labels).size != n_classes:
        raise ValueError(f"classes must be {n_classes} distinct labels, one per class in the order of the "
                         f"network's outputs; got {classes!r}")
    return labels


def _checked_data(net, fitted, X, y, classes, labels):
    """``X (N, D)`` and ``T (N, K)`` validated, in the user's units (class labels encoded)."""
    if fitted is not None:  # checked as its predict checks X (a DataFrame's columns in the fitted order)
        return fitted._user_data(X, y)
    if classes is not None:
        index = label_indices(y, labels, "y", "the labels of classes")
        return check_data(net, X, class_targets(index, labels.size), "X", "y")
    try:
        return check_data(net, X, y, "X", "y")
    except ValueError as ex:
        if labels is None:
            raise
        raise ValueError(f"{ex}. A LaplacePosterior knows its {labels.size} classes as 0..{labels.size - 1}: pass "
                         f"classes=[...] (the label of each output, in order) for other labels, or export the "
                         f"fitted estimator") from None


def _unit_coordinates(net, fitted, X, y, feature_names, labels):
    """Coordinates of the ``input`` and ``output`` dims: names where there are any, else 0, 1, ..."""
    inputs = feature_names
    if inputs is None:
        inputs = getattr(X, "columns", None)
    if inputs is None:
        inputs = getattr(fitted, "feature_names_in_", None)
    inputs = np.arange(net.n_inputs) if inputs is None else _names(inputs, net.n_inputs, "feature_names")
    if labels is not None:
        outputs = labels[1:] if net.likelihood.name == "bernoulli" else labels
    else:
        names = getattr(y, "columns", None)
        names = [y.name] if names is None and getattr(y, "name", None) is not None else names
        known = names is not None and len(names) == net.n_outputs
        outputs = _names(names, net.n_outputs, "the target names") if known else np.arange(net.n_outputs)
    return {"input": inputs, "output": outputs}


def _names(names, size, what):
    """``names`` as an array of ``size`` distinct strings."""
    names = [str(name) for name in names]
    if len(names) != size or len(set(names)) != size:
        raise ValueError(f"{what} must be {size} distinct names; got {len(names)}: {names[:5]}"
                         f"{'...' if len(names) > 5 else ''}")
    return np.asarray(names)


def _warn_if_not_training_data(posterior, fitted, X, T):
    """Warn when ``X``, ``T`` (validated, labels encoded) are not the data the posterior was built on."""
    found = differences(training_fingerprint(posterior, fitted), X, T)
    if found:
        warnings.warn(f"to_inference_data: X, y are not the data the posterior was built on ({'; '.join(found)}): "
                      f"PSIS-LOO (loo, compare) needs the training data; on other data the log_likelihood group "
                      f"scores a test set, and loo's estimates are not leave-one-out", UserWarning, stacklevel=3)


def _pointwise(posterior, samples, X, T, rng, activations):
    """Per draw and pattern: the data error ``(S, N)`` and a posterior-predictive draw ``(S, N, K)``, from
    ``activations`` (``Xc -> (S, n, K)``, :func:`~laplacenet.bayes.predictive.activations_per_draw`)."""
    net = posterior.net
    S, (N, K) = samples.shape[0], T.shape
    nll = np.empty((S, N))
    predictive = np.empty((S, N, K if net.likelihood.uses_beta else 1))  # class labels: one per pattern
    rows = min(draw_chunk_rows(net, S, posterior.chunk_size), jacobian_chunk_rows(net, posterior.chunk_size))
    for sl in chunk_slices(N, rows):
        Xc, Tc = (np.asarray(A[sl]) for A in (X, T))  # one chunk in memory (a dask array's computed)
        a = activations(Xc)
        nll[:, sl] = pointwise_nll(net, samples, Xc, Tc, posterior.beta, activations=a)
        predictive[:, sl] = _PREDICTIVE_DRAWS[net.likelihood.name](a, posterior.beta, rng)
    return nll, predictive


#: the draws' activations: of the network linearised about w_MAP (PRML 5.169), or of the network itself
_METHODS = ("linear_mc", "mc")


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


def _observed(net, T, labels):
    """The targets as ArviZ shows them: class labels ``(N,)``, ``(N,)`` for one output, ``(N, K)`` otherwise."""
    if net.likelihood.name == "categorical":
        return labels[np.argmax(T, axis=1)]
    if net.likelihood.name == "bernoulli":
        return labels[T[:, 0].astype(np.int64)]
    return T[:, 0] if net.n_outputs == 1 else T


def _unit_dims(net):
    return ["input"] + [f"hidden{l}" for l in range(1, net.n_layers)] + ["output"]


def _groups(net, samples, log_lik, predictive, sample_stats, X, T, shape, unit_coords, labels):
    """``{group: xarray.Dataset}`` with named dims; ``shape`` is ``(chains, draws)``, ``unit_coords`` those of the
    ``input`` and ``output`` dims, ``labels`` the class labels (None for a regression)."""
    import xarray
    N = X.shape[0]
    units = _unit_dims(net)
    coords = {"chain": np.arange(shape[0]), "draw": np.arange(shape[1]), "obs": np.arange(N),
              **{dim: np.arange(size) for dim, size in zip(units, net.sizes)}, **unit_coords}
    sample_dims = ["chain", "draw"]
    weights = {}
    for l, (ws, bs) in enumerate(net.layer_slices, start=1):
        d_in, d_out = net.sizes[l - 1], net.sizes[l]
        weights[f"W{l}"] = (sample_dims + [units[l], units[l - 1]], samples[:, ws].reshape(*shape, d_out, d_in))
        weights[f"b{l}"] = (sample_dims + [units[l]], samples[:, bs].reshape(*shape, d_out))
    observed = _observed(net, T, labels)
    y_dims = ["obs", "output"][:observed.ndim]
    predicted = predictive.reshape(*shape, *observed.shape)
    predicted = predicted if labels is None else labels[predicted.astype(np.int64)]
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


def _metadata(posterior, fitted, X, T, diagnostic, linearised, labels):
    """The attrs: hyperparameters, evidence, network, sampling note and the PSIS diagnostics of the Gaussian
    against the network's posterior and against the linearised network's (netCDF-safe)."""
    net = posterior.net
    if fitted is not None:
        gamma, log_evidence = float(fitted.gamma_), float(fitted.log_evidence_)
    else:
        gamma = effective_parameters(posterior)
        log_evidence = posterior_evidence_terms(net, posterior.mean, X, T, posterior.alpha, posterior.beta,
                                                posterior, True, posterior.chunk_size).total  # PRML (5.175)
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
        "linearised_pareto_khat": linearised.khat,
        "linearised_importance_ess": linearised.ess,
        "linearised_verdict": linearised.verdict,
    }
    if posterior.beta is not None:
        attrs["beta"] = _attr_number(posterior.beta if fitted is None else fitted.beta_)
    if labels is not None:
        attrs["classes"] = [str(c) for c in labels]
    return attrs


def _attr_number(value):
    return float(value) if np.ndim(value) == 0 else np.asarray(value, dtype=float)


def _container(datasets, attrs):
    if arviz_generation() == 0:
        return arviz0().InferenceData(attrs=attrs, **datasets)
    import xarray
    tree = xarray.DataTree.from_dict(datasets)
    tree.attrs.update(attrs)
    return tree


def _is_inference_data(data):
    try:
        generation = arviz_generation()
    except ImportError:
        return False
    return generation == 0 and isinstance(data, arviz0().InferenceData)
