"""Saving and loading fitted estimators: one portable NPZ file, never a pickle.

The file is a compressed NPZ archive. Its ``metadata`` entry is a 0-d unicode array holding a JSON document:
the format name and version, the laplacenet version that wrote it, the estimator class and its constructor
parameters, the network (sizes, activation, likelihood), the posterior's form and options, a summary of the
fitted scalars, the feature names of a model fitted on a DataFrame and, for classifiers, the dtype of the class
labels. The other entries are float, int, bool
or unicode arrays: the MAP weights, alpha and beta, what the posterior's precision A is built from, and
every restart with its evidence history. The posterior is stored as its state
(:meth:`laplacenet.LaplacePosterior.to_state`) - the dense or diagonal A itself (with A^-1 after Woodbury updates),
the Kronecker factors, or the low-rank eigenpairs - and loading rebuilds it from the same arrays
(:meth:`~laplacenet.LaplacePosterior.from_state`): the same LAPACK calls on the same bits give the same factors,
so predictions are reproduced bit for bit.
After ``hidden='auto'`` the metadata also holds the table of the architectures it chose from.

* :func:`save` - write a fitted estimator (atomically: a temporary file in the same directory, then a rename;
  the temporaries of writers that died are cleared, :mod:`laplacenet._files`).
* :func:`load` - read it back, never unpickling; a foreign, truncated, corrupted or hostile file, or one in a
  newer format version, raises a ``ValueError`` naming the file and saying what is wrong. Sizes are checked
  against the zip directory and the ``.npy`` headers before data is read (:mod:`laplacenet._archive`).
* :func:`read_metadata` - the JSON document alone, without building the estimator.

``save`` and ``load`` apply the same rules to the values (:mod:`laplacenet._model_values`): ``save`` refuses,
before it writes, a model that ``load`` would refuse.
"""
import dataclasses
import json
import numbers
import os
import reprlib
import struct
import zipfile
import zlib

import numpy as np

from ._archive import ArchiveError, NpzArchive, check_json_size, parse_json
from ._files import write_new_file
from .core._fingerprint import Fingerprint
from ._model_values import decode_classes, encode_classes, entry_problem, metadata_problem
from ._version import __version__
from .core._validation import check_flag, check_hidden, check_number, is_finite_number
from .bayes.comparison import ComparisonRow, ModelComparison
from .core.curvature.last_layer import last_layer_slice
from .bayes.hyper_types import EvidenceCycle, EvidenceOptions, EvidenceResult
from .bayes.laplace import FORMS, LaplacePosterior, hyperparameter_value
from .bayes.options import HESSIANS, SUBSETS, check_structure
from .core.network import MLP
from .bayes.posteriors import LowRankPrecision

__all__ = ["save", "load", "read_metadata"]

#: the ``format`` field of the metadata of every file :func:`save` writes
FORMAT_NAME = "laplacenet.model"
#: the version of the layout :func:`save` writes; :func:`load` reads this one and every earlier one
FORMAT_VERSION = 2  # 2: the standardisation (x_mean, x_scale, y_mean, y_scale) and history_accepted

# The estimator classes by name: laplacenet.estimators registers its two (register_estimator), as it imports
# this module for their save method.
_ESTIMATORS = {}
# the entries of the posterior's state arrays named otherwise in the file
_STATE_ENTRIES = {"alpha": "posterior_alpha", "beta": "posterior_beta"}
# What a damaged archive can raise while it is opened, listed or read (the hostile cases _archive refuses first).
# the column statistics of the training data a fit remembers, stored as fingerprint_<name> when known
_FINGERPRINT_ARRAYS = ("x_mean", "x_scale", "t_mean", "t_scale")
_READ_ERRORS = (ValueError, OSError, EOFError, KeyError, IndexError, NotImplementedError, RuntimeError,
                OverflowError, zipfile.BadZipFile, zlib.error, struct.error)


def register_estimator(cls):
    """A class decorator: :func:`save` and :func:`load` take the estimators of ``cls``, known by its name."""
    _ESTIMATORS[cls.__name__] = cls
    return cls


# --- save --------------------------------------------------------------------------------------------

def save(estimator, path, *, extra=None):
    """Write a fitted estimator to ``path`` as one NPZ file with JSON metadata.

    Parameters
    ----------
    estimator : BayesianMLPRegressor or BayesianMLPClassifier
        Fitted. Its constructor parameters must be JSON-able (numbers, strings, booleans, None, tuples,
        lists, dicts with string keys, numeric arrays).
    path : str or os.PathLike
        The file to write, exactly as named (no suffix is added; ``.npz`` is the natural one). An existing
        file is replaced atomically: the archive is written to a temporary file in the same directory and
        renamed over ``path``, so a reader never sees a half-written file and a failed write leaves
        ``path`` as it was.
    extra : dict, optional
        Information to store with the model (the command line keeps column names here), as plain JSON: dicts
        with string keys, lists, strings, numbers, booleans and None (NumPy numbers are stored as the Python
        numbers they equal). ``read_metadata(path)["extra"]`` gives it back as it was given; a tuple or an array,
        which would come back as a list, is refused (pass ``list(t)`` or ``a.tolist()``).

    Raises
    ------
    NotFittedError
        When ``estimator`` is not fitted.
    ValueError
        When ``estimator`` is not a laplacenet estimator, a parameter, the class labels or ``extra`` cannot be
        stored without pickling (or as JSON: an integer beyond 64 bits; ``extra`` not plain JSON), the class
        labels would not load exactly as they are (a string ending in NUL characters), or it holds a value :func:`load`
        refuses (NaN or inf, in an array or in the metadata, ``extra`` included; a beta or alpha that is not
        positive, an asymmetric precision, metadata nested too deeply): nothing is written then.
    OSError
        When the file cannot be written; the message names ``path``.
    """
    arrays, metadata = _encode(estimator)
    if extra is not None:
        if not isinstance(extra, dict):
            raise ValueError(f"extra must be a dict of JSON-able values or None; got {type(extra).__name__}")
        try:
            metadata["extra"] = _plain_json(extra, "extra")
        except RecursionError:
            raise ValueError("cannot save extra: it is nested too deeply") from None
    text = json.dumps(metadata)
    _check_savable(type(estimator).__name__, arrays, metadata, text)
    arrays["metadata"] = np.array(text)
    write_new_file(path, lambda fh: np.savez_compressed(fh, **arrays), "the model")


def _check_savable(name, arrays, metadata, text):
    """Refuse, with the rules :func:`load` applies, a model whose file ``load`` would refuse."""
    try:
        parse_json(text, "its metadata")  # what load reads back, within the same bounds
    except ArchiveError as ex:
        raise ValueError(f"cannot save this {name}: {ex}") from None
    problems = [problem for problem in [metadata_problem(metadata)] if problem]
    for entry, a in arrays.items():
        problem = entry_problem(entry, np.asarray(a))
        if problem:
            problems.append(f"the entry {entry!r} {problem}")
    if problems:
        raise ValueError(f"cannot save this {name}: {'; '.join(problems)} (load refuses such a file)")


def _encode(estimator):
    """The arrays and the metadata dict describing a fitted estimator."""
    name = type(estimator).__name__
    if _ESTIMATORS.get(name) is not type(estimator):
        raise ValueError(f"estimator must be a fitted {' or '.join(_ESTIMATORS)}; got {type(estimator).__name__}")
    estimator._check_fitted()
    net, posterior, runs = estimator.net_, estimator.posterior_, estimator.restarts_
    arrays, posterior_metadata = _encode_posterior(posterior)
    arrays.update(_encode_runs(runs, net.likelihood.uses_beta))
    fitted = {"n_features_in": int(estimator.n_features_in_), "best_restart": int(estimator.best_restart_),
              "gamma": float(estimator.gamma_), "log_evidence": float(estimator.log_evidence_),
              "converged": bool(estimator.converged_), "alpha": _to_json(estimator.alpha_, "alpha_"),
              "restart_messages": [run.message for run in runs], "restart_at_bound": [run.at_bound for run in runs]}
    if hasattr(estimator, "feature_names_in_"):  # fitted on a DataFrame: predict checks the columns against them
        fitted["feature_names_in"] = [str(name) for name in estimator.feature_names_in_]
    if estimator.hidden_table_ is not None:  # hidden='auto': the table the architecture was chosen from
        fitted["hidden_table"] = _to_json(estimator.hidden_table_.to_dicts(), "hidden_table_")
    metadata = {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "laplacenet_version": __version__,
        "estimator": name, "params": _to_json(estimator.get_params(), "the estimator's parameters"),
        "network": {"sizes": list(net.sizes), "activation": net.activation.name,
                    "likelihood": net.likelihood.name},
        "posterior": posterior_metadata,
        "fitted": fitted,
    }
    arrays.update(x_mean=estimator.x_mean_, x_scale=estimator.x_scale_)
    arrays.update(_encode_fingerprint(getattr(estimator, "_data_fingerprint", None), fitted))
    if net.likelihood.uses_beta:
        fitted.update(beta=_to_json(estimator.beta_, "beta_"), n_outputs=int(estimator.n_outputs_),
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
    return {f"fingerprint_{name}": np.asarray(getattr(seen, name), dtype=float) for name in _FINGERPRINT_ARRAYS}


def _encode_posterior(posterior):
    """The posterior's state (:meth:`LaplacePosterior.to_state`): its arrays as entries, its plain values as the
    metadata's ``posterior`` field, for :func:`_decode_posterior`."""
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


# --- load --------------------------------------------------------------------------------------------

def load(path):
    """Read an estimator written by :func:`save`.

    Every fitted attribute comes back: ``net_``, ``w_``, ``posterior_``, ``alpha_``, ``beta_``, ``gamma_``,
    ``log_evidence_``, ``history_``, ``converged_``, ``restarts_``, ``best_restart_``, ``n_features_in_``,
    ``hidden_``, ``hidden_table_``, ``feature_names_in_`` (when it was fitted on a DataFrame with string column
    names) and ``n_outputs_`` or ``classes_``. ``predict``, ``predict(return_std=True)``
    and ``predict_proba`` give the same bits as before saving. Only the kept restart's posterior is stored: the
    other entries of ``restarts_`` have ``posterior=None``.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    BayesianMLPRegressor or BayesianMLPClassifier

    Raises
    ------
    ValueError
        When the file is not a laplacenet model (not an NPZ archive, no laplacenet metadata), is truncated
        or corrupted, or was written in a newer format version than this laplacenet reads.
    OSError
        When the file cannot be read at all (missing, a directory, no permission).
    """
    path = os.fspath(path)
    with open(path, "rb") as fh:
        reader = _Reader(path, fh)
        return reader.guarded(_decode, reader)


def read_metadata(path):
    """The JSON metadata of a file written by :func:`save`, as a dict (see the module docstring).

    Raises the ``ValueError`` of :func:`load` for a foreign, damaged, hostile or too new file.
    """
    path = os.fspath(path)
    with open(path, "rb") as fh:
        return _Reader(path, fh).metadata


class _BadFile(ValueError):
    """A model file that cannot be loaded; the message names the file and says why."""


class _Reader:
    """The checked contents of a model file open in ``fh``: its metadata and its arrays, each validated on access
    (its shape and dtype against its header before its data is read, its values after)."""

    def __init__(self, path, fh):
        self.path = path
        self._entries = {}
        start = fh.read(2)
        if start != b"PK":
            self.fail("it is not an NPZ (zip) archive" + (" (the file is empty)" if not start else ""))
        fh.seek(0)
        self.archive = self.guarded(NpzArchive, fh)
        self.metadata = self.guarded(self._read_metadata)
        self.version = self.metadata["format_version"]

    def fail(self, detail):
        raise _BadFile(f"{self.path!r} is not a readable laplacenet model file: {detail}")

    def guarded(self, function, *args, **kwargs):
        """``function(*args)``; what a damaged archive raises becomes one ValueError naming the file."""
        try:
            return function(*args, **kwargs)
        except _BadFile:
            raise
        except ArchiveError as ex:
            self.fail(str(ex))
        except _READ_ERRORS as ex:
            self.fail(f"it is truncated or corrupted ({type(ex).__name__}: {ex})")

    def _read_metadata(self):
        shape, dtype = self.header("metadata")
        if dtype.kind != "U" or shape != ():
            self.fail("its 'metadata' entry is not a JSON string")
        check_json_size(dtype.itemsize // 4, "its metadata")
        metadata = parse_json(str(self.entry("metadata")[()]), "its metadata")
        found = metadata.get("format") if isinstance(metadata, dict) else None
        if found != FORMAT_NAME:
            self.fail(f"its metadata names the format {found!r}, not {FORMAT_NAME!r}")
        version = metadata.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            self.fail(f"its format version {version!r} is not a positive integer")
        if version > FORMAT_VERSION:
            raise _BadFile(
                f"{self.path!r} was written in model format version {version} by laplacenet "
                f"{metadata.get('laplacenet_version')}; this laplacenet ({__version__}) reads format versions up "
                f"to {FORMAT_VERSION}. Upgrade laplacenet to load it.")
        problem = metadata_problem(metadata)
        if problem:
            self.fail(problem)
        return metadata

    def header(self, name):
        """``(shape, dtype)`` of entry ``name`` as declared by its ``.npy`` header, nothing read yet."""
        if name not in self.archive.files:
            found = ", ".join(sorted(self.archive.files)[:8])
            self.fail(f"it has no {name!r} entry (it holds: {found}); it was not written by laplacenet.save")
        return self.archive.header(name)

    def entry(self, name):
        """The array stored as ``name`` (read once; its header checked by the caller)."""
        if name not in self._entries:
            self.header(name)
            self._entries[name] = self.guarded(self.archive.read, name)
        return self._entries[name]

    def field(self, *keys):
        """A metadata field, e.g. ``field('network', 'sizes')``."""
        value = self.metadata
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                self.fail(f"its metadata has no field {'.'.join(keys)!r}")
            value = value[key]
        return value

    def decoded(self, *keys):
        """A metadata field with the tuples and arrays :func:`_to_json` tagged restored."""
        try:
            return _from_json(self.field(*keys), ".".join(keys))
        except ValueError as ex:
            self.fail(str(ex))

    def array(self, name, shape, kind="f"):
        """Entry ``name`` of ``shape`` (None: any length) and a dtype of ``kind``, checked against its header
        before it is read, then against the rules of :func:`laplacenet._model_values.entry_problem`."""
        found, dtype = self.header(name)
        shape_ok = len(found) == len(shape) and all(s is None or s == n for s, n in zip(shape, found))
        if not shape_ok or dtype.kind not in kind:
            self.fail(f"entry {name!r} has shape {found} and dtype {dtype}; expected shape "
                      f"{tuple('n' if s is None else s for s in shape)} of kind {kind!r}")
        a = self.entry(name)
        problem = entry_problem(name, a)
        if problem:
            self.fail(f"entry {name!r} {problem}")
        return a

    def hyperparameter(self, name, lead, size):
        """Entry ``name`` of shape ``lead`` (a scalar each) or ``lead + (size,)`` (a vector each)."""
        vector = len(self.header(name)[0]) == len(lead) + 1
        return self.array(name, lead + ((size,) if vector else ()))


def _decode(reader):
    """The estimator described by a :class:`_Reader`."""
    name = reader.field("estimator")
    cls = _ESTIMATORS.get(name) if isinstance(name, str) else None
    if cls is None:
        reader.fail(f"unknown estimator class {reprlib.repr(name)} (known: {sorted(_ESTIMATORS)})")
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
    stored = [name for name in _FINGERPRINT_ARRAYS if f"fingerprint_{name}" in reader.archive.files]
    if rows is None and not stored:
        return None
    if not isinstance(rows, int) or isinstance(rows, bool) or not 0 < rows < 2**63:
        reader.fail(f"its metadata field 'fitted.fingerprint_rows' must be a positive integer; got {rows!r}")
    if not stored:
        return Fingerprint(rows)
    sizes = {"x": net.n_inputs, "t": net.n_outputs}
    return Fingerprint(rows, *(np.array(reader.array(f"fingerprint_{name}", (sizes[name[0]],)))
                               for name in _FINGERPRINT_ARRAYS))


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


# --- JSON --------------------------------------------------------------------------------------------

def _to_json(value, where):
    """``value`` as JSON-able data; tuples and arrays are tagged so that :func:`_from_json` restores them."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        if not -2**63 <= value < 2**64:
            raise ValueError(f"cannot save {where}: an integer of {int(value).bit_length()} bits (JSON readers hold "
                             f"integers of at most 64)")
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, tuple):
        return {"__tuple__": [_to_json(v, where) for v in value]}
    if isinstance(value, list):
        return [_to_json(v, where) for v in value]
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return {"__ndarray__": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, dict) and all(isinstance(k, str) and not k.startswith("__") for k in value):
        return {k: _to_json(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, EvidenceOptions):  # restored as the dict of its fields, which the estimators accept
        return _to_json(dataclasses.asdict(value), where)
    raise ValueError(f"cannot save {where}: a {type(value).__name__} cannot be written as JSON (numbers, strings, "
                     f"booleans, None, tuples, lists, numeric arrays and dicts with string keys can)")


def _from_json(value, where):
    """Inverse of :func:`_to_json`; a ValueError naming the field ``where`` for a tag it does not write."""
    if isinstance(value, list):
        return [_from_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    if not any(key.startswith("__") for key in value):
        return {k: _from_json(v, f"{where}.{k}") for k, v in value.items()}
    if set(value) == {"__tuple__"} and isinstance(value["__tuple__"], list):
        return tuple(_from_json(v, f"{where}[{i}]") for i, v in enumerate(value["__tuple__"]))
    if set(value) == {"__ndarray__", "dtype"}:
        return _json_array(value["__ndarray__"], value["dtype"], where)
    raise ValueError(f"its metadata field {where!r} is not a value laplacenet.save writes ({reprlib.repr(value)})")


def _json_array(values, dtype, where):
    """The numeric array ``_to_json`` wrote as ``values`` and ``dtype``: a bool, int or float dtype as
    ``dtype.str`` spells it, the values exactly those of the array (so no larger than the JSON holding them)."""
    try:
        kind = np.dtype(dtype) if isinstance(dtype, str) else None
    except (TypeError, ValueError):
        kind = None
    if kind is None or kind.kind not in "biuf" or kind.str != dtype:
        raise ValueError(f"its metadata field {where!r} names the dtype {reprlib.repr(dtype)}; laplacenet.save "
                         f"writes arrays of booleans, integers and floats only")
    try:
        with np.errstate(over="raise"):
            a = np.array(values, dtype=kind)
        same = a.tolist() == values
    except (ValueError, TypeError, OverflowError, FloatingPointError):
        same = False
    if not same:
        raise ValueError(f"its metadata field {where!r} does not hold an array of {kind} ({reprlib.repr(values)})")
    return a


def _plain_json(value, where):
    """``value`` of ``extra`` as the JSON it is, to come back as it was: a tuple or an array is refused."""
    if isinstance(value, list):
        return [_plain_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise ValueError(f"cannot save {where}: its keys must be strings; got {reprlib.repr(list(value))}")
        return {k: _plain_json(v, f"{where}[{k!r}]") for k, v in value.items()}
    if value is None or isinstance(value, (bool, str, np.bool_, numbers.Real)):
        return _to_json(value, where)
    raise ValueError(f"cannot save {where}: a {type(value).__name__}; extra holds plain JSON (dicts with string "
                     f"keys, lists, strings, numbers, booleans, None), which read_metadata gives back as it was "
                     f"(for a tuple or an array pass list(t) or a.tolist())")
