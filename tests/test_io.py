import json
import os
import warnings
import zipfile

import numpy as np
import pytest

import laplacenet as ln
from laplacenet import io
from laplacenet.estimators import BayesianMLPClassifier, BayesianMLPRegressor
from laplacenet.core.exceptions import ConvergenceWarning, NotFittedError

from tests.problems import FAST

pytestmark = pytest.mark.usefixtures("quiet_evidence_dips")


def _inputs(n, d=2, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, size=(n, d))


@pytest.fixture(scope="module")
def regressor():
    X = _inputs(30)
    y = np.sin(2 * X[:, 0]) + 0.1 * np.random.default_rng(1).normal(size=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return BayesianMLPRegressor(hidden=3, restarts=2, seed=0, cycles=4, train_kwargs=FAST).fit(X, y)


@pytest.fixture(scope="module")
def binary_classifier():
    X = _inputs(40, seed=2)
    labels = np.array(["no", "yes"], dtype=object)[(X[:, 0] + 0.3 * X[:, 1] > 0).astype(int)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return BayesianMLPClassifier(hidden=(2,), seed=0, cycles=3, train_kwargs=FAST).fit(X, labels)


def _round_trip(model, tmp_path, name="model.npz"):
    path = tmp_path / name
    io.save(model, path)
    return io.load(path)


def _same_history(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert (x.restart, x.cycle, x.gamma, x.log_evidence, x.train_error, x.train_converged) == \
            (y.restart, y.cycle, y.gamma, y.log_evidence, y.train_error, y.train_converged)
        assert np.array_equal(x.alpha, y.alpha)
        assert (x.beta is None and y.beta is None) or np.array_equal(x.beta, y.beta)


def _same_fit(model, loaded):
    assert type(loaded) is type(model) and repr(loaded) == repr(model)
    assert loaded.net_ == model.net_ and np.array_equal(loaded.w_, model.w_)
    assert (loaded.gamma_, loaded.log_evidence_, loaded.converged_, loaded.best_restart_, loaded.n_features_in_) == \
        (model.gamma_, model.log_evidence_, model.converged_, model.best_restart_, model.n_features_in_)
    assert np.array_equal(loaded.alpha_, model.alpha_) and type(loaded.alpha_) is type(model.alpha_)
    _same_history(loaded.history_, model.history_)
    assert len(loaded.restarts_) == len(model.restarts_)
    for a, b in zip(loaded.restarts_, model.restarts_):
        assert np.array_equal(a.w, b.w) and (a.gamma, a.log_evidence, a.converged) == (b.gamma, b.log_evidence,
                                                                                       b.converged)
        _same_history(a.history, b.history)
    assert loaded.restarts_[loaded.best_restart_].posterior is loaded.posterior_
    p, q = loaded.posterior_, model.posterior_
    assert np.array_equal(p.mean, q.mean) and p.subset == q.subset
    if isinstance(q.precision, np.ndarray):  # the structured precisions are operators, compared by their action
        assert np.array_equal(p.precision, q.precision)
    assert (p.hessian, p.jitter, p.chunk_size, p.n_data, p.log_det) == (q.hessian, q.jitter, q.chunk_size, q.n_data,
                                                                        q.log_det)


def test_regressor_round_trip_is_bit_for_bit(regressor, tmp_path):
    loaded = _round_trip(regressor, tmp_path)
    _same_fit(regressor, loaded)
    assert loaded.beta_ == regressor.beta_ and loaded.n_outputs_ == 1
    X = _inputs(17, seed=5)
    assert np.array_equal(loaded.predict(X), regressor.predict(X))
    mean, std = loaded.predict(X, return_std=True)
    expected_mean, expected_std = regressor.predict(X, return_std=True)
    assert mean.shape == (17,) and np.array_equal(mean, expected_mean) and np.array_equal(std, expected_std)


def test_the_factorisation_is_rebuilt_bit_for_bit(regressor, tmp_path):
    # The posterior is rebuilt by the same Cholesky call on the same matrix: the factor and the draws match.
    loaded = _round_trip(regressor, tmp_path)
    assert np.array_equal(loaded.posterior_._form.L, regressor.posterior_._form.L)
    assert np.array_equal(loaded.posterior_.sample(7, seed=3), regressor.posterior_.sample(7, seed=3))
    assert np.array_equal(loaded.posterior_.covariance(), regressor.posterior_.covariance())


def test_regressor_with_several_outputs_grouped_alpha_and_a_diagonal_posterior(tmp_path):
    X = _inputs(25, seed=3)
    Y = np.column_stack([np.sin(2 * X[:, 0]), X[:, 1] ** 2]) + 0.05 * np.random.default_rng(4).normal(size=(25, 2))
    alpha = np.full(4, 0.05)
    model = BayesianMLPRegressor(hidden=2, hessian="diag", alpha=alpha, beta=np.array([10.0, 20.0]), seed=1, cycles=3,
                                 train_kwargs=FAST).fit(X, Y)
    loaded = _round_trip(model, tmp_path)
    _same_fit(model, loaded)
    assert loaded.alpha_.shape == (4,) and loaded.beta_.shape == (2,) and np.array_equal(loaded.beta_, model.beta_)
    assert isinstance(loaded.alpha, np.ndarray) and np.array_equal(loaded.alpha, alpha)  # a constructor parameter
    assert loaded.posterior_.precision.shape == (model.net_.n_params,)  # the diagonal form
    mean, std = loaded.predict(X, return_std=True)
    expected_mean, expected_std = model.predict(X, return_std=True)
    assert mean.shape == (25, 2) and np.array_equal(mean, expected_mean) and np.array_equal(std, expected_std)


@pytest.mark.parametrize("structure", [{"hessian": "kron"}, {"hessian": "lowrank", "rank": 3, "lowrank_diag": True},
                                       {"hessian": "outer", "subset": "last_layer"}])
def test_structured_posteriors_round_trip(structure, tmp_path):
    # Kronecker factors, low-rank eigenpairs and a last-layer precision are stored and rebuilt by their builders.
    X = _inputs(30, seed=11)
    y = np.where(X[:, 0] * X[:, 1] > 0, "same", "differ")
    model = BayesianMLPClassifier(hidden=3, seed=0, cycles=3, train_kwargs=FAST, **structure).fit(X, y)
    loaded = _round_trip(model, tmp_path)
    _same_fit(model, loaded)
    assert type(loaded.posterior_._form) is type(model.posterior_._form)
    assert loaded.posterior_.subset == model.posterior_.subset
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert np.array_equal(loaded.posterior_.sample(4, seed=2), model.posterior_.sample(4, seed=2))
    assert np.array_equal(loaded.posterior_.variances(), model.posterior_.variances())


def test_binary_classifier_round_trip_keeps_string_labels(binary_classifier, tmp_path):
    loaded = _round_trip(binary_classifier, tmp_path)
    _same_fit(binary_classifier, loaded)
    assert loaded.classes_.dtype == object and loaded.classes_.tolist() == ["no", "yes"]
    X = _inputs(30, seed=6)
    assert np.array_equal(loaded.predict_proba(X), binary_classifier.predict_proba(X))
    assert loaded.predict(X).tolist() == binary_classifier.predict(X).tolist()


def test_multiclass_classifier_round_trip_without_reestimation(tmp_path):
    X = _inputs(36, seed=7)
    y = np.digitize(X[:, 0], [-0.3, 0.3]) * 10  # classes 0, 10, 20
    model = BayesianMLPClassifier(hidden=2, reestimate=False, alpha=0.5, restarts=2, seed=0,
                                  train_kwargs=FAST).fit(X, y)
    loaded = _round_trip(model, tmp_path)
    _same_fit(model, loaded)
    assert loaded.history_ == [] and loaded.classes_.dtype == model.classes_.dtype
    assert loaded.classes_.tolist() == [0, 10, 20]
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert np.array_equal(loaded.predict(X), model.predict(X))


def test_updated_posterior_round_trip(regressor, tmp_path):
    # A posterior that took in new data holds A^-1 (Woodbury): saved and rebuilt as such.
    model = BayesianMLPRegressor(**regressor.get_params())
    model.__dict__.update({k: v for k, v in vars(regressor).items() if k.endswith("_")})
    model._y_ndim = regressor._y_ndim
    X_new = _inputs(5, seed=8)
    model.posterior_ = regressor.posterior_.update(X_new, np.sin(2 * X_new[:, :1]))
    loaded = _round_trip(model, tmp_path)
    assert loaded.posterior_.n_data == 35 and loaded.posterior_.log_det == model.posterior_.log_det
    assert type(loaded.posterior_._form).__name__ == type(model.posterior_._form).__name__ == "_Woodbury"
    assert np.array_equal(loaded.posterior_.covariance(), model.posterior_.covariance())
    X = _inputs(11, seed=9)
    mean, std = loaded.predict(X, return_std=True)
    expected_mean, expected_std = model.predict(X, return_std=True)
    assert np.array_equal(mean, expected_mean) and np.array_equal(std, expected_std)


@pytest.mark.parametrize("structure", [{"hessian": "outer"}, {"hessian": "diag"}, {"hessian": "kron"},
                                       {"hessian": "lowrank", "rank": 2}, {"hessian": "outer", "subset": "last_layer"},
                                       {"hessian": "outer", "update": 3}])
def test_save_writes_exactly_the_posteriors_state(regressor, structure, tmp_path):
    # its arrays as entries (alpha and beta as posterior_alpha and posterior_beta), its plain values as metadata
    structure = dict(structure)
    update = structure.pop("update", 0)
    model = BayesianMLPRegressor(**regressor.get_params())
    model.__dict__.update({k: v for k, v in vars(regressor).items() if k.endswith("_")})
    model._y_ndim = regressor._y_ndim
    X = _inputs(20, seed=12)
    T = np.sin(2 * X[:, :1])
    posterior = ln.laplace(model.net_, model.w_, X[update:], T[update:], model.alpha_, model.beta_, jitter=1.0,
                           **structure)
    model.posterior_ = posterior.update(X[:update], T[:update]) if update else posterior
    state = model.posterior_.to_state()
    path = tmp_path / "model.npz"
    io.save(model, path)
    names = {"alpha": "posterior_alpha", "beta": "posterior_beta"}
    arrays = {names.get(k, k): v for k, v in state.items() if isinstance(v, np.ndarray)}
    plain = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
    assert json.dumps(io.read_metadata(path)["posterior"]) == json.dumps(plain)
    with np.load(path, allow_pickle=False) as archive:
        others = ("metadata", "x_mean", "x_scale", "y_mean", "y_scale", "restart_", "history_", "fingerprint_")
        assert {name for name in archive.files if not name.startswith(others)} == set(arrays)
        for name, value in arrays.items():
            stored = archive[name]
            assert stored.dtype == value.dtype and stored.shape == value.shape
            assert stored.tobytes() == value.tobytes()


def test_metadata_describes_the_model(binary_classifier, tmp_path):
    path = tmp_path / "model.npz"
    io.save(binary_classifier, path, extra={"features": ["a", "b"], "note": [1, 2]})
    meta = io.read_metadata(path)
    assert (meta["format"], meta["format_version"], meta["laplacenet_version"]) == \
        (io.FORMAT_NAME, io.FORMAT_VERSION, ln.__version__)
    assert meta["estimator"] == "BayesianMLPClassifier" and meta["classes_dtype"] == "object"
    assert meta["network"] == {"sizes": [2, 2, 1], "activation": "tanh", "likelihood": "bernoulli"}
    assert meta["fitted"]["log_evidence"] == binary_classifier.log_evidence_
    assert meta["params"]["cycles"] == 3 and meta["extra"] == {"features": ["a", "b"], "note": [1, 2]}
    with np.load(path, allow_pickle=False) as archive:  # the metadata is a 0-d unicode array of JSON
        entry = archive["metadata"]
        assert entry.dtype.kind == "U" and entry.ndim == 0 and json.loads(str(entry[()])) == meta


def test_feature_names_survive_a_round_trip(tmp_path):
    # they were lost: the loaded model warned "X has feature names, but ... was fitted without feature names"
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(_inputs(30), columns=["bill", "flipper"])
    model = BayesianMLPRegressor(hidden=2, cycles=2, train_kwargs=FAST).fit(X, np.sin(2 * X["bill"].to_numpy()))
    path = tmp_path / "model.npz"
    io.save(model, path)
    loaded = io.load(path)
    assert io.read_metadata(path)["fitted"]["feature_names_in"] == ["bill", "flipper"]
    assert loaded.feature_names_in_.dtype == object and loaded.feature_names_in_.tolist() == ["bill", "flipper"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(loaded.predict(X), model.predict(X))
    with pytest.raises(ValueError, match="feature names should match"):
        loaded.predict(X.rename(columns={"bill": "beak"}))
    unnamed = BayesianMLPClassifier(hidden=(), cycles=2).fit(X.to_numpy(), X["bill"].to_numpy() > 0)
    assert "feature_names_in" not in io.read_metadata(_saved(unnamed, tmp_path / "unnamed.npz"))["fitted"]
    assert not hasattr(io.load(tmp_path / "unnamed.npz"), "feature_names_in_")


def _saved(model, path):
    io.save(model, path)
    return path


@pytest.mark.parametrize("names", [["bill"], ["bill", 3], "bill,flipper", ["bill", None], {"0": "bill"}])
def test_stored_feature_names_must_be_one_string_per_input(tmp_path, names):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(_inputs(30), columns=["bill", "flipper"])
    saved = _saved(BayesianMLPRegressor(hidden=(), cycles=2).fit(X, X["bill"].to_numpy()), tmp_path / "m.npz")
    fitted = {**io.read_metadata(saved)["fitted"], "feature_names_in": names}
    with pytest.raises(ValueError, match=r"'fitted.feature_names_in' must be a list of 2 strings \(one per input"):
        io.load(_changed_metadata(saved, tmp_path / "bad.npz", fitted=fitted))


def test_save_is_atomic_and_leaves_no_temporary_files(regressor, binary_classifier, tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    io.save(regressor, path)
    io.save(binary_classifier, path)  # replaces it
    assert os.listdir(tmp_path) == ["model.npz"]
    assert isinstance(io.load(path), BayesianMLPClassifier)
    before = path.read_bytes()

    def fail_halfway(fh, **arrays):
        fh.write(b"PK\x03\x04 half an archive")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", fail_halfway)
    with pytest.raises(OSError, match="disk full"):
        io.save(regressor, path)
    assert os.listdir(tmp_path) == ["model.npz"] and path.read_bytes() == before


def test_save_refuses_what_it_cannot_store(regressor, tmp_path):
    with pytest.raises(NotFittedError):
        io.save(BayesianMLPRegressor(), tmp_path / "m.npz")
    with pytest.raises(ValueError, match="estimator must be a fitted BayesianMLPRegressor or BayesianMLPClassifier"):
        io.save(regressor.posterior_, tmp_path / "m.npz")
    unsavable = BayesianMLPRegressor(**regressor.get_params())
    unsavable.__dict__.update({k: v for k, v in vars(regressor).items() if k.endswith("_") or k == "_y_ndim"})
    unsavable.train_kwargs = {"gtol": 1e-4, "callback": print}
    with pytest.raises(ValueError, match=r"cannot save the estimator's parameters\['train_kwargs'\]\['callback'\]"):
        io.save(unsavable, tmp_path / "m.npz")
    with pytest.raises(FileNotFoundError, match="no such directory to save the model in"):
        io.save(regressor, tmp_path / "absent" / "m.npz")
    with pytest.raises(ValueError, match="extra must be a dict"):
        io.save(regressor, tmp_path / "m.npz", extra=["not", "a", "dict"])
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("value, named", [
    (float("nan"), r"field 'extra.score' must be a finite number; got nan"),
    ([1.0, -np.inf], r"field 'extra.score\[1\]' must be a finite number; got -inf"),
    (10 ** 30, r"cannot save extra\['score'\]: an integer of 100 bits"),
    (np.arange(3), r"cannot save extra\['score'\]: a ndarray; extra holds plain JSON"),
    ((1, 2), r"cannot save extra\['score'\]: a tuple; extra holds plain JSON .* pass list\(t\)"),
], ids=["nan", "list", "int", "array", "tuple"])
def test_extra_holds_json_numbers_only(regressor, tmp_path, value, named):
    # NaN and inf were written as the NaN and Infinity of Python's json, which JSON does not have; an integer of
    # more than 4300 digits escaped json.dumps as its own ValueError
    with pytest.raises(ValueError, match=named):
        io.save(regressor, tmp_path / "m.npz", extra={"score": value})
    assert os.listdir(tmp_path) == []


def test_extra_comes_back_as_it_was_given(regressor, tmp_path):
    # a tuple came back as {'__tuple__': [...]} and an array as {'__ndarray__': ...}: extra is plain JSON now
    extra = {"t": [1, 2], "nested": {"__x": [True, None, "s", 1.5]}, "n": np.int64(3), "f": np.float32(0.5)}
    io.save(regressor, tmp_path / "m.npz", extra=extra)
    back = io.read_metadata(tmp_path / "m.npz")["extra"]
    assert back == extra and type(back["n"]) is int and type(back["f"]) is float


def test_load_refuses_non_finite_numbers_anywhere_in_the_metadata(regressor, tmp_path):
    saved = tmp_path / "model.npz"
    io.save(regressor, saved, extra={"scores": [1.0, 2.0]})
    edited = _changed_metadata(saved, tmp_path / "edited.npz", extra={"scores": [1.0, float("nan")]})
    with pytest.raises(ValueError, match=r"its metadata field 'extra.scores\[1\]' must be a finite number; got nan"):
        io.load(edited)


def _rewritten(source, target, **changes):
    """A copy of the archive ``source`` with entries replaced (None removes one)."""
    with np.load(source, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays.update(changes)
    np.savez(target, **{k: v for k, v in arrays.items() if v is not None})
    return target


def _changed_metadata(source, target, **fields):
    meta = io.read_metadata(source)
    meta.update(fields)
    return _rewritten(source, target, metadata=np.array(json.dumps(meta)))


def test_foreign_files_are_refused_clearly(regressor, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("alpha,beta\n1,2\n")
    with pytest.raises(ValueError, match="not a readable laplacenet model file: it is not an NPZ"):
        io.load(text)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="the file is empty"):
        io.load(empty)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.arange(3), b=np.ones(2))
    with pytest.raises(ValueError, match="has no 'metadata' entry .*not written by laplacenet.save"):
        io.load(other)
    npy = tmp_path / "array.npy"
    np.save(npy, np.arange(4))
    with pytest.raises(ValueError, match="not an NPZ"):
        io.load(npy)
    saved = tmp_path / "model.npz"
    io.save(regressor, saved)
    with pytest.raises(ValueError, match="names the format 'something.else', not 'laplacenet.model'"):
        io.load(_changed_metadata(saved, tmp_path / "foreign.npz", format="something.else"))


def test_a_newer_format_version_is_refused(regressor, tmp_path):
    saved = tmp_path / "model.npz"
    io.save(regressor, saved)
    newer = _changed_metadata(saved, tmp_path / "newer.npz", format_version=io.FORMAT_VERSION + 1,
                              laplacenet_version="9.0")
    with pytest.raises(ValueError, match=rf"format version {io.FORMAT_VERSION + 1} by laplacenet 9.0.*Upgrade"):
        io.load(newer)
    with pytest.raises(ValueError, match="format version"):
        io.read_metadata(newer)


def test_pickled_content_is_never_unpickled(regressor, tmp_path):
    unpickled = []

    class Trap:
        def __reduce__(self):
            return unpickled.append, ("unpickled",)

    saved = tmp_path / "model.npz"
    io.save(regressor, saved)
    with np.load(saved, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["metadata"] = np.array([Trap()], dtype=object)
    np.savez(tmp_path / "trap.npz", **arrays)
    with pytest.raises(ValueError, match="entry .metadata.npy. holds Python objects .*never unpickled"):
        io.load(tmp_path / "trap.npz")
    assert unpickled == []


def test_truncated_files_are_refused(regressor, tmp_path):
    saved = tmp_path / "model.npz"
    io.save(regressor, saved)
    content = saved.read_bytes()
    for size in (2, 30, len(content) // 3, len(content) // 2, len(content) - 40, len(content) - 1):
        cut = tmp_path / f"cut{size}.npz"
        cut.write_bytes(content[:size])
        with pytest.raises(ValueError, match="not a readable laplacenet model file: it is (truncated|corrupted)"):
            io.load(cut)


def test_corrupted_bytes_never_load_silently(regressor, tmp_path):
    # Every single-bit flip either raises a ValueError or only touched bytes that do not carry the model
    # (timestamps, padding): then the model predicts exactly as before.
    saved = tmp_path / "model.npz"
    io.save(regressor, saved)
    content = saved.read_bytes()
    X = _inputs(9, seed=10)
    expected = regressor.predict(X, return_std=True)
    rng = np.random.default_rng(0)
    refused = 0
    for position in rng.choice(len(content), size=120, replace=False):
        damaged = bytearray(content)
        damaged[position] ^= 1 << int(rng.integers(8))
        path = tmp_path / "damaged.npz"
        path.write_bytes(bytes(damaged))
        try:
            loaded = io.load(path)
        except ValueError as ex:
            assert "is not a readable laplacenet model file" in str(ex)
            refused += 1
            continue
        mean, std = loaded.predict(X, return_std=True)
        assert np.array_equal(mean, expected[0]) and np.array_equal(std, expected[1])
    assert refused >= 60  # the compressed arrays are most of the file and their CRC-32 catches every flip


def test_inconsistent_contents_are_refused(regressor, tmp_path):
    saved = tmp_path / "model.npz"
    io.save(regressor, saved)
    W = regressor.net_.n_params
    with np.load(saved, allow_pickle=False) as archive:
        precision, mean = archive["precision"], archive["mean"]
    cases = {
        "precision": (np.eye(W - 1), rf"entry 'precision' has shape \({W - 1}, {W - 1}\).*expected shape \({W}, {W}\)"),
        "mean": (np.where(np.arange(W) == 0, np.nan, mean), "entry 'mean' holds NaN or inf"),
        "restart_w": (None, "has no 'restart_w' entry"),
    }
    for name, (value, message) in cases.items():
        with pytest.raises(ValueError, match=message):
            io.load(_rewritten(saved, tmp_path / f"bad_{name}.npz", **{name: value}))
    not_positive_definite = precision - 2 * np.linalg.eigvalsh(precision)[-1] * np.eye(W)
    with pytest.raises(ValueError, match="truncated or corrupted .*not positive definite"):
        io.load(_rewritten(saved, tmp_path / "bad_definite.npz", precision=not_positive_definite))
    with pytest.raises(ValueError, match="unknown estimator class 'Pickle'"):
        io.load(_changed_metadata(saved, tmp_path / "bad_class.npz", estimator="Pickle"))
    with pytest.raises(ValueError, match="field 'params' must hold the parameters .* of a BayesianMLPRegressor"):
        io.load(_changed_metadata(saved, tmp_path / "bad_params.npz", params={"depth": 3}))


def test_load_of_a_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        io.load(tmp_path / "absent.npz")


def test_archive_layout_is_plain_npz(regressor, tmp_path):
    path = tmp_path / "model.npz"
    io.save(regressor, path)
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
    assert {"metadata.npy", "mean.npy", "precision.npy", "restart_w.npy", "history_alpha.npy"} <= names
    with np.load(path, allow_pickle=False) as archive:
        assert all(not archive[name].dtype.hasobject for name in archive.files)
        assert np.array_equal(archive["mean"], regressor.w_)
