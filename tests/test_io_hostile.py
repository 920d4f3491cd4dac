"""Damaged, hostile and impossible model files (issue 13, items 4, 5 and 9): each is refused by a ValueError naming
the file, sizes are checked before data is read, save and load apply the same rules to the values, and the
temporaries of writers that died are cleared."""
import copy
import errno
import io as bytes_io
import json
import os
import re
import struct
import subprocess
import sys
import textwrap
import time
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest

from laplacenet import _archive, _files, diagnose, io
from laplacenet.estimators import BayesianMLPClassifier, BayesianMLPRegressor
from laplacenet.core.exceptions import ConvergenceWarning

from tests.problems import FAST


@pytest.fixture(scope="module")
def regressor():
    X = np.random.default_rng(0).uniform(-1, 1, size=(30, 2))
    y = np.sin(2 * X[:, 0]) + 0.1 * np.random.default_rng(1).normal(size=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return BayesianMLPRegressor(hidden=3, restarts=2, seed=0, cycles=4, train_kwargs=FAST).fit(X, y)


@pytest.fixture
def saved(regressor, tmp_path):
    path = tmp_path / "model.npz"
    io.save(regressor, path)
    return path


def _refused(path, message):
    """Assert that load refuses ``path`` with a ValueError naming it and matching ``message`` (a regex)."""
    with pytest.raises(ValueError, match=re.escape(repr(str(path))) + " is not a readable laplacenet model file: "
                       + message):
        io.load(path)


def _with_entries(source, target, entries):
    """A copy of the archive ``source`` with the raw ``.npy`` contents ``entries`` (name -> bytes, or a function
    writing them to an open entry) in place of its own."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            name = info.filename[:-len(".npy")]
            if name not in entries:
                new.writestr(info.filename, old.read(info))
        for name, content in entries.items():
            with new.open(f"{name}.npy", "w", force_zip64=True) as fh:
                content(fh) if callable(content) else fh.write(content)
    return target


def _header(shape, descr="<f8"):
    buffer = bytes_io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _arrays(path):
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def _rewritten(source, target, metadata=None, **changes):
    """A copy of ``source`` with arrays replaced and metadata fields changed (``{'fitted': {...}}`` merges)."""
    arrays = _arrays(source)
    arrays.update(changes)
    if metadata:
        meta = io.read_metadata(source)
        for key, fields in metadata.items():
            meta[key].update(fields)
        arrays["metadata"] = np.array(json.dumps(meta))
    np.savez_compressed(target, **arrays)
    return target


# --- item 4: damaged or hostile archives ----------------------------------------------------------------

def test_deeply_nested_metadata_is_refused(regressor, saved, tmp_path):
    deep = tmp_path / "deep.npz"
    arrays = _arrays(saved)
    arrays["metadata"] = np.array("[" * 100000 + "]" * 100000)  # RecursionError in json.loads before issue 13
    np.savez_compressed(deep, **arrays)
    _refused(deep, "its metadata is nested too deeply to parse")
    with pytest.raises(ValueError, match="nested too deeply"):
        io.read_metadata(deep)
    # within Python's recursion limit but beyond the bound: refused by save, before anything is written, and by load
    nested = {}
    for _ in range(_archive.MAX_JSON_DEPTH):
        nested = {"a": nested}
    with pytest.raises(ValueError, match=f"its metadata is nested {_archive.MAX_JSON_DEPTH + 3} levels deep"):
        io.save(regressor, tmp_path / "nested.npz", extra={"deep": nested})
    assert not (tmp_path / "nested.npz").exists()
    meta = io.read_metadata(saved)
    meta["extra"] = nested
    arrays["metadata"] = np.array(json.dumps(meta))
    np.savez_compressed(tmp_path / "nested.npz", **arrays)
    _refused(tmp_path / "nested.npz", f"its metadata is nested {_archive.MAX_JSON_DEPTH + 2} levels deep")


def test_overlong_metadata_is_refused_from_its_header(regressor, saved, tmp_path, monkeypatch):
    text = str(_arrays(saved)["metadata"][()])
    monkeypatch.setattr(_archive, "MAX_JSON_CHARS", len(text) - 1)
    with pytest.raises(ValueError, match=f"cannot save this BayesianMLPRegressor: its metadata is {len(text)} "
                       f"characters long; at most {len(text) - 1} are read"):
        io.save(regressor, tmp_path / "long.npz")
    assert not (tmp_path / "long.npz").exists()
    read = []
    monkeypatch.setattr(_archive.NpzArchive, "read", lambda self, name: read.append(name))
    _refused(saved, f"its metadata is {len(text)} characters long; at most {len(text) - 1} are read")
    assert read == []  # refused from the dtype its .npy header declares, before it was read


def test_a_header_declaring_a_huge_array_is_refused_before_reading(saved, tmp_path):
    # before issue 13: MemoryError, from numpy allocating the 8 TiB the header declares
    huge = _with_entries(saved, tmp_path / "huge.npz", {"mean": _header((2**40,)) + bytes(64)})
    _refused(huge, r"entry 'mean.npy' declares shape \(1099511627776,\) of float64 \(8796093022336 bytes with its "
                   r"header\) but the archive declares \d+ bytes for it")


def test_an_entry_of_the_wrong_size_is_refused_before_its_data_is_read(regressor, saved, tmp_path):
    # A consistent 32 MB array where the model has W weights: compared with the model's sizes from its header
    # alone; before issue 13 the array was read (32 MB) and only then found to have the wrong shape.
    big = _with_entries(saved, tmp_path / "big.npz", {"mean": lambda fh: np.lib.format.write_array(
        fh, np.zeros(4 * 2**20))})
    W = regressor.net_.n_params
    tracemalloc.start()
    try:
        _refused(big, rf"entry 'mean' has shape \(4194304,\) and dtype float64; expected shape \({W},\)")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20


def test_a_zip_bomb_is_refused_from_the_zip_directory(saved, tmp_path):
    # 80 MiB of zeros deflated to ~80 kB, in place of the posterior mean: refused by the declared sizes before a
    # byte is decompressed (before issue 13 it was decompressed, 80 MiB, then refused for its shape)
    def zeros(fh):
        fh.write(_header((10 * 2**20,)))
        chunk = bytes(2**20)
        for _ in range(80):
            fh.write(chunk)

    bomb = _with_entries(saved, tmp_path / "bomb.npz", {"mean": zeros})
    assert bomb.stat().st_size < 200_000
    tracemalloc.start()
    try:
        _refused(bomb, r"its entries would expand to \d+ bytes from a file of \d+ bytes, more than 100 times its "
                       r"size .*: a zip bomb")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20


def _patched_headers(source, target, entry, offset_local, offset_central, fmt, value):
    """``source`` with a field of ``entry``'s local and central zip headers (at these offsets, of struct format
    ``fmt``) changed from ``old`` to ``value(old)``."""
    content = bytearray(source.read_bytes())
    with zipfile.ZipFile(source) as archive:
        local = archive.getinfo(entry).header_offset
    central = [m.start() for m in re.finditer(rb"PK\x01\x02", content)
               if content[m.start() + 46:m.start() + 46 + struct.unpack_from("<H", content, m.start() + 28)[0]]
               == entry.encode()]
    for position in (local + offset_local, central[0] + offset_central):
        struct.pack_into(fmt, content, position, value(struct.unpack_from(fmt, content, position)[0]))
    target.write_bytes(bytes(content))
    return target


def test_an_encrypted_entry_is_refused(saved, tmp_path):
    encrypted = _patched_headers(saved, tmp_path / "encrypted.npz", "mean.npy", 6, 8, "<H", lambda flags: flags | 1)
    _refused(encrypted, r"entry 'mean.npy' is encrypted \(zip flag bit 0x1\)")
    with pytest.raises(ValueError, match="is encrypted"):
        io.read_metadata(encrypted)  # every entry is checked when the file is opened


def test_an_unknown_compression_method_is_refused(saved, tmp_path):
    bzip2 = _patched_headers(saved, tmp_path / "bzip2.npz", "precision.npy", 8, 10, "<H", lambda method: 12)
    _refused(bzip2, "entry 'precision.npy' uses zip compression method 12; only stored and deflated entries")


def test_an_entry_that_is_no_array_is_refused(saved, tmp_path):
    extra = tmp_path / "extra.npz"
    extra.write_bytes(saved.read_bytes())
    with zipfile.ZipFile(extra, "a") as archive:
        archive.writestr("notes.txt", "hello")
    _refused(extra, "entry 'notes.txt' appears and is not a .npy array")


# --- item 5: impossible values, refused by save and by load with the same rules --------------------------

def _edited(attribute, value):
    """An edit of a fitted estimator: ``attribute`` (a dotted path; digits index a list) set to ``value``, or
    to ``value(old)`` when ``value`` is a function."""
    def edit(model):
        *path, name = attribute.split(".")
        target = model
        for step in path:
            target = target[int(step)] if step.isdigit() else getattr(target, step)
        setattr(target, name, value(getattr(target, name)) if callable(value) else value)
    return edit


def _asymmetric(P):
    P = np.array(P)
    P[0, 1] += 1e-3 * np.max(np.abs(P))  # still positive definite: the Cholesky factor alone would not notice
    return P


def _infinite(P):
    P = np.array(P)
    P[0, 0] = np.inf
    return P


# an impossible value set on a fitted estimator, and how save and load both describe it
IMPOSSIBLE = {
    "beta zero": (_edited("posterior_.beta", 0.0), "the entry 'posterior_beta' must hold positive values; its "
                                                   "smallest is 0.0"),
    "beta negative": (_edited("posterior_.beta", -2.0), "the entry 'posterior_beta' must hold positive values"),
    "alpha negative": (_edited("posterior_.alpha", -0.1), "the entry 'posterior_alpha' must hold positive values"),
    "restart alpha NaN": (_edited("restarts_.1.alpha", np.nan), "the entry 'restart_alpha' holds NaN or inf"),
    "restart log evidence NaN": (_edited("restarts_.0.log_evidence", np.nan),
                                 "the entry 'restart_log_evidence' holds NaN or inf"),
    "fitted log evidence NaN": (_edited("log_evidence_", np.nan),
                                "its metadata field 'fitted.log_evidence' must be a finite number; got nan"),
    "asymmetric precision": (_edited("posterior_.precision", _asymmetric),
                             "the entry 'precision' must be a symmetric matrix"),
    "infinite precision": (_edited("posterior_.precision", _infinite), "the entry 'precision' holds NaN or inf"),
    "input scale zero": (_edited("x_scale_", lambda s: 0.0 * s), "the entry 'x_scale' must hold positive values"),
}


@pytest.mark.parametrize("case", IMPOSSIBLE)
def test_save_and_load_refuse_the_same_impossible_values(regressor, tmp_path, monkeypatch, case):
    edit, message = IMPOSSIBLE[case]
    model = copy.deepcopy(regressor)
    edit(model)
    path = tmp_path / "model.npz"
    with pytest.raises(ValueError, match=re.escape(f"cannot save this BayesianMLPRegressor: {message}")):
        io.save(model, path)
    assert os.listdir(tmp_path) == []  # refused before anything was written
    with monkeypatch.context() as unchecked:  # the file a save without the rules would write
        unchecked.setattr(io, "_check_savable", lambda *args: None)
        io.save(model, path)
    _refused(path, re.escape(message.replace("the entry", "entry")))


def test_load_refuses_impossible_values_edited_into_a_file(regressor, saved, tmp_path):
    _refused(_rewritten(saved, tmp_path / "beta.npz", posterior_beta=np.array(0.0)),
             re.escape("entry 'posterior_beta' must hold positive values; its smallest is 0.0"))
    precision = _arrays(saved)["precision"]
    _refused(_rewritten(saved, tmp_path / "asymmetric.npz", precision=_asymmetric(precision)),
             "entry 'precision' must be a symmetric matrix; max|A - A^T| / max|A| = 0.001 exceeds 1e-08")
    _refused(_rewritten(saved, tmp_path / "evidence.npz", metadata={"fitted": {"log_evidence": float("nan")}}),
             "its metadata field 'fitted.log_evidence' must be a finite number; got nan")


# --- item 9: temporaries of writers that died ------------------------------------------------------------

def _dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _aged(path, seconds):
    path.write_bytes(b"PK half an archive")
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_stale_temporaries_of_the_target_are_removed(regressor, tmp_path):
    dead, alive, hex16 = _dead_pid(), os.getpid(), "0123456789abcdef"
    minutes, days = 2 * 60, 2 * 24 * 3600
    stale = [_aged(tmp_path / f".model.npz.{dead}-{hex16}.tmp", minutes),  # its writer died
             _aged(tmp_path / f".model.npz.{alive}-{hex16[::-1]}.tmp", days),  # untouched for two days
             _aged(tmp_path / f".model.npz.{hex16}.tmp", days)]  # the older name, without a PID
    kept = [_aged(tmp_path / f".model.npz.{dead}-{'a' * 16}.tmp", 5),  # modified 5 s ago: maybe a writer elsewhere
            _aged(tmp_path / f".model.npz.{alive}-{'b' * 16}.tmp", minutes),  # a live writer
            _aged(tmp_path / f".model.npz.{'c' * 16}.tmp", 2 * 3600),  # the older name, two hours old
            _aged(tmp_path / f".other.npz.{dead}-{hex16}.tmp", days),  # another target
            _aged(tmp_path / f".model.npz.{dead}-{hex16}.tmp.bak", days),  # not a temporary's name
            _aged(tmp_path / "model.npz.tmp", days)]
    (tmp_path / f".model.npz.{dead}-{'d' * 16}.tmp").mkdir()  # a directory is never removed
    io.save(regressor, tmp_path / "model.npz")
    assert not any(path.exists() for path in stale)
    assert all(path.exists() for path in kept) and (tmp_path / f".model.npz.{dead}-{'d' * 16}.tmp").is_dir()
    assert io.load(tmp_path / "model.npz").log_evidence_ == regressor.log_evidence_


_KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from laplacenet import io
    model = io.load(sys.argv[1])

    def killed(fh, **arrays):  # half an archive written, then kill -9
        fh.write(b"PK\\x03\\x04" + bytes(4096))
        fh.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    np.savez_compressed = killed
    io.save(model, sys.argv[1])
""")


@pytest.mark.skipif(os.name != "posix", reason="kill -9")
def test_the_temporary_of_a_killed_writer_is_removed_by_the_next_save(regressor, saved, tmp_path):
    before = saved.read_bytes()
    for _ in range(2):
        run = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(saved)], capture_output=True)
        assert run.returncode == -9, run.stderr.decode()
    orphans = sorted(tmp_path.glob(".model.npz.*.tmp"))
    assert len(orphans) == 2 and saved.read_bytes() == before  # the target was never touched
    for orphan in orphans:
        _aged(orphan, _files.STALE_AFTER + 1)
    io.save(regressor, saved)
    assert os.listdir(tmp_path) == ["model.npz"]


_WRITER = textwrap.dedent("""
    import sys
    from laplacenet import io
    models = [io.load(path) for path in sys.argv[2:]]
    for i in range(12):
        io.save(models[i % len(models)], sys.argv[1])
""")


def test_concurrent_writers_never_leave_a_broken_file(regressor, saved, tmp_path):
    other = tmp_path / "other.npz"
    model = copy.deepcopy(regressor)
    model.posterior_.beta = 2.0 * model.posterior_.beta
    io.save(model, other)
    target = tmp_path / "shared.npz"
    io.save(regressor, target)
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, str(target), str(saved), str(other)],
                                stderr=subprocess.PIPE) for _ in range(3)]
    loads = 0
    while any(writer.poll() is None for writer in writers) or loads == 0:
        assert io.load(target).posterior_.beta in (regressor.posterior_.beta, model.posterior_.beta)
        loads += 1
    assert [writer.wait() for writer in writers] == [0, 0, 0], [w.stderr.read().decode() for w in writers]
    assert sorted(os.listdir(tmp_path)) == ["model.npz", "other.npz", "shared.npz"]


def test_a_failed_write_names_the_target(regressor, saved, tmp_path, monkeypatch):
    def disk_full(fh, **arrays):
        fh.write(b"PK\x03\x04")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", disk_full)
    before = saved.read_bytes()
    with pytest.raises(OSError, match=re.escape(f"cannot write {str(saved)!r}: No space left on device")) as raised:
        io.save(regressor, saved)
    assert raised.value.errno == errno.ENOSPC
    assert os.listdir(tmp_path) == ["model.npz"] and saved.read_bytes() == before


# --- the user probe of save and load -----------------------------------------------------------------------

def _fit_classifier(labels, **params):
    X = np.random.default_rng(2).uniform(-1, 1, size=(24, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return X, BayesianMLPClassifier(hidden=(), cycles=2, train_kwargs=FAST, **params).fit(
            X, labels[(X[:, 0] > 0).astype(int)])


_LABELS = {
    "ints in an object array": np.array([1, 20], dtype=object),  # refused by save: "got objects of type ['int']"
    "floats in an object array": np.array([1.0, 2.0], dtype=object),
    "booleans in an object array": np.array([False, True], dtype=object),
    "durations": np.array([1, 5], dtype="timedelta64[s]"),  # saved, then refused by load
    "StringDType": np.array(["a", "b"], dtype=np.dtypes.StringDType()),  # a TypeError in save
}


@pytest.mark.parametrize("case", _LABELS)
def test_class_labels_fit_accepts_round_trip(tmp_path, case):
    X, model = _fit_classifier(_LABELS[case])
    loaded = io.load(_saved(model, tmp_path / "m.npz"))
    assert loaded.classes_.dtype == model.classes_.dtype
    assert [type(c) for c in loaded.classes_.tolist()] == [type(c) for c in model.classes_.tolist()]
    assert loaded.classes_.tolist() == model.classes_.tolist()
    assert loaded.predict(X).tolist() == model.predict(X).tolist()


@pytest.mark.parametrize("labels, message", [
    (np.array(["a", "a\x00"], dtype=object), r"classes_ \['a\\x00'\] would not load as they are"),  # were ['a', 'a']
    (np.array([2**70, 2**71], dtype=object), "classes_ must be integers of at most 64 bits"),
    (np.array([b"a", b"b"], dtype=object),
     r"all strings to be saved without pickling; got objects of type \['bytes'\]"),
])
def test_class_labels_that_would_not_come_back_are_refused_by_save(tmp_path, labels, message):
    _, model = _fit_classifier(labels)
    with pytest.raises(ValueError, match=message):
        io.save(model, tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


def _saved(model, path):
    io.save(model, path)
    return path


def _edited_file(source, target, edit=None, drop=()):
    """A copy of ``source`` without the entries ``drop``, its metadata dict changed in place by ``edit``."""
    arrays = {name: a for name, a in _arrays(source).items() if name not in drop}
    if edit is not None:
        meta = json.loads(str(arrays["metadata"][()]))
        edit(meta)
        arrays["metadata"] = np.array(json.dumps(meta))
    np.savez_compressed(target, **arrays)
    return target


def _set(keys, value):
    """An edit of the metadata: the field at ``keys`` (dict keys and list indices) set to ``value``."""
    def edit(meta):
        for key in keys[:-1]:
            meta = meta[key]
        meta[keys[-1]] = value
    return edit


@pytest.mark.parametrize("entry", ["x_mean", "y_mean", "history_accepted", "restart_best_cycle"])
def test_a_format_2_file_must_hold_every_entry_of_format_2(saved, tmp_path, entry):
    # without x_mean (or y_mean) it loaded as a model that does not standardise: other predictions
    _refused(_edited_file(saved, tmp_path / "m.npz", drop=[entry]), f"it has no {entry!r} entry")


def test_a_format_1_file_still_loads(tmp_path):
    X = np.random.default_rng(0).uniform(-1, 1, size=(20, 2))
    model = BayesianMLPRegressor(hidden=2, cycles=2, standardize=False, train_kwargs=FAST).fit(X, X[:, 0] ** 2)
    format_2 = ["x_mean", "x_scale", "y_mean", "y_scale", "history_accepted", "restart_best_cycle",
                "restart_train_converged", "fingerprint_x_mean", "fingerprint_x_scale", "fingerprint_t_mean",
                "fingerprint_t_scale"]

    def format_1(meta):
        meta["format_version"] = 1
        for key in ("restart_messages", "restart_at_bound", "fingerprint_rows"):
            del meta["fitted"][key]
        del meta["params"]["standardize"]

    loaded = io.load(_edited_file(_saved(model, tmp_path / "m.npz"), tmp_path / "v1.npz", format_1, format_2))
    assert loaded.standardize is False and np.array_equal(loaded.predict(X, return_std=True),
                                                          model.predict(X, return_std=True))


@pytest.mark.parametrize("dtype", ["<U500000000", "|O", "<M8[ns]", "zz", "(1000000000,)<f8", "float64", 3])
def test_metadata_arrays_are_numeric_and_no_larger_than_their_json(saved, tmp_path, dtype):
    # "<U500000000" made load allocate 2 GB from a 7.9 kB file; "|O" and "<M8" built arrays save never writes
    edited = _edited_file(saved, tmp_path / "m.npz", _set(["params", "train_kwargs"], {"__ndarray__": [1],
                                                                                        "dtype": dtype}))
    _refused(edited, ".*" + re.escape(f"its metadata field 'params.train_kwargs' names the dtype {dtype!r}"))


@pytest.mark.parametrize("values", [[1.5], [[1], [1, 2]], ["a"], [300]])
def test_metadata_arrays_hold_exactly_their_values(saved, tmp_path, values):
    edited = _edited_file(saved, tmp_path / "m.npz", _set(["params", "alpha"], {"__ndarray__": values,
                                                                              "dtype": "|i1"}))
    _refused(edited, ".*its metadata field 'params.alpha' does not hold an array of int8")


@pytest.fixture(scope="module")
def auto_regressor():
    X = np.random.default_rng(0).uniform(-1, 1, size=(20, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return BayesianMLPRegressor(hidden="auto", cycles=2, train_kwargs=FAST).fit(X, np.sin(3 * X[:, 0]))


_MALFORMED = {  # each raised a TypeError
    "estimator unhashable": (["estimator"], [], r"unknown estimator class \[\]"),
    "jitter beyond float": (["posterior", "jitter"], 10**400, "field 'posterior.jitter' must be a finite number"),
    "at_bound not lists": (["fitted", "restart_at_bound"], [0, 0], "'fitted.restart_at_bound' must be a string and"),
    "n_data a list": (["posterior", "n_data"], [1], r"field 'posterior.n_data' must be a positive integer; got \[1\]"),
    "tuple of an int": (["params", "hidden"], {"__tuple__": 1}, r"field 'params.hidden' is not a value"),
}


@pytest.mark.parametrize("case", _MALFORMED)
def test_malformed_metadata_is_a_value_error_naming_the_field(saved, tmp_path, case):
    keys, value, message = _MALFORMED[case]
    _refused(_edited_file(saved, tmp_path / "m.npz", _set(keys, value)), ".*" + message)


@pytest.mark.parametrize("field, value, message", [
    ("hidden", {"__tuple__": 1}, r"'fitted.hidden_table\[0\].hidden' is not a value"),
    ("gamma", {"__ndarray__": [1], "dtype": "zz"}, r"'fitted.hidden_table\[0\].gamma' names the dtype 'zz'"),
    ("gamma", "high", r"'fitted.hidden_table\[0\]' has values of the wrong type in \['gamma'\]"),
])
def test_a_malformed_hidden_table_is_a_value_error(auto_regressor, tmp_path, field, value, message):
    saved = _saved(auto_regressor, tmp_path / "auto.npz")
    _refused(_edited_file(saved, tmp_path / "m.npz", _set(["fitted", "hidden_table", 0, field], value)),
             ".*" + message)


def _leaves(value, keys=()):
    """The paths of every leaf of parsed JSON."""
    if isinstance(value, dict) and value:
        return [path for key, item in value.items() for path in _leaves(item, keys + (key,))]
    if isinstance(value, list) and value:
        return [path for i, item in enumerate(value) for path in _leaves(item, keys + (i,))]
    return [keys]


def test_any_field_of_any_type_loads_or_is_a_value_error(auto_regressor, tmp_path):
    saved = _saved(auto_regressor, tmp_path / "auto.npz")
    meta = io.read_metadata(saved)
    for keys in _leaves(meta):
        for value in ([], {}, None, "x", 10**30, True, -1, {"__tuple__": 1}):
            try:
                io.load(_edited_file(saved, tmp_path / "m.npz", _set(keys, value)))
            except ValueError as ex:
                assert str(ex).startswith(repr(str(tmp_path / "m.npz"))), (keys, value)


@pytest.mark.parametrize("keys, value, message", [
    (["params", "hidden"], 7, r"hidden 7, while the network's hidden layers are \(3,\)"),
    (["params", "hessian"], "kron", "hessian 'kron' and subset None, while the posterior was built with hessian "
                                    "'outer'"),
    (["params", "standardize"], False, "standardize False, while the model holds a standardisation"),
    (["params"], {}, r"field 'params' must hold the parameters \['hidden', "),
    (["params", "rank"], 3, "rank, lowrank_hessian and lowrank_diag apply only to hessian='lowrank'"),
])
def test_params_that_contradict_the_model_are_refused(saved, tmp_path, keys, value, message):
    _refused(_edited_file(saved, tmp_path / "m.npz", _set(keys, value)), ".*" + message)


def test_the_fingerprint_of_the_data_survives_a_round_trip(tmp_path):
    # it was not saved: a loaded standardize=False model took other data of as many rows for its own in diagnose
    rng = np.random.default_rng(1)
    X, X_other = rng.normal(size=(30, 2)), rng.normal(size=(30, 2))
    model = BayesianMLPRegressor(hidden=2, cycles=2, standardize=False, train_kwargs=FAST).fit(X, np.sin(X[:, 0]))
    loaded = io.load(_saved(model, tmp_path / "m.npz"))
    assert all(np.array_equal(a, b) for a, b in zip(loaded._data_fingerprint, model._data_fingerprint))
    with pytest.raises(ValueError, match="must be the data the posterior was built on"):
        diagnose(loaded, X_other, np.sin(X_other[:, 0]), draws=20, seed=0)
    shifted = _rewritten(tmp_path / "m.npz", tmp_path / "bad.npz", fingerprint_x_mean=np.zeros(3))
    _refused(shifted, r"entry 'fingerprint_x_mean' has shape \(3,\)")
