"""Issue 13: overflow never becomes a NaN result, the matrix budget bounds every dense matrix, arguments are
checked by kind, remedies fit the call; and a property-based test of the public entry points on bad arrays."""
import os
import tracemalloc
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import laplacenet as ln
from laplacenet.check import numerical_hessian

from .problems import make_problem

PACKAGE_DIR = os.path.dirname(ln.__file__)


@pytest.fixture
def budget():
    """Restore the matrix budget a test changes."""
    previous = ln.get_matrix_budget()
    yield
    ln.set_matrix_budget(previous)


def _overflowing(likelihood="gaussian"):
    """A network whose curvature overflows: identity hidden units pass inputs of 1e160 on, squared to 1e320."""
    net, w, X, T = make_problem(likelihood, "identity", n=7)
    return net, w, X * 1e160, T


# --- item 1: a non-finite curvature is a NonFiniteError, not a NaN posterior ----------------------------------

@pytest.mark.parametrize("options", [
    {"hessian": "exact"}, {"hessian": "outer"}, {"hessian": "fd"}, {"hessian": "diag"}, {"hessian": "kron"},
    {"hessian": "lowrank", "rank": 2}, {"hessian": "exact", "subset": "last_layer"},
], ids=lambda options: "-".join(map(str, options.values())))
def test_every_posterior_form_refuses_an_overflowed_curvature(options):
    net, w, X, T = _overflowing()
    with pytest.raises(ln.NonFiniteError, match="not finite.*Rescale the problem"):
        ln.laplace(net, w, X, T, 0.1, 10.0, **options)


def test_saturated_outputs_are_zero_curvature_not_an_error():
    # Bernoulli outputs saturated by the same inputs: y (1 - y) = 0, so the outer curvature is 0 (A = the prior;
    # Lanczos cannot start from H = 0), while the exact one overflows in its second-order terms
    net, w, X, T = _overflowing("bernoulli")
    for options in ({"hessian": "outer"}, {"hessian": "lowrank", "rank": 2}):
        assert ln.laplace(net, w, X, T, 0.1, **options).log_det == pytest.approx(net.n_params * np.log(0.1))
    with pytest.raises(ln.NonFiniteError, match="exact Hessian"):
        ln.laplace(net, w, X, T, 0.1, hessian="exact")


def test_the_issues_examples_raise_instead_of_returning_nan():
    net, w, X, T = make_problem()
    with pytest.raises(ln.NonFiniteError, match="exact Hessian"):
        ln.laplace(net, w, X * 1e300, T, 0.1, 10.0, hessian="exact")
    with pytest.raises(ln.NonFiniteError, match="Kronecker factor"):
        ln.log_evidence(net, w, X * 1e300, T, 0.1, 10.0, hessian="kron")
    with pytest.raises(ln.NonFiniteError, match="outer Hessian"):
        ln.laplace(net, w, X, T, 0.1, 1e308, hessian="outer")
    with pytest.raises(ln.NonFiniteError):
        ln.reestimate(net, w, X * 1e300, T, 0.1, 10.0, hessian="exact")


def test_a_woodbury_update_refuses_overflowing_patterns():
    net, w, X, T = make_problem("gaussian", "identity", n=7)
    posterior = ln.laplace(net, w, X, T, 1.0, 1.0, hessian="outer")
    with pytest.raises(ln.NonFiniteError, match="overflowed float64"):
        posterior.update(X[:3] * 1e160, T[:3])


def test_prediction_at_overflowing_inputs_is_refused():
    net, w, X, T = make_problem("gaussian", "identity", n=7)
    posterior = ln.laplace(net, w, X, T, 1.0, 1.0, hessian="outer")
    with pytest.raises(ln.NonFiniteError, match="predictive .* at X_new.*Rescale X_new"):
        posterior.predict(X * 1e300)


def test_the_core_refuses_to_return_overflowed_values():
    net, w, X, T = make_problem("categorical", "identity")
    with pytest.raises(ln.NonFiniteError, match=r"error E_D\(w\) is not finite"):
        ln.error(net, w * 1e160, X, T, 0.1)
    with pytest.raises(ln.NonFiniteError, match="gradient"):
        ln.gradient(net, w * 1e160, X, T, 0.1)
    net, w, X, T = _overflowing()
    with pytest.raises(ln.NonFiniteError, match="Hessian-vector product"):
        ln.hvp(net, w, X, T, np.ones(net.n_params), 0.1, 1.0)
    net, w, X, T = make_problem("gaussian")
    with pytest.raises(ln.NonFiniteError, match=r"the error E\(w\) is not finite"):
        ln.error(net, w * 1e5, X, T, 1e300, 1.0)  # a finite data error, an overflowing prior term
    for method in ("newton", "newton-cg", "L-BFGS-B"):
        with pytest.raises(ln.NonFiniteError, match="is not finite"):
            ln.train(net, X, T * 1e300, 0.1, 1.0, method=method, maxiter=5, warn=False)
    with pytest.raises(ln.NonFiniteError, match="prior term"):
        ln.log_evidence(net, w * 1e160, X, T, 0.1, 1.0, hessian="outer")


def test_the_error_is_a_value_error_exported_with_the_others():
    assert issubclass(ln.NonFiniteError, ValueError)
    assert "NonFiniteError" in ln.__all__ and ln.exceptions.NonFiniteError is ln.NonFiniteError


# --- item 3: the budget bounds every dense matrix, and the peaks are measured ---------------------------------

def test_numerical_hessian_and_from_prior_honour_the_budget(budget):
    net, w, X, T = make_problem()  # W = 26
    with pytest.raises(ValueError, match="finite-difference Hessian .* above the budget"):
        numerical_hessian(net, w, X, T, 0.1, 1.0, max_bytes=8 * 26 * 26 - 1)
    ln.set_matrix_budget(8 * 20 * 20)
    with pytest.raises(ValueError, match="finite-difference Hessian .* above the budget"):
        numerical_hessian(net, w, X, T, 0.1, 1.0, method="error")
    with pytest.raises(ValueError, match="inverse prior precision .* above the budget"):
        ln.IncrementalInverse.from_prior(0.1, 21)
    with pytest.raises(ValueError, match="above the budget"):
        ln.IncrementalInverse.from_matrix(np.eye(21))
    assert ln.IncrementalInverse.from_prior(0.1, 20).n_params == 20


def _peak_matrices(fn, n):
    """Peak memory traced while ``fn()`` runs, in (n, n) float64 matrices."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return (peak - base) / (8 * n * n)


def test_peak_memory_is_a_small_multiple_of_one_matrix():
    # W = 1 302; the multiples of docs/howto/reliability.rst, measured at W = 1 042, with some slack (the blocks of
    # rows in which a W x W matrix is symmetrised, mirrored or scanned take a fixed 0.5-1.5 MiB, 0.04-0.1 here)
    net = ln.MLP([10, 100, 2])
    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(60, 10)), rng.normal(size=(60, 2))
    w, W = 0.5 * net.init(0), net.n_params
    posterior = ln.laplace(net, w, X, T, 1.0, 10.0, hessian="outer")
    assert _peak_matrices(lambda: ln.laplace(net, w, X, T, 1.0, 10.0, hessian="outer"), W) < 2.2
    assert _peak_matrices(lambda: posterior.update(X[:10], T[:10]), W) < 2.4
    assert _peak_matrices(lambda: ln.IncrementalInverse.from_prior(0.1, W), W) < 1.1
    assert _peak_matrices(lambda: ln.inverse_outer_hessian(net, w, X, T, 1.0, 10.0), W) < 2.3
    assert _peak_matrices(lambda: numerical_hessian(net, w, X[:3], T[:3], 1.0, 10.0), W) < 1.3


def test_the_budget_says_what_it_bounds():
    doc = ln.set_matrix_budget.__doc__
    assert "every single dense matrix" in doc and "not a bound on the peak memory" in doc


# --- item 6: arguments checked by kind, with one checker per kind ---------------------------------------------

def _core_calls(net, w, X, T):
    v = np.ones(net.n_params)
    return {
        "error": lambda **k: ln.error(net, w, X, T, 0.1, 1.0, **k),
        "gradient": lambda **k: ln.gradient(net, w, X, T, 0.1, 1.0, **k),
        "hessian-exact": lambda **k: ln.hessian(net, w, X, T, 0.1, 1.0, "exact", **k),
        "hessian-outer": lambda **k: ln.hessian(net, w, X, T, 0.1, 1.0, "outer", **k),
        "hessian-diag": lambda **k: ln.hessian(net, w, X, T, 0.1, 1.0, "diag", **k),
        "hessian-fd": lambda **k: ln.hessian(net, w, X, T, 0.1, 1.0, "fd", **k),
        "hessian_diagonal": lambda **k: ln.hessian_diagonal(net, w, X, T, 0.1, 1.0, **k),
        "hvp": lambda **k: ln.hvp(net, w, X, T, v, 0.1, 1.0, **k),
        "kron_factors": lambda **k: ln.kron_factors(net, w, X, T, 1.0, **k),
        "train": lambda **k: ln.train(net, X, T, 0.1, 1.0, w0=w, maxiter=2, warn=False, **k),
        "laplace": lambda **k: ln.laplace(net, w, X, T, 0.1, 1.0, "outer", **k),
        "log_evidence": lambda **k: ln.log_evidence(net, w, X, T, 0.1, 1.0, "outer", **k),
        "inverse_outer_hessian": lambda **k: ln.inverse_outer_hessian(net, w, X, T, 0.1, 1.0, **k),
    }


@pytest.mark.parametrize("chunk_size", [0, -1, 2.5, "10", True])
def test_every_chunk_size_is_checked_alike(chunk_size):
    net, w, X, T = make_problem()
    for name, call in _core_calls(net, w, X, T).items():
        with pytest.raises(ValueError, match="chunk_size must be an integer >= 1"):
            call(chunk_size=chunk_size)


def test_chunk_size_none_is_the_default_everywhere():
    net, w, X, T = make_problem()
    for name, call in _core_calls(net, w, X, T).items():
        call(chunk_size=None)
    assert ln.error(net, w, X, T, 0.1, 1.0, chunk_size=None) == ln.error(net, w, X, T, 0.1, 1.0)


def test_gtol_none_is_the_default():
    net, w, X, T = make_problem()
    w_none, report = ln.train(net, X, T, 0.1, 1.0, w0=w, gtol=None)
    w_default, _ = ln.train(net, X, T, 0.1, 1.0, w0=w)
    assert report.converged and np.array_equal(w_none, w_default)


@pytest.mark.parametrize("seed", ["a", -1, 1.5, True])
def test_seeds_are_checked(seed):
    net, w, X, T = make_problem()
    with pytest.raises(ValueError, match="seed must be None or a non-negative integer"):
        ln.train(net, X, T, 0.1, 1.0, seed=seed)
    with pytest.raises(ValueError, match="seed must be None or a non-negative integer"):
        ln.fit_evidence(net, X, T, seed=seed, cycles=1)


@pytest.mark.parametrize("max_bytes", ["x", -1, 0, float("inf"), float("nan")])
def test_max_bytes_is_checked(max_bytes):
    net, w, X, T = make_problem()
    for call in (lambda: ln.hessian(net, w, X, T, 0.1, 1.0, max_bytes=max_bytes),
                 lambda: ln.hessian(net, w, X, T, 0.1, 1.0, "diag", max_bytes=max_bytes),
                 lambda: ln.inverse_outer_hessian(net, w, X, T, 0.1, 1.0, max_bytes=max_bytes),
                 lambda: numerical_hessian(net, w, X, T, 0.1, 1.0, max_bytes=max_bytes),
                 lambda: ln.IncrementalInverse.from_prior(0.1, 5, max_bytes=max_bytes)):
        with pytest.raises(ValueError, match="max_bytes must be None .* or a positive finite number of bytes"):
            call()


@pytest.mark.parametrize("n_bytes", [float("inf"), float("nan"), 0.5, 0, -8, "x", None, True])
def test_set_matrix_budget_refuses_what_is_not_a_budget(budget, n_bytes):
    before = ln.get_matrix_budget()
    with pytest.raises(ValueError, match="n_bytes must be a finite number of bytes >= 8"):
        ln.set_matrix_budget(n_bytes)
    assert ln.get_matrix_budget() == before


def test_set_matrix_budget_rounds_a_float_down(budget):
    ln.set_matrix_budget(1e6 + 0.5)
    assert ln.get_matrix_budget() == 1_000_000


@pytest.mark.parametrize("train_kwargs, match", [
    ({"bogus": 1}, r"not options of laplacenet.train: \['bogus'\]"),
    ({"gtol": 1e-4, "maxiterations": 3}, r"\['maxiterations'\]"),
    ({"seed": 1}, r"must not set \['seed'\]: fit_evidence controls them"),
    ("gtol=1e-4", "train_kwargs must be a dict"),
])
def test_unknown_train_kwargs_are_named(train_kwargs, match):
    net, w, X, T = make_problem()
    with pytest.raises(ValueError, match=match):
        ln.fit_evidence(net, X, T, cycles=1, train_kwargs=train_kwargs)


@pytest.mark.parametrize("name", ["X", "T", "w", "alpha", "beta"])
@pytest.mark.parametrize("fn", [ln.error, ln.gradient, ln.hessian])
def test_complex_arguments_are_refused_not_truncated(fn, name):
    net, w, X, T = make_problem()
    args = {"net": net, "w": w, "X": X, "T": T, "alpha": 0.1, "beta": 1.0}
    args[name] = np.asarray(args[name]) + 1e-3j
    with pytest.raises(ValueError, match=f"{name} must be real numbers; got complex values"):
        fn(**args)


def test_complex_arguments_are_refused_by_the_bayesian_layer_and_the_inverse():
    net, w, X, T = make_problem()
    with pytest.raises(ValueError, match="w_map must be real"):
        ln.laplace(net, w + 0j, X, T, 0.1, 1.0)
    with pytest.raises(ValueError, match="T must be real"):
        ln.laplace(net, w, X, list(T + 1j), 0.1, 1.0)
    posterior = ln.laplace(net, w, X, T, 0.1, 1.0, "outer")
    with pytest.raises(ValueError, match="X_new must be real"):
        posterior.predict(X + 1j)
    state = ln.IncrementalInverse.from_prior(1.0, 3)
    with pytest.raises(ValueError, match="B must be real"):
        state.update(np.ones(3) * 1j)
    with pytest.raises(ValueError, match="alpha must be real"):
        ln.IncrementalInverse.from_prior(1.0 + 1j, 3)


# --- item 8: remedies fit the call ----------------------------------------------------------------------------

def test_rounding_in_a_semidefinite_precision_is_not_told_to_use_outer():
    net, w, X, T = make_problem(hidden=(6,), n=5)
    with pytest.raises(ln.NotPositiveDefiniteError) as info:
        ln.laplace(net, w, X, T, 1e-16, 10.0, hessian="outer")
    message = str(info.value)
    assert -1e-10 < info.value.min_eigenvalue < 0
    assert "hessian='outer' (positive" not in message and "train further" not in message
    assert "rounding error" in message and "larger alpha" in message and "jitter" in message
    with pytest.raises(ln.NotPositiveDefiniteError, match="rounding error") as info:
        ln.laplace(net, w, X, T, 1e-16, 10.0, hessian="exact", subset="last_layer")
    assert "train further" not in str(info.value)


def test_an_indefinite_exact_hessian_is_told_to_use_outer():
    net, w, X, T = make_problem(hidden=(6,), n=5)
    with pytest.raises(ln.NotPositiveDefiniteError, match="not a minimum.*use hessian='outer'"):
        ln.laplace(net, w, X, T, 1e-16, 10.0, hessian="exact")


def test_the_bayesian_budget_error_names_the_structures(budget):
    net, w, X, T = make_problem()
    ln.set_matrix_budget(8 * (net.n_params - 1) ** 2)
    for call in (lambda: ln.laplace(net, w, X, T, 0.1, 1.0, "outer"),
                 lambda: ln.log_evidence(net, w, X, T, 0.1, 1.0, "exact")):
        with pytest.raises(ValueError, match="above the budget") as info:
            call()
        message = str(info.value)
        assert all(s in message for s in ("hessian='kron'", "hessian='lowrank'", "subset='last_layer'"))
    assert np.isfinite(ln.laplace(net, w, X, T, 0.1, 1.0, "kron").log_det)


# --- every entry point on bad arrays: a finite result or laplacenet's own ValueError / TypeError ---------------

def _bad(kind, value, rng):
    value = np.asarray(value, dtype=float)
    if kind == "nan":
        return np.where(rng.random(value.shape) < 0.5, np.nan, value) if value.size else value
    if kind == "inf":
        return np.full(value.shape, -np.inf if rng.random() < 0.5 else np.inf)
    if kind == "huge":  # everything, or one entry, at a scale whose square or whose cube overflows
        scale = 1e300 if rng.random() < 0.5 else 1e110
        if value.ndim == 0 or rng.random() < 0.5:
            return value * scale + scale
        value = value.copy()
        value.flat[rng.integers(value.size)] = scale
        return value
    if kind == "complex":
        return value + 1j
    if kind == "shape":
        return np.zeros(value.shape + (2,)) if rng.random() < 0.5 else np.zeros(value.size + 1)
    return np.zeros((0,) + value.shape[1:])  # empty


def _entry_points(net, w, X, T):
    posterior = ln.laplace(net, w, X, T, 0.5, 2.0, "outer")
    hessians = [{"hessian": h} for h in ("exact", "outer", "diag", "fd", "kron")]
    hessians += [{"hessian": "lowrank", "rank": 2}, {"hessian": "outer", "subset": "last_layer"}]
    calls = {
        "error": lambda a: ln.error(net, a["w"], a["X"], a["T"], a["alpha"], a["beta"]),
        "gradient": lambda a: ln.gradient(net, a["w"], a["X"], a["T"], a["alpha"], a["beta"]),
        "hvp": lambda a: ln.hvp(net, a["w"], a["X"], a["T"], a["v"], a["alpha"], a["beta"]),
        "train": lambda a: ln.train(net, a["X"], a["T"], a["alpha"], a["beta"], w0=a["w"], maxiter=3, warn=False),
        "log_evidence-outer": lambda a: ln.log_evidence(net, a["w"], a["X"], a["T"], a["alpha"], a["beta"], "outer"),
        "log_evidence-kron": lambda a: ln.log_evidence(net, a["w"], a["X"], a["T"], a["alpha"], a["beta"], "kron"),
        "predict": lambda a: posterior.predict(a["X"]),
    }
    for method in ("exact", "outer", "diag", "fd"):
        calls[f"hessian-{method}"] = (lambda m: lambda a: ln.hessian(net, a["w"], a["X"], a["T"], a["alpha"],
                                                                     a["beta"], m))(method)
    for options in hessians:
        calls["laplace-" + "-".join(map(str, options.values()))] = (
            lambda o: lambda a: ln.laplace(net, a["w"], a["X"], a["T"], a["alpha"], a["beta"], **o))(options)
    return calls


_PROBLEMS = {lik: make_problem(lik, act, hidden=(3,), n=6, seed=2)
             for lik, act in (("gaussian", "identity"), ("bernoulli", "relu"), ("categorical", "tanh"))}
_CALLS = {lik: _entry_points(*problem) for lik, problem in _PROBLEMS.items()}
_NAMES = sorted(_CALLS["gaussian"])


def _is_finite(result):
    if isinstance(result, tuple):
        return all(_is_finite(part) for part in result)
    if isinstance(result, ln.LaplacePosterior):
        return np.isfinite(result.log_det) and _is_finite(result.variances())
    if isinstance(result, ln.TrainReport):
        return np.isfinite(result.error)
    return bool(np.all(np.isfinite(np.asarray(result, dtype=float))))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(likelihood=st.sampled_from(sorted(_PROBLEMS)), entry=st.sampled_from(_NAMES),
       argument=st.sampled_from(["X", "T", "w", "alpha", "beta", "v"]),
       kind=st.sampled_from(["nan", "inf", "huge", "complex", "shape", "empty"]), seed=st.integers(0, 2**16))
def test_bad_arrays_give_a_finite_result_or_a_named_error(likelihood, entry, argument, kind, seed):
    net, w, X, T = _PROBLEMS[likelihood]
    args = {"w": w, "X": X, "T": T, "alpha": 0.5, "beta": 2.0, "v": np.ones(net.n_params)}
    args[argument] = _bad(kind, args[argument], np.random.default_rng(seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = _CALLS[likelihood][entry](args)
        except (ValueError, TypeError) as ex:
            frame = ex.__traceback__
            while frame.tb_next is not None:
                frame = frame.tb_next
            raised_in = frame.tb_frame.f_code.co_filename
            assert raised_in.startswith(PACKAGE_DIR), f"{type(ex).__name__} raised in {raised_in}: {ex}"
            return
    assert _is_finite(result), f"{entry} returned a non-finite result for {kind} {argument}"
