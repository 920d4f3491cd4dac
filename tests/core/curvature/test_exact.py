"""The exact Hessian by extended backpropagation (PRML 5.92-5.95, any depth) against finite differences."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from laplacenet.check import numerical_hessian, relative_error
from laplacenet.core.curvature.backprop import backprop, forward_pass, hidden_slopes, preact_hessian
import laplacenet as ln
from laplacenet.core.curvature import exact as exact_module
from laplacenet.core.curvature.exact import (_second_order_index, block_exact_hessian, exact_data_hessian,
                                        gram_exact_hessian)
from laplacenet.core.routes import hessian
from laplacenet.core.objective import validate_problem

from tests.problems import ACTIVATION_NAMES, make_problem

# (likelihood, outputs, beta): multi-output Gaussian with a scalar and with a per-output beta.
LIKELIHOOD_CASES = [
    ("gaussian", 2, 1.7),
    ("gaussian", 2, np.array([0.6, 2.5])),
    ("bernoulli", 1, None),
    ("categorical", 3, None),
]
HIDDEN = (4, 3, 3)


def kink_distance(net, w, X):
    """Smallest |a| over the hidden pre-activations.

    A step of eps = 1e-6 in one weight moves a pre-activation by about eps |z|; with every |a| above 1e-4
    no step crosses a relu kink, so finite differences see the smooth piece where h'' = 0.
    """
    a = forward_pass(net, net.unpack(w), np.asarray(X, dtype=float)).a[:-1]
    return min((np.min(np.abs(a_l)) for a_l in a), default=np.inf)


def grouped_alpha(net, seed):
    return np.random.default_rng(seed).uniform(0.1, 1.0, net.n_groups)


@pytest.mark.parametrize("depth", [0, 1, 2, 3])
@pytest.mark.parametrize("case", LIKELIHOOD_CASES, ids=["gauss", "gauss-vector-beta", "bernoulli", "softmax"])
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_exact_matches_finite_differences(activation, case, depth):
    likelihood, K, beta = case
    net, w, X, T = make_problem(likelihood, activation, hidden=HIDDEN[:depth], n_outputs=K, n=9, seed=depth)
    assert kink_distance(net, w, X) > 1e-4
    alpha = grouped_alpha(net, depth)
    H = hessian(net, w, X, T, alpha, beta, method="exact")
    assert H.shape == (net.n_params, net.n_params)
    assert np.array_equal(H, H.T)
    assert relative_error(H, numerical_hessian(net, w, X, T, alpha, beta)) <= 1e-6


def test_exact_data_part_has_no_prior():
    net, w, X, T = make_problem("categorical", "tanh", hidden=(4, 3), n=8)
    w_, X_, T_, _, beta = validate_problem(net, w, X, T, 0.0, None)
    H_data = exact_data_hessian(net, w_, X_, T_, beta)
    H = hessian(net, w, X, T, 0.8, method="exact")
    assert np.array_equal(H, H_data + 0.8 * np.eye(net.n_params))


def test_exact_is_not_the_outer_product_with_hidden_units():
    # The h'' and g_m terms matter: a wrong Hessian that dropped them would pass as Gauss-Newton.
    net, w, X, T = make_problem("gaussian", "tanh", hidden=(4, 3), n=8)
    exact = hessian(net, w, X, T, 0.0, 1.0, method="exact")
    outer = hessian(net, w, X, T, 0.0, 1.0, method="outer")
    assert relative_error(outer, exact) > 1e-3
    assert relative_error(exact, numerical_hessian(net, w, X, T, 0.0, 1.0)) <= 1e-6


@pytest.mark.parametrize("likelihood", ["gaussian", "categorical"])
def test_exact_chunking_does_not_change_the_result(likelihood):
    net, w, X, T = make_problem(likelihood, "softplus", hidden=(4, 3, 2), n=11)
    one = hessian(net, w, X, T, 0.5, 1.3, method="exact")
    for chunk_size in (1, 3, 10):
        assert relative_error(hessian(net, w, X, T, 0.5, 1.3, method="exact", chunk_size=chunk_size),
                              one) <= 1e-12


def test_exact_over_budget_points_to_matrix_free_products():
    net, w, X, T = make_problem("gaussian", "tanh", hidden=(4,))
    with pytest.raises(ValueError, match="hvp"):
        hessian(net, w, X, T, 0.5, 1.3, method="exact", max_bytes=8 * net.n_params ** 2 - 1)


@settings(max_examples=12, deadline=None)
@given(sizes=st.lists(st.integers(1, 4), min_size=2, max_size=5), n=st.integers(1, 6),
       activation=st.sampled_from(ACTIVATION_NAMES),
       likelihood=st.sampled_from(["gaussian", "bernoulli", "categorical"]),
       scalar_alpha=st.booleans(), seed=st.integers(0, 2**16))
def test_exact_property(sizes, n, activation, likelihood, scalar_alpha, seed):
    K = {"gaussian": sizes[-1], "bernoulli": 1, "categorical": max(2, sizes[-1])}[likelihood]
    net, w, X, T = make_problem(likelihood, activation, hidden=sizes[1:-1], n_inputs=sizes[0], n_outputs=K,
                                n=n, seed=seed)
    assume(activation != "relu" or kink_distance(net, w, X) > 1e-4)
    alpha = 0.3 if scalar_alpha else grouped_alpha(net, seed)
    beta = np.linspace(0.5, 2.0, K)
    H = hessian(net, w, X, T, alpha, beta, method="exact")
    assert np.array_equal(H, H.T)
    assert relative_error(H, numerical_hessian(net, w, X, T, alpha, beta)) <= 1e-6


def test_repeated_hessians_of_networks_of_different_widths_agree_with_fresh_ones():
    """The triangle index maps are computed once per width and shared (read-only): later Hessians, of other
    widths in between, are the same numbers as the first."""
    from laplacenet.core.curvature import _blocks
    firsts = {}
    for hidden in (3, 5, 3, 4, 5):
        net, w, X, T = make_problem("categorical", hidden=(hidden,), n_outputs=3, n=30, seed=hidden)
        H = hessian(net, w, X, T, 0.0, method="exact")
        if hidden not in firsts:
            assert relative_error(H, numerical_hessian(net, w, X, T, 0.0)) <= 1e-6
        assert np.array_equal(H, firsts.setdefault(hidden, H))
    assert not _blocks._tri_index(4).flags.writeable and not _blocks._triu(4)[0].flags.writeable


@pytest.mark.parametrize("method", ["exact", "outer"])
def test_blocks_placed_at_once_or_unit_by_unit_give_the_same_hessian(monkeypatch, method):
    """Small blocks go into H in one assignment, large ones unit by unit: the same numbers either way."""
    from laplacenet.core.curvature import _blocks
    net, w, X, T = make_problem("categorical", hidden=(5, 4), n_outputs=3, n=30, seed=2)
    monkeypatch.setattr(_blocks, "_WHOLE_BLOCK_FLOATS", 0)
    by_unit = hessian(net, w, X, T, 0.0, method=method)
    monkeypatch.setattr(_blocks, "_WHOLE_BLOCK_FLOATS", 2**30)
    at_once = hessian(net, w, X, T, 0.0, method=method)
    assert np.array_equal(by_unit, at_once)
    if method == "exact":
        assert relative_error(at_once, numerical_hessian(net, w, X, T, 0.0)) <= 1e-6


# --- the Gram route of one hidden layer --------------------------------------------------------------------

@pytest.mark.parametrize("case", LIKELIHOOD_CASES, ids=["gauss", "gauss-vector-beta", "bernoulli", "softmax"])
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_the_gram_route_matches_finite_differences_and_the_blocks(activation, case):
    likelihood, K, beta = case
    net, w, X, T = make_problem(likelihood, activation, hidden=(5,), n_outputs=K, n=13, seed=4)
    assert kink_distance(net, w, X) > 1e-4
    w_, X_, T_, _, beta_ = validate_problem(net, w, X, T, 0.0, beta)
    gram = gram_exact_hessian(net, w_, X_, T_, beta_)
    assert np.array_equal(gram, gram.T)
    assert relative_error(gram, numerical_hessian(net, w, X, T, 0.0, beta)) <= 1e-6
    assert relative_error(gram, block_exact_hessian(net, w_, X_, T_, beta_)) <= 1e-13
    for chunk_size in (1, 4):  # the chunks' sums, in row order
        assert relative_error(gram_exact_hessian(net, w_, X_, T_, beta_, chunk_size), gram) <= 1e-13


def test_the_gram_route_keeps_both_second_order_terms():
    # dropping either the h'' term (same unit) or the g h' term (in and out of a unit) is caught
    net, w, X, T = make_problem("gaussian", "tanh", hidden=(5,), n_outputs=1, n=13, seed=2)
    w_, X_, T_, _, beta = validate_problem(net, w, X, T, 0.0, 1.0)
    gram = gram_exact_hessian(net, w_, X_, T_, beta)
    outer = hessian(net, w, X, T, 0.0, 1.0, method="outer")
    unit, out = _second_order_index(net)
    same, cross = np.zeros_like(gram), np.zeros_like(gram)
    same[unit[:, :, None], unit[:, None, :]] = 1.0
    cross[unit[None], out[:, :, None]] = cross[out[:, :, None], unit[None]] = 1.0
    difference = gram - outer
    assert np.all(difference[(same + cross) == 0] == 0.0)  # no second-order term elsewhere
    assert np.abs(difference[same == 1]).max() > 1e-3 and np.abs(difference[cross == 1]).max() > 1e-3


def test_the_exact_hessian_takes_the_gram_route_where_its_cost_model_says_so(monkeypatch):
    taken = []
    monkeypatch.setattr(exact_module, "gram_exact_hessian", lambda *a: taken.append("gram") or "G")
    monkeypatch.setattr(exact_module, "block_exact_hessian", lambda *a: taken.append("blocks") or "B")
    for sizes, likelihood, route in [((1, 50, 1), "gaussian", "gram"), ((4, 50, 3), "categorical", "gram"),
                                     ((4, 20, 3), "categorical", "blocks"), ((13, 50, 3), "categorical", "blocks"),
                                     ((1, 50, 50, 1), "gaussian", "blocks")]:
        net = ln.MLP(list(sizes), likelihood=likelihood)
        exact_data_hessian(net, None, None, None, 1.0 if likelihood == "gaussian" else None)
        assert taken.pop() == route, sizes
    with pytest.raises(ValueError, match="one hidden layer"):
        gram_exact_hessian(ln.MLP([1, 3, 3, 1]), None, None, None, 1.0)


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli", "categorical"])
def test_preact_hessians_match_finite_differences_of_the_biases(likelihood):
    """M_l = d^2 E_n / da_l^2 backpropagated one layer at a time (PRML 5.80 in full) is the Hessian in b_l, as
    da_l / db_l = I; ``diagonal_only`` gives its diagonal."""
    net, w, X, T = make_problem(likelihood, hidden=(4, 3), n=1, seed=2)
    w, X, T, _, beta = validate_problem(net, w, X, T, 0.0, 1.3 if likelihood == "gaussian" else None)
    layers = net.unpack(w)
    fw = forward_pass(net, layers, X)
    slopes = hidden_slopes(net, fw)
    g = backprop(layers, slopes, net.likelihood.delta(fw.y, T, beta))
    H = numerical_hessian(net, w, X, T, 0.0, beta)
    M = net.likelihood.output_hessian(fw.y, beta)
    for l in range(net.n_layers - 2, -1, -1):
        W = layers[l + 1][0]
        curvature = net.activation.d2h(fw.a[l], fw.z[l + 1]) * (g[l + 1] @ W)
        diagonal = preact_hessian(M, W, slopes[l], curvature, diagonal_only=True)
        M = preact_hessian(M, W, slopes[l], curvature)
        bias = net.layer_slices[l][1]
        assert relative_error(M[0], H[bias, bias]) <= 1e-6
        assert relative_error(diagonal, np.diagonal(M, axis1=1, axis2=2)) <= 1e-13
