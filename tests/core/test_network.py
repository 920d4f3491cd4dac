import numpy as np
import pytest

import laplacenet as ln


def test_flat_layout_element_by_element():
    net = ln.MLP([3, 2, 1])
    w = np.arange(net.n_params, dtype=float)
    (W1, b1), (W2, b2) = net.unpack(w)
    assert net.n_params == 3 * 2 + 2 + 2 * 1 + 1
    # W_1 row-major (C order), then b_1, then W_2, then b_2
    for i in range(2):
        for j in range(3):
            assert W1[i, j] == 3 * i + j
    assert b1.tolist() == [6.0, 7.0]
    assert W2.tolist() == [[8.0, 9.0]]
    assert b2.tolist() == [10.0]


@pytest.mark.parametrize("sizes", [[4, 1], [3, 5, 2], [2, 3, 4, 5], [1, 2, 2, 2, 3]])
def test_pack_unpack_round_trip(sizes):
    net = ln.MLP(sizes)
    w = np.random.default_rng(0).normal(size=net.n_params)
    layers = net.unpack(w)
    assert [W.shape for W, _ in layers] == [(o, i) for i, o in zip(sizes[:-1], sizes[1:])]
    np.testing.assert_array_equal(net.pack(layers), w)


def test_forward_matches_a_hand_written_network():
    net = ln.MLP([2, 3, 2], activation="tanh", likelihood="gaussian")
    w = net.init(1)
    (W1, b1), (W2, b2) = net.unpack(w)
    X = np.random.default_rng(2).normal(size=(5, 2))
    expected = np.array([W2 @ np.tanh(W1 @ x + b1) + b2 for x in X])
    np.testing.assert_allclose(net.forward(w, X), expected, rtol=1e-14)


def test_classification_outputs_are_probabilities():
    X = np.random.default_rng(0).normal(size=(7, 3)) * 50
    p = ln.MLP([3, 4, 5], likelihood="categorical").forward(ln.MLP([3, 4, 5]).init(0), X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-14)
    q = ln.MLP([3, 4, 1], likelihood="bernoulli").forward(ln.MLP([3, 4, 1]).init(0), X)
    assert q.shape == (7, 1) and np.all((q >= 0) & (q <= 1))


def test_init_scales_by_fan_in_and_zeroes_biases():
    net = ln.MLP([400, 300, 1])
    layers = net.unpack(net.init(3))
    assert abs(layers[0][0].std() - 1 / np.sqrt(400)) < 0.02 / np.sqrt(400)
    assert np.all(layers[0][1] == 0) and np.all(layers[1][1] == 0)
    np.testing.assert_array_equal(net.init(3), net.init(3))
    np.testing.assert_array_equal(net.init(np.random.default_rng(3)), net.init(np.random.default_rng(3)))
    for seed in (-1, 1.5, "3"):  # NumPy's messages before
        with pytest.raises(ValueError, match=f"seed must be None or a non-negative integer; got {seed!r}"):
            net.init(seed)


def test_prior_groups():
    net = ln.MLP([3, 2, 1])
    assert net.n_groups == 4
    assert net.group_names == ["W1", "b1", "W2", "b2"]
    assert net.group_index.tolist() == [0] * 6 + [1] * 2 + [2] * 2 + [3]
    assert net.group_sizes.tolist() == [6, 2, 2, 1]


def test_zero_hidden_layers_is_a_linear_model():
    net = ln.MLP([3, 2])
    w = net.init(0)
    X = np.random.default_rng(1).normal(size=(4, 3))
    W, b = net.unpack(w)[0]
    np.testing.assert_allclose(net.forward(w, X), X @ W.T + b, rtol=1e-14)


@pytest.mark.parametrize("sizes, lik, match", [
    ([3], "gaussian", "sizes"), ([3, 0, 1], "gaussian", "sizes"), ([3, 2.5, 1], "gaussian", "sizes"),
    ([3, "2", 1], "gaussian", "sizes"), ([3, 2.0, 1], "gaussian", "sizes"),  # were taken as 2
    ([3, np.int64(2), True], "gaussian", "sizes"),
    ("abc", "gaussian", "sizes"), ([3, 2], "bernoulli", "1 output"), ([3, 1], "categorical", "at least 2"),
])
def test_bad_specifications(sizes, lik, match):
    with pytest.raises(ValueError, match=match):
        ln.MLP(sizes, likelihood=lik)


def test_unknown_names_list_the_choices():
    with pytest.raises(ValueError, match="activation must be one of 'tanh'.*got 'sigmoid'"):
        ln.MLP([2, 1], activation="sigmoid")
    with pytest.raises(ValueError, match="likelihood must be one of 'gaussian'.*got 'poisson'"):
        ln.MLP([2, 1], likelihood="poisson")


def test_wrong_weight_length_names_w():
    net = ln.MLP([3, 2, 1])
    with pytest.raises(ValueError, match="w must be a vector of length 11"):
        net.unpack(np.zeros(10))
    with pytest.raises(ValueError, match="layer 1 must have W of shape"):
        net.pack([(np.zeros((3, 2)), np.zeros(2)), (np.zeros((1, 2)), np.zeros(1))])


@pytest.mark.parametrize("bad, match", [(np.nan, "w must be finite"), (np.inf, "w must be finite"),
                                        (1j, "w must be real numbers")])
def test_forward_checks_w_as_error_does(bad, match):
    net = ln.MLP([3, 2, 1])
    X, T = np.ones((4, 3)), np.zeros((4, 1))
    w = np.where(np.arange(net.n_params) == 2, bad, net.init(0))  # one bad entry
    with pytest.raises(ValueError, match=match):
        net.forward(w, X)
    with pytest.raises(ValueError, match=match):
        ln.error(net, w, X, T, 0.1, 1.0)
