"""The command line's options: the parser of ``laplacenet`` and what its options mean to the library.

Every option is checked where it is parsed (its ``type``) or, for those that go together, by
:func:`fit_settings`; a bad one is a :class:`UsageError`, which :func:`laplacenet.cli.main` reports in one line.
"""
import argparse

import numpy as np

from .core._config import get_matrix_budget
from ._version import __version__
from .core._validation import AUTO_HIDDEN, check_hidden
from .bayes.hyper_types import EvidenceOptions
from .bayes.options import SUBSETS, Curvature, CurvatureConflict
from .core.training import TRAIN_METHODS

TASKS = {"regression": "gaussian", "binary": "bernoulli", "multiclass": "categorical"}
# Every hessian= of laplacenet.bayes.laplace.HESSIANS but 'fd', the finite-difference oracle of the tests.
HESSIANS = ("outer", "exact", "diag", "kron", "lowrank")
# The demo: PRML's noisy sinusoid, 5 tanh units, and 4 x 250 independent draws for k-hat and ArviZ.
DEMO = {"n": 50, "n_test": 500, "noise": 0.1, "hidden": (5,), "cycles": 50, "draws": 250, "chains": 4}
COMPARE_FILES = ("evidence.csv", "evidence.png")
DEMO_FILES = {"predictive_plot": "predictive.png", "history_plot": "history.png", "inference_data": "posterior.nc",
              "model": "model.npz", "summary": "summary.json"}
_DATA_HELP = ("DATA is a CSV file with a header row, or an NPZ file holding arrays X and y (or T), or one 1-D "
              "array per column; the features are the columns not named in --target, and must be numbers.")


# --- the parser --------------------------------------------------------------------------------------

class UsageError(Exception):
    """A bad command line (reported in one line; argparse would print the usage too)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        command = self.prog.partition(" ")[2]
        raise UsageError(f"{command}: {message}" if command else message)


def build_parser():
    """The argument parser of ``laplacenet`` and its sub-commands (the docs render it)."""
    parser = _Parser(prog="laplacenet", description="Bayesian multilayer perceptrons by the Laplace "
                                                    "approximation (PRML 5.4 and 5.7).")
    parser.add_argument("--version", action="version", version=f"laplacenet {__version__}")
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    quiet = _Parser(add_help=False)
    hidden_help = (f"hidden-layer widths, e.g. 10 or 10,10; 0 for none; auto: the architecture of highest log "
                   f"evidence among {', '.join(hidden_text(h) for h in AUTO_HIDDEN)}, each fitted with the other "
                   f"options")
    quiet.add_argument("--quiet", "-q", action="store_true",
                       help="no progress bars and no report on stdout (errors and warnings still go to stderr)")

    def command(name, summary, description):
        return commands.add_parser(name, parents=[quiet], help=summary, description=description)

    demo = command("demo", "fit the noisy sinusoid; write plots, ArviZ data and a summary",
                   f"The main job on built-in data: a BayesianMLPRegressor fitted by evidence re-estimation to "
                   f"{DEMO['n']} noisy samples of sin(2 pi x); a table of alpha, beta, gamma and the log evidence "
                   f"per cycle, the error on fresh data from the same generator and the Pareto k-hat of the "
                   f"Laplace approximation. Writes {', '.join(DEMO_FILES.values())} to DIR.")
    demo.add_argument("--out", default="laplacenet-demo", metavar="DIR", help="output directory (%(default)s)")
    demo.add_argument("--seed", type=_seed, default=0, help="seed of the data, the weights and the draws (0)")
    demo.add_argument("--hidden", type=_hidden, default=DEMO["hidden"], metavar="W[,W...]|auto",
                      help=f"{hidden_help} ({hidden_text(DEMO['hidden'])})")

    fit = command("fit", "fit a Bayesian MLP to a CSV or NPZ file and save it",
                  "Fit by evidence re-estimation (PRML 5.7.2) and save the model (laplacenet.io.save). " + _DATA_HELP)
    _add_data_options(fit)
    fit.add_argument("--hidden", type=_hidden, default=(10,), metavar="W[,W...]|auto", help=f"{hidden_help} (10)")
    _add_fit_options(fit, restarts=1)
    fit.add_argument("--out", required=True, metavar="MODEL", help="the model file to write (.npz)")

    predict = command("predict", "predictive mean and standard deviation, or class probabilities",
                      "One row per row of DATA: for regression the columns mean and std (mean_<target> and "
                      "std_<target> for several targets), for classification the moderated probability "
                      "p_<class> of every class (PRML 5.7.3) and the predicted class.")
    predict.add_argument("model", metavar="MODEL", help="a model written by laplacenet fit")
    predict.add_argument("data", metavar="DATA", help="CSV or NPZ with the feature columns: for a model fitted on "
                                                      "named columns (a CSV file, or an NPZ file of 1-D columns), "
                                                      "those names in any order, other columns ignored; for one "
                                                      "fitted on NPZ arrays X, y, an array X or a table of exactly "
                                                      "its features, in the order fitted")
    predict.add_argument("--out", required=True, metavar="CSV", help="the CSV file to write; - for standard output")

    compare = command("compare", "the evidence of several architectures (model comparison)",
                      "Fit every architecture from several starts and compare their log evidence, the symmetries "
                      "of the hidden units the posterior tells from zero counted (PRML 5.7, MacKay 1992). Writes "
                      "evidence.csv and evidence.png. " + _DATA_HELP)
    _add_data_options(compare)
    compare.add_argument("--hidden", type=_architectures, default=[(1,), (2,), (4,), (8,)], metavar="H[,H...]",
                         help="architectures: a width, or widths joined by x for several layers, 0 for none "
                              "(e.g. 1,2,4,8x8; default 1,2,4,8)")
    _add_fit_options(compare, restarts=3)
    compare.add_argument("--test", metavar="TEST", help="test data with the columns of DATA (CSV or NPZ): fills the "
                                                        "test-error column")
    compare.add_argument("--out", default="laplacenet-compare", metavar="DIR",
                         help="output directory, checked before the fits (%(default)s)")

    export = command("export", "write the posterior as ArviZ netCDF",
                     "Independent draws from the Laplace posterior, their predictions and pointwise log likelihood "
                     "on DATA, as ArviZ data in a netCDF file.")
    export.add_argument("model", metavar="MODEL", help="a model written by laplacenet fit")
    export.add_argument("data", metavar="DATA", help="CSV or NPZ with the feature and target columns")
    export.add_argument("--out", required=True, metavar="FILE.nc", help="the netCDF file to write")
    export.add_argument("--draws", type=_positive_int, default=1000, help="draws per chain (1000)")
    export.add_argument("--chains", type=_positive_int, default=4, help="chains (4)")
    export.add_argument("--seed", type=_seed, default=None, help="seed of the draws")
    return parser


def _add_data_options(parser):
    parser.add_argument("data", metavar="DATA", help="CSV (with a header row) or NPZ file")
    parser.add_argument("--target", required=True, type=_columns, metavar="COL[,COL...]",
                        help="target column(s), separated by commas; quote a name with spaces (--target 'body "
                             "mass'); one column of labels for classification (y for NPZ arrays X, y)")
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
                             "deviations; predictions, beta and the log evidence are reported in the data's "
                             "units, alpha on the standardised scale (default: --standardize)")
    parser.add_argument("--restarts", type=_positive_int, default=restarts, metavar="R",
                        help=f"initialisations; the one of highest evidence is kept ({restarts})")
    parser.add_argument("--seed", type=_seed, default=0, help="seed of the initial weights (0)")
    parser.add_argument("--alpha", type=_alpha, default="auto", metavar="A|auto|layers",
                        help="prior precision of the weights where the evidence loop starts, taken on the "
                             "standardised scale (in the data's units with --no-standardize), as the report "
                             "gives it: a number, one alpha for all weights "
                             "(a larger one when the posterior precision is not positive definite); auto, from the "
                             "scale of the initial weights; layers, one per layer's weights and biases (auto)")
    parser.add_argument("--beta", type=_beta, default=None, metavar="B|auto",
                        help="noise precision where the evidence loop starts, taken on the standardised scale "
                             "(1 / beta, the noise variance, as a fraction of the targets' variance; in the data's "
                             "units with --no-standardize), while the report gives beta in the data's units; --task "
                             "regression only; auto: one over the variance of the targets (auto)")
    parser.add_argument("--jitter", type=_non_negative, default=0.0, metavar="J",
                        help="added to the diagonal of every posterior precision: the remedy for one that is not "
                             "positive definite (0)")
    parser.add_argument("--train-method", choices=TRAIN_METHODS, default="auto",
                        help="the MAP training's optimiser (auto: newton while a dense Hessian is cheap, else "
                             "L-BFGS-B)")
    parser.add_argument("--maxiter", type=_positive_int, default=None, metavar="N",
                        help="iterations of every MAP training (default: the optimiser's)")
    parser.add_argument("--gtol", type=_positive_float, default=None, metavar="G",
                        help="MAP training converges when the gradient norm is below G (default: when the Newton "
                             "decrement is small, a test that follows the scale of the problem)")
    parser.add_argument("--matrix-budget", type=_gibibytes, default=None, metavar="GIB",
                        help=f"the largest dense W x W matrix to form, in GiB ({get_matrix_budget() / 2**30:g})")


def fit_settings(args):
    """The options of the estimators and of :func:`compare_models` from the command line, checked together."""
    if args.beta is not None and args.task != "regression":
        raise UsageError(f"{args.command}: --beta applies only to --task regression (classification has no "
                         f"noise precision)")
    train = {name: value for name, value in (("method", args.train_method), ("maxiter", args.maxiter),
                                             ("gtol", args.gtol)) if value not in (None, "auto")}
    settings = dict(activation=args.activation, alpha=args.alpha, jitter=args.jitter, train_kwargs=train or None,
                    cycles=args.cycles, standardize=args.standardize, seed=args.seed, **_structure(args))
    return settings if args.task != "regression" else {**settings, "beta": args.beta or "auto"}


#: the rules of :class:`~laplacenet.Curvature` that tie ``--hessian``, ``--rank`` and ``--subset``, in their words
_CONFLICTS = {"rank": "--hessian lowrank needs --rank K, the number of eigenpairs to keep",
              "lowrank": "--rank applies only to --hessian lowrank; got --hessian {hessian}",
              "subset": "--subset last_layer needs --hessian exact or outer; got --hessian {hessian}"}


def _structure(args):
    """The estimator's curvature options from ``--hessian``, ``--rank`` and ``--subset``, checked together by
    :class:`~laplacenet.Curvature`."""
    try:
        curvature = Curvature(args.hessian, subset=args.subset, rank=args.rank)
    except CurvatureConflict as ex:
        raise UsageError(f"{args.command}: {_CONFLICTS[ex.rule].format(hessian=args.hessian)}") from None
    return {"hessian": curvature.hessian, "rank": curvature.rank, "subset": curvature.subset}


def _positive_int(text):
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}")
    return int(text)


def _seed(text):
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected a non-negative integer; got {text!r}")
    return int(text)


def _float_option(text, positive, expected):
    """``text`` as a finite float, greater than 0 (``positive``) or at least 0."""
    try:
        value = float(text)
    except ValueError:
        value = np.nan
    if not np.isfinite(value) or value < 0 or (positive and value == 0):
        raise argparse.ArgumentTypeError(f"expected {expected}; got {text!r}")
    return value


def _positive_float(text):
    return _float_option(text, True, "a positive number")


def _non_negative(text):
    return _float_option(text, False, "a number >= 0")


def _alpha(text):
    if text.strip() in ("auto", "layers"):
        return text.strip()
    return _float_option(text, True, "a positive number, auto or layers")


def _beta(text):
    return "auto" if text.strip() == "auto" else _float_option(text, True, "a positive number or auto")


def _gibibytes(text):
    n_bytes = _float_option(text, True, "a positive number of GiB") * 2**30
    if n_bytes < 8:
        raise argparse.ArgumentTypeError(f"expected at least 8 bytes (one float64); got {text!r} GiB")
    return n_bytes


def _widths(text):
    """``'10,10'`` -> ``(10, 10)``; ``'0'`` -> ``()``."""
    try:
        return () if text.strip() == "0" else check_hidden(tuple(int(part) for part in text.split(",")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected positive widths separated by commas, or 0; got {text!r}") \
            from None


def _hidden(text):
    """``--hidden`` of the commands that fit one estimator: widths as for :func:`_widths`, or ``'auto'``."""
    if text.strip() == "auto":
        return "auto"
    try:
        return _widths(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected positive widths separated by commas, 0, or auto; got {text!r}") \
            from None


def hidden_text(hidden):
    """``(8, 8)`` -> ``'8x8'``; ``()`` -> ``'0'`` (as ``compare --hidden`` takes them)."""
    return "x".join(map(str, hidden)) or "0"


def _architectures(text):
    """``'1,2,8x8'`` -> ``[(1,), (2,), (8, 8)]``."""
    return [_widths(part.replace("x", ",")) for part in text.split(",")]


def _columns(text):
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected column names separated by commas; got {text!r}")
    repeated = [name for i, name in enumerate(names) if name in names[:i]]
    if repeated:
        raise argparse.ArgumentTypeError(f"expected distinct column names; {repeated[0]!r} is given twice in "
                                         f"{text!r}")
    return names
