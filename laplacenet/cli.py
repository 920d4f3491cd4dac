"""The ``laplacenet`` command line: ``demo``, ``fit``, ``predict``, ``compare`` and ``export``.

Each command is a function of the parsed arguments. :func:`main` turns whatever goes wrong (a bad file, a
missing column, a bad option value, a ``ValueError`` of the library) into one line on stderr,
``laplacenet: error: ...``, and exit status 2 - never a traceback; the library's warnings become one line
each, ``laplacenet: warning: ...``. pandas, tqdm, matplotlib and ArviZ are imported by the commands that
need them.
"""
import argparse
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from . import io
from ._datafiles import numeric, read_data
from ._version import __version__
from .comparison import ModelComparison, compare_models
from .estimators import BayesianMLPClassifier, BayesianMLPRegressor, check_hidden
from .exceptions import ConvergenceWarning
from .hyper import EvidenceOptions
from .laplace import SUBSETS

__all__ = ["main", "build_parser"]

TASKS = {"regression": "gaussian", "binary": "bernoulli", "multiclass": "categorical"}
# Every hessian= of laplacenet.laplace.HESSIANS but 'fd', the finite-difference oracle of the tests.
HESSIANS = ("outer", "exact", "diag", "kron", "lowrank")
# The demo: PRML's noisy sinusoid, 5 tanh units, and 4 x 250 independent draws for k-hat and ArviZ.
DEMO = {"n": 50, "n_test": 500, "noise": 0.1, "hidden": (5,), "cycles": 50, "draws": 250, "chains": 4}
DEMO_FILES = {"predictive_plot": "predictive.png", "history_plot": "history.png", "inference_data": "posterior.nc",
              "model": "model.npz", "summary": "summary.json"}
_DATA_HELP = ("DATA is a CSV file with a header row, or an NPZ file holding arrays X and y (or T), or one 1-D "
              "array per column; the features are the columns not named in --target, and must be numbers.")


# --- the parser --------------------------------------------------------------------------------------

class _UsageError(Exception):
    """A bad command line (reported in one line; argparse would print the usage too)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        command = self.prog.partition(" ")[2]
        raise _UsageError(f"{command}: {message}" if command else message)


def build_parser():
    """The argument parser of ``laplacenet`` and its sub-commands (the docs render it)."""
    parser = _Parser(prog="laplacenet", description="Bayesian multilayer perceptrons by the Laplace "
                                                    "approximation (PRML 5.4 and 5.7).")
    parser.add_argument("--version", action="version", version=f"laplacenet {__version__}")
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    quiet = _Parser(add_help=False)
    quiet.add_argument("--quiet", "-q", action="store_true",
                       help="no progress bars and no report on stdout (errors and warnings still go to stderr)")

    def command(name, run, summary, description):
        sub = commands.add_parser(name, parents=[quiet], help=summary, description=description)
        sub.set_defaults(run=run)
        return sub

    demo = command("demo", _demo, "fit the noisy sinusoid; write plots, ArviZ data and a summary",
                   f"The main job on built-in data: a BayesianMLPRegressor fitted by evidence re-estimation to "
                   f"{DEMO['n']} noisy samples of sin(2 pi x); a table of alpha, beta, gamma and the log evidence "
                   f"per cycle, the error on fresh data from the same generator and the Pareto k-hat of the "
                   f"Laplace approximation. Writes {', '.join(DEMO_FILES.values())} to DIR.")
    demo.add_argument("--out", default="laplacenet-demo", metavar="DIR", help="output directory (%(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the data, the weights and the draws (0)")

    fit = command("fit", _fit, "fit a Bayesian MLP to a CSV or NPZ file and save it",
                  "Fit by evidence re-estimation (PRML 5.7.2) and save the model (laplacenet.io.save). " + _DATA_HELP)
    _add_data_options(fit)
    fit.add_argument("--hidden", type=_widths, default=(10,), metavar="W[,W...]",
                     help="hidden-layer widths, e.g. 10 or 10,10; 0 for none (10)")
    _add_fit_options(fit, restarts=1)
    fit.add_argument("--out", required=True, metavar="MODEL", help="the model file to write (.npz)")

    predict = command("predict", _predict, "predictive mean and standard deviation, or class probabilities",
                      "One row per row of DATA: for regression the columns mean and std (mean_<target> and "
                      "std_<target> for several targets), for classification the moderated probability "
                      "p_<class> of every class (PRML 5.7.3) and the predicted class.")
    predict.add_argument("model", metavar="MODEL", help="a model written by laplacenet fit")
    predict.add_argument("data", metavar="DATA", help="CSV or NPZ with the feature columns (others are ignored)")
    predict.add_argument("--out", required=True, metavar="CSV", help="the CSV file to write")

    compare = command("compare", _compare, "the evidence of several architectures (model comparison)",
                      "Fit every architecture from several starts and compare their log evidence, hidden-unit "
                      "symmetries counted (PRML 5.7, MacKay 1992). Writes evidence.csv and evidence.png. "
                      + _DATA_HELP)
    _add_data_options(compare)
    compare.add_argument("--hidden", type=_architectures, default=[(1,), (2,), (4,), (8,)], metavar="H[,H...]",
                         help="architectures: a width, or widths joined by x for several layers, 0 for none "
                              "(e.g. 1,2,4,8x8; default 1,2,4,8)")
    _add_fit_options(compare, restarts=3)
    compare.add_argument("--out", default="laplacenet-compare", metavar="DIR", help="output directory (%(default)s)")

    export = command("export", _export, "write the posterior as ArviZ netCDF",
                     "Independent draws from the Laplace posterior, their predictions and pointwise log likelihood "
                     "on DATA, as ArviZ data in a netCDF file.")
    export.add_argument("model", metavar="MODEL", help="a model written by laplacenet fit")
    export.add_argument("data", metavar="DATA", help="CSV or NPZ with the feature and target columns")
    export.add_argument("--out", required=True, metavar="FILE.nc", help="the netCDF file to write")
    export.add_argument("--draws", type=_positive_int, default=1000, help="draws per chain (1000)")
    export.add_argument("--chains", type=_positive_int, default=4, help="chains (4)")
    export.add_argument("--seed", type=int, default=None, help="seed of the draws")
    return parser


def _add_data_options(parser):
    parser.add_argument("data", metavar="DATA", help="CSV (with a header row) or NPZ file")
    parser.add_argument("--target", required=True, type=_columns, metavar="COL[,COL...]",
                        help="target column(s); one column of labels for classification (y for NPZ arrays X, y)")
    parser.add_argument("--task", choices=TASKS, default="regression", help="what the targets are (regression)")


def _add_fit_options(parser, restarts):
    parser.add_argument("--activation", default="tanh", help="hidden-unit activation (tanh)")
    parser.add_argument("--hessian", choices=HESSIANS, default="outer",
                        help="curvature of the posterior: outer (the default, positive definite at any w), exact, "
                             "diag, kron (Kronecker-factored, KFAC) or lowrank (the top --rank eigenpairs); kron "
                             "and lowrank never form a W x W matrix")
    parser.add_argument("--rank", type=_positive_int, default=None, metavar="K",
                        help="with --hessian lowrank: the number of eigenpairs of the data Hessian kept (required)")
    parser.add_argument("--subset", choices=SUBSETS, default="all",
                        help="all weights (the default), or last_layer: the output layer alone, the others fixed "
                             "at w_MAP (with --hessian exact or outer)")
    parser.add_argument("--cycles", type=_positive_int, default=EvidenceOptions().cycles, metavar="N",
                        help=f"at most N evidence cycles ({EvidenceOptions().cycles})")
    parser.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=True,
                        help="fit to inputs and regression targets standardised by their means and standard "
                             "deviations; results are reported in the data's units (default: --standardize)")
    parser.add_argument("--restarts", type=_positive_int, default=restarts, metavar="R",
                        help=f"initialisations; the one of highest evidence is kept ({restarts})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights (0)")


def _structure(args):
    """The estimator's curvature options from ``--hessian``, ``--rank`` and ``--subset``, checked together."""
    if args.hessian == "lowrank" and args.rank is None:
        raise _UsageError(f"{args.command}: --hessian lowrank needs --rank K, the number of eigenpairs to keep")
    if args.hessian != "lowrank" and args.rank is not None:
        raise _UsageError(f"{args.command}: --rank applies only to --hessian lowrank; got --hessian {args.hessian}")
    if args.subset == "last_layer" and args.hessian not in ("exact", "outer"):
        raise _UsageError(f"{args.command}: --subset last_layer needs --hessian exact or outer; got --hessian "
                          f"{args.hessian}")
    return {"hessian": args.hessian, "rank": args.rank, "subset": None if args.subset == "all" else args.subset}


def _describe_structure(model):
    """``hessian='lowrank' (rank 5)``, ``hessian='exact' (last layer)`` or ``hessian='outer'``."""
    detail = [f"rank {model.rank}"] if model.rank is not None else []
    detail += ["last layer"] if model.subset == "last_layer" else []
    return f"hessian={model.hessian!r}" + (f" ({', '.join(detail)})" if detail else "")


def _positive_int(text):
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}")
    return int(text)


def _widths(text):
    """``'10,10'`` -> ``(10, 10)``; ``'0'`` -> ``()``."""
    try:
        return () if text.strip() == "0" else check_hidden(tuple(int(part) for part in text.split(",")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected positive widths separated by commas, or 0; got {text!r}") \
            from None


def _architectures(text):
    """``'1,2,8x8'`` -> ``[(1,), (2,), (8, 8)]``."""
    return [_widths(part.replace("x", ",")) for part in text.split(",")]


def _columns(text):
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected column names separated by commas; got {text!r}")
    return names


# --- main --------------------------------------------------------------------------------------------

def main(argv=None):
    """Run ``laplacenet`` with ``argv`` (``sys.argv[1:]`` by default); returns the exit status."""
    try:
        args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
        if args.command is None:
            raise _UsageError("a command is required: demo, fit, predict, compare or export (see laplacenet --help)")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            try:
                args.run(args)
            finally:
                _show_warnings(caught)
        return 0
    except SystemExit as ex:  # --help and --version
        return ex.code
    except KeyboardInterrupt:
        _say("error", "interrupted")
        return 130
    except Exception as ex:  # one line, never a traceback
        _say("error", _describe(ex))
        return 2


def _describe(ex):
    if isinstance(ex, OSError) and ex.filename is not None:
        return f"{ex.strerror or ex}: {os.fspath(ex.filename)!r}"
    if isinstance(ex, (_UsageError, ValueError, OSError)):
        return str(ex)
    return f"{type(ex).__name__}: {ex}"


def _say(kind, message):
    print(f"laplacenet: {kind}: {' '.join(str(message).split())}", file=sys.stderr)


def _show_warnings(caught):
    """The library's warnings, once each, as the first line of their message."""
    package = os.path.dirname(os.path.abspath(__file__))
    shown = set()
    for w in caught:
        ours = issubclass(w.category, ConvergenceWarning) or os.path.abspath(w.filename).startswith(package)
        first = str(w.message).split("\n")[0].removesuffix(" Trace:")
        if ours and first not in shown:
            shown.add(first)
            _say("warning", first)


def _progress(args, **kwargs):
    """A tqdm bar on stderr; off with ``--quiet`` and when stderr is not a terminal.

    Every step is drawn (``mininterval=0``, and ``miniters=1`` so that tqdm does not learn to skip single steps
    after a jump): the steps here (evidence cycles, stages of the demo) each take far longer than a redraw.
    """
    from tqdm import tqdm
    return tqdm(disable=True if args.quiet else None, file=sys.stderr, leave=False, mininterval=0, miniters=1,
                **kwargs)


def _cycle_callback(bar, cycles, restarts, run=0):
    """The library's progress callback, advancing ``bar`` to the end of the evidence cycle it is given.

    The bar counts ``cycles`` steps per restart, ``restarts`` per run (an architecture of ``compare``, whose
    index is ``run``): an upper bound, since a restart that converges early skips the rest of its cycles and
    the bar jumps to the next restart's. :func:`_fill` completes it when the work is done.
    """
    def callback(info):
        bar.set_postfix_str(f"restart {info.restart}, cycle {info.cycle}: log evidence {info.log_evidence:.4f}",
                            refresh=False)
        bar.update((run * restarts + info.restart) * cycles + info.cycle + 1 - bar.n)
    return callback


def _fill(bar):
    """Complete a bar whose last steps were skipped (evidence loops that converged early)."""
    bar.update(bar.total - bar.n)


def _report(args, *lines):
    if not args.quiet:
        print(*lines, sep="\n")


# --- demo --------------------------------------------------------------------------------------------

def _demo(args):
    from .arviz import to_inference_data, write_netcdf
    from .datasets import make_sinusoid
    from .diagnostics import diagnose
    from .plotting import plot_history, plot_predictive
    out = _output_directory(args.out)
    files = {key: out / name for key, name in DEMO_FILES.items()}
    X, T = make_sinusoid(n=DEMO["n"], noise=DEMO["noise"], seed=args.seed)
    X_test, T_test = make_sinusoid(n=DEMO["n_test"], noise=DEMO["noise"], seed=args.seed + 1)  # fresh data
    model = BayesianMLPRegressor(hidden=DEMO["hidden"], hessian="outer", cycles=DEMO["cycles"], seed=args.seed)
    draws = {"draws": DEMO["draws"], "chains": DEMO["chains"], "seed": args.seed}
    with _progress(args, total=DEMO["cycles"], desc="demo: evidence cycles", unit="cycle") as bar:
        model.fit(X, T[:, 0], callback=_cycle_callback(bar, DEMO["cycles"], restarts=1))
        _fill(bar)
    with _progress(args, total=4, desc="demo") as bar:
        bar.set_postfix_str("Pareto k-hat")
        rmse = float(np.sqrt(np.mean((model.predict(X_test) - T_test[:, 0]) ** 2)))
        check = diagnose(model, X, T, draws=DEMO["draws"] * DEMO["chains"], seed=args.seed)
        bar.update()
        bar.set_postfix_str("ArviZ export")
        write_netcdf(to_inference_data(model, X, T[:, 0], **draws), files["inference_data"])
        bar.update()
        bar.set_postfix_str("plots")
        _save_figure(plot_predictive(model, X, T, truth=lambda x: np.sin(2 * np.pi * x)), files["predictive_plot"])
        _save_figure(plot_history(model), files["history_plot"])
        bar.update()
        io.save(model, files["model"], extra={"task": "regression", "features": None, "targets": None})
        summary = {
            "laplacenet_version": __version__, "seed": args.seed,
            "data": {"generator": "laplacenet.datasets.make_sinusoid", "n_train": DEMO["n"],
                     "n_test": DEMO["n_test"], "noise_sd": DEMO["noise"]},
            "network": {"sizes": list(model.net_.sizes), "activation": model.net_.activation.name,
                        "hessian": model.hessian, "n_params": model.net_.n_params},
            "alpha": _number(model.alpha_), "beta": _number(model.beta_), "gamma": model.gamma_,
            "log_evidence": model.log_evidence_, "converged": bool(model.converged_),
            "history": [{"cycle": c.cycle, "alpha": _number(c.alpha), "beta": _number(c.beta), "gamma": c.gamma,
                         "log_evidence": c.log_evidence} for c in model.history_],
            "test_rmse": rmse, "khat": _number(check.khat), "khat_threshold": check.threshold,
            "khat_verdict": check.verdict, "importance_ess": check.ess, "draws": check.n_draws,
            "files": DEMO_FILES}
        files["summary"].write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        bar.update()
    _report(args, f"laplacenet demo: {DEMO['n']} noisy samples of sin(2 pi x) (noise sd {DEMO['noise']}), "
                  f"MLP {list(model.net_.sizes)} ({model.net_.activation.name}), outer-product Hessian",
            *_history_table(model),
            _fit_line(model) + f" (the data's noise precision is {1 / DEMO['noise'] ** 2:g})",
            f"held-out RMSE on {DEMO['n_test']} fresh points: {rmse:.4f} (noise sd {DEMO['noise']})",
            f"{check} - k-hat judges the Gaussian over the weights, as weight-space sampling uses it; the "
            f"linearised predictive bands of {files['predictive_plot'].name} are a different approximation",
            f"wrote {', '.join(map(str, files.values()))}")


def _number(value):
    """A hyperparameter or k-hat for JSON: a float, a list, or a string for inf and nan (not JSON numbers)."""
    if np.ndim(value):
        return [_number(v) for v in np.asarray(value).tolist()]
    return float(value) if np.isfinite(value) else str(float(value))


def _check_output(path):
    """Fail before the work when the file ``path`` cannot be written where it is asked for."""
    directory = Path(path).resolve().parent
    if not directory.is_dir():
        raise ValueError(f"--out {str(path)!r}: the directory {str(directory)!r} does not exist")
    if Path(path).is_dir():
        raise ValueError(f"--out {str(path)!r} is a directory; give a file name")


def _output_directory(path):
    """``path``, created if need be; figures are drawn for files from here on (Agg, unless pyplot is in use)."""
    if "matplotlib.pyplot" not in sys.modules:
        import matplotlib
        matplotlib.use("Agg")
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _save_figure(fig, path):
    import matplotlib.pyplot as plt
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _history_table(model):
    lines = [f"{'cycle':>5} {'alpha':>11} {'beta':>11} {'gamma':>8} {'log evidence':>14} {'training':>13}  step"]
    for c in model.history_:
        beta = "-" if c.beta is None else _short(c.beta)
        training = "converged" if c.train_converged else "NOT converged"
        lines.append(f"{c.cycle:>5} {_short(c.alpha):>11} {beta:>11} {c.gamma:>8.3f} {c.log_evidence:>14.4f} "
                     f"{training:>13}  {'kept' if c.accepted else 'rejected'}")
    return lines


def _short(value):
    return f"{value:.4g}" if np.ndim(value) == 0 else np.array2string(np.asarray(value), precision=3)


def _fit_line(model):
    """The outcome in words that tell the truth about both the evidence loop and the MAP training."""
    kept = model.restarts_[model.best_restart_]
    if model.converged_:
        status = "converged"
    elif not kept.train_converged:
        status = "NOT converged (the MAP training of the kept state did not converge)"
    else:
        status = "NOT converged (the evidence loop did not meet its tolerance)"
    beta = "" if getattr(model, "beta_", None) is None else f", beta {_short(model.beta_)}"
    reason = f" [{kept.message}]" if kept.message else ""
    return (f"{status} after {len(model.history_)} cycles, kept cycle {kept.best_cycle}{reason}: alpha "
            f"{_short(model.alpha_)}{beta}, gamma {model.gamma_:.3f} of {model.net_.n_params} parameters, log "
            f"evidence {model.log_evidence_:.4f}")


# --- fit, predict, export, compare -------------------------------------------------------------------

def _fit(args):
    _check_output(args.out)
    structure = _structure(args)
    data = read_data(args.data, targets=args.target)
    y = _task_targets(data, args.task)
    options = dict(hidden=args.hidden, activation=args.activation, restarts=args.restarts, seed=args.seed,
                   cycles=args.cycles, standardize=args.standardize, **structure)
    model = BayesianMLPRegressor(**options) if args.task == "regression" else BayesianMLPClassifier(**options)
    with _progress(args, total=args.restarts * args.cycles, desc="fit: evidence cycles", unit="cycle") as bar:
        model.fit(data.X, y, callback=_cycle_callback(bar, args.cycles, args.restarts))
        _fill(bar)
    io.save(model, args.out, extra={"task": args.task, "features": data.features, "targets": data.targets})
    _report(args, f"{type(model).__name__}: MLP {list(model.net_.sizes)} ({model.net_.activation.name}), "
                  f"{_describe_structure(model)}, {data.X.shape[0]} rows; kept restart {model.best_restart_}",
            *_history_table(model), _fit_line(model), f"wrote {args.out}")


def _predict(args):
    import pandas as pd
    _check_output(args.out)
    model, extra = io.load(args.model), io.read_metadata(args.model).get("extra") or {}
    data = read_data(args.data, features=extra.get("features"), n_features=model.n_features_in_)
    if isinstance(model, BayesianMLPRegressor):
        mean, std = (a.reshape(len(data.X), -1) for a in model.predict(data.X, return_std=True))
        names = [""] if mean.shape[1] == 1 else [f"_{t}" for t in (extra.get("targets") or range(mean.shape[1]))]
        columns = {f"{kind}{name}": values[:, k] for k, name in enumerate(names)
                   for kind, values in (("mean", mean), ("std", std))}
    else:
        probabilities = model.predict_proba(data.X)
        columns = {f"p_{c}": probabilities[:, k] for k, c in enumerate(model.classes_)}
        columns["predicted"] = model.classes_[np.argmax(probabilities, axis=1)]
    pd.DataFrame(columns).to_csv(args.out, index=False)
    _report(args, f"wrote {len(data.X)} rows to {args.out}")


def _export(args):
    from .arviz import to_inference_data, write_netcdf
    _check_output(args.out)
    model, extra = io.load(args.model), io.read_metadata(args.model).get("extra") or {}
    data = read_data(args.data, targets=extra.get("targets"), features=extra.get("features"),
                      n_features=model.n_features_in_)
    if data.y is None:
        raise ValueError(f"DATA {args.data!r} holds no targets; export needs them for the observed data and the "
                         f"pointwise log likelihood")
    one_output = isinstance(model, BayesianMLPRegressor) and model._y_ndim == 1
    y = data.y.reshape(len(data.y), -1)[:, 0] if one_output else data.y
    with _progress(args, total=1, desc=f"export ({args.chains} x {args.draws} draws)") as bar:
        write_netcdf(to_inference_data(model, data.X, y, draws=args.draws, chains=args.chains, seed=args.seed),
                     args.out)
        bar.update()
    _report(args, f"wrote {args.chains} x {args.draws} draws to {args.out}")


def _compare(args):
    import pandas as pd

    from .plotting import plot_evidence
    structure = _structure(args)
    data = read_data(args.data, targets=args.target)
    y = _task_targets(data, args.task)
    if args.task != "regression":
        y = np.unique(y, return_inverse=True)[1].reshape(-1)  # labels 0..C-1
    rows = []
    total = len(args.hidden) * args.restarts * args.cycles
    with _progress(args, total=total, desc="compare: evidence cycles", unit="cycle") as bar:
        for run, hidden in enumerate(args.hidden):
            callback = _cycle_callback(bar, args.cycles, args.restarts, run)
            rows += compare_models(data.X, y, [hidden], args.restarts, TASKS[args.task], activation=args.activation,
                                   cycles=args.cycles, seed=args.seed, callback=callback,
                                   standardize=args.standardize, **structure).rows
        _fill(bar)
    comparison, out = ModelComparison(rows), _output_directory(args.out)
    table = pd.DataFrame(comparison.to_dicts())
    table["hidden"] = ["x".join(map(str, h)) or "0" for h in table["hidden"]]
    table.to_csv(out / "evidence.csv", index=False)
    _save_figure(plot_evidence(comparison), out / "evidence.png")
    best = comparison.best()
    _report(args, str(comparison), f"highest evidence: hidden {best.hidden} (restart {best.restart}, log evidence "
                                   f"{best.log_evidence:.4f})", f"wrote {out / 'evidence.csv'}, {out / 'evidence.png'}")


def _task_targets(data, task):
    """The targets checked for ``task``: numbers for regression, one column of labels otherwise."""
    if data.y is None:
        raise ValueError("DATA holds no targets (an NPZ file needs an array y or T besides X)")
    if task == "regression":
        return numeric(data.y, f"target {', '.join(data.targets or ['y'])}",
                        "regression needs numbers (--task binary or multiclass for class labels)")
    if data.y.ndim != 1:
        raise ValueError(f"--task {task} needs one target column of class labels; got {data.y.shape[1]}")
    n_classes = np.unique(data.y).size
    if (task == "binary") != (n_classes == 2) or n_classes < 2:
        need = "exactly 2 classes" if task == "binary" else "at least 3 classes (use --task binary for 2)"
        raise ValueError(f"--task {task} needs {need}; the target has {n_classes}")
    return data.y
