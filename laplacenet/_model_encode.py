"""A fitted estimator as the arrays and the metadata of a model file (the inverse of
:mod:`laplacenet._model_decode`).

:func:`encode` gives the entries - the MAP weights, every restart with its evidence history concatenated
(:class:`~laplacenet.bayes.hyper.EvidenceResult`, :class:`~laplacenet.bayes.hyper.EvidenceCycle`), the posterior's
state arrays (:meth:`~laplacenet.LaplacePosterior.to_state`), the standardisation, the fingerprint of the training
data and, for classifiers, the class labels - and the metadata dict: the format, the estimator's class and
parameters, the network, the posterior's plain values and the fitted scalars. :func:`laplacenet.io.save` checks
and writes them.
"""
import numpy as np

from ._model_format import ESTIMATORS, FINGERPRINT_ARRAYS, FORMAT_NAME, FORMAT_VERSION
from ._model_json import to_json
from ._model_values import encode_classes
from ._version import __version__
from .core._fingerprint import Fingerprint

# the entries of the posterior's state arrays named otherwise in the file
_STATE_ENTRIES = {"alpha": "posterior_alpha", "beta": "posterior_beta"}


def encode(estimator):
    """The arrays and the metadata dict describing a fitted estimator."""
    name = type(estimator).__name__
    if ESTIMATORS.get(name) is not type(estimator):
        raise ValueError(f"estimator must be a fitted {' or '.join(ESTIMATORS)}; got {type(estimator).__name__}")
    estimator._check_fitted()
    net, posterior, runs = estimator.net_, estimator.posterior_, estimator.restarts_
    arrays, posterior_metadata = _encode_posterior(posterior)
    arrays.update(_encode_runs(runs, net.likelihood.uses_beta))
    fitted = {"n_features_in": int(estimator.n_features_in_), "best_restart": int(estimator.best_restart_),
              "gamma": float(estimator.gamma_), "log_evidence": float(estimator.log_evidence_),
              "converged": bool(estimator.converged_), "alpha": to_json(estimator.alpha_, "alpha_"),
              "restart_messages": [run.message for run in runs], "restart_at_bound": [run.at_bound for run in runs]}
    if hasattr(estimator, "feature_names_in_"):  # fitted on a DataFrame: predict checks the columns against them
        fitted["feature_names_in"] = [str(name) for name in estimator.feature_names_in_]
    if estimator.hidden_table_ is not None:  # hidden='auto': the table the architecture was chosen from
        fitted["hidden_table"] = to_json(estimator.hidden_table_.to_dicts(), "hidden_table_")
    metadata = {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "laplacenet_version": __version__,
        "estimator": name, "params": to_json(estimator.get_params(), "the estimator's parameters"),
        "network": {"sizes": list(net.sizes), "activation": net.activation.name,
                    "likelihood": net.likelihood.name},
        "posterior": posterior_metadata,
        "fitted": fitted,
    }
    arrays.update(x_mean=estimator.x_mean_, x_scale=estimator.x_scale_)
    arrays.update(_encode_fingerprint(getattr(estimator, "_data_fingerprint", None), fitted))
    if net.likelihood.uses_beta:
        fitted.update(beta=to_json(estimator.beta_, "beta_"), n_outputs=int(estimator.n_outputs_),
                      y_ndim=int(estimator._y_ndim))
        arrays.update(y_mean=estimator.y_mean_, y_scale=estimator.y_scale_)
    else:
        arrays["classes"], metadata["classes_dtype"] = encode_classes(estimator.classes_)
    return arrays, metadata


def _encode_fingerprint(seen, fitted):
    """The arrays of what the fit remembers of its data (:mod:`laplacenet.core._fingerprint`); its row count goes into
    ``fitted``. Nothing for an estimator without one."""
    if not isinstance(seen, Fingerprint):
        return {}
    fitted["fingerprint_rows"] = int(seen.n_rows)
    if seen.x_mean is None:
        return {}
    return {f"fingerprint_{name}": np.asarray(getattr(seen, name), dtype=float) for name in FINGERPRINT_ARRAYS}


def _encode_posterior(posterior):
    """The posterior's state (:meth:`LaplacePosterior.to_state`): its arrays as entries, its plain values as the
    metadata's ``posterior`` field, for :mod:`laplacenet._model_decode` to rebuild."""
    arrays, metadata = {}, {}
    for key, value in posterior.to_state().items():
        if isinstance(value, np.ndarray):
            arrays[_STATE_ENTRIES.get(key, key)] = value
        else:
            metadata[key] = value
    return arrays, metadata


def _encode_runs(runs, uses_beta):
    """Every restart (weights, hyperparameters, evidence) and their histories, concatenated, as arrays."""
    history = [cycle for run in runs for cycle in run.history]
    arrays = {
        "restart_w": np.stack([run.w for run in runs]),
        "restart_alpha": np.array([run.alpha for run in runs], dtype=float),
        "restart_gamma": np.array([run.gamma for run in runs], dtype=float),
        "restart_log_evidence": np.array([run.log_evidence for run in runs], dtype=float),
        "restart_converged": np.array([run.converged for run in runs], dtype=bool),
        "restart_train_converged": np.array([run.train_converged for run in runs], dtype=bool),
        "restart_best_cycle": np.array([run.best_cycle for run in runs], dtype=np.int64),
        "history_length": np.array([len(run.history) for run in runs], dtype=np.int64),
        "history_restart": np.array([c.restart for c in history], dtype=np.int64),
        "history_cycle": np.array([c.cycle for c in history], dtype=np.int64),
        "history_alpha": _stack([c.alpha for c in history], runs[0].alpha),
        "history_gamma": np.array([c.gamma for c in history], dtype=float),
        "history_log_evidence": np.array([c.log_evidence for c in history], dtype=float),
        "history_train_error": np.array([c.train_error for c in history], dtype=float),
        "history_train_converged": np.array([c.train_converged for c in history], dtype=bool),
        "history_accepted": np.array([c.accepted for c in history], dtype=bool),
    }
    if uses_beta:
        arrays["restart_beta"] = np.array([run.beta for run in runs], dtype=float)
        arrays["history_beta"] = _stack([c.beta for c in history], runs[0].beta)
    return arrays


def _stack(values, like):
    """Scalars or equal-length vectors as a ``(n,)`` or ``(n, m)`` array, also when there are none."""
    return np.array(values, dtype=float).reshape((len(values),) + np.shape(like))
