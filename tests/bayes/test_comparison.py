import math

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import laplacenet as ln
from laplacenet.bayes.comparison import ComparisonCycle, ModelComparison, compare_estimators, compare_models
from laplacenet.bayes.hyper import EvidenceCycle, fit_evidence

from tests.problems import FAST, on_grid, symmetry_of, wald_counts

pytestmark = pytest.mark.usefixtures("quiet_evidence_dips")


def _sinusoid(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, 1))
    return x, np.sin(2 * np.pi * x) + 0.1 * rng.normal(size=(n, 1))


def test_rows_are_the_restarts_of_fit_evidence_plus_the_symmetry_term():
    X, T = _sinusoid(30, 0)
    X_test, T_test = _sinusoid(50, 1)
    table = compare_models(X, T, hidden_sizes=[0, 2], restarts=2, X_test=X_test, T_test=T_test, seed=3, cycles=5,
                           train_kwargs=FAST)
    assert isinstance(table, ModelComparison) and len(table) == 4
    assert [(r.hidden, r.restart) for r in table.rows] == [((), 0), ((), 1), ((2,), 0), ((2,), 1)]
    # standardised inside (on the grid of 2**-26), reported in the data's units
    x_mean, x_sd, t_mean, t_sd = X.mean(), X.std(), T.mean(), T.std()
    result = fit_evidence(ln.MLP([1, 2, 1]), on_grid((X - x_mean) / x_sd), on_grid((T - t_mean) / t_sd), "auto",
                          "auto", "outer", cycles=5, restarts=2, seed=3, train_kwargs=FAST)
    for row, run in zip(table.rows[2:], result.restarts):
        # ln M_a! + M_a ln 2 over the units the restart's posterior tells from zero
        counts = wald_counts([1, 2, 1], run.w, run.posterior.variances())
        assert row.n_distinguishable == counts
        assert row.log_evidence == pytest.approx(run.log_evidence - 30 * math.log(t_sd) + symmetry_of(counts),
                                                 rel=1e-10)
        assert row.beta == pytest.approx(run.beta / t_sd ** 2, rel=1e-10)
        assert row.alpha == pytest.approx(run.alpha, rel=1e-10) and row.gamma == pytest.approx(run.gamma, rel=1e-10)
        assert row.n_params == 7
        net = ln.MLP([1, 2, 1])

        def predicted(X_new):
            return t_mean + t_sd * net.forward(run.w, on_grid((X_new - x_mean) / x_sd))
        assert row.train_error == pytest.approx(np.mean((predicted(X) - T) ** 2), rel=1e-8)
        assert row.test_error == pytest.approx(np.mean((predicted(X_test) - T_test) ** 2), rel=1e-8)
    # A straight line cannot follow a sinusoid: the evidence prefers the hidden units.
    assert table.best().hidden == (2,)
    text = str(table)
    assert "log evidence" in text and text.count("\n") == 4
    assert table.to_dicts()[0]["hidden"] == ()


def test_the_callback_sees_every_cycle_tagged_with_its_architecture():
    X, T = _sinusoid(25, 4)
    seen = []
    compare_models(X, T, hidden_sizes=[1, (2,)], restarts=2, seed=1, cycles=3, train_kwargs=FAST,
                   callback=seen.append, standardize=False)
    assert all(isinstance(c, ComparisonCycle) and isinstance(c, EvidenceCycle) for c in seen)
    for hidden in [(1,), (2,)]:
        with threadpool_limits(limits=1, user_api="blas"):  # as compare_models runs networks this small
            result = fit_evidence(ln.MLP([1, *hidden, 1]), X, T, "auto", "auto", "outer", cycles=3, restarts=2,
                                  seed=1, train_kwargs=FAST)
        cycles = [c for run in result.restarts for c in run.history]
        tagged = [c for c in seen if c.hidden == hidden]
        assert [ComparisonCycle(**vars(c), hidden=hidden) for c in cycles] == tagged and len(tagged) >= 4
    assert [c.hidden for c in seen] == sorted(c.hidden for c in seen)  # architecture by architecture
    with pytest.raises(ValueError, match="callback must be callable or None"):
        compare_models(X, T, hidden_sizes=[1], callback="print")


@pytest.mark.parametrize("structure", [{"hessian": "kron"}, {"hessian": "lowrank", "rank": 4}])
def test_structured_posteriors_pass_through_to_fit_evidence(structure):
    X, T = _sinusoid(25, 5)
    table = compare_models(X, T, hidden_sizes=[2], restarts=1, seed=0, cycles=3, train_kwargs=FAST, symmetry=False,
                           standardize=False, **structure)
    result = fit_evidence(ln.MLP([1, 2, 1]), X, T, cycles=3, seed=0, train_kwargs=FAST, **structure)
    assert table.rows[0].log_evidence == result.log_evidence and table.rows[0].gamma == result.gamma
    assert result.posterior.hessian == structure["hessian"]


def test_classification_comparison_without_test_data():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 2))
    T = (X[:, 0] > 0).astype(int)
    table = compare_models(X, T, hidden_sizes=[(), 1], restarts=1, likelihood="bernoulli", seed=0, cycles=5,
                           symmetry=False)
    assert all(r.beta is None and r.test_error is None for r in table.rows)
    assert all(0 <= r.train_error <= 0.1 for r in table.rows)


def test_bad_arguments_are_named():
    X, T = _sinusoid(10, 0)
    with pytest.raises(ValueError, match="hidden must be a positive int"):
        compare_models(X, T, hidden_sizes=[-1])
    with pytest.raises(ValueError, match="X_test and T_test must be given together"):
        compare_models(X, T, hidden_sizes=[1], X_test=X)
    with pytest.raises(ValueError, match="likelihood must be one of"):
        compare_models(X, T, hidden_sizes=[1], likelihood="poisson")
    with pytest.raises(ValueError, match="hidden_sizes must name at least one architecture"):
        compare_models(X, T, hidden_sizes=[])


@pytest.mark.parametrize("hidden_sizes", [3, "3", None, np.int64(2)])
def test_hidden_sizes_must_be_a_sequence_of_architectures(hidden_sizes):
    X, T = _sinusoid(10, 0)
    expected = r"hidden_sizes must be a sequence of architectures.*\[3\] or \[\(3,\), \(5, 2\)\]\); got"
    with pytest.raises(ValueError, match=expected):
        compare_models(X, T, hidden_sizes=hidden_sizes)
    with pytest.raises(ValueError, match=expected):
        compare_estimators(ln.BayesianMLPRegressor(), X, T[:, 0], hidden_sizes)
    with pytest.raises(ValueError, match=r"hidden_sizes\[1\]: hidden must be a positive int"):
        compare_models(X, T, hidden_sizes=[2, (3, 0)])
