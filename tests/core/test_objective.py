import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.special import expit, log_softmax

import laplacenet as ln
from laplacenet.check import numerical_gradient, relative_error

from tests.problems import ACTIVATION_NAMES, LIKELIHOOD_NAMES, make_problem


@pytest.mark.parametrize("depth", [0, 1, 2, 3])
@pytest.mark.parametrize("likelihood", LIKELIHOOD_NAMES)
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_gradient_matches_finite_differences(activation, likelihood, depth):
    net, w, X, T = make_problem(likelihood, activation, hidden=(4, 3, 3)[:depth], seed=depth)
    g = ln.gradient(net, w, X, T, 0.7, 1.9)
    assert g.shape == (net.n_params,)
    assert relative_error(g, numerical_gradient(net, w, X, T, 0.7, 1.9)) <= 1e-7


def test_gradient_with_vector_beta_and_grouped_alpha():
    net, w, X, T = make_problem("gaussian", "tanh", hidden=(4, 3), n_outputs=3)
    alpha = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    beta = np.array([0.5, 2.0, 7.0])
    assert relative_error(ln.gradient(net, w, X, T, alpha, beta),
                          numerical_gradient(net, w, X, T, alpha, beta)) <= 1e-7


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(1, 4), min_size=2, max_size=5), n=st.integers(1, 12),
       activation=st.sampled_from(ACTIVATION_NAMES), likelihood=st.sampled_from(LIKELIHOOD_NAMES),
       seed=st.integers(0, 2**16))
def test_gradient_property(sizes, n, activation, likelihood, seed):
    K = {"gaussian": sizes[-1], "bernoulli": 1, "categorical": max(2, sizes[-1])}[likelihood]
    net, w, X, T = make_problem(likelihood, activation, hidden=sizes[1:-1], n_inputs=sizes[0], n_outputs=K,
                                n=n, seed=seed)
    g = ln.gradient(net, w, X, T, 0.3, 1.5)
    fd = numerical_gradient(net, w, X, T, 0.3, 1.5)
    # relu: a pre-activation within eps of its kink makes finite differences meaningless
    if activation == "relu":
        fw = ln.core.curvature.backprop.forward_pass(net, net.unpack(w), X)
        if any(np.min(np.abs(a)) < 1e-4 for a in fw.a[:-1]):
            return
    assert np.max(np.abs(g - fd)) <= 1e-7 * max(1.0, np.max(np.abs(fd)))


def test_error_is_the_documented_formula():
    net, w, X, T = make_problem("gaussian", hidden=(3,))
    y = net.forward(w, X)
    expected = 2.5 / 2 * np.sum((y - T) ** 2) + 0.4 / 2 * w @ w
    assert ln.error(net, w, X, T, 0.4, 2.5) == pytest.approx(expected, rel=1e-14)

    net, w, X, T = make_problem("bernoulli", hidden=(3,))
    y = net.forward(w, X)[:, 0]
    expected = -np.sum(T * np.log(y) + (1 - T) * np.log(1 - y)) + 0.4 / 2 * w @ w
    assert ln.error(net, w, X, T, 0.4, None) == pytest.approx(expected, rel=1e-12)

    net, w, X, T = make_problem("categorical", hidden=(3,))
    y = net.forward(w, X)
    expected = -np.sum(np.log(y[np.arange(len(T)), T])) + 0.4 / 2 * w @ w
    assert ln.error(net, w, X, T, 0.4, None) == pytest.approx(expected, rel=1e-12)


def test_grouped_alpha_weights_each_group():
    net, w, X, T = make_problem("gaussian", hidden=(3,))
    alpha = np.array([1.0, 2.0, 3.0, 4.0])
    base = ln.error(net, w, X, T, 0.0, 1.0)
    groups = net.group_index
    prior = sum(alpha[g] / 2 * np.sum(w[groups == g] ** 2) for g in range(4))
    assert ln.error(net, w, X, T, alpha, 1.0) == pytest.approx(base + prior, rel=1e-14)


def test_one_hot_and_integer_labels_agree():
    net, w, X, T = make_problem("categorical", hidden=(3,))
    onehot = np.eye(3)[T]
    assert ln.error(net, w, X, onehot, 0.1) == ln.error(net, w, X, T, 0.1)
    np.testing.assert_array_equal(ln.gradient(net, w, X, onehot, 0.1), ln.gradient(net, w, X, T, 0.1))


@pytest.mark.parametrize("likelihood", LIKELIHOOD_NAMES)
def test_extreme_preactivations_are_finite_and_exact(likelihood):
    # an output pre-activation of about +-1e3: log-sigmoid and log-softmax must not overflow
    net = ln.MLP([1, 2 if likelihood == "categorical" else 1], likelihood=likelihood)
    w = net.pack([(np.array([[1.0]] if likelihood != "categorical" else [[1.0], [-1.0]]),
                   np.zeros(net.n_outputs))])
    X = np.array([[1e3], [-1e3]])
    T = {"gaussian": np.array([[0.0], [0.0]]), "bernoulli": np.array([0.0, 1.0]),
         "categorical": np.array([1, 0])}[likelihood]
    E = ln.error(net, w, X, T, 0.0, 1.0)
    g = ln.gradient(net, w, X, T, 0.0, 1.0)
    assert np.isfinite(E) and np.all(np.isfinite(g))
    if likelihood == "bernoulli":  # both patterns are wrong by a margin of 1000: E = 2000 exactly
        assert E == pytest.approx(2000.0, rel=1e-15)
    if likelihood == "categorical":  # margins of 2000 each
        assert E == pytest.approx(4000.0, rel=1e-15)


def test_chunking_does_not_change_results():
    net, w, X, T = make_problem("categorical", hidden=(5, 4), n=50)
    np.testing.assert_allclose(ln.gradient(net, w, X, T, 0.2, chunk_size=7), ln.gradient(net, w, X, T, 0.2),
                               rtol=1e-13, atol=1e-13)
    assert ln.error(net, w, X, T, 0.2, chunk_size=3) == pytest.approx(ln.error(net, w, X, T, 0.2), rel=1e-13)


def test_alpha_zero_gives_the_data_term_alone():
    net, w, X, T = make_problem("gaussian")
    y = net.forward(w, X)
    assert ln.error(net, w, X, T, 0.0, 3.0) == pytest.approx(1.5 * np.sum((y - T) ** 2), rel=1e-14)


def test_stable_sigmoid_helpers_agree_with_naive_formula():
    a = np.linspace(-20, 20, 11)
    np.testing.assert_allclose(expit(a), 1 / (1 + np.exp(-a)), rtol=1e-14)
    np.testing.assert_allclose(log_softmax(np.array([[1000.0, 0.0]])), [[0.0, -1000.0]], rtol=1e-15)


def test_softmax_and_log_softmax_of_the_categorical_likelihood():
    from laplacenet.core.likelihoods import _log_softmax, _softmax
    a = np.random.default_rng(4).normal(size=(7, 4)) * 5
    naive = np.exp(a) / np.exp(a).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(_softmax(a), naive, rtol=1e-14)
    np.testing.assert_allclose(_log_softmax(a), a - np.log(np.exp(a).sum(axis=1, keepdims=True)), rtol=1e-14,
                               atol=1e-13)
    big = np.array([[1000.0, 0.0, -1000.0]])  # shifted by the row's largest: no overflow, the tiny ones exact
    np.testing.assert_allclose(_softmax(big), [[1.0, np.exp(-1000.0), 0.0]], rtol=1e-15)
    np.testing.assert_allclose(_log_softmax(big), [[0.0, -1000.0, -2000.0]], rtol=1e-15)
