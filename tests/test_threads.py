"""Results do not depend on the BLAS thread count once training has converged; fits use one BLAS thread and
run independent work on as many threads as the caller gave BLAS."""
import os
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import laplacenet as ln
from laplacenet.core import _chunks as chunks_module
from laplacenet.core import _threads
from laplacenet.core._threads import one_blas_thread

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
    from laplacenet.core import _newton
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


# --- the workers of independent tasks: as many as the BLAS threads the caller had, and the same numbers ----------

@pytest.fixture
def two_cpus(monkeypatch):
    """Two CPUs, whatever the machine: the parallel paths run (on one core, the threads take turns)."""
    monkeypatch.setattr(_threads, "_available_cpus", lambda: 2)


def test_task_workers_follow_the_callers_blas_threads(two_cpus):
    assert _threads.task_workers() == 1  # outside a fit: BLAS has the threads
    for threads, expected in ((1, 1), (2, 2), (4, 2)):  # capped at the CPUs
        with threadpool_limits(limits=threads, user_api="blas"):
            with one_blas_thread():
                assert _threads.task_workers() == expected
                with one_blas_thread():  # nested: the outermost entry's count stays
                    assert _threads.task_workers() == expected
                inner = _threads.run_parallel([_threads.task_workers, _threads.task_workers])
                assert inner == [1, 1]  # no nesting inside a task (the pool is busy)
            assert _threads.task_workers() == 1


def test_task_workers_are_at_most_max_workers(monkeypatch):
    monkeypatch.setattr(_threads, "_available_cpus", lambda: 64)
    monkeypatch.setattr(_threads, "_blas_threads", lambda: 64)  # a large machine
    with one_blas_thread():
        assert _threads.task_workers() == _threads.MAX_WORKERS == 4


def test_run_parallel_keeps_order_and_raises_the_first_error_after_all_finished(two_cpus):
    finished = []

    def slow(value):
        def task():
            time.sleep(0.05)
            finished.append(value)
            return value
        return task

    def failing(message):
        def task():
            raise ValueError(message)
        return task

    with threadpool_limits(limits=2, user_api="blas"), one_blas_thread():
        assert _threads.run_parallel([slow(1), slow(2), slow(3)]) == [1, 2, 3]
        finished.clear()
        with pytest.raises(ValueError, match="first"):
            _threads.run_parallel([failing("first"), slow(4), failing("second")])
        assert finished == [4]


def test_chunked_sums_are_bitwise_the_same_on_one_and_two_workers(two_cpus):
    rng = np.random.default_rng(2)
    net = ln.MLP([5, 7, 3], likelihood="categorical")
    X, T = rng.normal(size=(97, 5)), np.eye(3)[rng.integers(0, 3, 97)]
    w = rng.normal(size=net.n_params)
    results = []
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="blas"), one_blas_thread():
            assert _threads.task_workers() == threads
            results.append([ln.gradient(net, w, X, T, 0.5, chunk_size=10),
                            ln.hessian(net, w, X, T, 0.5, method="exact", chunk_size=10),
                            ln.hessian(net, w, X, T, 0.5, method="outer", chunk_size=10)])
    for one, two in zip(*results):
        assert np.array_equal(one, two)
    with threadpool_limits(limits=1, user_api="blas"):  # and the serial chunks sum to the unchunked result
        assert np.allclose(results[0][0], ln.gradient(net, w, X, T, 0.5), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("hessian, options", [("outer", {}), ("kron", {}), ("lowrank", {"rank": 8})])
def test_an_evidence_fit_is_bitwise_the_same_on_one_and_two_workers(two_cpus, monkeypatch, hessian, options):
    """The retrained slope's pair of curvatures, its dw/dtheta beside the statistics and the chunks of every data
    pass run side by side on two workers: the fit is the same to the last bit."""
    calls = []
    original = _threads.run_parallel

    def counting(tasks):
        calls.append((len(tasks), _threads.task_workers()))
        return original(tasks)

    monkeypatch.setattr(_threads, "run_parallel", counting)
    monkeypatch.setattr(ln.bayes.evidence, "run_parallel", counting)
    monkeypatch.setattr(chunks_module, "run_parallel", counting)
    ahead = []  # dw/dtheta worked out beside the statistics, on a second worker only
    moves = ln.bayes.hyper.weight_moves
    monkeypatch.setattr(ln.bayes.hyper, "weight_moves", lambda *args: ahead.append(1) or moves(*args))
    rng = np.random.default_rng(3)
    X = rng.normal(size=(90, 3))
    T = np.eye(3)[np.argmax(X @ rng.normal(size=(3, 3)) + 0.5 * rng.normal(size=(90, 3)), axis=1)]
    net = ln.MLP([3, 6, 3], likelihood="categorical")
    fits = []
    for threads in (1, 2):
        calls.clear()
        ahead.clear()
        with threadpool_limits(limits=threads, user_api="blas"):
            fits.append(ln.fit_evidence(net, X, T, hessian=hessian, seed=0, chunk_size=40, **options))
        assert any(n == 2 and workers == threads for n, workers in calls)  # the pairs ran on `threads` workers
        assert bool(ahead) == (threads == 2)
    one, two = fits
    assert one.converged and two.converged
    assert np.array_equal(one.w, two.w)
    assert one.alpha == two.alpha and one.log_evidence == two.log_evidence
    assert [c.log_evidence for c in one.history] == [c.log_evidence for c in two.history]


def _parallel_sum_in_child(queue):
    with threadpool_limits(limits=2, user_api="blas"), one_blas_thread():
        queue.put(_threads.run_parallel([lambda: 1, lambda: 2]))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is a POSIX start method")
def test_a_process_forked_after_a_parallel_fit_starts_its_own_pool(two_cpus):
    """The parent's pool threads do not exist in a forked child: work given to the inherited pool would wait for
    ever (it did, before the pool was forgotten at fork)."""
    import multiprocessing
    with threadpool_limits(limits=2, user_api="blas"), one_blas_thread():
        assert _threads.run_parallel([lambda: 1, lambda: 2]) == [1, 2]  # the parent's pool exists
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_parallel_sum_in_child, args=(queue,))
    child.start()
    child.join(30)
    hung = child.is_alive()
    if hung:
        child.kill()
    assert not hung and child.exitcode == 0
    assert queue.get(timeout=5) == [1, 2]
