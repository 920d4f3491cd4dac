"""Figures of the evidence framework (PRML 5.7): log evidence against model size, the Hessian spectrum with
alpha and gamma, and the re-estimation history."""

import numpy as np
from scipy.linalg import eigvalsh
from scipy.sparse.linalg import LinearOperator

from ..core._config import check_matrix_budget
from ..core._validation import is_finite_number
from ..bayes.comparison import ComparisonRow, ModelComparison
from ..bayes.reestimation import effective_parameters
from ..bayes.laplace import build_posterior
from ..core.routes import HESSIAN_METHODS, data_hessian
from ..core._validation import check_hidden
from ..estimators import BayesianMLPClassifier, BayesianMLPRegressor
from ..bayes.hyper_types import EvidenceCycle, EvidenceResult
from ..core.exceptions import NotPositiveDefiniteError
from ..core.priors import alpha_per_param
from ._common import axes_for, posterior_of, scaled_data

__all__ = ["plot_evidence", "plot_spectrum", "plot_history"]


# --- evidence against model size -------------------------------------------------------------------------

def plot_evidence(comparison, *, ax=None):
    """Log evidence against the number of hidden units: every restart as a point, the best per size as a line.

    When the rows carry a test error, the test error of the best-evidence restart of each size is drawn on a
    second y axis (the evidence-versus-test-error study of PRML 5.7 and MacKay 1992).

    Parameters
    ----------
    comparison : ModelComparison, or a list or tuple of ComparisonRow or of dicts with the same fields
        As :func:`laplacenet.compare_models` returns, or an estimator's ``hidden_table_`` (``hidden``,
        ``log_evidence`` and, optionally for dicts, ``test_error``). Architectures are placed at their total
        number of hidden units; several with the same total share a column.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    hidden, evidence, tests = _comparison_columns(comparison)
    units = np.array([sum(h) for h in hidden])
    sizes = np.unique(units)
    best = [np.flatnonzero(units == s)[np.argmax(evidence[units == s])] for s in sizes]
    top = int(np.argmax(evidence))
    fig, (ax,) = axes_for(ax, 1, "ax", figsize=(7.0, 4.5))
    ax.plot(units, evidence, "o", color="0.6", markersize=4, label="every restart")
    ax.plot(sizes, evidence[best], "-o", color="C0", label="best restart per size")
    ax.plot(units[top], evidence[top], "*", color="C3", markersize=14,
            label=f"highest evidence: {_architecture(hidden[top])} hidden")
    ax.set_xticks(sizes, [", ".join(sorted({_architecture(h) for h, u in zip(hidden, units) if u == s}))
                          for s in sizes])
    ax.set(xlabel="hidden units", ylabel="log evidence ln p(D)", title="model comparison by the evidence")
    legend_ax, (handles, labels) = ax, ax.get_legend_handles_labels()
    if any(tests[i] is not None for i in best):
        legend_ax = ax.twinx()  # drawn over ax, so the legend goes on it
        shown = [i for i in best if tests[i] is not None]
        legend_ax.plot(units[shown], [tests[i] for i in shown], "--s", color="C1", label="test error (best restart)")
        legend_ax.set_ylabel("test error")
        more_handles, more_labels = legend_ax.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    legend_ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=2)
    return fig


_COMPARISON = ("a ModelComparison (as compare_models returns, or an estimator's hidden_table_) or a list of its "
               "rows (ComparisonRow, or dicts with 'hidden', 'log_evidence' and optionally 'test_error')")


def _comparison_columns(comparison):
    """The hidden widths (tuples), log evidences ``(R,)`` and test errors (None or float) of the rows."""
    if isinstance(comparison, (BayesianMLPRegressor, BayesianMLPClassifier)):
        raise ValueError(f"comparison must be {_COMPARISON}; got a {type(comparison).__name__} (pass its "
                         f"hidden_table_, which a fit with hidden='auto' fills)")
    if isinstance(comparison, ModelComparison):
        rows = comparison.rows
    elif isinstance(comparison, (list, tuple)):
        rows = list(comparison)
    else:
        raise ValueError(f"comparison must be {_COMPARISON}; got {type(comparison).__name__}")
    if not rows:
        raise ValueError("comparison must hold at least one row")
    hidden, evidence, tests = zip(*[_row_fields(row, i) for i, row in enumerate(rows)])
    return list(hidden), np.array(evidence), list(tests)


def _row_fields(row, i):
    """``(hidden, log_evidence, test_error)`` of row ``i``, checked."""
    if isinstance(row, ComparisonRow):
        fields = vars(row)
    elif isinstance(row, dict) and {"hidden", "log_evidence"} <= row.keys():
        fields = row
    else:
        raise ValueError(f"comparison[{i}] must be a ComparisonRow or a dict with 'hidden', 'log_evidence' and "
                         f"optionally 'test_error'; got {row!r}")
    try:
        hidden = check_hidden(fields["hidden"])
    except ValueError:
        raise ValueError(f"comparison[{i}]['hidden'] must be hidden-layer widths (an int or a tuple of them); "
                         f"got {fields['hidden']!r}") from None
    evidence, test = fields["log_evidence"], fields.get("test_error")
    if not is_finite_number(evidence):
        raise ValueError(f"comparison[{i}]['log_evidence'] must be a finite number; got {evidence!r}")
    if test is not None and not is_finite_number(test):
        raise ValueError(f"comparison[{i}]['test_error'] must be None or a finite number; got {test!r}")
    return hidden, float(evidence), None if test is None else float(test)


# --- the Hessian spectrum --------------------------------------------------------------------------------

def plot_spectrum(model, X=None, T=None, *, hessian=None, ax=None):
    """Eigenvalues lambda_i of the data Hessian on a log scale, with alpha and gamma marked (PRML 5.7.2).

    ``gamma = sum_i lambda_i / (lambda_i + alpha)`` (5.179) counts the well-determined parameters: the
    directions whose curvature from the data exceeds the prior's alpha. Negative eigenvalues (the exact
    Hessian away from, or even at, a minimum) are drawn as crosses at ``|lambda_i|``.

    Parameters
    ----------
    model : LaplacePosterior, EvidenceResult or fitted estimator
    X, T : arrays, optional
        Without them the data curvature is read off the posterior, ``H = A - diag(alpha)`` over the
        parameters it covers (a jitter counts as data curvature, as in :func:`laplacenet.reestimate`; a
        Kronecker or low-rank precision is formed densely for this, within the matrix budget). With them
        the data Hessian of every weight is computed afresh at w_MAP by the route ``hessian``.
    hessian : {'exact', 'outer', 'diag', 'fd'}, optional
        The route for the fresh computation; the posterior's own by default (which must then be one of
        these). Needs X and T.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    With one alpha per prior group the eigenvalues no longer decouple from the prior; gamma is then
    ``W - sum_i alpha_i (A^-1)_ii`` and one line is drawn per group's alpha. Exact zeros cannot be drawn
    on a log scale; their number is given in the title. Eigenvalues within ``W eps max(|lambda|, alpha)`` of
    zero are at rounding level, their sign undetermined, and drawn grey.
    """
    posterior = posterior_of(model)
    net = posterior.net
    H, alpha_w, route, gamma = _data_curvature(model, posterior, X, T, hessian)
    grouped = np.ndim(posterior.alpha) == 1
    lam = H if H.ndim == 1 else eigvalsh(H, check_finite=False)
    lam = np.sort(lam)[::-1]
    index = np.arange(1, lam.size + 1)
    fig, (ax,) = axes_for(ax, 1, "ax", figsize=(7.0, 4.5))
    # Eigenvalues within rounding of zero (relative to the precision they were computed from) have no sign.
    rounding = lam.size * np.finfo(float).eps * max(np.max(np.abs(lam)), np.max(alpha_w))
    signs = ((lam > rounding, "o", "C0", "λ_i > 0"), (lam < -rounding, "x", "C3", "λ_i < 0 (|λ_i| shown)"),
             ((np.abs(lam) <= rounding) & (lam != 0), ".", "0.5", "|λ_i| at rounding level"))
    for sel, marker, color, label in signs:
        if np.any(sel):
            ax.plot(index[sel], np.abs(lam[sel]), marker, color=color, markersize=5, linestyle="none", label=label)
    if grouped:
        for g, (name, a) in enumerate(zip(net.group_names, posterior.alpha)):
            ax.axhline(a, linestyle=("--", ":", "-.")[g % 3], color=f"C{2 + g % 8}", label=f"α_{name} = {a:.4g}")
    else:
        ax.axhline(posterior.alpha, linestyle="--", color="k", label=f"α = {posterior.alpha:.4g}")
    ax.set_yscale("log")
    zeros = int(np.sum(lam == 0))
    if gamma is None:
        title = "γ undefined: H + diag(α) is not positive definite"
    elif grouped and H.ndim == 2:
        title = f"γ = W - Σ α_i (A⁻¹)_ii = {gamma:.3f} of W = {lam.size}"
    else:
        title = f"γ = Σ λ/(λ+α) = {gamma:.3f} of W = {lam.size}"
    ax.set(xlabel="i (eigenvalues in decreasing order)", ylabel=f"|λ_i| of the data Hessian ({route!r})",
           title=title + (f"; {zeros} exact zeros not shown" if zeros else ""))
    ax.legend(loc="best")
    return fig


def _data_curvature(model, posterior, X, T, hessian):
    """The data Hessian (dense, or a vector for a diagonal posterior), the prior precision of the same
    parameters, the route it came from and gamma (5.179) of ``H + diag(alpha)``, None when that is not positive
    definite."""
    if (X is None) != (T is None):
        raise ValueError("X and T must be given together")
    net = posterior.net
    if X is None:
        if hessian not in (None, posterior.hessian):
            raise ValueError(f"hessian={hessian!r} differs from the posterior's {posterior.hessian!r}: pass X and T "
                             f"to compute it")
        prior = alpha_per_param(net, posterior.alpha)[posterior.subset_slice]
        A = posterior.precision
        if isinstance(A, LinearOperator):  # a Kronecker or low-rank structure: formed densely to be drawn
            check_matrix_budget(A.shape[0], "the structured precision")
            A = A @ np.eye(A.shape[0])
        A = np.array(A, dtype=float)
        if A.ndim == 1:
            return A - prior, prior, posterior.hessian, effective_parameters(posterior)
        A[np.diag_indices_from(A)] -= prior
        return A, prior, posterior.hessian, effective_parameters(posterior)
    route = posterior.hessian if hessian is None else hessian
    if route not in HESSIAN_METHODS:
        raise ValueError(f"hessian must be one of {', '.join(map(repr, HESSIAN_METHODS))} to compute the data "
                         f"Hessian from X and T; got {route!r}")
    X, T = scaled_data(model, posterior, X, T)
    H = data_hessian(net, posterior.mean, X, T, posterior.beta, route, posterior.chunk_size)
    if H.ndim == 1:
        H = H + posterior.jitter
    else:
        H[np.diag_indices_from(H)] += posterior.jitter
    try:  # the jitter is in H already
        fresh = build_posterior(net, posterior.mean, X, T, posterior.alpha, posterior.beta, route, H=H)
    except NotPositiveDefiniteError:
        return H, alpha_per_param(net, posterior.alpha), route, None
    return H, alpha_per_param(net, posterior.alpha), route, effective_parameters(fresh)


# --- the re-estimation history ---------------------------------------------------------------------------

def plot_history(source, *, axes=None):
    """alpha, beta, gamma and the log evidence at each cycle of the evidence loop (PRML 5.177-5.180).

    Parameters
    ----------
    source : EvidenceResult, fitted estimator, or a sequence of EvidenceCycle
        The kept restart's ``history`` (``history_`` of an estimator).
    axes : sequence of matplotlib Axes, optional
        Four (three for classification, which has no beta).

    Returns
    -------
    matplotlib.figure.Figure
    """
    history, net = _history(source)
    cycles = np.array([c.cycle for c in history])
    has_beta = history[0].beta is not None
    panels = [("alpha", "α (prior precision)", True)] + ([("beta", "β (noise precision)", True)] if has_beta else [])
    panels += [("gamma", "γ (well-determined parameters)", False), ("log_evidence", "log evidence", False)]
    layout = (2, 2) if len(panels) == 4 else (1, 3)
    fig, axes = axes_for(axes, len(panels), "axes", figsize=(9.5, 6.5) if len(panels) == 4 else (12.0, 3.8),
                      grid=layout)
    for ax, (name, ylabel, log) in zip(axes, panels):
        values = np.array([np.atleast_1d(getattr(c, name)) for c in history], dtype=float)
        labels = _series_labels(name, values.shape[1], net)
        for j in range(values.shape[1]):
            ax.plot(cycles, values[:, j], "-o", markersize=4, label=labels[j])
        if log and np.max(values) > 10 * np.min(values):
            ax.set_yscale("log")
        if values.shape[1] > 1:
            ax.legend(fontsize="small")
        ax.set(xlabel="cycle", ylabel=ylabel)
    fig.suptitle(f"evidence re-estimation: {len(history)} cycles")
    return fig


def _history(source):
    """The list of EvidenceCycle and the network (or None) of ``source``."""
    if isinstance(source, EvidenceResult):
        history, net = source.history, source.posterior.net
    elif isinstance(source, (BayesianMLPRegressor, BayesianMLPClassifier)):
        source._check_fitted()
        history, net = source.history_, source.net_
    elif isinstance(source, (list, tuple)) and all(isinstance(c, EvidenceCycle) for c in source):
        history, net = list(source), None
    else:
        raise ValueError(f"source must be an EvidenceResult, a fitted estimator or a sequence of EvidenceCycle; "
                         f"got {type(source).__name__}")
    if not history:
        raise ValueError("source has no re-estimation history (an estimator fitted with reestimate=False has none)")
    return history, net


def _series_labels(name, n, net):
    if n == 1:
        return [None]
    if name == "alpha":
        return net.group_names if net is not None else [f"group {g}" for g in range(n)]
    return [f"output {k}" for k in range(n)]


def _architecture(hidden):
    """Hidden widths as ``'8'`` or ``'4-4'``; ``'0'`` for none."""
    return "-".join(map(str, hidden)) or "0"
