"""The ``laplacenet`` command line: ``demo``, ``fit``, ``predict``, ``compare`` and ``export``.

Each command is a function of the parsed arguments. :func:`main` turns whatever goes wrong (a bad file, a
missing column, a bad option value, a ``ValueError`` of the library) into one line on stderr,
``laplacenet: error: ...``, and exit status 2 - never a traceback; the library's warnings become one line
each, ``laplacenet: warning: ...``. pandas, tqdm, matplotlib and ArviZ are imported by the commands that
need them.
"""
import contextlib
import os
import re
import sys
import warnings

import numpy as np

from . import io
from ._cli_files import (check_output, check_output_directory, output_directory, save_figure, write_csv,
                         write_json)
from ._cli_parser import (COMPARE_FILES, DEMO, DEMO_FILES, TASKS, UsageError, build_parser, fit_settings,
                          hidden_text)
from .core._config import set_matrix_budget
from ._datafiles import numeric, read_data
from ._labels import class_labels, label_indices, take_labels
from ._version import __version__
from .bayes.comparison import ModelComparison, compare_models
from .core._validation import AUTO_HIDDEN
from .estimators import BayesianMLPClassifier, BayesianMLPRegressor
from .core.exceptions import ConvergenceWarning, NonFiniteError
from .core.network import MLP
from .bayes.symmetry import posterior_symmetry

__all__ = ["main", "build_parser"]

#: what the library's errors and warnings advise, in its words (matched in lower case), and the option of the
#: command line that does it
_REMEDY_OPTIONS = (("use a larger alpha", "--alpha"), ("one alpha for all weights", "--alpha"),
                   ("explicit jitter", "--jitter"), ("smaller gtol", "--gtol"), ("> gtol ", "--gtol"),
                   ("gtol=none", "--gtol"), ("increase maxiter", "--maxiter"), ("method='newton", "--train-method"),
                   ("set_matrix_budget", "--matrix-budget"), ("hessian='", "--hessian"),
                   ("subset='last_layer'", "--subset"), ("use a smaller beta", "--beta"),
                   ("standardise the inputs", "--standardize"), ("cycles=", "--cycles"))
#: a quoted name (a file, a column, a label) in a message: not the library's words. The quotes of the library's
#: own settings, method='newton', follow an equals sign.
_QUOTED = re.compile(r"""(?<![\w=])('[^']*'|"[^"]*")(?!\w)""")
#: the exit status after the reader of standard output went away (128 + SIGPIPE, as a shell shows a tool that
#: SIGPIPE ended)
_BROKEN_PIPE = 141


# --- main --------------------------------------------------------------------------------------------

def main(argv=None):
    """Run ``laplacenet`` with ``argv`` (``sys.argv[1:]`` by default); returns the exit status."""
    args = None
    try:
        args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
        if args.command is None:
            raise UsageError("a command is required: demo, fit, predict, compare or export (see laplacenet --help)")
        with warnings.catch_warnings(record=True) as caught, _matrix_budget(getattr(args, "matrix_budget", None)):
            warnings.simplefilter("default")
            try:
                _COMMANDS[args.command](args)
            except NonFiniteError:  # it says what overflowed: numpy's floating-point warnings on the way add nothing
                caught[:] = [w for w in caught if not _floating_point_warning(w)]
                raise
            finally:
                _show_warnings(caught, args)
        return 0
    except SystemExit as ex:  # --help and --version
        return ex.code
    except BrokenPipeError:  # the reader of standard output has gone (| head): stop quietly
        _silence_stdout()
        return _BROKEN_PIPE
    except KeyboardInterrupt:
        _say("error", "interrupted")
        return 130
    except Exception as ex:  # one line, never a traceback
        _say("error", _describe(ex) + ("" if isinstance(ex, UsageError) else _options_hint(str(ex), args)))
        return 2


@contextlib.contextmanager
def _matrix_budget(n_bytes):
    """The package's matrix budget set to ``n_bytes`` for the command (None: left as it is), then restored."""
    previous = None if n_bytes is None else set_matrix_budget(n_bytes)
    try:
        yield
    finally:
        if previous is not None:
            set_matrix_budget(previous)


def _silence_stdout():
    """Standard output pointed at the null device, so that the interpreter's last flush does not fail again."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):  # not a file (a test's capture), or closed
        return
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, descriptor)
    os.close(null)


def _options_hint(message, args):
    """The options of this command that do what ``message`` (the library's) advises, as a suffix for it; quoted
    names in it (a column named 'jitter') are not advice."""
    words = _QUOTED.sub("''", message).lower()
    options = dict.fromkeys(option for phrase, option in _REMEDY_OPTIONS
                            if phrase in words and hasattr(args, option[2:].replace("-", "_")))
    return f" [on the command line: {', '.join(options)}]" if options else ""


def _describe(ex):
    if isinstance(ex, OSError) and ex.filename is not None:
        return f"{ex.strerror or ex}: {os.fspath(ex.filename)!r}"
    if isinstance(ex, (UsageError, ValueError, OSError)):
        return str(ex)
    return f"{type(ex).__name__}: {ex}"


def _say(kind, message):
    print(f"laplacenet: {kind}: {' '.join(str(message).split())}", file=sys.stderr)


def _show_warnings(caught, args):
    """The library's warnings, once each, as the first line of their message, with the options that act on them."""
    package = os.path.dirname(os.path.abspath(__file__))
    shown = set()
    for w in caught:
        ours = issubclass(w.category, ConvergenceWarning) or os.path.abspath(w.filename).startswith(package)
        first = str(w.message).split("\n")[0].removesuffix(" Trace:")
        if ours and first not in shown:
            shown.add(first)
            _say("warning", first + _options_hint(first, args))


def _floating_point_warning(w):
    """Whether the caught warning ``w`` is numpy's report of an overflow, a NaN, a division by zero or an
    underflow."""
    return issubclass(w.category, RuntimeWarning) and " encountered in " in str(w.message)


def _progress(args, **kwargs):
    """A tqdm bar on stderr; off with ``--quiet`` and when stderr is not a terminal.

    Every step is drawn (``mininterval=0``, and ``miniters=1`` so that tqdm does not learn to skip single steps
    after a jump): the steps here (evidence cycles, stages of the demo) each take far longer than a redraw.
    """
    from tqdm import tqdm
    return tqdm(disable=True if args.quiet else None, file=sys.stderr, leave=False, mininterval=0, miniters=1,
                **kwargs)


def _cycle_callback(bar, cycles, restarts, run=0, architectures=None):
    """The library's progress callback, advancing ``bar`` to the end of the evidence cycle it is given.

    The bar counts ``cycles`` steps per restart, ``restarts`` per run (an architecture of ``compare``, whose
    index is ``run``; with ``architectures``, the candidates of ``--hidden auto``, the index of the cycle's
    ``hidden`` among them): an upper bound, since a restart that converges early skips the rest of its cycles
    and the bar jumps to the next restart's. :func:`_fill` completes it when the work is done.
    """
    def callback(info):
        index = run if architectures is None else architectures.index(info.hidden)
        where = "" if architectures is None else f"hidden {hidden_text(info.hidden)}, "
        bar.set_postfix_str(f"{where}restart {info.restart}, cycle {info.cycle}: log evidence "
                            f"{info.log_evidence:.4f}", refresh=False)
        bar.update((index * restarts + info.restart) * cycles + info.cycle + 1 - bar.n)
    return callback


def _candidates(hidden):
    """The architectures a fit with ``--hidden`` runs through, for the progress bar: those of ``auto``, or None."""
    return AUTO_HIDDEN if hidden == "auto" else None


def _hidden_table(model):
    """After ``--hidden auto``: one line per candidate architecture, and the choice; nothing otherwise."""
    if model.hidden_table_ is None:
        return []
    error = f"train {_error_name(isinstance(model, BayesianMLPRegressor))}"
    lines = [f"{'hidden':>6} {'W':>5} {'log evidence':>14} {'gamma':>8} {'M':>5} {error:>16}"]
    for row in model.hidden_table_.rows:
        chosen = "  <- chosen" if row.hidden == model.hidden_ else ""
        units = "+".join(map(str, row.n_distinguishable or ())) or "0"
        lines.append(f"{hidden_text(row.hidden):>6} {row.n_params:>5} {row.log_evidence:>14.4f} {row.gamma:>8.3f} "
                     f"{units:>5} {row.train_error:>16.4g}{chosen}")
    return lines + [f"--hidden auto: chose {hidden_text(model.hidden_)}, the highest log evidence of "
                    f"{len(model.hidden_table_)} architectures (each with the symmetry term ln M! + M ln 2 of its M "
                    f"hidden units told from zero)"]


def _error_name(regression):
    """What the training and test errors of :class:`~laplacenet.ComparisonRow` are."""
    return "MSE" if regression else "error rate"


def _comparison_table(comparison, regression):
    """The rows of ``compare``, their columns named for what they hold (mean squared error or error rate)."""
    return comparison.table_lines(_error_name(regression), hidden_text)


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
    from .bayes.diagnostics import diagnose
    from .plotting import plot_history, plot_predictive
    check_output_directory(args.out, DEMO_FILES.values(), {})
    out = output_directory(args.out)
    files = {key: out / name for key, name in DEMO_FILES.items()}
    X, T = make_sinusoid(n=DEMO["n"], noise=DEMO["noise"], seed=args.seed)
    X_test, T_test = make_sinusoid(n=DEMO["n_test"], noise=DEMO["noise"], seed=args.seed + 1)  # fresh data
    model = BayesianMLPRegressor(hidden=args.hidden, hessian="outer", cycles=DEMO["cycles"], seed=args.seed)
    draws = {"draws": DEMO["draws"], "chains": DEMO["chains"], "seed": args.seed}
    candidates = _candidates(args.hidden)
    runs = 1 if candidates is None else len(candidates)
    with _progress(args, total=runs * DEMO["cycles"], desc="demo: evidence cycles", unit="cycle") as bar:
        model.fit(X, T[:, 0], callback=_cycle_callback(bar, DEMO["cycles"], restarts=1, architectures=candidates))
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
        save_figure(plot_predictive(model, X, T, truth=lambda x: np.sin(2 * np.pi * x)), files["predictive_plot"])
        save_figure(plot_history(model), files["history_plot"])
        bar.update()
        io.save(model, files["model"], extra={"task": "regression", "features": None, "targets": None})
        summary = {
            "laplacenet_version": __version__, "seed": args.seed,
            "data": {"generator": "laplacenet.datasets.make_sinusoid", "n_train": DEMO["n"],
                     "n_test": DEMO["n_test"], "noise_sd": DEMO["noise"]},
            "network": {"sizes": list(model.net_.sizes), "activation": model.net_.activation.name,
                        "hessian": model.hessian, "n_params": model.net_.n_params},
            "hidden_table": None if model.hidden_table_ is None else [
                {"hidden": list(r.hidden), "n_params": r.n_params, "log_evidence": r.log_evidence, "gamma": r.gamma,
                 "train_error": r.train_error} for r in model.hidden_table_.rows],
            "alpha": _number(model.alpha_), "beta": _number(model.beta_), "gamma": model.gamma_,
            "log_evidence": model.log_evidence_, "converged": bool(model.converged_),
            "history": [{"cycle": c.cycle, "alpha": _number(c.alpha), "beta": _number(c.beta), "gamma": c.gamma,
                         "log_evidence": c.log_evidence} for c in model.history_],
            "test_rmse": rmse, "khat": _number(check.khat), "khat_threshold": check.threshold,
            "khat_verdict": check.verdict, "importance_ess": check.ess, "draws": check.n_draws,
            "linearised_khat": _number(check.linearised.khat), "linearised_khat_verdict": check.linearised.verdict,
            "linearised_importance_ess": check.linearised.ess, "advice": check.advice,
            "files": DEMO_FILES}
        write_json(files["summary"], summary, "the summary")
        bar.update()
    _report(args, f"laplacenet demo: {DEMO['n']} noisy samples of sin(2 pi x) (noise sd {DEMO['noise']}), "
                  f"MLP {list(model.net_.sizes)} ({model.net_.activation.name}), outer-product Hessian",
            *_hidden_table(model), *_history_table(model),
            _fit_line(model) + f" (the data's noise precision is {1 / DEMO['noise'] ** 2:g})",
            f"held-out RMSE on {DEMO['n_test']} fresh points: {rmse:.4f} (noise sd {DEMO['noise']})",
            f"{check}",
            f"wrote {', '.join(map(str, files.values()))}")


def _number(value):
    """A hyperparameter or k-hat for JSON: a float, a list, or a string for inf and nan (not JSON numbers)."""
    if np.ndim(value):
        return [_number(v) for v in np.asarray(value).tolist()]
    return float(value) if np.isfinite(value) else str(float(value))


def _history_table(model):
    """The evidence cycles of the kept restart, a line each, under a line saying what their numbers are."""
    scales = f"alpha {_alpha_scale(model)}"
    if getattr(model, "beta_", None) is not None:
        scales = f"{scales}, beta in the data's units" if model.standardize else "alpha and beta in the data's units"
    symmetry = "" if model.net_.n_layers == 1 else ", the log evidence without the symmetry term"
    lines = [f"per cycle: {scales}{symmetry}",
             f"{'cycle':>5} {'alpha':>11} {'beta':>11} {'gamma':>8} {'log evidence':>14} {'training':>13}  step"]
    for c in model.history_:
        beta = "-" if c.beta is None else _short(c.beta)
        training = "converged" if c.train_converged else "NOT converged"
        lines.append(f"{c.cycle:>5} {_short(c.alpha):>11} {beta:>11} {c.gamma:>8.3f} {c.log_evidence:>14.4f} "
                     f"{training:>13}  {'kept' if c.accepted else 'rejected'}")
    return lines


def _alpha_scale(model):
    """Where alpha is: on the scale the network is fitted on."""
    return "on the standardised scale" if model.standardize else "in the data's units"


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
    beta = "" if getattr(model, "beta_", None) is None else f", beta {_short(model.beta_)} (in the data's units)"
    reason = f" [{kept.message}]" if kept.message else ""
    return (f"{status} after {len(model.history_)} cycles, kept cycle {kept.best_cycle}{reason}: alpha "
            f"{_short(model.alpha_)} ({_alpha_scale(model)}){beta}, gamma {model.gamma_:.3f} of "
            f"{model.net_.n_params} parameters, {_evidence_text(model)}")


def _evidence_text(model):
    """The log evidence, and how it is the cycle's plus the symmetry term (PRML 5.7.2, MacKay 1992)."""
    term, counts = posterior_symmetry(model.posterior_)
    if not counts:  # no hidden layer, no symmetry
        return f"log evidence {model.log_evidence_:.4f}"
    if not any(counts):
        return (f"log evidence {model.log_evidence_:.4f} (no symmetry term: no hidden unit is told from zero, the "
                f"cycle's value)")
    units = f"M = {', '.join(map(str, counts))} per hidden layer" if len(counts) > 1 else f"M = {counts[0]}"
    return (f"log evidence {model.log_evidence_:.4f} = {model.log_evidence_ - term:.4f} (the cycle's) + "
            f"{term:.4f} (the symmetry term ln M! + M ln 2 of the hidden units told from zero, {units})")


def _describe_structure(model):
    """``hessian='lowrank' (rank 5)``, ``hessian='exact' (last layer)`` or ``hessian='outer'``."""
    detail = [f"rank {model.rank}"] if model.rank is not None else []
    detail += ["last layer"] if model.subset == "last_layer" else []
    return f"hessian={model.hessian!r}" + (f" ({', '.join(detail)})" if detail else "")


# --- fit, predict, export, compare -------------------------------------------------------------------

def _fit(args):
    check_output(args.out, {"DATA": args.data})
    options = dict(hidden=args.hidden, restarts=args.restarts, **fit_settings(args))
    data = read_data(args.data, targets=args.target)
    y = _task_targets(data, args.task)
    model = BayesianMLPRegressor(**options) if args.task == "regression" else BayesianMLPClassifier(**options)
    candidates = _candidates(args.hidden)
    total = (1 if candidates is None else len(candidates)) * args.restarts * args.cycles
    with _progress(args, total=total, desc="fit: evidence cycles", unit="cycle") as bar:
        model.fit(data.X, y, callback=_cycle_callback(bar, args.cycles, args.restarts, architectures=candidates))
        _fill(bar)
    io.save(model, args.out, extra={"task": args.task, "features": data.features, "targets": data.targets})
    _report(args, *_hidden_table(model),
            f"{type(model).__name__}: MLP {list(model.net_.sizes)} ({model.net_.activation.name}), "
            f"{_describe_structure(model)}, {data.X.shape[0]} rows; kept restart {model.best_restart_}",
            *_history_table(model), _fit_line(model), f"wrote {args.out}")


def _predict(args):
    import pandas as pd
    to_stdout = args.out == "-"
    if not to_stdout:
        check_output(args.out, {"MODEL": args.model, "DATA": args.data})
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
        columns["predicted"] = take_labels(model.classes_, np.argmax(probabilities, axis=1))
    if to_stdout:  # standard output holds the table alone
        pd.DataFrame(columns).to_csv(sys.stdout, index=False)
    else:
        write_csv(args.out, pd.DataFrame(columns), "the predictions")
        _report(args, f"wrote {len(data.X)} rows to {args.out}")


def _export(args):
    from .arviz import to_inference_data, write_netcdf
    check_output(args.out, {"MODEL": args.model, "DATA": args.data})
    model, extra = io.load(args.model), io.read_metadata(args.model).get("extra") or {}
    data = read_data(args.data, targets=extra.get("targets"), features=extra.get("features"),
                      n_features=model.n_features_in_)
    if data.y is None:
        raise ValueError(f"DATA {args.data!r} holds no targets; export needs them for the observed data and the "
                         f"pointwise log likelihood")
    one_output = isinstance(model, BayesianMLPRegressor) and model._y_ndim == 1
    y = data.y.reshape(len(data.y), -1)[:, 0] if one_output else data.y
    with _progress(args, total=1, desc=f"export ({args.chains} x {args.draws} draws)") as bar:
        write_netcdf(to_inference_data(model, data.X, y, draws=args.draws, chains=args.chains, seed=args.seed,
                                       feature_names=data.features), args.out)
        bar.update()
    _report(args, f"wrote {args.chains} x {args.draws} draws to {args.out}")


def _compare(args):
    from .plotting import plot_evidence
    settings = fit_settings(args)
    check_output_directory(args.out, COMPARE_FILES, {"DATA": args.data, "--test": args.test})
    data = read_data(args.data, targets=args.target)
    y = _task_targets(data, args.task)
    test = None if args.test is None else read_data(args.test, targets=args.target, features=data.features,
                                                    n_features=data.X.shape[1], name="--test")
    classes = None
    if args.task != "regression":
        classes, y = class_labels(y, len(y))  # labels 0..C-1
    test_data = {} if test is None else {"X_test": test.X, "T_test": _test_targets(test, args.task, classes)}
    rows = []
    total = len(args.hidden) * args.restarts * args.cycles
    with _progress(args, total=total, desc="compare: evidence cycles", unit="cycle") as bar:
        for run, hidden in enumerate(args.hidden):
            callback = _cycle_callback(bar, args.cycles, args.restarts, run)
            rows += compare_models(data.X, y, [hidden], args.restarts, TASKS[args.task], callback=callback,
                                   **test_data, **settings).rows
        _fill(bar)
    comparison, out = ModelComparison(rows), output_directory(args.out)
    write_csv(out / COMPARE_FILES[0], _evidence_table(comparison, data.targets), "the evidence table")
    save_figure(plot_evidence(comparison), out / COMPARE_FILES[1])
    best = comparison.best()
    _report(args, *_comparison_table(comparison, args.task == "regression"),
            f"highest evidence: hidden {hidden_text(best.hidden)} (restart {best.restart}, log evidence "
            f"{best.log_evidence:.4f})", f"wrote {', '.join(str(out / name) for name in COMPARE_FILES)}")


def _evidence_table(comparison, targets):
    """compare's evidence.csv, a row per restart and a number per cell: alpha per prior group (``--alpha layers``)
    in the columns alpha_W1, alpha_b1, ..., beta per output in beta_<target> (beta_0, beta_1, ... for NPZ arrays),
    the distinguishable units of hidden layer l in n_distinguishable_l, the cells of a group or layer an
    architecture lacks empty; a scalar alpha or beta in the column alpha or beta."""
    import pandas as pd
    rows = comparison.to_dicts()
    spread = {}  # the columns that stand for a vector-valued one
    if any(np.ndim(row["alpha"]) for row in rows):
        deepest = max((row["hidden"] for row in rows), key=len)
        spread["alpha"] = [f"alpha_{group}" for group in MLP([1, *deepest, 1]).group_names]
    outputs = {np.size(row["beta"]) for row in rows if np.ndim(row["beta"])}
    if outputs:
        spread["beta"] = [f"beta_{target}" for target in (targets or range(outputs.pop()))]
    depth = max(len(row["hidden"]) for row in rows)
    if depth and "n_distinguishable" in rows[0]:
        spread["n_distinguishable"] = [f"n_distinguishable_{layer}" for layer in range(1, depth + 1)]
    table = []
    for row in rows:
        cells = dict(row, hidden=hidden_text(row["hidden"]))
        for key, columns in spread.items():
            value = cells.pop(key)
            if key == "n_distinguishable":  # a count per hidden layer of this architecture
                cells.update(zip(columns, value or ()))
            elif value is not None:  # a scalar stands for every group or output of its row
                count = 2 * len(row["hidden"]) + 2 if key == "alpha" else len(columns)
                cells.update(zip(columns[:count], np.broadcast_to(value, count).tolist()))
        table.append(cells)
    return pd.DataFrame(table, columns=[column for key in rows[0] for column in spread.get(key, [key])])


def _test_targets(test, task, classes):
    """The targets of ``compare --test``: numbers for regression, or indices into the training ``classes``."""
    if test.y is None:
        raise ValueError("--test: TEST holds no targets (an NPZ file needs an array y or T besides X)")
    if task == "regression":
        return numeric(test.y, f"--test target {', '.join(test.targets or ['y'])}", "regression needs numbers")
    if test.y.ndim != 1:
        raise ValueError(f"--test: --task {task} needs one target column of class labels; got {test.y.shape[1]}")
    try:
        return label_indices(test.y, classes, "the target of TEST", "the labels of DATA")
    except ValueError as ex:
        raise ValueError(f"--test: {ex}") from None


def _task_targets(data, task):
    """The targets checked for ``task``: numbers for regression, one column of labels otherwise."""
    if data.y is None:
        raise ValueError("DATA holds no targets (an NPZ file needs an array y or T besides X)")
    name = f"target {', '.join(data.targets or ['y'])}"
    if task == "regression":
        return numeric(data.y, name, "regression needs numbers (--task binary or multiclass for class labels)")
    if data.y.ndim != 1:
        raise ValueError(f"--task {task} needs one target column of class labels; got {data.y.shape[1]}")
    try:
        n_classes = class_labels(data.y, len(data.y))[0].size
    except ValueError as ex:  # missing labels, labels of mixed types, a regression target, one class
        message = str(ex)
        raise ValueError(name + message[1:] if message.startswith("y ") else f"{name}: {message}") from None
    if (task == "binary") != (n_classes == 2):
        need = "exactly 2 classes" if task == "binary" else "at least 3 classes (use --task binary for 2)"
        raise ValueError(f"--task {task} needs {need}; the target has {n_classes}")
    return data.y


_COMMANDS = {"demo": _demo, "fit": _fit, "predict": _predict, "compare": _compare, "export": _export}
