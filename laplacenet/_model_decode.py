"""A fitted estimator rebuilt from the checked entries of a model file (the inverse of
:mod:`laplacenet._model_encode`).

:func:`decode` takes the reader of :func:`laplacenet.io.load`, which checks each entry's shape and dtype before
reading it and its values after, and checks what the entries must agree on: the estimator's class and
parameters against the network and the posterior (a hidden size, a Hessian structure or a standardisation the
stored model contradicts is refused), the restarts and their histories, the posterior's form and options, the
table ``hidden='auto'`` chose from, the class labels and the fingerprint of the training data. The posterior is
rebuilt from its state (:meth:`~laplacenet.LaplacePosterior.from_state`), so predictions come back bit for bit.
Format-1 files (no standardisation, no accepted flags) are read too. Every refusal goes through the reader's
``fail``: a ``ValueError`` naming the file.
"""
import dataclasses
import reprlib

import numpy as np

from ._model_format import ESTIMATORS, FINGERPRINT_ARRAYS
from ._model_values import decode_classes
from .core._fingerprint import Fingerprint
from .core._validation import check_flag, check_hidden, check_number, is_finite_number
from .bayes.comparison import ComparisonRow, ModelComparison
from .core.curvature.last_layer import last_layer_slice
from .bayes.hyper import EvidenceCycle, EvidenceResult
from .bayes.laplace import FORMS, LaplacePosterior, hyperparameter_value
from .bayes.options import HESSIANS, SUBSETS, check_structure
from .core.network import MLP
from .bayes.posteriors import LowRankPrecision


def decode(reader):
    """The estimator described by the reader of :func:`laplacenet.io.load`."""
    name = reader.field("estimator")
    cls = ESTIMATORS.get(name) if isinstance(name, str) else None
    if cls is None:
        reader.fail(f"unknown estimator class {reprlib.repr(name)} (known: {sorted(ESTIMATORS)})")
    params = reader.decoded("params")
    if not isinstance(params, dict) or (reader.version >= 2 and sorted(params) != sorted(cls._param_names())):
        reader.fail(f"its metadata field 'params' must hold the parameters {cls._param_names()} of a "
                    f"{cls.__name__}; got {reprlib.repr(params)}")
    try:
        estimator = cls(**params)
        net = MLP(*(reader.field("network", key) for key in ("sizes", "activation", "likelihood")))
    except (TypeError, ValueError) as ex:
        reader.fail(f"its estimator parameters or network do not describe a {cls.__name__} ({ex})")
    regressor = name == "BayesianMLPRegressor"
    expected = "gaussian" if regressor else ("bernoulli", "categorical")
    if net.likelihood.name not in expected:
        reader.fail(f"a {cls.__name__} cannot have a {net.likelihood.name!r} likelihood")
    runs = _decode_runs(reader, net)
    best = reader.field("fitted", "best_restart")
    if not isinstance(best, int) or isinstance(best, bool) or not 0 <= best < len(runs):
        reader.fail(f"best_restart {best!r} is not the index of one of its {len(runs)} restarts")
    kept = runs[best]
    kept.posterior = _decode_posterior(reader, net)
    hidden_table = _decode_hidden_table(reader)
    estimator._set_fitted(net, runs, best, _decode_scaling(reader, "x", net.n_inputs, estimator), hidden_table)
    estimator.n_features_in_ = net.n_inputs
    names = reader.field("fitted").get("feature_names_in")  # checked by metadata_problem
    if names is not None:
        estimator.feature_names_in_ = np.array(names, dtype=object)
    if regressor:
        estimator.y_mean_, estimator.y_scale_ = _decode_scaling(reader, "y", net.n_outputs, estimator)
        estimator.beta_, estimator.n_outputs_ = kept.beta, net.n_outputs
        estimator._y_ndim = reader.field("fitted", "y_ndim")
        if estimator._y_ndim not in (1, 2) or isinstance(estimator._y_ndim, bool) or \
                (estimator._y_ndim == 1 and net.n_outputs != 1):
            reader.fail(f"y_ndim {estimator._y_ndim!r} does not fit {net.n_outputs} outputs")
    else:
        estimator.classes_ = _decode_classes(reader, net)
    _check_params(reader, estimator)
    seen = _decode_fingerprint(reader, net)
    if seen is not None:
        estimator._data_fingerprint = seen
    return estimator


def _check_params(reader, estimator):
    """Refuse parameters that contradict the stored model: its hidden layers, its posterior's structure, its
    standardisation."""
    net, posterior = estimator.net_, estimator.posterior_
    try:
        hidden = check_hidden(estimator.hidden, auto=True)
        standardize = check_flag(estimator.standardize, "standardize")
        structure = check_structure(estimator.hessian, estimator.subset, estimator.rank, estimator.lowrank_hessian,
                                    estimator.lowrank_diag)
    except ValueError as ex:
        reader.fail(f"its metadata field 'params' is not valid ({ex})")
    found = []
    if hidden != "auto" and hidden != estimator.hidden_:
        found.append(f"hidden {estimator.hidden!r}, while the network's hidden layers are {estimator.hidden_}")
    if (structure.hessian, structure.subset) != (posterior.hessian, posterior.subset):
        found.append(f"hessian {structure.hessian!r} and subset {structure.subset!r}, while the posterior was built "
                     f"with hessian {posterior.hessian!r} and subset {posterior.subset!r}")
    factors = posterior.precision
    if isinstance(factors, LowRankPrecision):
        if factors.rank != min(structure.rank, net.n_params):
            found.append(f"rank {structure.rank!r}, while the posterior holds {factors.rank} eigenpairs")
        if not structure.lowrank_diag and np.any(factors.correction):
            found.append("lowrank_diag False, while the posterior holds a diagonal correction")
    scalings = [estimator.x_mean_, estimator.x_scale_ - 1, getattr(estimator, "y_mean_", 0),
                getattr(estimator, "y_scale_", 1) - 1]
    if not standardize and any(np.any(a) for a in scalings):
        found.append("standardize False, while the model holds a standardisation")
    if found:
        reader.fail(f"its metadata field 'params' contradicts the stored model: {'; '.join(found)}")


def _decode_fingerprint(reader, net):
    """What the fit remembered of its data (:mod:`laplacenet.core._fingerprint`), or None (not stored)."""
    rows = reader.field("fitted").get("fingerprint_rows")
    stored = [name for name in FINGERPRINT_ARRAYS if f"fingerprint_{name}" in reader.archive.files]
    if rows is None and not stored:
        return None
    if not isinstance(rows, int) or isinstance(rows, bool) or not 0 < rows < 2**63:
        reader.fail(f"its metadata field 'fitted.fingerprint_rows' must be a positive integer; got {rows!r}")
    if not stored:
        return Fingerprint(rows)
    sizes = {"x": net.n_inputs, "t": net.n_outputs}
    return Fingerprint(rows, *(np.array(reader.array(f"fingerprint_{name}", (sizes[name[0]],)))
                               for name in FINGERPRINT_ARRAYS))


def _decode_hidden_table(reader):
    """The :class:`ModelComparison` ``hidden='auto'`` chose from, or None (another ``hidden``, an older file)."""
    if reader.field("fitted").get("hidden_table") is None:
        return None
    rows = reader.decoded("fitted", "hidden_table")
    fields = [field.name for field in dataclasses.fields(ComparisonRow)]
    if not (isinstance(rows, list) and rows and all(isinstance(row, dict) and sorted(row) == sorted(fields)
                                                    for row in rows)):
        reader.fail(f"its hidden_table is not a list of rows with the fields {fields}")
    for i, row in enumerate(rows):
        wrong = [key for key, check in _ROW_FIELDS.items() if not check(row[key])]
        if wrong:
            reader.fail(f"its metadata field 'fitted.hidden_table[{i}]' has values of the wrong type in {wrong}")
    return ModelComparison(ComparisonRow(**row) for row in rows)


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def _is_hyperparameter(value):
    return is_finite_number(value) or (isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.ndim == 1)


# the type each field of a ComparisonRow of a hidden_table must have
_ROW_FIELDS = {
    "hidden": lambda v: isinstance(v, tuple) and all(_is_count(m) and m > 0 for m in v),
    "restart": _is_count, "n_params": _is_count, "log_evidence": is_finite_number, "gamma": is_finite_number,
    "alpha": _is_hyperparameter, "beta": lambda v: v is None or _is_hyperparameter(v),
    "train_error": is_finite_number, "test_error": lambda v: v is None or is_finite_number(v),
    "converged": lambda v: isinstance(v, bool),
    "n_distinguishable": lambda v: v is None or (isinstance(v, tuple) and all(_is_count(m) for m in v)),
}


def _decode_scaling(reader, which, size, estimator):
    """Shifts and scales (``size``,) of the inputs or targets; a format-1 file (no standardisation) gives 0 and 1
    and an estimator that does not standardise."""
    if reader.version == 1:
        estimator.standardize = False
        return np.zeros(size), np.ones(size)
    shift = reader.array(f"{which}_mean", (size,))
    scale = reader.array(f"{which}_scale", (size,))  # positive, as entry_problem requires
    return np.array(shift), np.array(scale)


def _decode_runs(reader, net):
    """The restarts as :class:`EvidenceResult` objects (posterior None), with their histories."""
    W, G, K = net.n_params, net.n_groups, net.n_outputs
    lengths = reader.array("history_length", (None,), "i")
    R, n = lengths.size, int(lengths.sum())
    if R == 0 or np.any(lengths < 0):
        reader.fail(f"its restart history lengths {lengths.tolist()} are not valid")
    uses_beta = net.likelihood.uses_beta
    alphas = reader.hyperparameter("restart_alpha", (R,), G)
    betas = reader.hyperparameter("restart_beta", (R,), K) if uses_beta else [None] * R
    history_betas = reader.hyperparameter("history_beta", (n,), K) if uses_beta else [None] * n
    accepted = reader.array("history_accepted", (n,), "b") if reader.version >= 2 else np.ones(n, dtype=bool)
    cycles = [EvidenceCycle(int(r), int(c), hyperparameter_value(a), hyperparameter_value(b), float(g), float(e),
                            float(t), bool(ok), bool(kept))
              for r, c, a, b, g, e, t, ok, kept in zip(
                  reader.array("history_restart", (n,), "i"), reader.array("history_cycle", (n,), "i"),
                  reader.hyperparameter("history_alpha", (n,), G), history_betas,
                  reader.array("history_gamma", (n,)), reader.array("history_log_evidence", (n,)),
                  reader.array("history_train_error", (n,)), reader.array("history_train_converged", (n,), "b"),
                  accepted)]
    starts = np.concatenate([[0], np.cumsum(lengths)])
    runs = [EvidenceResult(w, hyperparameter_value(a), hyperparameter_value(b), float(g), float(e),
                           cycles[starts[r]:starts[r + 1]], bool(ok), None)
            for r, (w, a, b, g, e, ok) in enumerate(zip(
                reader.array("restart_w", (R, W)), alphas, betas, reader.array("restart_gamma", (R,)),
                reader.array("restart_log_evidence", (R,)), reader.array("restart_converged", (R,), "b")))]
    if reader.version >= 2:
        messages, at_bound = reader.field("fitted", "restart_messages"), reader.field("fitted", "restart_at_bound")
        if not (isinstance(messages, list) and isinstance(at_bound, list) and len(messages) == len(at_bound) == R
                and all(isinstance(m, str) for m in messages)
                and all(isinstance(b, list) and all(isinstance(g, str) for g in b) for b in at_bound)):
            reader.fail(f"its metadata fields 'fitted.restart_messages' and 'fitted.restart_at_bound' must be a "
                        f"string and a list of strings for each of its {R} restarts")
        for run, cycle, trained, message, bound in zip(runs, reader.array("restart_best_cycle", (R,), "i"),
                                                       reader.array("restart_train_converged", (R,), "b"),
                                                       messages, at_bound):
            run.best_cycle, run.train_converged, run.message, run.at_bound = int(cycle), bool(trained), \
                str(message), [str(name) for name in bound]
    return runs


def _decode_posterior(reader, net):
    """The Laplace posterior, rebuilt from its state (:meth:`LaplacePosterior.from_state`, PRML 5.167) once each
    value is checked."""
    W = net.n_params
    form, hessian, subset, jitter, chunk_size, n_data = (
        reader.field("posterior", key) for key in ("form", "hessian", "subset", "jitter", "chunk_size", "n_data"))
    if form not in FORMS or hessian not in HESSIANS or subset not in (None, *SUBSETS):
        reader.fail(f"its posterior form {form!r}, hessian {hessian!r} or subset {subset!r} is not known")
    if not is_finite_number(jitter):
        reader.fail(f"its metadata field 'posterior.jitter' must be a finite number; got {reprlib.repr(jitter)}")
    jitter = check_number(float(jitter), "jitter")
    counts = {"chunk_size": chunk_size, "n_data": n_data}
    if form == "kron":
        counts["kron_n_data"] = reader.field("posterior", "kron_n_data")
    for key, value in counts.items():
        if not (value is None and key == "chunk_size") and not (_is_count(value) and value > 0):
            reader.fail(f"its metadata field 'posterior.{key}' must be a positive integer; got {reprlib.repr(value)}")
    dim = W if subset is None else last_layer_slice(net).stop - last_layer_slice(net).start
    state = dict(counts, form=form, hessian=hessian, subset=subset, jitter=jitter, mean=reader.array("mean", (W,)),
                 alpha=reader.hyperparameter("posterior_alpha", (), net.n_groups),
                 beta=reader.hyperparameter("posterior_beta", (), net.n_outputs) if net.likelihood.uses_beta else None)
    if form == "kron":
        state.update({f"kron_output_factor_{l}": reader.array(f"kron_output_factor_{l}", (d, d))
                      for l, d in enumerate(net.sizes[1:])})
        state.update({f"kron_input_factor_{l}": reader.array(f"kron_input_factor_{l}", (d, d))
                      for l, d in enumerate(net.sizes[:-1])})
    elif form == "lowrank":
        eigenvalues = reader.array("lowrank_eigenvalues", (None,))
        state.update(lowrank_eigenvalues=eigenvalues,
                     lowrank_eigenvectors=reader.array("lowrank_eigenvectors", (W, eigenvalues.size)),
                     lowrank_correction=reader.array("lowrank_correction", (W,)))
    else:
        state["precision"] = reader.array("precision", (dim,) if form == "diagonal" else (dim, dim))
        if form == "woodbury":
            state.update(covariance=reader.array("covariance", (dim, dim)),
                         log_det=reader.field("posterior", "log_det"))
    return LaplacePosterior.from_state(net, state)


def _decode_classes(reader, net):
    expected = 2 if net.likelihood.name == "bernoulli" else net.n_outputs
    if expected < 2:
        reader.fail(f"its network has {net.n_outputs} output with a {net.likelihood.name} likelihood: one class")
    classes = reader.array("classes", (expected,), "biufUSMm")  # one label per class the network tells apart
    decoded = decode_classes(classes, reader.field("classes_dtype"))
    if isinstance(decoded, str):
        reader.fail(decoded)
    return decoded
