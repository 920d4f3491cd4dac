import numpy as np
import pytest

import laplacenet as ln

from tests.problems import make_problem


def _call(likelihood="gaussian", **changes):
    net, w, X, T = make_problem(likelihood)
    args = {"net": net, "w": w, "X": X, "T": T, "alpha": 0.1, "beta": 1.0}
    args.update(changes)
    return args


@pytest.mark.parametrize("fn", [ln.error, ln.gradient])
@pytest.mark.parametrize("likelihood, changes, match", [
    ("gaussian", {"X": np.zeros(5)}, "X must be 2-D"),
    ("gaussian", {"X": np.full((17, 3), np.nan)}, "X must be finite"),
    ("gaussian", {"X": np.zeros((17, 4))}, "X must have 3 columns"),
    ("gaussian", {"X": np.zeros((0, 3))}, "X must hold at least one row"),
    ("gaussian", {"X": [["a", "b", "c"]]}, "X must be a 2-D array of numbers"),
    ("gaussian", {"T": np.zeros((17, 3))}, r"T must have shape \(N, 2\)"),
    ("gaussian", {"T": np.zeros((16, 2))}, "T must have one row per row of X"),
    ("gaussian", {"T": np.full((17, 2), np.inf)}, "T must be finite"),
    ("gaussian", {"T": None}, "T must be given"),
    ("bernoulli", {"T": np.full(17, 0.5)}, "T must hold only 0 and 1"),
    ("bernoulli", {"T": np.zeros((17, 2))}, "T must have shape"),
    ("categorical", {"T": np.full(17, 3)}, r"T must hold integer class labels in 0\.\.2"),
    ("categorical", {"T": np.full(17, -1)}, "T must hold integer class labels"),
    ("categorical", {"T": np.full(17, 1.5)}, "T must hold integer class labels"),
    ("categorical", {"T": np.ones((17, 3))}, "one-hot"),
    ("gaussian", {"alpha": -1.0}, "alpha must be non-negative"),
    ("gaussian", {"alpha": np.nan}, "alpha must be non-negative and finite"),
    ("gaussian", {"alpha": np.ones(3)}, "alpha must be a scalar or a vector of length 4"),
    ("gaussian", {"alpha": None}, "alpha must be"),
    ("gaussian", {"beta": 0.0}, "beta must be positive"),
    ("gaussian", {"beta": -2.0}, "beta must be positive"),
    ("gaussian", {"beta": None}, "beta must be a positive finite number"),
    ("gaussian", {"beta": np.ones(3)}, "beta must be a scalar or a vector of length 2"),
    ("gaussian", {"w": np.zeros(5)}, "w must be a vector of length"),
    ("gaussian", {"w": np.full(26, np.nan)}, "w must be finite"),
])
def test_bad_input_raises_value_error_naming_the_argument(fn, likelihood, changes, match):
    with pytest.raises(ValueError, match=match):
        fn(**_call(likelihood, **changes))


def test_beta_is_ignored_for_classification():
    args = _call("bernoulli", beta=None)
    assert np.isfinite(ln.error(**args))
    assert ln.error(**args) == ln.error(**_call("bernoulli", beta=-5.0))


def test_bad_input_in_training_names_the_argument():
    net, w, X, T = make_problem("gaussian")
    with pytest.raises(ValueError, match="beta must be positive"):
        ln.train(net, X, T, 0.1, 0.0)
    with pytest.raises(ValueError, match="X must be 2-D"):
        ln.train(net, X[:, 0], T, 0.1, 1.0)


def test_the_layout_of_the_data_does_not_change_a_bit():
    """The same numbers in F order (a DataFrame's values often are) or as a strided view give the same results, to
    the last bit, as in C order. BLAS rounds products of the two layouts differently (here the gradient of a
    network with two inputs and one hidden unit did, before the inputs were made C-ordered), and the evidence loop,
    which stops on a tolerance, can carry such a difference into another stopping point."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = np.tanh(X @ np.array([1.5, -0.7]))[:, None] + 0.1 * rng.normal(size=(40, 1))
    wide = np.zeros((40, 4))
    wide[:, ::2] = X  # a non-contiguous view of the same numbers
    layouts = [X, np.asfortranarray(X), wide[:, ::2]]
    assert not layouts[1].flags.c_contiguous and not layouts[2].flags.c_contiguous
    net = ln.MLP([2, 1, 1])
    grads = [[ln.gradient(net, net.init(seed), Xl, y, 0.3, 5.0) for seed in range(5)] for Xl in layouts]
    assert all(np.array_equal(a, b) for other in grads[1:] for a, b in zip(other, grads[0]))
    fits = [ln.fit_evidence(net, Xl, y, alpha=0.3, beta=5.0, hessian="outer", jitter=1e-4, seed=0) for Xl in layouts]
    assert all(np.array_equal(fit.w, fits[0].w) and fit.log_evidence == fits[0].log_evidence for fit in fits[1:])
    two = ln.MLP([2, 3, 2])  # and targets with two columns, F-ordered as a DataFrame's
    T2 = np.column_stack([y[:, 0], np.cos(X[:, 1])])
    checked = [ln.core._validation.check_data(two, Xl, T)
               for Xl, T in ((X, T2), (np.asfortranarray(X), np.asfortranarray(T2)))]
    assert all(a.flags.c_contiguous and b.flags.c_contiguous for a, b in checked)
    assert ln.error(two, two.init(1), X, np.asfortranarray(T2), 0.3, 5.0) == ln.error(two, two.init(1), X, T2, 0.3, 5.0)
    from laplacenet.core._validation import float_array
    assert float_array(2.5, "alpha", "a number").shape == ()  # scalars stay scalars


def test_restart_seeds_count_up_from_one_seed():
    from laplacenet.core._validation import restart_seeds
    assert restart_seeds(None, 3) == [0, 1, 2] and restart_seeds(7, 2) == [7, 8]
    with pytest.raises(ValueError, match="seed must be None or a non-negative integer"):
        restart_seeds(-1, 2)
