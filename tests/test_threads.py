"""Results do not depend on the BLAS thread count once training has converged; small fits use one thread."""
import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import laplacenet as ln
from laplacenet._threads import one_blas_thread

#: the size up to which fits used to be limited to one thread (beyond, two threads changed the results)
FORMER_LIMIT = 2000


def _blas_threads():
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


def test_a_fit_with_one_and_with_two_blas_threads_gives_the_same_predictions():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 6))
    T = np.tanh(X @ rng.normal(size=(6, 1))) + 0.1 * rng.normal(size=(300, 1))
    net = ln.MLP([6, 40, 1])  # W = 321: big enough for the BLAS calls to split work between threads
    X_new = rng.normal(size=(20, 6))
    results = []
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="blas"):
            fit = ln.fit_evidence(net, X, T, hessian="outer", seed=0)
            results.append((fit, *fit.posterior.predict(X_new)))
    (one, mean_one, var_one), (two, mean_two, var_two) = results
    assert one.converged and two.converged
    assert np.max(np.abs(mean_one - mean_two)) <= 1e-8 * np.max(np.abs(mean_one))
    assert np.max(np.abs(var_one - var_two)) <= 1e-8 * np.max(var_one)
    assert one.log_evidence == pytest.approx(two.log_evidence, rel=1e-10)


def test_one_blas_thread_inside_and_the_configured_count_restored():
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        with one_blas_thread():
            assert set(_blas_threads()) <= {1}
        assert _blas_threads() == before


def test_an_estimator_fit_beyond_2000_weights_runs_on_one_thread():
    """Two threads made the evidence loop of a 3760-weight network stop elsewhere (test probabilities 0.036
    apart): every fit runs on one thread, so the configured count cannot change its result."""
    seen = []
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(30, 60)), rng.normal(size=30)
    model = ln.BayesianMLPRegressor(hidden=(40,), cycles=1, seed=0, train_kwargs={"method": "L-BFGS-B"})
    with threadpool_limits(limits=2, user_api="blas"):
        model.fit(X, y, callback=lambda cycle: seen.extend(_blas_threads()))
        assert set(_blas_threads()) == {2}  # restored afterwards
    assert model.net_.n_params > FORMER_LIMIT and seen and set(seen) == {1}


@pytest.mark.parametrize("method", ["L-BFGS-B", "newton-cg", "newton"])
def test_training_loops_run_on_one_blas_thread(monkeypatch, method):
    from laplacenet import _newton
    seen = []
    original = _newton.Objective.value_and_gradient

    def recording(self, w):
        seen.extend(_blas_threads())
        return original(self, w)

    monkeypatch.setattr(_newton.Objective, "value_and_gradient", recording)
    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(40, 3)), rng.normal(size=(40, 1))
    with threadpool_limits(limits=2, user_api="blas"):
        ln.train(ln.MLP([3, 4, 1]), X, T, 1.0, 1.0, method=method)
        assert set(_blas_threads()) == {2}  # restored afterwards
    assert seen and set(seen) == {1}
