"""Curvature: the seven curvature options as one frozen object, validated as the public functions validate them."""
import dataclasses
import inspect

import numpy as np
import pytest

import laplacenet as ln
from laplacenet._cli_parser import _CONFLICTS
from laplacenet.bayes.laplace import build_posterior, validate_bayesian
from laplacenet.bayes.options import Curvature, CurvatureConflict
from tests.problems import make_problem

OPTIONS = [field.name for field in dataclasses.fields(Curvature)]


def test_a_curvature_is_frozen_hashable_and_normalised():
    curvature = Curvature("lowrank", 0, 50, "all", np.int64(3), "exact", np.bool_(True))
    assert curvature == Curvature("lowrank", 0.0, 50, None, 3, "exact", True)
    assert hash(curvature) == hash(Curvature("lowrank", 0.0, 50, None, 3, "exact", True))
    same = Curvature("lowrank", rank=3, chunk_size=50, lowrank_hessian="exact", lowrank_diag=True)
    assert len({curvature, same}) == 1
    assert [type(getattr(curvature, name)) for name in ("jitter", "chunk_size", "rank", "lowrank_diag")] == \
        [float, int, int, bool]
    with pytest.raises(dataclasses.FrozenInstanceError):
        curvature.jitter = 1.0


@pytest.mark.parametrize("function", [ln.laplace, ln.log_evidence, ln.reestimate, ln.log_evidence_gradient,
                                      ln.fit_evidence, ln.compare_models, ln.BayesianMLPRegressor,
                                      ln.BayesianMLPClassifier])
def test_its_defaults_are_those_of_every_public_signature_but_the_hessian_of_the_estimators(function):
    parameters = inspect.signature(function).parameters
    defaults = {name: parameters[name].default for name in OPTIONS if name in parameters}
    expected = {field.name: field.default for field in dataclasses.fields(Curvature)}
    if function in (ln.compare_models, ln.BayesianMLPRegressor, ln.BayesianMLPClassifier):
        expected["hessian"] = "outer"  # the robust choice of the evidence loop they run
    assert defaults == {name: expected[name] for name in defaults}
    assert set(OPTIONS) - set(defaults) <= {"chunk_size"}  # the estimators and compare_models read in one go


BAD = [dict(hessian="full"), dict(hessian=3), dict(subset="first"), dict(subset="last_layer", hessian="diag"),
       dict(hessian="lowrank"), dict(hessian="lowrank", rank=0), dict(hessian="lowrank", rank=2.5),
       dict(hessian="lowrank", rank=2, lowrank_hessian="fd"), dict(hessian="lowrank", rank=2, lowrank_diag="yes"),
       dict(rank=3), dict(lowrank_hessian="exact"), dict(lowrank_diag=True), dict(lowrank_diag=np.False_),
       dict(jitter=-1.0), dict(jitter=np.nan), dict(jitter=True), dict(jitter="0"), dict(chunk_size=0),
       dict(chunk_size=1.5), dict(hessian="lowrank", rank=10**6)]


@pytest.mark.parametrize("options", BAD, ids=[repr(o) for o in BAD])
def test_a_bad_option_gets_the_error_of_the_public_functions(options):
    net, w, X, T = make_problem(hidden=(3,))
    with pytest.raises(ValueError) as public:
        ln.laplace(net, w, X, T, 1.0, 2.0, **options)
    with pytest.raises(ValueError) as evidence:
        ln.log_evidence(net, w, X, T, 1.0, 2.0, **options)
    with pytest.raises(ValueError) as own:
        Curvature(**options).within(net.n_params)
    assert str(own.value) == str(public.value) == str(evidence.value)
    assert any(name in str(own.value) for name in OPTIONS)


@pytest.mark.parametrize("options", [dict(hessian="diag", subset="last_layer"), dict(hessian="lowrank"),
                                     dict(hessian="outer", rank=2), dict(hessian="kron", lowrank_diag=True)])
def test_every_conflict_has_a_rule_the_command_line_words_in_its_options(options):
    with pytest.raises(CurvatureConflict) as conflict:
        Curvature(**options)
    assert conflict.value.rule in _CONFLICTS


STRUCTURES = [dict(hessian="exact"), dict(hessian="outer", jitter=0.25, chunk_size=5), dict(hessian="diag"),
              dict(hessian="kron", chunk_size=4), dict(hessian="lowrank", rank=3, lowrank_diag=True),
              dict(hessian="lowrank", rank=4, lowrank_hessian="exact", jitter=1.0),
              dict(hessian="outer", subset="last_layer"), dict(hessian="fd", jitter=0.5)]


@pytest.mark.parametrize("options", STRUCTURES, ids=[repr(o) for o in STRUCTURES])
def test_laplace_of_the_keywords_is_the_posterior_of_the_curvature_to_the_bit(options):
    net, w, X, T = make_problem(hidden=(3,), n=23)
    alpha, beta = np.array([40.0, 50.0, 60.0, 80.0]), 3.0  # positive definite A at these untrained weights
    public = ln.laplace(net, w, X, T, alpha, beta, **options)
    built = build_posterior(net, *validate_bayesian(net, w, X, T, alpha, beta)[:4], beta, Curvature(**options))
    assert (public.hessian, public.subset, public.jitter, public.chunk_size) == \
        (built.hessian, built.subset, built.jitter, built.chunk_size)
    assert public.log_det == built.log_det
    assert np.array_equal(public.variances(), built.variances())
    X_new = np.linspace(-1.0, 1.0, 12).reshape(4, 3)
    assert all(np.array_equal(a, b) for a, b in zip(public.predict(X_new), built.predict(X_new)))


def test_the_evidence_loop_warns_at_the_line_that_called_it():
    net, _, X, T = make_problem(hidden=(2,), n=15)
    with pytest.warns(ln.EvidenceConvergenceWarning) as caught:
        ln.fit_evidence(net, X, T, hessian="outer", cycles=1)
    assert {w.filename for w in caught} == {__file__}
    with pytest.warns(ln.EvidenceConvergenceWarning) as caught:
        ln.BayesianMLPRegressor(hidden=(2,), cycles=1).fit(X, T)
    assert {w.filename for w in caught} == {ln.estimators.__file__}
