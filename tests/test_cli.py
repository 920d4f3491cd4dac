import io as io_module
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import laplacenet as ln
from laplacenet import io
from laplacenet.arviz import read_netcdf
from laplacenet.cli import build_parser, main

COMMANDS = ("demo", "fit", "predict", "compare", "export")
FAST = ["--hidden", "2", "--cycles", "2", "--quiet"]  # tiny nets, two evidence cycles: bookkeeping, not fitting


def test_version(capsys):
    try:
        main(["--version"])
    except SystemExit as ex:
        assert ex.code == 0
    assert capsys.readouterr().out.strip() == f"laplacenet {ln.__version__}"


def test_help_via_python_dash_m():
    out = subprocess.run([sys.executable, "-m", "laplacenet", "--help"], capture_output=True, text=True, check=True)
    assert "usage: laplacenet" in out.stdout and "Laplace" in out.stdout


def test_import_leaves_plotting_and_arviz_unloaded():
    code = "import sys, laplacenet; print(sorted(m for m in ('arviz', 'matplotlib', 'xarray') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"    {name}" in out for name in COMMANDS)
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(COMMANDS)
    assert all(sub.choices[name].description for name in COMMANDS)


# --- data files --------------------------------------------------------------------------------------

def _regression_frame(n=24, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, 2))
    return pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "y": np.sin(2 * x[:, 0]) + 0.1 * rng.normal(size=n)})


def _species_frame(n=30, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, 2))
    species = np.array(["adelie", "chinstrap", "gentoo"])[np.digitize(x[:, 0], [-0.3, 0.3])]
    return pd.DataFrame({"bill": x[:, 0], "species": species, "flipper": x[:, 1]})


@pytest.fixture
def regression_csv(tmp_path):
    path = tmp_path / "sine.csv"
    _regression_frame().to_csv(path, index=False)
    return path


@pytest.fixture
def species_csv(tmp_path):
    path = tmp_path / "species.csv"
    _species_frame().to_csv(path, index=False)
    return path


def _read(path):
    return pd.read_csv(path)


def _check_error_line(capsys, status, *phrases):
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert status == 2, err
    assert len(lines) == 1 and lines[0].startswith("laplacenet: error: ") and "Traceback" not in err, err
    assert all(phrase in lines[0] for phrase in phrases), lines[0]


# --- fit and predict ---------------------------------------------------------------------------------

def test_fit_then_predict_regression(regression_csv, tmp_path, capsys):
    model_path, out = tmp_path / "model.npz", tmp_path / "predictions.csv"
    assert main(["fit", str(regression_csv), "--target", "y", "--hidden", "2", "--cycles", "2",
                 "--out", str(model_path)]) == 0
    captured = capsys.readouterr()
    assert "cycle" in captured.out and "log evidence" in captured.out and f"wrote {model_path}" in captured.out
    assert all(line.startswith("laplacenet: warning: ") for line in captured.err.strip().splitlines())
    model = io.load(model_path)
    assert isinstance(model, ln.BayesianMLPRegressor) and model.net_.sizes == (2, 2, 1) and len(model.history_) == 2
    assert io.read_metadata(model_path)["extra"] == {"task": "regression", "features": ["x1", "x2"],
                                                     "targets": ["y"]}
    # DATA for predict: the feature columns in another order, plus a column the model does not use
    frame = _regression_frame(n=9, seed=5)[["x2", "y", "x1"]]
    frame.to_csv(tmp_path / "new.csv", index=False)
    assert main(["predict", str(model_path), str(tmp_path / "new.csv"), "--out", str(out), "--quiet"]) == 0
    table = _read(out)
    mean, std = model.predict(frame[["x1", "x2"]].to_numpy(), return_std=True)
    assert list(table.columns) == ["mean", "std"] and len(table) == 9
    assert np.array_equal(table["mean"], mean) and np.array_equal(table["std"], std)


def test_fit_then_predict_multiclass_labels(species_csv, tmp_path):
    model_path, out = tmp_path / "model.npz", tmp_path / "p.csv"
    assert main(["fit", str(species_csv), "--target", "species", "--task", "multiclass", "--restarts", "2",
                 "--out", str(model_path), *FAST]) == 0
    model = io.load(model_path)
    assert isinstance(model, ln.BayesianMLPClassifier) and model.classes_.tolist() == ["adelie", "chinstrap", "gentoo"]
    assert len(model.restarts_) == 2 and model.n_features_in_ == 2
    assert main(["predict", str(model_path), str(species_csv), "--out", str(out), "--quiet"]) == 0
    table = _read(out)
    X = _species_frame()[["bill", "flipper"]].to_numpy()
    probabilities = model.predict_proba(X)
    assert list(table.columns) == ["p_adelie", "p_chinstrap", "p_gentoo", "predicted"]
    assert np.array_equal(table[["p_adelie", "p_chinstrap", "p_gentoo"]].to_numpy(), probabilities)
    assert table["predicted"].tolist() == model.predict(X).tolist()


def test_fit_binary_from_npz_arrays_and_columns(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(20, 3))
    y = (X[:, 0] - X[:, 2] > 0).astype(int)
    np.savez(tmp_path / "arrays.npz", X=X, y=y)
    assert main(["fit", str(tmp_path / "arrays.npz"), "--target", "y", "--task", "binary",
                 "--out", str(tmp_path / "a.npz"), *FAST]) == 0
    from_arrays = io.load(tmp_path / "a.npz")
    np.savez(tmp_path / "columns.npz", a=X[:, 0], b=X[:, 1], c=X[:, 2], label=y)
    assert main(["fit", str(tmp_path / "columns.npz"), "--target", "label", "--task", "binary",
                 "--out", str(tmp_path / "c.npz"), *FAST]) == 0
    from_columns = io.load(tmp_path / "c.npz")
    # the same data either way: the same fit
    assert from_arrays.net_.sizes == from_columns.net_.sizes == (3, 2, 1)
    assert np.array_equal(from_arrays.predict_proba(X), from_columns.predict_proba(X))
    assert main(["predict", str(tmp_path / "a.npz"), str(tmp_path / "arrays.npz"), "--out",
                 str(tmp_path / "p.csv"), "--quiet"]) == 0
    assert np.array_equal(_read(tmp_path / "p.csv")[["p_0", "p_1"]].to_numpy(), from_arrays.predict_proba(X))


def test_export_writes_arviz_netcdf(regression_csv, tmp_path):
    model_path, out = tmp_path / "model.npz", tmp_path / "posterior.nc"
    assert main(["fit", str(regression_csv), "--target", "y", "--out", str(model_path), *FAST]) == 0
    assert main(["export", str(model_path), str(regression_csv), "--out", str(out), "--draws", "25", "--chains",
                 "2", "--seed", "0", "--quiet"]) == 0
    data = read_netcdf(out)
    assert data["log_likelihood"]["y"].shape == (2, 25, 24)
    assert np.array_equal(np.asarray(data["observed_data"]["y"]), _regression_frame()["y"].to_numpy())
    assert data["posterior"]["W1"].shape == (2, 25, 2, 2)


# --- compare -----------------------------------------------------------------------------------------

def test_compare_writes_the_evidence_table_and_plot(regression_csv, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", str(regression_csv), "--target", "y", "--hidden", "1,2x1", "--restarts", "2",
                 "--cycles", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(out / "evidence.csv")
    assert (out / "evidence.png").stat().st_size > 0
    assert table["hidden"].tolist() == ["1", "1", "2x1", "2x1"] and table["restart"].tolist() == [0, 1] * 2
    assert table["n_params"].tolist() == [5, 5, 11, 11]  # [2, 1, 1]; [2, 2, 1, 1]
    best = table.loc[table["log_evidence"].idxmax()]
    assert f"log evidence {best['log_evidence']:.4f}" in printed and "highest evidence" in printed


def test_compare_classification_labels(species_csv, tmp_path):
    assert main(["compare", str(species_csv), "--target", "species", "--task", "multiclass", "--hidden", "1,2",
                 "--restarts", "1", "--cycles", "2", "--quiet", "--out", str(tmp_path / "c")]) == 0
    table = pd.read_csv(tmp_path / "c" / "evidence.csv")
    assert table["n_params"].tolist() == [2 * 1 + 1 + 3 * 1 + 3, 2 * 2 + 2 + 3 * 2 + 3]
    assert table["beta"].isna().all()


class _Terminal(io_module.StringIO):
    def isatty(self):
        return True


def _bar_steps(text, desc):
    """``(n, total)`` of every frame of the tqdm bar ``desc``, in the order drawn."""
    frames = [frame for frame in text.split("\r") if frame.startswith(f"{desc}:")]
    return [tuple(int(g) for g in re.search(r"\| *(\d+)/(\d+) \[", frame).groups()) for frame in frames]


def test_compare_draws_a_bar_step_per_evidence_cycle_unless_quiet(regression_csv, tmp_path, monkeypatch):
    # --cycles 2: every restart runs both cycles (convergence is first tested at the last one)
    argv = ["compare", str(regression_csv), "--target", "y", "--hidden", "1,2", "--restarts", "1", "--cycles", "2",
            "--out", str(tmp_path / "c")]
    for quiet in (False, True):
        terminal = _Terminal()
        monkeypatch.setattr(sys, "stderr", terminal)
        assert main(argv + (["--quiet"] if quiet else [])) == 0
        steps = _bar_steps(terminal.getvalue(), "compare: evidence cycles")
        # 2 architectures x 1 restart x 2 cycles, one frame per cycle after the empty bar
        assert steps == ([] if quiet else [(n, 4) for n in range(5)])


def test_fit_bar_follows_the_cycles_of_every_restart(regression_csv, tmp_path, monkeypatch):
    terminal, model_path = _Terminal(), tmp_path / "m.npz"
    monkeypatch.setattr(sys, "stderr", terminal)
    # no hidden layer: each restart converges in fewer than 20 cycles
    assert main(["fit", str(regression_csv), "--target", "y", "--hidden", "0", "--restarts", "2", "--cycles", "20",
                 "--out", str(model_path)]) == 0
    model = io.load(model_path)
    assert all(run.converged and len(run.history) < 20 for run in model.restarts_)
    # a restart that converges early skips the rest of its 20 steps; the bar is filled at the end
    ends = [r * 20 + c.cycle + 1 for r, run in enumerate(model.restarts_) for c in run.history]
    assert _bar_steps(terminal.getvalue(), "fit: evidence cycles") == [(n, 40) for n in [0, *ends, 40]]


# --- posterior structures -----------------------------------------------------------------------------

def test_every_hessian_of_the_library_but_the_finite_difference_oracle_is_offered():
    from laplacenet.cli import HESSIANS
    from laplacenet.laplace import HESSIANS as LIBRARY_HESSIANS
    assert sorted(HESSIANS) == sorted(set(LIBRARY_HESSIANS) - {"fd"})
    fit = next(a for a in build_parser()._actions if a.dest == "command").choices["fit"]
    assert next(a for a in fit._actions if a.dest == "hessian").choices == HESSIANS


@pytest.mark.parametrize("options, rank", [(["--hessian", "kron"], None), (["--hessian", "lowrank", "--rank", "5"], 5)])
def test_fit_then_predict_with_a_structured_posterior(regression_csv, tmp_path, capsys, options, rank):
    model_path, out = tmp_path / "model.npz", tmp_path / "p.csv"
    assert main(["fit", str(regression_csv), "--target", "y", "--hidden", "2", "--cycles", "3", *options,
                 "--out", str(model_path)]) == 0
    printed = capsys.readouterr().out
    model = io.load(model_path)
    assert model.hessian == model.posterior_.hessian == options[1] and model.rank == rank
    assert type(model.posterior_.precision).__name__ == ("KroneckerPrecision" if rank is None else "LowRankPrecision")
    assert (f"hessian='lowrank' (rank {rank})" if rank else "hessian='kron',") in printed
    # the loaded model is the fitted one: its evidence is recomputed from the saved structure
    X, y = _regression_frame()[["x1", "x2"]].to_numpy(), _regression_frame()["y"].to_numpy()
    inner = ln.log_evidence(model.net_, model.w_, *model.posterior_data(X, y), model.alpha_, model.posterior_.beta,
                            hessian=options[1], rank=rank)  # on the standardised scale, then in the data's units
    assert model.log_evidence_ == pytest.approx(inner - len(y) * np.log(model.y_scale_[0]), rel=1e-10)
    assert main(["predict", str(model_path), str(regression_csv), "--out", str(out), "--quiet"]) == 0
    mean, std = model.predict(X, return_std=True)
    table = _read(out)
    assert np.array_equal(table["mean"], mean) and np.array_equal(table["std"], std) and np.all(std > 0)


def test_compare_with_a_last_layer_posterior_is_the_library_comparison(regression_csv, tmp_path):
    assert main(["compare", str(regression_csv), "--target", "y", "--hidden", "1,2", "--restarts", "1", "--cycles",
                 "2", "--hessian", "exact", "--subset", "last_layer", "--quiet", "--out", str(tmp_path / "c")]) == 0
    table = pd.read_csv(tmp_path / "c" / "evidence.csv")
    frame = _regression_frame()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ln.ConvergenceWarning)  # two cycles do not converge
        expected = ln.compare_models(frame[["x1", "x2"]].to_numpy(), frame["y"].to_numpy(), [1, 2], 1, cycles=2,
                                     seed=0, hessian="exact", subset="last_layer")
    assert table["log_evidence"].to_numpy() == pytest.approx([r.log_evidence for r in expected.rows], rel=1e-12)
    assert table["gamma"].to_numpy() == pytest.approx([r.gamma for r in expected.rows], rel=1e-12)


# --- errors ------------------------------------------------------------------------------------------

def test_errors_are_one_line_with_status_2(regression_csv, species_csv, tmp_path, capsys):
    csv, species = str(regression_csv), str(species_csv)
    model = str(tmp_path / "m.npz")
    (tmp_path / "notes.txt").write_text("hello\n")
    (tmp_path / "notes.npz").write_text("hello\n")
    np.save(tmp_path / "single.npy", np.arange(3))
    (tmp_path / "single.npy").rename(tmp_path / "single.npz")
    np.savez(tmp_path / "ragged.npz", a=np.arange(3), b=np.arange(4))
    cases = [
        ([], "a command is required"),
        (["fit", str(tmp_path / "absent.csv"), "--target", "y", "--out", model], "absent.csv"),
        (["fit", csv, "--target", "nope", "--out", model], "has no column 'nope'", "x1, x2, y"),
        (["fit", species, "--target", "flipper", "--out", model], "feature column 'species'", "not numeric"),
        (["fit", csv, "--target", "y", "--task", "clustering", "--out", model], "fit: argument --task",
         "invalid choice"),
        (["fit", csv, "--target", "y", "--hidden", "ten", "--out", model], "argument --hidden"),
        (["fit", csv, "--target", "y", "--cycles", "0", "--out", model], "argument --cycles", "positive integer"),
        (["fit", csv, "--target", "y"], "the following arguments are required: --out"),
        (["fit", species, "--target", "species", "--task", "binary", "--out", model], "exactly 2 classes"),
        (["fit", species, "--target", "species", "--out", model], "target species is not numeric",
         "--task binary or multiclass"),
        (["fit", csv, "--target", "y", "--activation", "sigmoidal", "--out", model, "--quiet"], "activation"),
        (["predict", str(tmp_path / "notes.txt"), csv, "--out", str(tmp_path / "p.csv")],
         "not a readable laplacenet model file"),
        (["compare", csv, "--target", "y", "--hidden", "1,,2"], "argument --hidden"),
        (["fit", str(tmp_path / "notes.npz"), "--target", "y", "--out", model], "not a readable NPZ file"),
        (["fit", str(tmp_path / "single.npz"), "--target", "y", "--out", model], "single array"),
        (["fit", str(tmp_path / "ragged.npz"), "--target", "a", "--out", model], "1-D columns of one length"),
        (["fit", csv, "--target", "y", "--hessian", "fd", "--out", model], "argument --hessian", "invalid choice"),
        (["fit", csv, "--target", "y", "--hessian", "lowrank", "--out", model], "fit: --hessian lowrank needs --rank"),
        (["compare", csv, "--target", "y", "--rank", "3"], "compare: --rank applies only to --hessian lowrank"),
        (["fit", csv, "--target", "y", "--hessian", "kron", "--subset", "last_layer", "--out", model],
         "--subset last_layer needs --hessian exact or outer"),
        (["fit", csv, "--target", "y", "--hessian", "lowrank", "--rank", "0", "--out", model], "argument --rank",
         "positive integer"),
        (["fit", csv, "--target", "y", "--hidden", "2", "--hessian", "lowrank", "--rank", "50", "--out", model,
          "--quiet"], "rank must be at most the number of weights W = 9"),
    ]
    for argv, *phrases in cases:
        _check_error_line(capsys, main(argv), *phrases)
    assert not (tmp_path / "m.npz").exists()


def test_errors_of_predict_and_export_data(regression_csv, tmp_path, capsys):
    model = tmp_path / "m.npz"
    assert main(["fit", str(regression_csv), "--target", "y", "--out", str(model), *FAST]) == 0
    capsys.readouterr()
    _regression_frame()[["x1", "y"]].to_csv(tmp_path / "partial.csv", index=False)
    _check_error_line(capsys, main(["predict", str(model), str(tmp_path / "partial.csv"), "--out",
                                    str(tmp_path / "p.csv")]), "has no column 'x2'")
    _check_error_line(capsys, main(["export", str(model), str(regression_csv), "--out",
                                    str(tmp_path / "absent" / "x.nc"), "--draws", "25", "--chains", "1"]),
                      "--out", "absent' does not exist")
    frame = _regression_frame()
    frame.loc[3, "x2"] = np.nan
    frame.to_csv(tmp_path / "gap.csv", index=False)
    _check_error_line(capsys, main(["predict", str(model), str(tmp_path / "gap.csv"), "--out",
                                    str(tmp_path / "p.csv")]), "feature column 'x2'", "missing")


# --- demo --------------------------------------------------------------------------------------------

def test_demo_in_a_subprocess(tmp_path):
    script = Path(sys.executable).with_name("laplacenet")
    out = tmp_path / "demo"
    run = subprocess.run([str(script), "demo", "--out", str(out), "--quiet"], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "" and "Traceback" not in run.stderr
    names = ("predictive.png", "history.png", "posterior.nc", "model.npz", "summary.json")
    assert all((out / name).stat().st_size > 0 for name in names)
    summary = json.loads((out / "summary.json").read_text())
    assert {"alpha", "beta", "gamma", "log_evidence", "history", "test_rmse", "khat", "khat_verdict", "files"} \
        <= set(summary)
    assert summary["files"]["summary"] == "summary.json" and len(summary["history"]) >= 2
    assert [c["cycle"] for c in summary["history"]] == list(range(len(summary["history"])))
    model = io.load(out / "model.npz")
    assert summary["log_evidence"] == model.log_evidence_ and summary["gamma"] == model.gamma_
    # the held-out error of a good fit is near the noise level of the generator
    assert 0.8 * summary["data"]["noise_sd"] < summary["test_rmse"] < 2 * summary["data"]["noise_sd"]
