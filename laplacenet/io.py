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
before it writes, a model that ``load`` would refuse. The estimator becomes entries and metadata in
:mod:`laplacenet._model_encode` and comes back from them in :mod:`laplacenet._model_decode` (the tagged JSON of
both in :mod:`laplacenet._model_json`, the format's name and version in :mod:`laplacenet._model_format`); this
module writes the file and reads it, each entry checked as it is read.
"""
import json
import os
import struct
import zipfile
import zlib

import numpy as np

from ._archive import ArchiveError, NpzArchive, check_json_size, parse_json
from ._files import write_new_file
from ._model_decode import decode
from ._model_encode import encode
from ._model_format import ESTIMATORS, FORMAT_NAME, FORMAT_VERSION
from ._model_json import from_json, plain_json
from ._model_values import entry_problem, metadata_problem
from ._version import __version__

__all__ = ["save", "load", "read_metadata"]

# What a damaged archive can raise while it is opened, listed or read (the hostile cases _archive refuses first).
_READ_ERRORS = (ValueError, OSError, EOFError, KeyError, IndexError, NotImplementedError, RuntimeError,
                OverflowError, zipfile.BadZipFile, zlib.error, struct.error)


def register_estimator(cls):
    """A class decorator: :func:`save` and :func:`load` take the estimators of ``cls``, known by its name."""
    ESTIMATORS[cls.__name__] = cls
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
    arrays, metadata = encode(estimator)
    if extra is not None:
        if not isinstance(extra, dict):
            raise ValueError(f"extra must be a dict of JSON-able values or None; got {type(extra).__name__}")
        try:
            metadata["extra"] = plain_json(extra, "extra")
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
        return reader.guarded(decode, reader)


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
        """A metadata field with the tuples and arrays :func:`laplacenet._model_json.to_json` tagged restored."""
        try:
            return from_json(self.field(*keys), ".".join(keys))
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
