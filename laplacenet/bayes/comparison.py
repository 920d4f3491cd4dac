"""Model comparison by the evidence: the evidence-versus-complexity study of PRML 5.7 and MacKay (1992)."""
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ..core._chunks import is_dask_array
from ..core._scaling import fit_scaling, identity_scaling
from ..core._threads import one_blas_thread
from ..core._validation import check_callback, check_data, check_flag, check_hidden, check_positive_int, check_X
from .hyper import evidence_fit
from .hyper_types import EvidenceCycle, evidence_options
from ..core.likelihoods import class_indices, get_likelihood, number_array
from ..core.network import MLP
from .options import Curvature
from .symmetry import posterior_symmetry

__all__ = ["compare_models", "compare_estimators", "ComparisonRow", "ModelComparison", "ComparisonCycle"]


@dataclass(frozen=True)
class ComparisonCycle(EvidenceCycle):
    """One evidence cycle of one architecture, as :func:`compare_models` reports it to its ``callback``.

    An :class:`~laplacenet.bayes.hyper.EvidenceCycle` (``restart``, ``cycle``, ``alpha``, ``beta``, ``gamma``,
    ``log_evidence``, ``train_error``, ``train_converged``; the log evidence WITHOUT the symmetry term) plus
    ``hidden``, the hidden-layer widths of the architecture being fitted.
    """

    hidden: tuple = ()


@dataclass(frozen=True)
class ComparisonRow:
    """One restart of one architecture.

    ``train_error`` and ``test_error`` are mean squared errors (over patterns and outputs) for regression and
    error rates of the MAP network's most probable class for classification; ``test_error`` is None without
    test data. ``log_evidence`` includes the hidden-unit symmetry term when ``symmetry=True``, over the
    ``n_distinguishable`` units per hidden layer that the restart's posterior tells from zero (None with
    ``symmetry=False``).
    """

    hidden: tuple
    restart: int
    n_params: int
    log_evidence: float
    gamma: float
    alpha: Any
    beta: Any
    train_error: float
    test_error: Optional[float]
    converged: bool
    n_distinguishable: Optional[tuple] = None


class ModelComparison:
    """The table :func:`compare_models` and :func:`compare_estimators` return: ``rows``, :meth:`best` and a text
    rendering (``str``)."""

    def __init__(self, rows):
        self.rows = list(rows)

    def best(self):
        """The row of highest log evidence."""
        return max(self.rows, key=lambda row: row.log_evidence)

    def to_dicts(self):
        """The rows as a list of dicts (e.g. for ``pandas.DataFrame``)."""
        return [dict(vars(row)) for row in self.rows]

    def __len__(self):
        return len(self.rows)

    def __str__(self):
        return "\n".join(self.table_lines())

    def table_lines(self, error="err", hidden=str):
        """The text table, a line per row: ``error`` names the training and test error columns (e.g. ``'MSE'``
        or ``'error rate'``), ``hidden`` renders the widths."""
        width = max(10, len(error) + 6)
        lines = [f"{'hidden':>10} {'restart':>7} {'W':>5} {'log evidence':>13} {'gamma':>8} {'alpha':>10} "
                 f"{'beta':>10} {'train ' + error:>{width}} {'test ' + error:>{width}}"]
        for r in self.rows:
            alpha = f"{r.alpha:.4g}" if np.ndim(r.alpha) == 0 else "grouped"
            beta = "-" if r.beta is None else (f"{r.beta:.4g}" if np.ndim(r.beta) == 0 else "per output")
            test = "-" if r.test_error is None else f"{r.test_error:.4g}"
            lines.append(f"{hidden(r.hidden):>10} {r.restart:>7} {r.n_params:>5} {r.log_evidence:>13.4f} "
                         f"{r.gamma:>8.3f} {alpha:>10} {beta:>10} {r.train_error:>{width}.4g} {test:>{width}}")
        return lines

    def __repr__(self):
        return f"ModelComparison({len(self.rows)} rows; best {self.best().hidden})"


def compare_models(X, T, hidden_sizes=(1, 2, 4, 8), restarts=3, likelihood="gaussian", *, X_test=None,
                   T_test=None, activation="tanh", hessian="outer", alpha="auto", beta="auto", symmetry=True,
                   cycles=None, tol=None, seed=None, train_kwargs=None, callback=None, subset=None, rank=None,
                   lowrank_hessian="outer", lowrank_diag=False, standardize=True, options=None, jitter=0.0):
    """Fit each architecture by :func:`laplacenet.fit_evidence` from several starts and tabulate the results.

    Parameters
    ----------
    X : (N, D) array
        Numpy or dask (as ``T``, ``X_test`` and ``T_test``).
    T : targets for ``likelihood`` (as for :func:`laplacenet.error`).
    hidden_sizes : sequence
        Architectures, one per entry: an int is one hidden layer of that width, a tuple several layers, 0 or ()
        none; e.g. ``[3]`` or ``[(3,), (5, 2)]``. A bare int is refused rather than read as one architecture:
        ``hidden_sizes=(3, 5)`` is two architectures where an estimator's ``hidden=(3, 5)`` is one.
    restarts : int
        Starts per architecture; every one is a row of the table.
    likelihood : {'gaussian', 'bernoulli', 'categorical'}
    X_test, T_test : arrays, optional
        Test data, for the test error column.
    activation, hessian, alpha, beta, cycles, tol, train_kwargs, options
        As for :func:`laplacenet.fit_evidence` (alpha and beta are the starting values). ``hessian`` defaults
        to ``'outer'`` (see :class:`laplacenet.BayesianMLPRegressor` for why).
    standardize : bool
        Fit every architecture to inputs (and regression targets) standardised by the training data's means and
        standard deviations, as the estimators do; the log evidence, beta and the errors are reported in the
        user's units (the evidence with the Jacobian of the standardisation, the same for every architecture).
    symmetry : bool
        Add ``ln M_a! + M_a ln 2`` per hidden layer to the log evidence, M_a its units whose weights the posterior
        tells from zero (:func:`laplacenet.bayes.symmetry.distinguishable_units`), so that widths compare fairly: the
        same term as :func:`laplacenet.log_evidence` and the estimators' ``log_evidence_`` add by default. The
        evidence loop maximises the log evidence without it (it is piecewise constant in alpha and beta); it is
        added to every restart's result at the end.
    seed : int, optional
        Restart r of every architecture starts from ``net.init(seed + r)``.
    callback : callable, optional
        Progress: called after every evidence cycle of every restart of every architecture with a
        :class:`ComparisonCycle` - that cycle's :class:`~laplacenet.bayes.hyper.EvidenceCycle` fields and the
        architecture's ``hidden`` widths.
    subset, rank, lowrank_hessian, lowrank_diag
        Structure options, as for :func:`laplacenet.laplace` (e.g. ``hessian='lowrank', rank=k``; the rank must
        not exceed the number of weights of any architecture).
    jitter : float
        Added to the diagonal of every posterior precision, as for :func:`laplacenet.laplace`.

    Returns
    -------
    ModelComparison
    """
    lik = get_likelihood(likelihood)
    architectures = _check_architectures(hidden_sizes)
    restarts = check_positive_int(restarts, "restarts")
    X = check_X(X)
    K = _n_outputs(lik, T, X.shape[0])
    if (X_test is None) != (T_test is None):
        raise ValueError("X_test and T_test must be given together")
    check_callback(callback)
    check_flag(standardize, "standardize")
    curvature = Curvature(hessian, jitter, None, subset, rank, lowrank_hessian, lowrank_diag)
    rows = []
    for hidden in architectures:
        net = MLP([X.shape[1], *hidden, K], activation, lik.name)
        X, T_checked = check_data(net, X, T)
        test = None if X_test is None else check_data(net, X_test, T_test, "X_test", "T_test")
        scaling = _scaling(net, X, T_checked, standardize)
        N = X.shape[0]
        with one_blas_thread():
            result = evidence_fit(net, scaling.inputs(X), T_checked if scaling.y_scale is None else
                                  scaling.targets(T_checked), alpha, beta, curvature,
                                  evidence_options(options, cycles=cycles, tol=tol), restarts=restarts, seed=seed,
                                  train_kwargs=train_kwargs, callback=_tagged(callback, hidden, scaling, N))
        for r, run in enumerate(result.restarts):
            run = scaling.run(run, N)
            bonus, counts = posterior_symmetry(run.posterior) if symmetry else (0.0, None)
            rows.append(ComparisonRow(
                hidden, r, net.n_params, run.log_evidence + bonus, run.gamma, run.alpha, run.beta,
                _error(net, run.w, X, T_checked, scaling),
                None if test is None else _error(net, run.w, *test, scaling), run.converged, counts))
    return ModelComparison(rows)


def compare_estimators(estimator, X, y, hidden_sizes, callback=None, cap_rank=False):
    """Fit a copy of ``estimator`` for each architecture, every other parameter as it is, and tabulate them.

    ``hidden='auto'`` of the estimators is this over :data:`laplacenet.estimators.AUTO_HIDDEN`.

    Parameters
    ----------
    estimator : BayesianMLPRegressor or BayesianMLPClassifier
        Its parameters; it is not fitted itself.
    X, y
        As for the estimator's ``fit``.
    hidden_sizes : sequence
        Architectures, as for :func:`compare_models`.
    callback : callable, optional
        Progress: called with a :class:`ComparisonCycle` after every evidence cycle of every restart of every
        architecture, in the user's units.
    cap_rank : bool
        With ``hessian='lowrank'``, take a ``rank`` above an architecture's W as W (the dense, exact
        eigendecomposition) instead of refusing it: ``hidden='auto'`` starts from the linear model, whose W
        is (D + 1) K.

    Returns
    -------
    fits : list of estimators
        Fitted, one per architecture.
    table : ModelComparison
        One row per fit, for its kept restart: ``log_evidence_`` (symmetry term included), ``gamma_``,
        ``alpha_``, ``beta_`` (None for a classifier) and the training error, as in :func:`compare_models`.
    """
    architectures = _check_architectures(hidden_sizes)
    fits, rows = [], []
    for hidden in architectures:
        model = type(estimator)(**{**estimator.get_params(), "hidden": hidden})
        model._cap_rank = bool(cap_rank)
        model.fit(X, y, _with_hidden(callback, hidden))
        net, targets = model.net_, model._encoded_targets(y if is_dask_array(y) else np.asarray(y))
        train_error = _error(net, model.w_, *check_data(net, X, targets, "X", "y"), model.scaling_)
        rows.append(ComparisonRow(hidden, model.best_restart_, net.n_params, model.log_evidence_, model.gamma_,
                                  model.alpha_, getattr(model, "beta_", None), train_error, None, model.converged_,
                                  posterior_symmetry(model.posterior_)[1]))
        fits.append(model)
    return fits, ModelComparison(rows)


def _check_architectures(hidden_sizes):
    """``hidden_sizes`` as a non-empty list of hidden-layer widths, one tuple per architecture."""
    try:
        entries = None if isinstance(hidden_sizes, (str, bytes, dict)) else iter(hidden_sizes)
    except TypeError:
        entries = None
    if entries is None:
        raise ValueError(f"hidden_sizes must be a sequence of architectures, each an int or a tuple of hidden-layer "
                         f"widths (e.g. [3] or [(3,), (5, 2)]); got {hidden_sizes!r}")
    architectures = []
    for i, hidden in enumerate(entries):
        try:
            architectures.append(check_hidden(hidden))
        except ValueError as ex:
            raise ValueError(f"hidden_sizes[{i}]: {ex}") from None
    if not architectures:
        raise ValueError("hidden_sizes must name at least one architecture")
    return architectures


def _scaling(net, X, T, standardize):
    """The standardisation of inputs (and Gaussian targets) learnt from the training data, or none."""
    targets = T if net.likelihood.uses_beta else None
    if standardize:
        return fit_scaling(X, targets)
    return identity_scaling(X.shape[1], None if targets is None else targets.shape[1])


def _tagged(callback, hidden, scaling, n_rows):
    """``callback`` of :class:`ComparisonCycle` in the user's units, as a callback of :class:`EvidenceCycle`."""
    if callback is None:
        return None
    return lambda info: callback(ComparisonCycle(**vars(scaling.cycle(info, n_rows)), hidden=hidden))


def _with_hidden(callback, hidden):
    """``callback`` of :class:`ComparisonCycle` as a callback of :class:`EvidenceCycle` of ``hidden``; anything
    but a callable as it is (the estimator's ``fit`` rejects it)."""
    if not callable(callback):
        return callback
    return lambda info: callback(ComparisonCycle(**vars(info), hidden=hidden))


def _n_outputs(lik, T, n_rows):
    """Outputs implied by the targets: K columns (Gaussian), 1 (Bernoulli), the classes (categorical).

    Categorical labels must be integers 0..K-1, K (the largest label + 1) at most ``n_rows``: K is the width of
    the network's output and of the one-hot targets. Dask labels are read once for their smallest and largest;
    the others are checked per partition as the fit reads them.
    """
    T = T if is_dask_array(T) else np.asarray(T)
    if lik.name == "bernoulli":
        return 1
    if lik.name == "gaussian":
        return 1 if T.ndim <= 1 else T.shape[-1]
    if T.ndim == 2 and T.shape[1] > 1:
        return T.shape[1]
    if T.size == 0:  # no labels: check_data says that T has no row per row of X
        return 2
    try:
        if is_dask_array(T):
            import dask
            number_array(np.empty(0, dtype=T.dtype))  # strings are refused before they are read
            labels = class_indices(number_array(np.array(dask.compute(T.min(), T.max()))))
        else:
            labels = class_indices(number_array(T.reshape(-1)))
    except ValueError as ex:
        raise ValueError(f"{ex}. For labels of another kind, encode them as 0..K-1 (np.unique(T, "
                         f"return_inverse=True)) or fit a BayesianMLPClassifier (compare_estimators)") from None
    n_classes = max(2, int(labels.max()) + 1)
    if n_classes > n_rows:
        raise ValueError(f"T must hold integer class labels in 0..K-1, at most one class per row: its largest label "
                         f"{int(labels.max())} would make {n_classes} classes, more than its {n_rows} rows")
    return n_classes


def _error(net, w, X, T, scaling):
    """Mean squared error (regression) or error rate of the most probable class (classification), in the user's
    units."""
    y = net.forward(w, scaling.inputs(X))
    if net.likelihood.uses_beta:
        return float(np.mean((scaling.means(y) - T) ** 2))
    if net.likelihood.name == "bernoulli":
        return float(np.mean((y[:, 0] > 0.5) != (T[:, 0] > 0.5)))
    return float(np.mean(np.argmax(y, axis=1) != np.argmax(T, axis=1)))
