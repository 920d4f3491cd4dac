"""The hidden-unit symmetry term counts only the units the posterior tells from zero (laplacenet.bayes.symmetry)."""
import inspect
import math

import numpy as np
import pytest
from scipy.stats import chi2

import laplacenet as ln
from laplacenet.check import relative_error
from laplacenet.bayes.comparison import compare_models
from laplacenet.bayes.symmetry import distinguishable_units, marginal_variances, symmetry_term, wald_units

from tests.problems import symmetry_of, wald_counts


def _sinusoid(n=60, noise=0.02, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 1))
    return X, np.sin(3 * X) + noise * rng.normal(size=X.shape)


@pytest.fixture(scope="module")
def three_units():
    """A network of 3 tanh units trained by the evidence loop on a sinusoid it needs them all for."""
    X, T = _sinusoid()
    net = ln.MLP([1, 3, 1])
    fit = ln.fit_evidence(net, X, T, hessian="outer", seed=0)
    assert fit.converged
    return net, fit, X, T


def _with_dead_units(net, w, extra):
    """The same function with ``extra`` more hidden units whose incoming and outgoing weights are all zero."""
    (W1, b1), (W2, b2) = net.unpack(w)
    wider = ln.MLP([net.n_inputs, net.sizes[1] + extra, net.n_outputs], net.activation.name)
    return wider, wider.pack([(np.vstack([W1, np.zeros((extra, W1.shape[1]))]), np.append(b1, np.zeros(extra))),
                              (np.hstack([W2, np.zeros((W2.shape[0], extra))]), b2)])


def test_dead_units_change_neither_the_evidence_nor_the_count(three_units):
    net, fit, X, T = three_units
    small = ln.log_evidence(net, fit.w, X, T, fit.alpha, fit.beta, "outer", terms=True)
    wide_net, wide_w = _with_dead_units(net, fit.w, 3)
    assert relative_error(wide_net.forward(wide_w, X), net.forward(fit.w, X)) <= 1e-14  # the same function
    wide = ln.log_evidence(wide_net, wide_w, X, T, fit.alpha, fit.beta, "outer", terms=True)
    assert small.n_distinguishable == wide.n_distinguishable == (3,)
    assert wide.symmetry == small.symmetry == pytest.approx(math.lgamma(4) + 3 * math.log(2), rel=1e-12)
    # A dead unit's Gauss-Newton curvature is zero: its 3 weights add ln alpha to ln|A| and W/2 ln alpha the same
    # 3/2 ln alpha back, an Occam factor of exactly 1.
    assert wide.log_det + wide.log_alpha == pytest.approx(small.log_det + small.log_alpha, abs=1e-9)
    assert wide.total == pytest.approx(small.total, abs=1e-6)
    # counting every unit, as MacKay's term did, would credit the dead ones with ln(6!/3!) + 3 ln 2
    assert symmetry_term(wide_net) - symmetry_term(net) == pytest.approx(math.log(120) + 3 * math.log(2), rel=1e-12)


def test_the_count_is_the_wald_rule_on_the_posterior_variances(three_units):
    net, fit, X, T = three_units
    variances = fit.posterior.variances()
    assert np.all(variances < 1.0 / fit.alpha)  # the data narrow every weight
    masks = distinguishable_units(fit.posterior)
    assert len(masks) == 1 and masks[0].dtype == bool and masks[0].shape == (3,)
    assert (int(masks[0].sum()),) == wald_counts(net.sizes, fit.w, variances) == (3,)


def test_a_unit_counts_only_when_both_its_blocks_are_told_from_zero():
    net = ln.MLP([2, 4, 3])
    (W1, b1), (W2, b2) = net.unpack(np.zeros(net.n_params))
    W1[0], b1[0], W2[:, 0] = [5.0, -4.0], 3.0, [6.0, 0.0, -5.0]  # large, well-determined weights: counts
    W1[1], b1[1] = [5.0, -4.0], 3.0                              # no outgoing weight: does not
    W2[:, 2] = [6.0, 0.0, -5.0]                                  # no incoming weight: does not
    W1[3], W2[:, 3] = [5.0, -4.0], [6.0, 0.0, -5.0]              # both, but a wide posterior: does not
    w = net.pack([(W1, b1), (W2, b2)])
    variances = np.full(net.n_params, 0.01)
    (V1, c1), (V2, c2) = net.unpack(variances)
    V1[3], V2[:, 3] = 100.0, 100.0
    mask, = wald_units(net, w, net.pack([(V1, c1), (V2, c2)]))
    assert mask.tolist() == [True, False, False, False]
    assert wald_counts(net.sizes, w, net.pack([(V1, c1), (V2, c2)])) == (1,)


def test_the_threshold_is_the_chi_square_quantile_of_the_block_size():
    net = ln.MLP([2, 1, 1])
    k_in, k_out = 3, 1  # incoming: two weights and the bias; outgoing: one weight
    for scale, expected in [(1.0 + 1e-9, True), (1.0 - 1e-9, False)]:
        # every weight of the block contributes an equal share of the quantile, times scale
        w_in = np.sqrt(scale * chi2.ppf(0.95, k_in) / k_in)
        w = net.pack([(np.full((1, 2), w_in), np.array([w_in])), (np.array([[10.0]]), np.zeros(1))])
        assert wald_units(net, w, np.ones(net.n_params))[0].tolist() == [expected]
        w = net.pack([(np.full((1, 2), 10.0), np.zeros(1)),
                      (np.array([[np.sqrt(scale * chi2.ppf(0.95, k_out))]]), np.zeros(1))])
        assert wald_units(net, w, np.ones(net.n_params))[0].tolist() == [expected]
    with pytest.raises(ValueError, match=r"level must lie in \(0, 1\); got 1.0"):
        wald_units(net, w, np.ones(net.n_params), level=1.0)


def test_the_term_is_ln_m_factorial_plus_m_ln_2():
    net = ln.MLP([2, 5, 4, 1])
    assert symmetry_term(net) == pytest.approx(math.lgamma(6) + 5 * math.log(2) + math.lgamma(5) + 4 * math.log(2),
                                               rel=1e-14)
    for counts in [(0, 0), (3, 0), (5, 4), (2, 1)]:
        assert symmetry_term(net, counts) == pytest.approx(symmetry_of(counts), rel=1e-14, abs=0)
    assert symmetry_term(ln.MLP([2, 1])) == 0.0 == symmetry_term(ln.MLP([2, 1]), ())
    with pytest.raises(ValueError, match=r"n_units must give one count per hidden layer \(2\); got \(3,\)"):
        symmetry_term(net, (3,))


def test_weights_outside_a_last_layer_posterior_take_their_prior_variance(three_units):
    net, fit, X, T = three_units
    alpha = np.array([0.5, 2.0, 1.5, 3.0])
    posterior = ln.laplace(net, fit.w, X, T, alpha, fit.beta, "outer", subset="last_layer")
    variances = marginal_variances(posterior)
    hidden = slice(0, posterior.subset_slice.start)
    assert np.array_equal(variances[hidden], 1.0 / np.repeat(alpha[:2], net.group_sizes[:2]))
    assert np.array_equal(variances[posterior.subset_slice], posterior.variances()[posterior.subset_slice])
    terms = posterior.log_evidence(X, T, terms=True)
    assert terms.n_distinguishable == wald_counts(net.sizes, fit.w, variances)
    assert terms.symmetry == pytest.approx(symmetry_of(terms.n_distinguishable), rel=1e-12, abs=0)


def test_symmetry_is_on_by_default_everywhere():
    for function in (ln.log_evidence, ln.LaplacePosterior.log_evidence, ln.compare_models):
        assert inspect.signature(function).parameters["symmetry"].default is True, function.__qualname__


@pytest.mark.usefixtures("quiet_evidence_dips")
def test_the_estimator_compare_models_and_the_posterior_report_the_same_evidence():
    X, T = _sinusoid()
    X, y = 10.0 + 4.0 * X, 100.0 + 30.0 * T[:, 0]  # raw units: the estimator standardises both
    model = ln.BayesianMLPRegressor(hidden=3, seed=0).fit(X, y)
    row, = compare_models(X, y, hidden_sizes=[3], restarts=1, seed=0).rows
    terms = model.posterior_.log_evidence(*model.posterior_data(X, y), terms=True)
    jacobian = model.scaling_.log_jacobian(len(y))  # -N ln y_scale: the standardised evidence in y's units
    assert terms.n_distinguishable == row.n_distinguishable == (3,) and terms.symmetry > 0
    assert row.log_evidence == pytest.approx(model.log_evidence_, rel=1e-12)
    assert model.log_evidence_ == pytest.approx(terms.total + jacobian, rel=1e-12)
    # the loop's own figure for the kept state is the same without the symmetry term
    kept = model.history_[model.restarts_[model.best_restart_].best_cycle]
    assert kept.log_evidence == pytest.approx(model.log_evidence_ - terms.symmetry, rel=1e-12)
