"""The estimators' save and to_arviz methods delegate to the persistence and ArviZ layers."""
import numpy as np

import laplacenet as ln
from laplacenet.datasets import make_sinusoid


def _fitted(tmp_path):
    X, T = make_sinusoid(n=30, noise=0.1, seed=0)
    est = ln.BayesianMLPRegressor(hidden=(2,), cycles=3, seed=0).fit(X, T)
    return est, X, T


def test_save_then_load_reproduces_predictions(tmp_path):
    est, X, _ = _fitted(tmp_path)
    est.save(tmp_path / "model.npz")
    loaded = ln.load(tmp_path / "model.npz")
    mean, std = est.predict(X, return_std=True)
    mean2, std2 = loaded.predict(X, return_std=True)
    assert np.array_equal(mean, mean2) and np.array_equal(std, std2)


def test_to_arviz_equals_to_inference_data(tmp_path):
    est, X, T = _fitted(tmp_path)
    a = est.to_arviz(X, T, draws=20, chains=2, seed=3)
    b = ln.to_inference_data(est, X, T, draws=20, chains=2, seed=3)
    np.testing.assert_array_equal(np.asarray(a["posterior"]["W1"]), np.asarray(b["posterior"]["W1"]))
    np.testing.assert_array_equal(np.asarray(a["log_likelihood"]["y"]), np.asarray(b["log_likelihood"]["y"]))
