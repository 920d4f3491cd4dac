import io as io_module
import json
import os
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
from laplacenet._cli_parser import fit_settings
from laplacenet.cli import build_parser, main
from laplacenet.estimators import AUTO_HIDDEN

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


def test_predict_to_standard_output(regression_csv, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model_path = tmp_path / "model.npz"
    assert main(["fit", str(regression_csv), "--target", "y", "--out", str(model_path), *FAST]) == 0
    capsys.readouterr()
    assert main(["predict", str(model_path), str(regression_csv), "--out", "-"]) == 0
    out = capsys.readouterr().out  # the table alone, without the report line
    table = pd.read_csv(io_module.StringIO(out))
    mean, std = io.load(model_path).predict(_regression_frame()[["x1", "x2"]].to_numpy(), return_std=True)
    assert list(table.columns) == ["mean", "std"] and np.allclose(table["mean"], mean, rtol=1e-14, atol=0)
    assert np.allclose(table["std"], std, rtol=1e-14, atol=0) and not (tmp_path / "-").exists()


def test_predict_into_a_pipe_closed_early_stops_quietly(regression_csv, tmp_path):
    # `predict ... --out - | head` printed "laplacenet: error: [Errno 32] Broken pipe" and exited 2
    model_path = tmp_path / "model.npz"
    assert main(["fit", str(regression_csv), "--target", "y", "--out", str(model_path), *FAST]) == 0
    pd.concat([_regression_frame()] * 2000).to_csv(tmp_path / "many.csv", index=False)  # far beyond a pipe's buffer
    run = subprocess.Popen([sys.executable, "-m", "laplacenet", "predict", str(model_path), str(tmp_path / "many.csv"),
                            "--out", "-"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert run.stdout.readline() == "mean,std\n"
    run.stdout.close()  # as head does after its lines
    assert run.wait(timeout=60) == 141 and run.stderr.read() == ""
    run.stderr.close()


def test_column_names_with_spaces(tmp_path):
    frame = _regression_frame().rename(columns={"x1": "bill length", "x2": "flipper (mm)", "y": "body mass"})
    lines = frame.to_csv(index=False).splitlines()
    # a space after every comma, as people type CSV files: it is not part of the names or the numbers
    (tmp_path / "spaced.csv").write_text("\n".join(line.replace(",", ", ") for line in lines) + "\n")
    model_path = tmp_path / "m.npz"
    assert main(["fit", str(tmp_path / "spaced.csv"), "--target", "body mass", "--out", str(model_path), *FAST]) == 0
    assert io.read_metadata(model_path)["extra"]["features"] == ["bill length", "flipper (mm)"]
    assert main(["fit", str(tmp_path / "spaced.csv"), "--target", " body mass ", "--out", str(tmp_path / "n.npz"),
                 *FAST]) == 0
    X = frame[["bill length", "flipper (mm)"]].to_numpy()
    assert np.allclose(io.load(model_path).predict(X), io.load(tmp_path / "n.npz").predict(X), rtol=1e-12, atol=0)


def test_fit_report_says_the_scale_of_each_number_and_the_symmetry_term(regression_csv, tmp_path, capsys):
    # beta was reported in the data's units, alpha on the standardised scale, and --beta is taken on the latter:
    # nothing said so; the kept line's log evidence had the symmetry term, the cycles' not
    model_path = tmp_path / "m.npz"
    assert main(["fit", str(regression_csv), "--target", "y", "--hidden", "2", "--cycles", "3", "--out",
                 str(model_path)]) == 0
    printed = capsys.readouterr().out.splitlines()
    model = io.load(model_path)
    kept = model.history_[model.restarts_[model.best_restart_].best_cycle]
    assert printed[1] == "per cycle: alpha on the standardised scale, beta in the data's units, the log evidence " \
                         "without the symmetry term"
    line = printed[-2]
    assert f"alpha {model.alpha_:.4g} (on the standardised scale), beta {model.beta_:.4g} (in the data's units)" in line
    term, counts = ln.bayes.symmetry.posterior_symmetry(model.posterior_)
    total, cycle, added = (float(x) for x in re.search(r"log evidence (\S+) = (\S+) \(the cycle's\) \+ (\S+) \(the "
                                                         r"symmetry term ln M! \+ M ln 2", line).groups())
    assert (total, cycle) == (round(model.log_evidence_, 4), round(kept.log_evidence, 4)) and counts == (1,)
    assert added == round(term, 4) == round(np.log(2), 4)  # one unit told from zero: ln 1! + ln 2
    assert f"M = {counts[0]})" in line
    assert main(["fit", str(regression_csv), "--target", "y", "--no-standardize", "--out", str(model_path),
                 *FAST[:-1]]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("per cycle: alpha and beta in the data's units")
    options = next(a for a in build_parser()._actions if a.dest == "command").choices["fit"]._actions
    helps = {a.dest: " ".join(a.help.split()) for a in options}
    assert "taken on the standardised scale" in helps["alpha"] and "taken on the standardised scale" in helps["beta"]
    assert "the report gives beta in the data's units" in helps["beta"]
    assert "alpha on the standardised scale" in helps["standardize"]


def test_predict_help_says_when_extra_columns_are_ignored(tmp_path, capsys):
    # it said "others are ignored", but a model fitted on NPZ arrays refuses a CSV with a column more
    predict = next(a for a in build_parser()._actions if a.dest == "command").choices["predict"]
    data_help = " ".join(next(a for a in predict._actions if a.dest == "data").help.split())
    assert "for a model fitted on named columns" in data_help and "other columns ignored" in data_help
    assert "fitted on NPZ arrays X, y, an array X or a table of exactly its features" in data_help
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "arrays.npz", X=rng.normal(size=(20, 2)), y=rng.normal(size=20))
    assert main(["fit", str(tmp_path / "arrays.npz"), "--target", "y", "--out", str(tmp_path / "a.npz"), *FAST]) == 0
    capsys.readouterr()
    _regression_frame().to_csv(tmp_path / "three.csv", index=False)
    _check_error_line(capsys, main(["predict", str(tmp_path / "a.npz"), str(tmp_path / "three.csv"), "--out", "-"]),
                      "has 3 feature column(s); the model was fitted on 2")


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
    assert np.asarray(data["posterior"]["W1"]["input"]).tolist() == ["x1", "x2"]


def test_export_on_other_data_warns_that_loo_needs_the_training_data(species_csv, tmp_path, capsys):
    model_path, out = tmp_path / "model.npz", tmp_path / "posterior.nc"
    assert main(["fit", str(species_csv), "--target", "species", "--task", "multiclass", "--out", str(model_path),
                 *FAST]) == 0
    capsys.readouterr()
    export = ["export", str(model_path), "--out", str(out), "--draws", "25", "--chains", "1", "--quiet"]
    assert main(export[:2] + [str(species_csv)] + export[2:]) == 0
    assert "PSIS-LOO" not in capsys.readouterr().err
    data = read_netcdf(out)  # the labels as they are in the file
    assert np.asarray(data["observed_data"]["y"]).tolist() == _species_frame()["species"].tolist()
    assert np.asarray(data["posterior"]["W2"]["output"]).tolist() == ["adelie", "chinstrap", "gentoo"]
    _species_frame(seed=8).to_csv(tmp_path / "other.csv", index=False)
    assert main(export[:2] + [str(tmp_path / "other.csv")] + export[2:]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "PSIS-LOO" in line]
    assert len(warned) == 1 and warned[0].startswith("laplacenet: warning: to_inference_data: X, y are not the data "
                                                     "the posterior was built on (other column means of the inputs")


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


def test_compare_writes_alpha_per_group_and_beta_per_target_as_numbers(tmp_path):
    # evidence.csv held numpy's text "[3.67135370e+01 2.98641320e+05 ...]", read back as strings of 9 digits
    frame = _regression_frame().assign(z=lambda f: 1e3 * f["y"])  # other units: a beta per target
    frame.to_csv(tmp_path / "two.csv", index=False)
    assert main(["compare", str(tmp_path / "two.csv"), "--target", "y,z", "--hidden", "0,1", "--restarts", "1",
                 "--cycles", "2", "--alpha", "layers", "--quiet", "--out", str(tmp_path / "c")]) == 0
    table = pd.read_csv(tmp_path / "c" / "evidence.csv")
    groups = ["alpha_W1", "alpha_b1", "alpha_W2", "alpha_b2"]
    assert list(table.columns) == ["hidden", "restart", "n_params", "log_evidence", "gamma", *groups, "beta_y",
                                   "beta_z", "train_error", "test_error", "converged", "n_distinguishable_1"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ln.ConvergenceWarning)  # two cycles do not converge
        expected = ln.compare_models(frame[["x1", "x2"]].to_numpy(), frame[["y", "z"]].to_numpy(), [0, 1], 1,
                                     cycles=2, seed=0, alpha="layers").rows
    # every number in full: the same bits as the library's; the groups an architecture lacks are empty
    assert table.loc[0, groups].tolist()[:2] == list(expected[0].alpha) and table.loc[0, groups[2:]].isna().all()
    assert table.loc[1, groups].tolist() == list(expected[1].alpha)
    assert table[["beta_y", "beta_z"]].to_numpy().tolist() == [list(r.beta) for r in expected]
    assert table["beta_z"].iloc[0] == pytest.approx(1e-6 * table["beta_y"].iloc[0], rel=1e-9)
    # the counts per hidden layer as numbers (they were a tuple's text, "(1,)"), empty without the layer
    assert np.isnan(table.loc[0, "n_distinguishable_1"])
    assert table.loc[1, "n_distinguishable_1"] == expected[1].n_distinguishable[0]


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


def test_fit_hidden_auto_prints_the_table_it_chose_from(regression_csv, tmp_path, capsys, monkeypatch):
    terminal, model_path = _Terminal(), tmp_path / "auto.npz"
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["fit", str(regression_csv), "--target", "y", "--hidden", "auto", "--cycles", "2",
                 "--out", str(model_path)]) == 0
    printed = capsys.readouterr().out.splitlines()
    model = io.load(model_path)
    assert model.get_params()["hidden"] == "auto" and model.hidden_table_ is not None
    # one line per candidate (hidden, W, log evidence, gamma, units told from zero, training error), the choice
    # marked and named, and the symmetry term in the log evidence said
    rows = [line.split() for line in printed[1:1 + len(AUTO_HIDDEN)]]
    assert printed[0].split() == ["hidden", "W", "log", "evidence", "gamma", "M", "train", "MSE"]
    assert [row[0] for row in rows] == ["0", "1", "2", "4", "8", "16"]
    for row, expected in zip(rows, model.hidden_table_.rows):
        assert (int(row[1]), float(row[2])) == (expected.n_params, round(expected.log_evidence, 4))
        assert int(row[4]) == sum(expected.n_distinguishable or ()) <= sum(expected.hidden)
        assert (row[6:] == ["<-", "chosen"]) == (expected.hidden == model.hidden_)
    chosen = "x".join(map(str, model.hidden_)) or "0"
    assert printed[1 + len(AUTO_HIDDEN)] == f"--hidden auto: chose {chosen}, the highest log evidence of 6 " \
        f"architectures (each with the symmetry term ln M! + M ln 2 of its M hidden units told from zero)"
    assert f"MLP {list(model.net_.sizes)}" in printed[2 + len(AUTO_HIDDEN)]
    # the bar runs through every candidate's cycles, never backwards
    steps = _bar_steps(terminal.getvalue(), "fit: evidence cycles")
    assert steps[-1] == (2 * len(AUTO_HIDDEN), 2 * len(AUTO_HIDDEN))
    assert [n for n, _ in steps] == sorted(n for n, _ in steps)


# --- the options the library's messages name ---------------------------------------------------------

def test_fit_options_reach_the_estimator(regression_csv, tmp_path):
    model_path = tmp_path / "m.npz"
    assert main(["fit", str(regression_csv), "--target", "y", "--hidden", "2", "--cycles", "2", "--alpha", "0.5",
                 "--beta", "20", "--jitter", "0.001", "--train-method", "newton-cg", "--maxiter", "200", "--gtol",
                 "1e-7", "--no-standardize", "--matrix-budget", "0.5", "--out", str(model_path), "--quiet"]) == 0
    model = io.load(model_path)
    params = model.get_params()
    assert (params["alpha"], params["beta"], params["jitter"], params["standardize"]) == (0.5, 20.0, 0.001, False)
    assert params["train_kwargs"] == {"method": "newton-cg", "maxiter": 200, "gtol": 1e-7}
    assert model.posterior_.jitter == 0.001 and np.all(model.x_mean_ == 0) and np.all(model.x_scale_ == 1)
    # the evidence loop starts where it was asked to (without standardisation, in the data's units)
    assert (model.history_[0].alpha, model.history_[0].beta) == (0.5, 20.0)
    assert ln.get_matrix_budget() == 2 * 2**30  # the budget was the command's alone


def test_default_options_are_the_estimators_defaults():
    fit = build_parser().parse_args(["fit", "data.csv", "--target", "y", "--out", "m.npz"])
    settings = fit_settings(fit)
    defaults = ln.BayesianMLPRegressor().get_params()
    assert settings == {name: defaults[name] for name in settings if name not in ("cycles", "seed")} | {
        "cycles": 50, "seed": 0}


def test_advice_of_the_library_names_the_options_that_follow_it(regression_csv, tmp_path, capsys):
    # one Newton step leaves w where the exact Hessian is indefinite
    argv = ["fit", str(regression_csv), "--target", "y", "--hidden", "2", "--hessian", "exact", "--maxiter", "1",
            "--cycles", "2", "--out", str(tmp_path / "m.npz"), "--quiet"]
    assert main(argv) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("laplacenet: error: ") and "not positive definite" in error
    assert error.endswith("[on the command line: --jitter, --gtol, --hessian]")
    jitter = 2 * float(re.search(r"jitter larger than ([0-9.e+-]+)", error).group(1))
    assert main(argv + ["--jitter", str(jitter)]) == 0  # the advice followed on the command line
    assert io.load(tmp_path / "m.npz").posterior_.jitter == jitter
    warned = capsys.readouterr().err.strip().splitlines()
    assert any("MAP training did not converge" in line and line.endswith("[on the command line: --maxiter, "
                                                                         "--train-method]") for line in warned)
    # a dense matrix beyond the budget: its remedies
    status = main(["fit", str(regression_csv), "--target", "y", "--hidden", "2", "--matrix-budget", "1e-7",
                   "--out", str(tmp_path / "b.npz"), "--quiet"])
    _check_error_line(capsys, status, "set_matrix_budget", "[on the command line: --matrix-budget")
    assert ln.get_matrix_budget() == 2 * 2**30


@pytest.mark.parametrize("command", ["fit", "compare"])
def test_every_remedy_has_its_option(command):
    from laplacenet.cli import _REMEDY_OPTIONS
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    offered = {option for action in sub._actions for option in action.option_strings}
    assert {option for _, option in _REMEDY_OPTIONS} <= offered
    # what the library says when a posterior precision is not positive definite
    from laplacenet.bayes.posteriors import not_positive_definite
    args = sub.parse_args(["data.csv", "--target", "y"] + (["--out", "m.npz"] if command == "fit" else []))
    from laplacenet.cli import _options_hint
    hint = _options_hint(str(not_positive_definite(-1e-12, "outer")), args)
    assert hint.startswith(" [on the command line: --alpha, --jitter")
    assert _options_hint("X must be finite", args) == ""
    assert _options_hint("use a larger alpha", build_parser().parse_args(["predict", "m.npz", "d.csv", "--out",
                                                                          "p.csv"])) == ""  # predict has no --alpha


def test_a_name_in_the_data_is_not_advice(tmp_path, capsys):
    # a column named 'jitter' made "has no column 'jitter'" end in "[on the command line: --jitter]"
    frame = _regression_frame().rename(columns={"x1": "jitter", "x2": "gtol"})
    frame.to_csv(tmp_path / "named.csv", index=False)
    out = ["--out", str(tmp_path / "m.npz"), *FAST]
    for argv in (["fit", str(tmp_path / "named.csv"), "--target", "jitter,nope", *out],
                 ["fit", str(tmp_path / "maxiter.csv"), "--target", "y", *out],
                 ["fit", str(tmp_path / "named.csv"), "--target", "jitter", "--task", "binary", *out]):
        status = main(argv)
        assert "[on the command line" not in capsys.readouterr().err and status == 2
    args = build_parser().parse_args(["fit", "d.csv", "--target", "y", "--out", "m.npz"])
    from laplacenet.cli import _options_hint
    assert _options_hint("DATA \"hessian='exact'.csv\" has no column 'use a larger alpha'", args) == ""
    assert _options_hint("Increase maxiter (it was 1), or try method='newton-cg' or 'L-BFGS-B'", args) == \
        " [on the command line: --maxiter, --train-method]"


def test_compare_with_test_data_and_options_is_the_library_comparison(regression_csv, tmp_path, capsys):
    frame = _regression_frame()
    test = _regression_frame(n=15, seed=9)[["y", "x2", "x1"]]  # the columns in another order
    test.to_csv(tmp_path / "test.csv", index=False)
    assert main(["compare", str(regression_csv), "--target", "y", "--hidden", "1,2", "--restarts", "1", "--cycles",
                 "2", "--alpha", "0.3", "--beta", "5", "--jitter", "1e-4", "--gtol", "1e-6", "--no-standardize",
                 "--test", str(tmp_path / "test.csv"), "--out", str(tmp_path / "c")]) == 0
    printed = capsys.readouterr().out.splitlines()
    table = pd.read_csv(tmp_path / "c" / "evidence.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ln.ConvergenceWarning)  # two cycles do not converge
        expected = ln.compare_models(frame[["x1", "x2"]].to_numpy(), frame["y"].to_numpy(), [1, 2], 1, cycles=2,
                                     seed=0, alpha=0.3, beta=5.0, jitter=1e-4, train_kwargs={"gtol": 1e-6},
                                     standardize=False, X_test=test[["x1", "x2"]].to_numpy(),
                                     T_test=test["y"].to_numpy())
    for column in ("log_evidence", "train_error", "test_error"):  # the same bits: the CSV's F-ordered columns and
        assert table[column].tolist() == [getattr(r, column) for r in expected.rows]  # the array, both made C
    # the printed table says what its errors are, and shows the test errors
    assert printed[0].split()[-4:] == ["train", "MSE", "test", "MSE"]
    assert [float(line.split()[-1]) for line in printed[1:3]] == \
        pytest.approx([r.test_error for r in expected.rows], rel=1e-3)


def test_compare_test_data_of_a_classifier(species_csv, tmp_path, capsys):
    test = _species_frame(n=12, seed=4)
    test.to_csv(tmp_path / "test.csv", index=False)
    assert main(["compare", str(species_csv), "--target", "species", "--task", "multiclass", "--hidden", "1",
                 "--restarts", "1", "--cycles", "2", "--test", str(tmp_path / "test.csv"), "--out",
                 str(tmp_path / "c")]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split()[-6:] == ["train", "error", "rate", "test", "error", "rate"]
    rate = pd.read_csv(tmp_path / "c" / "evidence.csv")["test_error"].iloc[0]
    assert 0 <= rate <= 1 and rate * 12 == pytest.approx(round(rate * 12)) and float(printed[1].split()[-1]) == \
        pytest.approx(rate, rel=1e-3)
    test.loc[3, "species"] = "emperor"
    test.to_csv(tmp_path / "test.csv", index=False)
    _check_error_line(capsys, main(["compare", str(species_csv), "--target", "species", "--task", "multiclass",
                                    "--hidden", "1", "--test", str(tmp_path / "test.csv"), "--quiet", "--out",
                                    str(tmp_path / "c")]),
                      "--test: the target of TEST must hold only the labels of DATA", "['emperor']")


def _never(*args, **kwargs):
    raise AssertionError("fitted before the output was checked")


def test_out_never_overwrites_an_input(regression_csv, tmp_path, capsys, monkeypatch):
    # `fit d.csv --out d.csv` replaced the data by the model, `predict m.npz new.csv --out m.npz` the model
    model = tmp_path / "m.npz"
    assert main(["fit", str(regression_csv), "--target", "y", "--out", str(model), *FAST]) == 0
    capsys.readouterr()
    monkeypatch.setattr(ln.BayesianMLPRegressor, "fit", _never)
    monkeypatch.setattr("laplacenet.cli.compare_models", _never)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "evidence.csv").write_bytes(regression_csv.read_bytes())
    (tmp_path / "link.csv").symlink_to(regression_csv)
    data, inputs = str(regression_csv), {path: path.read_bytes() for path in (regression_csv, model)}
    cases = [(["fit", data, "--target", "y", "--out", data], f"--out {data!r} would overwrite the input DATA {data!r}"),
             (["fit", str(tmp_path / "link.csv"), "--target", "y", "--out", data], "the input DATA", "link.csv"),
             (["fit", data, "--target", "y", "--out", str(tmp_path / ".." / tmp_path.name / "sine.csv")],
              "would overwrite the input DATA"),
             (["predict", str(model), data, "--out", str(model)], f"the input MODEL {str(model)!r}"),
             (["predict", str(model), data, "--out", data], "the input DATA"),
             (["export", str(model), data, "--out", str(model)], "the input MODEL"),
             (["compare", str(tmp_path / "c" / "evidence.csv"), "--target", "y", "--out", str(tmp_path / "c")],
              "its evidence.csv would overwrite the input DATA"),
             (["compare", data, "--target", "y", "--test", str(tmp_path / "c" / "evidence.csv"), "--out",
               str(tmp_path / "c")], "its evidence.csv would overwrite the input --test")]
    for argv, *phrases in cases:
        _check_error_line(capsys, main(argv + ["--quiet"]), *phrases)
    assert all(path.read_bytes() == content for path, content in inputs.items())
    assert (tmp_path / "c" / "evidence.csv").read_bytes() == regression_csv.read_bytes()


def test_every_file_is_written_atomically(regression_csv, tmp_path, monkeypatch):
    # the predictions, evidence.csv and .png, summary.json and the demo's figures were written in place
    replaced = set()

    def replace(source, target):
        replaced.add(Path(target))
        return os_replace(source, target)

    os_replace = os.replace
    monkeypatch.setattr(os, "replace", replace)
    model = tmp_path / "m.npz"
    assert main(["fit", str(regression_csv), "--target", "y", "--out", str(model), *FAST]) == 0
    assert main(["predict", str(model), str(regression_csv), "--out", str(tmp_path / "p.csv"), "--quiet"]) == 0
    assert main(["compare", str(regression_csv), "--target", "y", "--hidden", "1", "--restarts", "1", "--cycles", "2",
                 "--quiet", "--out", str(tmp_path / "c")]) == 0
    assert main(["demo", "--hidden", "2", "--quiet", "--out", str(tmp_path / "d")]) == 0
    written = {model, tmp_path / "p.csv", *(tmp_path / "c").iterdir(), *(tmp_path / "d").iterdir()}
    assert len(written) == 9 and written == replaced
    assert _read(tmp_path / "p.csv").shape == (24, 2) and json.loads((tmp_path / "d" / "summary.json").read_text())


def test_demo_checks_its_output_directory_before_fitting(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(ln.BayesianMLPRegressor, "fit", _never)
    (tmp_path / "d" / "summary.json").mkdir(parents=True)
    _check_error_line(capsys, main(["demo", "--quiet", "--out", str(tmp_path / "d")]),
                      f"--out {str(tmp_path / 'd')!r} holds a directory 'summary.json'")


def test_compare_checks_its_output_directory_before_fitting(regression_csv, tmp_path, capsys, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("compare fitted before it checked --out")

    monkeypatch.setattr("laplacenet.cli.compare_models", never)
    (tmp_path / "file").write_text("")
    (tmp_path / "taken" / "evidence.csv").mkdir(parents=True)
    for out, phrase in ((tmp_path / "file", "is a file; give a directory"),
                        (tmp_path / "file" / "sub", "is a file, not a directory"),
                        (tmp_path / "taken", "holds a directory 'evidence.csv'")):
        _check_error_line(capsys, main(["compare", str(regression_csv), "--target", "y", "--out", str(out)]),
                          f"--out {str(out)!r}", phrase)
    assert not (tmp_path / "new").exists()


# --- posterior structures -----------------------------------------------------------------------------

def test_every_hessian_of_the_library_but_the_finite_difference_oracle_is_offered():
    from laplacenet._cli_parser import HESSIANS
    from laplacenet.bayes.options import HESSIANS as LIBRARY_HESSIANS
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
    (tmp_path / "header.csv").write_text("x1,x2,y\n")
    (tmp_path / "blank.csv").write_text("")
    _regression_frame()[["x1", "y"]].to_csv(tmp_path / "partial.csv", index=False)
    cases = [
        ([], "a command is required"),
        (["fit", str(tmp_path / "absent.csv"), "--target", "y", "--out", model], "absent.csv"),
        (["fit", csv, "--target", "nope", "--out", model], "has no column 'nope'", "'x1', 'x2', 'y'"),
        (["fit", species, "--target", "flipper", "--out", model], "feature column 'species'", "not numeric"),
        (["fit", csv, "--target", "y", "--task", "clustering", "--out", model], "fit: argument --task",
         "invalid choice"),
        (["fit", csv, "--target", "y", "--hidden", "ten", "--out", model], "argument --hidden"),
        (["fit", csv, "--target", "y", "--hidden", "autox", "--out", model], "argument --hidden", "or auto"),
        (["demo", "--hidden", "0,auto"], "demo: argument --hidden", "or auto"),
        (["compare", csv, "--target", "y", "--hidden", "auto"], "compare: argument --hidden"),
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
        (["fit", csv, "--target", "y", "--seed", "-1", "--out", model], "fit: argument --seed", "non-negative integer"),
        (["compare", csv, "--target", "y", "--seed", "1.5"], "compare: argument --seed", "non-negative integer"),
        (["export", model, csv, "--out", "x.nc", "--seed", "x"], "export: argument --seed", "got 'x'"),
        (["demo", "--seed", "-3"], "demo: argument --seed", "non-negative integer"),
        (["fit", str(tmp_path / "header.csv"), "--target", "y", "--out", model], "header.csv' is empty",
         "a header row ('x1', 'x2', 'y') but no data rows"),
        (["fit", str(tmp_path / "blank.csv"), "--target", "y", "--out", model], "blank.csv' is empty"),
        (["fit", species, "--target", "species", "--task", "multiclass", "--beta", "2", "--out", model],
         "fit: --beta applies only to --task regression"),
        (["fit", csv, "--target", "y", "--alpha", "0", "--out", model], "argument --alpha", "a positive number, auto "
         "or layers"),
        (["fit", csv, "--target", "y", "--beta", "inf", "--out", model], "argument --beta", "positive number or auto"),
        (["compare", csv, "--target", "y", "--jitter", "-1"], "argument --jitter", "a number >= 0"),
        (["compare", csv, "--target", "y", "--gtol", "0"], "argument --gtol", "a positive number"),
        (["fit", csv, "--target", "y", "--maxiter", "1.5", "--out", model], "argument --maxiter", "positive integer"),
        (["fit", csv, "--target", "y", "--train-method", "adam", "--out", model], "argument --train-method",
         "invalid choice"),
        (["fit", csv, "--target", "y", "--matrix-budget", "1e-12", "--out", model], "argument --matrix-budget",
         "at least 8 bytes"),
        (["fit", csv, "--target", "y", "--out", "-"], "--out -", "binary file"),
        (["compare", csv, "--target", "y", "--test", str(tmp_path / "partial.csv")], "partial.csv' has no column "
         "'x2'"),
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


def test_a_target_named_twice_is_refused(regression_csv, tmp_path, capsys):
    # --target y,y fitted two outputs, and predict wrote one of them: mean_y and std_y overwrote each other
    for names in ("y,y", "y, x1 ,y"):
        _check_error_line(capsys, main(["fit", str(regression_csv), "--target", names, "--out",
                                        str(tmp_path / "m.npz"), *FAST]),
                          "fit: argument --target", "expected distinct column names; 'y' is given twice")
        _check_error_line(capsys, main(["compare", str(regression_csv), "--target", names, *FAST]),
                          "compare: argument --target", "'y' is given twice")
    assert not (tmp_path / "m.npz").exists()


def test_a_csv_header_with_a_name_twice_is_refused(regression_csv, tmp_path, capsys):
    # pandas read the second column 'x1' as 'x1.1', silently
    model = tmp_path / "m.npz"
    assert main(["fit", str(regression_csv), "--target", "y", "--out", str(model), *FAST]) == 0
    capsys.readouterr()
    for header in ("x1,x1,y", "x1, x1 ,y"):
        (tmp_path / "twice.csv").write_text(header + "\n0.1,0.2,1\n0.3,0.4,2\n0.5,0.6,3\n")
        for argv in (["fit", str(tmp_path / "twice.csv"), "--target", "y", "--out", str(tmp_path / "n.npz"), *FAST],
                     ["predict", str(model), str(tmp_path / "twice.csv"), "--out", "-"]):
            _check_error_line(capsys, main(argv), f"DATA {str(tmp_path / 'twice.csv')!r} has more than one column "
                                                  f"named 'x1'")
    (tmp_path / "twice.csv").write_text("x1,x1.1,y\n" + "\n".join(f"{i},{i % 3},{i % 2}" for i in range(9)) + "\n")
    assert main(["fit", str(tmp_path / "twice.csv"), "--target", "y", "--out", str(tmp_path / "n.npz"), *FAST]) == 0
    assert io.read_metadata(tmp_path / "n.npz")["extra"]["features"] == ["x1", "x1.1"]  # two names, if alike


def test_errors_about_the_test_file_name_it_test(regression_csv, tmp_path, capsys):
    # they called it DATA: "DATA 'x.csv' has no column 'y'"
    _regression_frame()[["x1", "x2"]].to_csv(tmp_path / "features.csv", index=False)
    (tmp_path / "twice.csv").write_text("x1,x2,x2,y\n1,2,3,4\n")
    for test, phrase in (("features.csv", "has no column 'y'"), ("twice.csv", "has more than one column named 'x2'")):
        path = str(tmp_path / test)
        _check_error_line(capsys, main(["compare", str(regression_csv), "--target", "y", "--test", path, *FAST,
                                        "--out", str(tmp_path / "c")]), f"--test {path!r} {phrase}")


@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("command", ["fit", "compare"])
def test_npz_class_labels_that_are_missing_or_infinite_are_refused(tmp_path, capsys, command, bad):
    # compare of multi-class labels with NaN made NaN a class and exited 0; --task binary counted it as classes
    X = np.random.default_rng(0).normal(size=(30, 2))
    for task, n_classes in (("multiclass", 3), ("binary", 2)):
        y = np.arange(30) % float(n_classes)
        y[4] = bad
        np.savez(tmp_path / "labels.npz", X=X, y=y)
        out = tmp_path / ("m.npz" if command == "fit" else "c")
        status = main([command, str(tmp_path / "labels.npz"), "--target", "y", "--task", task, "--out", str(out),
                       *FAST])
        _check_error_line(capsys, status, "target y", "missing or infinite labels", f"[{bad}]")
        assert not out.exists()


def test_predict_refuses_inputs_that_overflow(tmp_path, capsys):
    # the case, a linear model at inputs of 1e300, wrote a mean of -8.7e299 and a std of inf and exited 0;
    # then NumPy's overflow warning came as a line before the error
    frame = _regression_frame()
    frame.to_csv(tmp_path / "train.csv", index=False)
    model, out = tmp_path / "m.npz", tmp_path / "p.csv"
    assert main(["fit", str(tmp_path / "train.csv"), "--target", "y", "--hidden", "0", "--cycles", "2", "--quiet",
                 "--out", str(model)]) == 0
    capsys.readouterr()
    frame[["x1", "x2"]].assign(x1=1e300).to_csv(tmp_path / "far.csv", index=False)
    for target in (str(out), "-"):
        _check_error_line(capsys, main(["predict", str(model), str(tmp_path / "far.csv"), "--out", target]),
                          "is not finite", "overflowed", "Rescale")
        assert not out.exists()
    assert capsys.readouterr().out == ""


def test_predict_far_from_the_training_data_on_the_standardised_scale(tmp_path, capsys):
    # at x = 1e301 the grid rounding of the standardised inputs overflowed: NumPy's warning, then "X_new must be
    # finite; it contains NaN or inf" for finite inputs
    _regression_frame().to_csv(tmp_path / "train.csv", index=False)
    model, out = tmp_path / "m.npz", tmp_path / "p.csv"
    assert main(["fit", str(tmp_path / "train.csv"), "--target", "y", "--out", str(model), *FAST]) == 0
    capsys.readouterr()
    _regression_frame()[["x1", "x2"]].assign(x1=1e301).to_csv(tmp_path / "far.csv", index=False)
    assert main(["predict", str(model), str(tmp_path / "far.csv"), "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().err == "" and np.all(np.isfinite(_read(out).to_numpy()))
    _regression_frame()[["x1", "x2"]].assign(x1=-1e308).to_csv(tmp_path / "farther.csv", index=False)
    _check_error_line(capsys, main(["predict", str(model), str(tmp_path / "farther.csv"), "--out", "-"]),
                      "X on the standardised scale", "is not finite", "too far from the training data")


# --- demo --------------------------------------------------------------------------------------------

def test_the_kept_line_of_a_fit_without_distinguishable_units(tmp_path, capsys):
    # "log evidence 13.0731 = 13.0731 (the cycle's) + 0.0000 (the symmetry term ..., M = 0)": a sum of nothing
    assert main(["demo", "--out", str(tmp_path / "d")]) == 0
    model = io.load(tmp_path / "d" / "model.npz")
    assert ln.bayes.symmetry.posterior_symmetry(model.posterior_)[1] == (0,)  # the precondition: no unit told from 0
    kept = next(line for line in capsys.readouterr().out.splitlines() if "kept cycle" in line)
    assert kept.endswith(f"log evidence {model.log_evidence_:.4f} (no symmetry term: no hidden unit is told from "
                         f"zero, the cycle's value) (the data's noise precision is 100)")


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
