"""The ArviZ export under whichever generation is installed: arviz 0.x (InferenceData) or the 1.x API (DataTree).

``.ci/arviz1.sh`` runs this file a second time in an environment with arviz-base, arviz-stats and arviz-plots
instead of arviz.
"""
import functools
import os
import subprocess
import sys
import warnings

import matplotlib
import numpy as np
import pytest
from scipy.special import softmax
from scipy.stats import multivariate_normal, norm

import laplacenet as ln
from laplacenet.arviz import read_netcdf, to_inference_data, write_netcdf
from laplacenet.check import relative_error
from laplacenet.bayes.diagnostics import arviz_generation, diagnose
from laplacenet.core.exceptions import ConvergenceWarning, NotFittedError

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

GENERATION = arviz_generation()
ALPHA, BETA = 1.0, 10.0
GROUPS = {"posterior", "posterior_predictive", "log_likelihood", "sample_stats", "observed_data", "constant_data"}


def _arviz():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz
    return arviz


def _group(data, name):
    return getattr(data, name) if GENERATION == 0 else data[name].to_dataset()


def _sinusoid(n=30, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, 1))
    return x, np.sin(2 * np.pi * x[:, 0]) + 0.1 * rng.normal(size=n)


@pytest.fixture(autouse=True)
def _quiet_evidence_loops():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # these tests check the export, not the fits
        yield


@pytest.fixture(scope="module")
def regressors():
    X, y = _sinusoid()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        models = {h: ln.BayesianMLPRegressor(hidden=h, hessian="exact", alpha=0.01, beta=1.0, seed=0, cycles=10,
                                             standardize=False).fit(X, y)
                  for h in [(), (2,)]}
    return X, y, models


@pytest.fixture(scope="module")
def linear():
    """Bayesian linear regression at its exact mode (PRML 3.53, 3.54): the Laplace posterior is exact."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(30, 1))
    t = 1.5 * X[:, 0] - 0.5 + 0.3 * rng.normal(size=30)
    Phi = np.hstack([X, np.ones((30, 1))])
    A = BETA * Phi.T @ Phi + ALPHA * np.eye(2)
    w_map = np.linalg.solve(A, BETA * Phi.T @ t)
    return ln.laplace(ln.MLP([1, 1]), w_map, X, t, ALPHA, BETA, "exact"), X, t, Phi


def test_groups_dims_and_draws(regressors):
    X, y, models = regressors
    model = models[(2,)]
    data = to_inference_data(model, X, y, draws=50, chains=2, seed=3)
    assert type(data).__name__ == ("InferenceData" if GENERATION == 0 else "DataTree")
    assert GROUPS <= set(data.groups() if GENERATION == 0 else data.children)
    posterior = _group(data, "posterior")
    assert dict(posterior["W1"].sizes) == {"chain": 2, "draw": 50, "hidden1": 2, "input": 1}
    assert dict(posterior["b1"].sizes) == {"chain": 2, "draw": 50, "hidden1": 2}
    assert dict(posterior["W2"].sizes) == {"chain": 2, "draw": 50, "output": 1, "hidden1": 2}
    assert dict(posterior["b2"].sizes) == {"chain": 2, "draw": 50, "output": 1}
    assert list(posterior["hidden1"].values) == [0, 1] and list(posterior["draw"].values) == list(range(50))
    # The draws are posterior.sample's with the same seed, cut into chains, in the package's layout.
    draws = model.posterior_.sample(100, np.random.default_rng(3)).reshape(2, 50, -1)
    layers = [model.net_.unpack(w) for w in draws.reshape(100, -1)]
    assert np.array_equal(posterior["W1"].values.reshape(100, 2, 1), np.stack([L[0][0] for L in layers]))
    assert np.array_equal(posterior["b2"].values.reshape(100, 1), np.stack([L[1][1] for L in layers]))
    assert dict(_group(data, "log_likelihood")["y"].sizes) == {"chain": 2, "draw": 50, "obs": 30}
    assert dict(_group(data, "posterior_predictive")["y"].sizes) == {"chain": 2, "draw": 50, "obs": 30}
    assert np.array_equal(_group(data, "observed_data")["y"].values, y)
    assert np.array_equal(_group(data, "constant_data")["X"].values, X)


def test_metadata_records_hyperparameters_and_khat(regressors):
    X, y, models = regressors
    model = models[(2,)]
    data = to_inference_data(model, X, y, draws=100, chains=2, seed=0)
    expected = diagnose(model.posterior_, X, y, draws=200, seed=0)
    for attrs in (_group(data, "posterior").attrs, data.attrs):
        assert attrs["alpha"] == model.alpha_ and attrs["beta"] == model.beta_
        assert attrs["gamma"] == model.gamma_ and attrs["log_evidence"] == model.log_evidence_
        assert attrs["hessian"] == "exact" and attrs["method"] == "linear_mc"
        assert list(attrs["sizes"]) == [1, 2, 1] and attrs["likelihood"] == "gaussian"
        assert "independent draws" in attrs["sampling"]
        assert attrs["pareto_khat"] == expected.khat and attrs["importance_ess"] == expected.ess
        assert attrs["pareto_khat_threshold"] == expected.threshold and attrs["laplace_verdict"] == expected.verdict


def test_metadata_of_a_posterior(linear):
    posterior, X, t, Phi = linear
    data = to_inference_data(posterior, X, t, draws=30, chains=1, seed=0)
    covariance = np.linalg.inv(posterior.precision)
    assert data.attrs["gamma"] == pytest.approx(2 - ALPHA * np.trace(covariance), rel=1e-12)  # PRML (5.179)
    expected = ln.log_evidence(posterior.net, posterior.mean, X, t, ALPHA, BETA, "exact")
    assert data.attrs["log_evidence"] == pytest.approx(expected, rel=1e-12)
    assert data.attrs["subset"] == "all" and data.attrs["pareto_khat"] == -np.inf


def test_last_layer_posterior(regressors):
    X, y, models = regressors
    model = models[(2,)]
    posterior = ln.laplace(model.net_, model.w_, X, y, model.alpha_, model.beta_, "outer", subset="last_layer")
    data = to_inference_data(posterior, X, y, draws=30, chains=1, seed=0)
    W1 = _group(data, "posterior")["W1"].values
    assert np.all(W1 == model.net_.unpack(model.w_)[0][0])  # the hidden layer stays at w_MAP
    assert np.ptp(_group(data, "posterior")["W2"].values, axis=(0, 1)).min() > 0
    expected = ln.log_evidence(model.net_, model.w_, X, y, model.alpha_, model.beta_, "outer", subset="last_layer")
    assert data.attrs["subset"] == "last_layer" and data.attrs["log_evidence"] == pytest.approx(expected, rel=1e-12)
    variances = np.diag(np.linalg.inv(posterior.precision))
    assert data.attrs["gamma"] == pytest.approx(variances.size - model.alpha_ * variances.sum(), rel=1e-12)


def test_log_likelihood_and_log_densities_of_the_network(regressors):
    X, y, models = regressors
    model = models[(2,)]
    data = to_inference_data(model, X, y, draws=15, chains=2, seed=1, method="mc")
    draws = model.posterior_.sample(30, np.random.default_rng(1))
    outputs = np.stack([model.net_.forward(w, X)[:, 0] for w in draws])
    log_lik = _group(data, "log_likelihood")["y"].values.reshape(30, -1)
    assert relative_error(log_lik, norm.logpdf(y, outputs, 1 / np.sqrt(model.beta_))) <= 1e-12
    stats = _group(data, "sample_stats")
    log_p = [-ln.error(model.net_, w, X, y, model.alpha_, model.beta_) for w in draws]  # PRML (5.165)
    assert relative_error(stats["log_p"].values.ravel(), np.array(log_p)) <= 1e-12
    log_q = multivariate_normal(model.posterior_.mean, np.linalg.inv(model.posterior_.precision)).logpdf(draws)
    assert relative_error(stats["log_q"].values.ravel(), log_q) <= 1e-7


def test_linearised_log_likelihood(regressors):
    X, y, models = regressors
    model = models[(2,)]
    data = to_inference_data(model, X, y, draws=15, chains=2, seed=2)
    draws = model.posterior_.sample(30, np.random.default_rng(2))
    w_map, eps = model.posterior_.mean, 1e-6
    # a(x, w_MAP) + G (w - w_MAP) with G by central differences (PRML 5.169)
    G = np.stack([(model.net_.forward(w_map + eps * e, X) - model.net_.forward(w_map - eps * e, X))[:, 0] / (2 * eps)
                  for e in np.eye(w_map.size)], axis=1)
    outputs = model.net_.forward(w_map, X)[:, 0] + (draws - w_map) @ G.T
    log_lik = _group(data, "log_likelihood")["y"].values.reshape(30, -1)
    assert relative_error(log_lik, norm.logpdf(y, outputs, 1 / np.sqrt(model.beta_))) <= 1e-7
    # log_p belongs to the linearised model; pareto_khat still to the network's posterior.
    stats = _group(data, "sample_stats")
    linear_log_p = -(0.5 * model.beta_ * np.sum((outputs - y) ** 2, axis=1)
                     + 0.5 * model.alpha_ * np.sum(draws ** 2, axis=1))
    assert relative_error(stats["log_p"].values.ravel(), linear_log_p) <= 1e-7
    assert data.attrs["pareto_khat"] == diagnose(model.posterior_, X, y, draws=30, seed=2).khat


def test_a_standardizing_estimator_exports_in_the_units_of_its_data():
    X, y = _sinusoid()
    X, y = 3.0 + 20.0 * X, 100.0 - 40.0 * y
    model = ln.BayesianMLPRegressor(hidden=2, seed=0, cycles=10).fit(X, y)
    data = to_inference_data(model, X, y, draws=50, chains=2, seed=4)
    inner = to_inference_data(model.posterior_, *model.posterior_data(X, y), draws=50, chains=2, seed=4)
    log_lik, inner_log_lik = (_group(d, "log_likelihood")["y"].values for d in (data, inner))
    assert relative_error(log_lik, inner_log_lik - np.log(model.y_scale_[0])) <= 1e-12  # densities of raw y
    predicted, inner_predicted = (_group(d, "posterior_predictive")["y"].values for d in (data, inner))
    assert relative_error(predicted, model.y_mean_[0] + model.y_scale_[0] * inner_predicted) <= 1e-12
    assert np.array_equal(_group(data, "observed_data")["y"].values, y)
    assert np.array_equal(_group(data, "constant_data")["X"].values, X)
    assert data.attrs["beta"] == model.beta_ and data.attrs["log_evidence"] == model.log_evidence_


def test_methods_coincide_without_hidden_layers(linear):
    posterior, X, t, _ = linear
    mc = to_inference_data(posterior, X, t, draws=20, chains=2, seed=0, method="mc")
    lin = to_inference_data(posterior, X, t, draws=20, chains=2, seed=0)
    for group in ("log_likelihood", "posterior_predictive"):
        assert relative_error(_group(lin, group)["y"].values, _group(mc, group)["y"].values) <= 1e-12


def test_gaussian_posterior_predictive_noise(linear):
    posterior, X, t, Phi = linear
    data = to_inference_data(posterior, X, t, draws=100, chains=2, seed=0)
    weights = np.concatenate([_group(data, "posterior")["W1"].values.reshape(200, 1),
                              _group(data, "posterior")["b1"].values.reshape(200, 1)], axis=1)
    noise = (_group(data, "posterior_predictive")["y"].values.reshape(200, 30) - weights @ Phi.T) * np.sqrt(BETA)
    assert abs(noise.mean()) < 0.06 and abs(noise.std() - 1) < 0.05


def test_psis_loo_matches_exact_leave_one_out(linear):
    posterior, X, t, Phi = linear
    exact = 0.0
    for n in range(30):  # the exact LOO predictive of Bayesian linear regression (PRML 3.58, 3.59)
        keep = np.arange(30) != n
        A = BETA * Phi[keep].T @ Phi[keep] + ALPHA * np.eye(2)
        mean = np.linalg.solve(A, BETA * Phi[keep].T @ t[keep])
        exact += norm.logpdf(t[n], Phi[n] @ mean, np.sqrt(1 / BETA + Phi[n] @ np.linalg.solve(A, Phi[n])))
    data = to_inference_data(posterior, X, t, draws=500, chains=2, seed=0)
    if GENERATION == 0:
        elpd = _arviz().loo(data).elpd_loo
    else:
        import arviz_stats
        elpd = arviz_stats.loo(data).elpd
        corrected = arviz_stats.loo_approximate_posterior(data, data.sample_stats.log_p, data.sample_stats.log_q)
        assert abs(corrected.elpd - elpd) < 1e-3  # q is the posterior: nothing to correct
    assert abs(elpd - exact) < 0.1, (elpd, exact)


def test_summary_loo_compare_and_approximate_loo(regressors):
    X, y, models = regressors
    data = {str(h): to_inference_data(m, X, y, draws=100, chains=2, seed=0) for h, m in models.items()}
    evidence = {str(h): m.log_evidence_ for h, m in models.items()}
    if GENERATION == 0:
        az = _arviz()
        summary = az.summary(data["(2,)"])
        table = az.compare(data)
        elpd = table["elpd_loo"]
    else:
        import arviz_stats
        summary = arviz_stats.summary(data["(2,)"])
        table = arviz_stats.compare(data)
        elpd = table["elpd"]
        approx = arviz_stats.loo_approximate_posterior(data["(2,)"], data["(2,)"].sample_stats.log_p,
                                                       data["(2,)"].sample_stats.log_q)
        assert np.isfinite(approx.elpd) and approx.n_samples == 200
    assert len(summary) == models[(2,)].net_.n_params and "mean" in summary.columns
    # The sinusoid is beyond a straight line: the evidence and PSIS-LOO both prefer the tanh network.
    assert evidence["(2,)"] > evidence["()"] and elpd["(2,)"] > elpd["()"] + 10
    assert list(table.index) == ["(2,)", "()"]


def test_plots(regressors):
    X, y, models = regressors
    data = to_inference_data(models[(2,)], X, y, draws=50, chains=2, seed=0)
    n_params = models[(2,)].net_.n_params
    if GENERATION == 0:
        az = _arviz()
        figures = [np.ravel(az.plot_posterior(data, var_names=["W1", "b1"]))[0].figure,
                   np.ravel(az.plot_forest(data))[0].figure,
                   np.ravel(az.plot_ppc(data, num_pp_samples=20))[0].figure]
    else:
        import arviz_plots
        figures = [pc.viz["figure"].item() for pc in (
            arviz_plots.plot_dist(data, var_names=["W1", "b1"], backend="matplotlib"),
            arviz_plots.plot_forest(data, backend="matplotlib"),
            arviz_plots.plot_ppc_dist(data, num_samples=20, backend="matplotlib"))]
    posterior_plot, forest, ppc = figures
    assert len([ax for ax in posterior_plot.axes if ax.has_data()]) == 4  # W1 and b1: 2 + 2 scalars
    assert sum(len(ax.lines) + len(ax.collections) for ax in forest.axes) >= n_params
    assert sum(len(ax.lines) for ax in ppc.axes) >= 20  # the predictive draws and the observed data
    plt.close("all")


def test_netcdf_round_trip(regressors, tmp_path):
    X, y, models = regressors
    data = to_inference_data(models[(2,)], X, y, draws=30, chains=2, seed=0)
    path = tmp_path / "model.nc"
    assert write_netcdf(data, path) == os.fspath(path)
    assert os.listdir(tmp_path) == ["model.nc"]
    native = tmp_path / "native.nc"
    if GENERATION == 0:
        data.to_netcdf(os.fspath(native))
        reread = _arviz().from_netcdf(os.fspath(native))
    else:
        import xarray
        data.to_netcdf(native, engine="h5netcdf")
        reread = xarray.open_datatree(native, engine="h5netcdf")
    for back in (read_netcdf(path), reread):
        for group in GROUPS:
            original, loaded = _group(data, group), _group(back, group)
            assert set(loaded.data_vars) == set(original.data_vars)
            for name in original.data_vars:
                assert loaded[name].dims == original[name].dims
                assert np.array_equal(loaded[name].values, original[name].values)
        attrs = _group(back, "posterior").attrs
        assert attrs["pareto_khat"] == data.attrs["pareto_khat"] and attrs["alpha"] == models[(2,)].alpha_
        assert back.attrs["log_evidence"] == models[(2,)].log_evidence_ and back.attrs["sampling"] == \
            data.attrs["sampling"]
    if GENERATION == 1:
        reread.close()


def test_write_is_atomic(regressors, tmp_path, monkeypatch):
    X, y, models = regressors
    data = to_inference_data(models[()], X, y, draws=30, chains=1, seed=0)
    path = tmp_path / "model.nc"
    write_netcdf(data, path)
    before = path.read_bytes()

    def fail(target, **kwargs):
        with open(target, "wb") as half:
            half.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(type(data), "to_netcdf", lambda self, target, **kwargs: fail(target, **kwargs))
    with pytest.raises(OSError, match="disk full"):
        write_netcdf(data, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["model.nc"]
    with pytest.raises(ValueError, match="data must be an arviz.InferenceData or an xarray.DataTree"):
        write_netcdf({"posterior": None}, tmp_path / "other.nc")


def _yes_no(n=30, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    return X, np.where(X[:, 0] + 0.3 * rng.normal(size=n) > 0, "yes", "no")


def test_binary_classifier_with_string_labels(tmp_path):
    X, labels = _yes_no()
    model = ln.BayesianMLPClassifier(hidden=(), seed=0, standardize=False).fit(X, labels)
    data = to_inference_data(model, X, labels, draws=100, chains=2, seed=0)
    observed = _group(data, "observed_data")["y"].values
    assert observed.tolist() == labels.tolist() and list(data.attrs["classes"]) == ["no", "yes"]  # as given
    draws = model.posterior_.sample(200, np.random.default_rng(0))
    prob = np.stack([model.net_.forward(w, X)[:, 0] for w in draws])
    log_lik = _group(data, "log_likelihood")["y"].values.reshape(200, 30)
    assert relative_error(log_lik, np.where(observed == "yes", np.log(prob), np.log1p(-prob))) <= 1e-10
    predicted = _group(data, "posterior_predictive")["y"].values.reshape(200, 30)
    assert set(np.unique(predicted)) <= {"no", "yes"}
    assert abs(np.mean(predicted == "yes") - prob.mean()) < 0.03  # sampled labels follow the output probabilities
    assert "beta" not in data.attrs
    # the logistic output is the probability of the second class
    assert _group(data, "posterior")["W1"].coords["output"].values.tolist() == ["yes"]
    write_netcdf(data, tmp_path / "labels.nc")
    back = read_netcdf(tmp_path / "labels.nc")
    assert _group(back, "observed_data")["y"].values.tolist() == labels.tolist()
    assert _group(back, "posterior_predictive")["y"].values.tolist() == predicted.reshape(2, 100, 30).tolist()


def test_a_posterior_takes_labels_with_their_classes():
    X, labels = _yes_no()
    model = ln.BayesianMLPClassifier(hidden=(), seed=0, standardize=False).fit(X, labels)
    with pytest.raises(ValueError, match=r"knows its 2 classes as 0..1: pass classes=\[...\]"):
        to_inference_data(model.posterior_, X, labels, draws=30, chains=1)
    with pytest.raises(ValueError, match="y must hold only the labels of classes \\['no', 'yes'\\]; got \\['maybe'\\]"):
        to_inference_data(model.posterior_, X, np.where(labels == "no", "maybe", labels), draws=30, chains=1,
                          classes=model.classes_)
    with pytest.raises(ValueError, match="classes must be 2 distinct labels"):
        to_inference_data(model.posterior_, X, labels, draws=30, chains=1, classes=["yes", "yes"])
    with pytest.raises(ValueError, match="classes applies to a LaplacePosterior"):
        to_inference_data(model, X, labels, draws=30, chains=1, classes=model.classes_)
    # with the classes, the bare posterior exports what the estimator exports
    bare = to_inference_data(model.posterior_, X, labels, draws=30, chains=1, seed=5, classes=model.classes_)
    fitted = to_inference_data(model, X, labels, draws=30, chains=1, seed=5)
    for group in ("observed_data", "posterior_predictive", "log_likelihood"):
        assert _group(bare, group)["y"].values.tolist() == _group(fitted, group)["y"].values.tolist()
    # without, a posterior's labels are the indices of its outputs, as before
    plain = to_inference_data(model.posterior_, X, (labels == "yes").astype(int), draws=30, chains=1, seed=5)
    assert _group(plain, "observed_data")["y"].values.tolist() == (labels == "yes").astype(int).tolist()
    assert _group(plain, "log_likelihood")["y"].values.tolist() == _group(fitted, "log_likelihood")["y"].values.tolist()


def test_categorical_classifier():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 2))
    labels = np.argmax(X @ rng.normal(size=(2, 3)) + 0.3 * rng.normal(size=(30, 3)), axis=1)
    model = ln.BayesianMLPClassifier(hidden=(), seed=0, cycles=5, standardize=False).fit(X, labels)
    data = to_inference_data(model, X, labels, draws=100, chains=2, seed=0)
    assert dict(_group(data, "posterior")["W1"].sizes) == {"chain": 2, "draw": 100, "output": 3, "input": 2}
    draws = model.posterior_.sample(200, np.random.default_rng(0))
    prob = np.stack([softmax(X @ model.net_.unpack(w)[0][0].T + model.net_.unpack(w)[0][1], axis=1) for w in draws])
    log_lik = _group(data, "log_likelihood")["y"].values.reshape(200, 30)
    assert relative_error(log_lik, np.log(prob[:, np.arange(30), labels])) <= 1e-10
    predicted = _group(data, "posterior_predictive")["y"].values.reshape(200, 30)
    frequencies = np.stack([(predicted == k).mean() for k in range(3)])
    assert np.all(np.abs(frequencies - prob.mean(axis=(0, 1))) < 0.03)


def test_coordinates_carry_feature_and_class_names():
    import pandas as pd  # a runtime dependency
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(30, 2)), columns=["bill length", "flipper"])
    species = np.array(["adelie", "chinstrap", "gentoo"])[np.digitize(frame["bill length"], [-0.4, 0.4])]
    model = ln.BayesianMLPClassifier(hidden=2, seed=0, cycles=3).fit(frame.to_numpy(), species)
    data = to_inference_data(model, frame, species, draws=30, chains=1, seed=0)
    posterior = _group(data, "posterior")
    assert posterior["W1"].coords["input"].values.tolist() == ["bill length", "flipper"]
    assert posterior["W2"].coords["output"].values.tolist() == ["adelie", "chinstrap", "gentoo"]
    assert posterior["W2"].coords["hidden1"].values.tolist() == [0, 1]
    assert _group(data, "constant_data")["X"].coords["input"].values.tolist() == ["bill length", "flipper"]
    assert _group(data, "observed_data")["y"].values.tolist() == species.tolist()
    # feature_names= names them for arrays (and overrides a DataFrame's columns)
    named = model.to_arviz(frame.to_numpy(), species, draws=30, chains=1, seed=0, feature_names=["a", "b"])
    assert _group(named, "posterior")["W1"].coords["input"].values.tolist() == ["a", "b"]
    unnamed = to_inference_data(model, frame.to_numpy(), species, draws=30, chains=1, seed=0)
    assert _group(unnamed, "posterior")["W1"].coords["input"].values.tolist() == [0, 1]  # fitted on an array
    with pytest.raises(ValueError, match="feature_names must be 2 distinct names; got 3"):
        to_inference_data(model, frame, species, draws=30, chains=1, feature_names=["a", "b", "c"])
    # a regression's targets name its outputs
    targets = pd.DataFrame({"mass": frame["flipper"] ** 2, "depth": np.sin(frame["bill length"])})
    regressor = ln.BayesianMLPRegressor(hidden=2, seed=0, cycles=3).fit(frame.to_numpy(), targets.to_numpy())
    data = to_inference_data(regressor, frame, targets, draws=30, chains=1, seed=0)
    assert _group(data, "posterior")["b2"].coords["output"].values.tolist() == ["mass", "depth"]
    assert _group(data, "observed_data")["y"].coords["output"].values.tolist() == ["mass", "depth"]
    assert np.array_equal(_group(data, "observed_data")["y"].values, targets.to_numpy())


def _warnings_of(function, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        function(*args, **kwargs)
    return [str(w.message) for w in caught if "PSIS-LOO" in str(w.message)]


@pytest.mark.parametrize("standardize", [False, True])
def test_loo_on_other_data_warns(tmp_path, standardize):
    X, y = _sinusoid()
    X_other, y_other = _sinusoid(seed=7)  # as many rows, other values
    model = ln.BayesianMLPRegressor(hidden=2, seed=0, cycles=3, standardize=standardize).fit(X, y)
    model.save(tmp_path / "m.npz")
    loaded = ln.load(tmp_path / "m.npz")  # with what the fit remembered of its data (saved since 2026-11-30)
    export = functools.partial(to_inference_data, draws=30, chains=1, seed=0)
    for source in (model, loaded):
        assert _warnings_of(export, source, X, y) == []
        found = _warnings_of(export, source, X[:20], y[:20])
        assert len(found) == 1 and "not the data the posterior was built on (20 rows, not 30)" in found[0]
        found = _warnings_of(export, source, X_other, y_other)
        assert len(found) == 1 and "other column means of the inputs; other column means of the targets" in \
            found[0] and "PSIS-LOO (loo, compare) needs the training data" in found[0]
    # a posterior knows how many rows it was built on
    assert _warnings_of(export, model.posterior_, *model.posterior_data(X, y)) == []
    assert len(_warnings_of(export, model.posterior_, *model.posterior_data(X[:20], y[:20]))) == 1


def test_diagnose_takes_an_estimator():
    X, labels = _yes_no(n=40)
    classifier = ln.BayesianMLPClassifier(hidden=2, seed=0, cycles=5).fit(X, labels)
    X_new = X[:5] + 0.5
    report = diagnose(classifier, X, labels, draws=100, seed=3, X_new=X_new)
    inner = diagnose(classifier.posterior_, *classifier.posterior_data(X, labels), draws=100, seed=3,
                     X_new=classifier.scaling_.inputs(X_new))
    assert (report.khat, report.ess, report.linearised.khat) == (inner.khat, inner.ess, inner.linearised.khat)
    assert np.array_equal(report.predictive_mean, inner.predictive_mean)
    X, y = _sinusoid()
    X, y = 3.0 + 20.0 * X, 100.0 - 40.0 * y
    regressor = ln.BayesianMLPRegressor(hidden=2, seed=0, cycles=5).fit(X, y)
    report = diagnose(regressor, X, y, draws=100, seed=3, X_new=X[:4])
    inner = diagnose(regressor.posterior_, *regressor.posterior_data(X, y), draws=100, seed=3,
                     X_new=regressor.scaling_.inputs(X[:4]))
    assert report.khat == inner.khat and report.linearised.khat == inner.linearised.khat
    # the predictive in the data's units
    assert relative_error(report.predictive_mean, regressor.scaling_.means(inner.predictive_mean)) <= 1e-12
    assert relative_error(report.predictive_variance, regressor.scaling_.variances(inner.predictive_variance)) \
        <= 1e-12
    with pytest.raises(ValueError, match="y must hold only the classes seen in fit"):
        diagnose(classifier, X[:, :1].repeat(2, axis=1), np.full(30, "maybe"), draws=30)


def test_bad_arguments(regressors):
    X, y, models = regressors
    with pytest.raises(NotFittedError, match="not fitted"):
        to_inference_data(ln.BayesianMLPRegressor(), X, y)
    with pytest.raises(ValueError, match="posterior_or_estimator must be a LaplacePosterior"):
        to_inference_data("model", X, y)
    with pytest.raises(ValueError, match="posterior must be a LaplacePosterior .* or a fitted estimator; got Bayes"):
        diagnose(ln.BayesianMLPRegressor(), X, y)  # unfitted: said as diagnose has always said it
    with pytest.raises(ValueError, match="chains \\* draws must be at least 25"):
        to_inference_data(models[()], X, y, draws=10, chains=2)
    with pytest.raises(ValueError, match="method must be one of 'linear_mc', 'mc'"):
        to_inference_data(models[()], X, y, draws=30, chains=1, method="linear")
    with pytest.raises(ValueError, match="y must have one row per row of X"):
        to_inference_data(models[()], X, y[:5], draws=30, chains=1)
    for seed in (-1, 1.5):  # NumPy's "expected non-negative integer" and "SeedSequence expects int" before
        with pytest.raises(ValueError, match=f"seed must be None or a non-negative integer; got {seed!r}"):
            to_inference_data(models[()], X, y, draws=30, chains=1, seed=seed)
    classifier = ln.BayesianMLPClassifier(hidden=(), seed=0).fit(X, y > 0)
    with pytest.raises(ValueError, match="y must hold only the classes seen in fit"):
        to_inference_data(classifier, X, np.where(y > 0, 1, 2), draws=30, chains=1)


def test_importing_the_modules_does_not_import_arviz():
    code = ("import sys, laplacenet.arviz, laplacenet.bayes.diagnostics; "
            "print(sorted(m for m in ('arviz', 'arviz_base', 'arviz_stats', 'xarray', 'matplotlib') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
