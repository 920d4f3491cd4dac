"""Figures of the Bayesian layer (PRML 5.7), drawn with matplotlib.

Every function returns the matplotlib ``Figure`` it drew on. Without ``ax`` (or ``axes``) it makes a new
figure through ``matplotlib.pyplot``, so that ``plt.show()`` and sphinx-gallery find it; pyplot chooses the
non-interactive Agg backend by itself on a machine without a display. matplotlib is imported inside the
functions: ``import laplacenet`` does not import it.

A ``model`` argument may be a :class:`~laplacenet.LaplacePosterior`, an
:class:`~laplacenet.EvidenceResult` (its ``posterior``) or a fitted
:class:`~laplacenet.BayesianMLPRegressor` / :class:`~laplacenet.BayesianMLPClassifier` (its
``posterior_``; a classifier's targets are then its own class labels).
"""
import numpy as np
from scipy.linalg import LinAlgError, cholesky, eigvalsh, solve_triangular
from scipy.sparse.linalg import LinearOperator

from ._config import check_matrix_budget
from ._validation import check_data, check_positive_int, check_X
from .calibration import Calibration, calibration_curve
from .comparison import ModelComparison
from .curvature.hessian import HESSIAN_METHODS, data_hessian
from .estimators import BayesianMLPClassifier, BayesianMLPRegressor
from .hyper import EvidenceCycle, EvidenceResult
from .laplace import LaplacePosterior
from .priors import alpha_per_param

__all__ = ["plot_predictive", "plot_decision_2d", "plot_calibration", "plot_evidence", "plot_spectrum",
           "plot_history", "calibration_curve", "Calibration"]


# --- 1-D regression ------------------------------------------------------------------------------------

def plot_predictive(model, X, T, grid=None, *, output=0, return_noise=True, truth=None, xlabel="x", ylabel="t",
                    ax=None):
    """Data, predictive mean and ±1σ, ±2σ bands of a regression network with one input (PRML 5.172, 5.173).

    Parameters
    ----------
    model : LaplacePosterior, EvidenceResult or fitted BayesianMLPRegressor
        A Gaussian-likelihood network with one input.
    X : (N, 1) array
    T : (N,) or (N, K) array
        The data, drawn as points.
    grid : (G,) or (G, 1) array, optional
        Inputs at which to draw the predictive; 200 points over the range of X widened by 10% on each side
        by default.
    output : int
        Which output to draw when the network has several.
    return_noise : bool
        Include the noise variance 1/beta in the bands (the predictive of t); ``False`` draws the
        uncertainty of the function alone.
    truth : callable, optional
        A function of ``(G,)`` inputs returning ``(G,)`` values, drawn dashed (e.g. the generating curve).
    xlabel, ylabel : str
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    posterior = _posterior(model)
    net = posterior.net
    if not net.likelihood.uses_beta or net.n_inputs != 1:
        raise ValueError(f"model must be a regression network (Gaussian likelihood) with one input; got {net!r}")
    X, T = _shown(model, posterior, X, T)
    if isinstance(output, bool) or not isinstance(output, (int, np.integer)) or not 0 <= output < net.n_outputs:
        raise ValueError(f"output must be an integer in 0..{net.n_outputs - 1}; got {output!r}")
    if truth is not None and not callable(truth):
        raise ValueError(f"truth must be callable or None; got {truth!r}")
    x = _grid_1d(grid, X[:, 0])
    mean, variance = posterior.predict(_inputs(model, x[:, None]), return_noise=bool(return_noise))
    if isinstance(model, BayesianMLPRegressor):
        mean, variance = model.scaling_.means(mean), model.scaling_.variances(variance)
    mu, sd = mean[:, output], np.sqrt(variance[:, output])
    fig, (ax,) = _axes(ax, 1, "ax", figsize=(7.0, 4.5))
    ax.fill_between(x, mu - 2 * sd, mu + 2 * sd, color="C0", alpha=0.15, linewidth=0, label="±2σ")
    ax.fill_between(x, mu - sd, mu + sd, color="C0", alpha=0.3, linewidth=0, label="±1σ")
    if truth is not None:
        ax.plot(x, np.asarray(truth(x), dtype=float), "--", color="0.35", label="truth")
    ax.plot(x, mu, color="C0", linewidth=2, label="predictive mean")
    ax.plot(X[:, 0], T[:, output], "o", color="k", markersize=3, label="data")
    what = "t (noise included)" if return_noise else "y(x) (function only)"
    ax.set(xlabel=xlabel, ylabel=ylabel, title=f"Laplace predictive of {what}")
    ax.legend()
    return fig


# --- 2-D binary classification -------------------------------------------------------------------------

def plot_decision_2d(model, X, T, *, levels=(0.1, 0.5, 0.9), resolution=120, axes=None):
    """Contours of the MAP network's output beside those of the moderated output (PRML 5.7.3, Figure 5.23).

    The left panel shows ``y(x, w_MAP)``; the right one the moderated probability
    ``sigma(kappa(sigma_a^2) a_MAP)``, which keeps the 0.5 contour of the MAP network and pulls the others
    apart where the activation is uncertain (away from the data).

    Parameters
    ----------
    model : LaplacePosterior, EvidenceResult or fitted BayesianMLPClassifier
        A Bernoulli-likelihood network (two classes) with two inputs.
    X : (N, 2) array
    T : (N,) targets
        0/1, or the classifier's class labels.
    levels : sequence of float
        Probability contours to draw, each in (0, 1).
    resolution : int
        Grid points along each axis (at least 2) over the data's range widened by 10% on each side.
    axes : two matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    posterior = _posterior(model)
    net = posterior.net
    if net.likelihood.name != "bernoulli" or net.n_inputs != 2:
        raise ValueError(f"model must be a two-class network (Bernoulli likelihood) with two inputs; got {net!r}")
    X, T = _shown(model, posterior, X, T)
    levels = _check_levels(levels)
    resolution = check_positive_int(resolution, "resolution", minimum=2)
    (lo1, hi1), (lo2, hi2) = (_padded_range(X[:, j]) for j in range(2))
    g1, g2 = np.meshgrid(np.linspace(lo1, hi1, resolution), np.linspace(lo2, hi2, resolution))
    grid = np.column_stack([g1.ravel(), g2.ravel()])
    p_map = net.forward(posterior.mean, _inputs(model, grid))[:, 0].reshape(g1.shape)
    p_moderated = posterior.predict(_inputs(model, grid))[0][:, 0].reshape(g1.shape)
    names = _class_names(model, 2)
    fig, axes = _axes(axes, 2, "axes", figsize=(11.0, 4.8))
    panels = (("MAP network y(x, w_MAP)", p_map), ("moderated output p(t = 1 | x, D)", p_moderated))
    for ax, (title, prob) in zip(axes, panels):
        contours = ax.contour(g1, g2, prob, levels=levels, cmap="coolwarm", linewidths=1.5)
        ax.clabel(contours, fmt="%.2g")
        for k, marker in enumerate("os"):
            sel = T[:, 0] == k
            ax.scatter(X[sel, 0], X[sel, 1], marker=marker, s=14, color=f"C{3 * k}", edgecolor="k",
                       linewidth=0.3, label=names[k])
        ax.set(xlabel="x1", ylabel="x2", title=title)
        ax.legend(loc="best")
    return fig


# --- calibration -----------------------------------------------------------------------------------------

def plot_calibration(model, X, T, n_bins=10, *, ax=None):
    """Reliability diagram of the MAP network's probabilities and the moderated ones, with their ECEs.

    Two classes: the probability of class 1 against the observed frequency of class 1. Several classes: the
    top-label confidence against the accuracy (see :func:`calibration_curve`). The legend gives each
    curve's expected calibration error.

    Parameters
    ----------
    model : LaplacePosterior, EvidenceResult or fitted BayesianMLPClassifier
        A Bernoulli or categorical network.
    X : (N, D) array
    T : targets
        0/1 or class indices (one-hot accepted), or the classifier's class labels.
    n_bins : int
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    posterior = _posterior(model)
    net = posterior.net
    if net.likelihood.uses_beta:
        raise ValueError(f"model must be a classifier (Bernoulli or categorical likelihood); got {net!r}")
    X, T = _data(model, posterior, X, T)
    n_bins = check_positive_int(n_bins, "n_bins")
    binary = net.likelihood.name == "bernoulli"
    p_map, p_moderated = net.forward(posterior.mean, X), posterior.predict(X)[0]  # X on the posterior's scale
    labels = T[:, 0] if binary else T.argmax(axis=1)
    fig, (ax,) = _axes(ax, 1, "ax", figsize=(5.5, 5.2))
    ax.plot([0, 1], [0, 1], ":", color="0.5", label="perfectly calibrated")
    for name, prob, marker in (("MAP", p_map, "o"), ("moderated", p_moderated, "s")):
        curve = calibration_curve(prob[:, 0] if binary else prob, labels, n_bins)
        seen = curve.counts > 0
        ax.plot(curve.confidence[seen], curve.frequency[seen], marker=marker, label=f"{name} (ECE = {curve.ece:.4f})")
    if binary:
        ax.set(xlabel="predicted probability of class 1", ylabel="observed frequency of class 1")
    else:
        ax.set(xlabel="confidence (probability of the predicted class)", ylabel="accuracy")
    ax.set(xlim=(0, 1), ylim=(0, 1), title=f"reliability diagram ({X.shape[0]} points, {n_bins} bins)")
    ax.legend(loc="upper left")
    return fig


# --- evidence against model size -------------------------------------------------------------------------

def plot_evidence(comparison, *, ax=None):
    """Log evidence against the number of hidden units: every restart as a point, the best per size as a line.

    When the rows carry a test error, the test error of the best-evidence restart of each size is drawn on a
    second y axis (the evidence-versus-test-error study of PRML 5.7 and MacKay 1992).

    Parameters
    ----------
    comparison : ModelComparison, or a sequence of ComparisonRow or of dicts with the same fields
        As :func:`laplacenet.compare_models` returns (``hidden``, ``log_evidence``, ``test_error``).
        Architectures are placed at their total number of hidden units; several with the same total share
        a column.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = comparison.rows if isinstance(comparison, ModelComparison) else list(comparison)
    if not rows:
        raise ValueError("comparison must hold at least one row")
    hidden = [tuple(_field(row, "hidden")) for row in rows]
    units = np.array([sum(h) for h in hidden])
    evidence = np.array([_field(row, "log_evidence") for row in rows], dtype=float)
    tests = [_field(row, "test_error") for row in rows]
    sizes = np.unique(units)
    best = [np.flatnonzero(units == s)[np.argmax(evidence[units == s])] for s in sizes]
    top = int(np.argmax(evidence))
    fig, (ax,) = _axes(ax, 1, "ax", figsize=(7.0, 4.5))
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
    posterior = _posterior(model)
    net = posterior.net
    H, alpha_w, route = _data_curvature(model, posterior, X, T, hessian)
    grouped = np.ndim(posterior.alpha) == 1
    lam = H if H.ndim == 1 else eigvalsh(H, check_finite=False)
    gamma = _gamma(H, lam, alpha_w, grouped)
    lam = np.sort(lam)[::-1]
    index = np.arange(1, lam.size + 1)
    fig, (ax,) = _axes(ax, 1, "ax", figsize=(7.0, 4.5))
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
    ax.legend(loc="upper right")
    return fig


def _data_curvature(model, posterior, X, T, hessian):
    """The data Hessian (dense, or a vector for a diagonal posterior), the prior precision of the same
    parameters and the route it came from."""
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
            return A - prior, prior, posterior.hessian
        A[np.diag_indices_from(A)] -= prior
        return A, prior, posterior.hessian
    route = posterior.hessian if hessian is None else hessian
    if route not in HESSIAN_METHODS:
        raise ValueError(f"hessian must be one of {', '.join(map(repr, HESSIAN_METHODS))} to compute the data "
                         f"Hessian from X and T; got {route!r}")
    X, T = _data(model, posterior, X, T)
    H = data_hessian(net, posterior.mean, X, T, posterior.beta, route, posterior.chunk_size)
    if H.ndim == 1:
        H = H + posterior.jitter
    else:
        H[np.diag_indices_from(H)] += posterior.jitter
    return H, alpha_per_param(net, posterior.alpha), route


def _gamma(H, lam, alpha_w, grouped):
    """Well-determined parameters, or None when ``H + diag(alpha)`` is not positive definite."""
    if H.ndim == 1 or not grouped:
        alpha = alpha_w if H.ndim == 1 else alpha_w[0]
        return float(np.sum(lam / (lam + alpha))) if np.all(lam + alpha > 0) else None  # PRML (5.179)
    A = H + np.diag(alpha_w)
    try:
        L = cholesky(A, lower=True, check_finite=False)
    except LinAlgError:
        return None
    L_inv = solve_triangular(L, np.eye(len(A)), lower=True, check_finite=False)
    return float(len(A) - np.sum(alpha_w * np.sum(L_inv ** 2, axis=0)))  # W - sum_i alpha_i (A^-1)_ii


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
    fig, axes = _axes(axes, len(panels), "axes", figsize=(9.5, 6.5) if len(panels) == 4 else (12.0, 3.8),
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


# --- shared helpers --------------------------------------------------------------------------------------

def _posterior(model):
    """The LaplacePosterior behind ``model``."""
    if isinstance(model, LaplacePosterior):
        return model
    if isinstance(model, EvidenceResult):
        return model.posterior
    if isinstance(model, (BayesianMLPRegressor, BayesianMLPClassifier)):
        model._check_fitted()
        return model.posterior_
    raise ValueError(f"model must be a LaplacePosterior, an EvidenceResult or a fitted BayesianMLPRegressor or "
                     f"BayesianMLPClassifier; got {type(model).__name__}")


def _is_estimator(model):
    return isinstance(model, (BayesianMLPRegressor, BayesianMLPClassifier))


def _data(model, posterior, X, T):
    """Validated ``X (N, D)`` and canonical ``T (N, K)`` on the posterior's scale (an estimator's standardisation
    applied, a classifier's labels encoded as in its fit)."""
    return model.posterior_data(X, T, "T") if _is_estimator(model) else check_data(posterior.net, X, T)


def _shown(model, posterior, X, T):
    """Validated ``X`` and canonical ``T`` in the user's units, to be drawn (labels encoded as in the fit)."""
    return check_data(posterior.net, X, model._encoded_targets(T, "T") if _is_estimator(model) else T)


def _inputs(model, X):
    """Inputs in the user's units on the posterior's scale."""
    return model.scaling_.inputs(X) if _is_estimator(model) else X


def _class_names(model, n):
    if isinstance(model, BayesianMLPClassifier):
        return [f"class {c}" for c in model.classes_]
    return [f"class {k}" for k in range(n)]


def _architecture(hidden):
    """Hidden widths as ``'8'`` or ``'4-4'``; ``'0'`` for none."""
    return "-".join(map(str, hidden)) or "0"


def _field(row, name):
    return row[name] if isinstance(row, dict) else getattr(row, name)


def _padded_range(values, fraction=0.1):
    low, high = float(np.min(values)), float(np.max(values))
    pad = fraction * (high - low) if high > low else 0.5
    return low - pad, high + pad


def _grid_1d(grid, x):
    if grid is None:
        return np.linspace(*_padded_range(x), 200)
    shape = np.shape(grid)
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
        raise ValueError(f"grid must be a 1-D array of inputs or of shape (G, 1); got shape {shape}")
    return np.sort(check_X(np.reshape(grid, (-1, 1)), 1, "grid")[:, 0])


def _check_levels(levels):
    values = np.sort(np.asarray(levels, dtype=float).ravel())
    if values.size == 0 or not np.all((values > 0) & (values < 1)):
        raise ValueError(f"levels must be probabilities in (0, 1); got {levels!r}")
    return values


def _axes(ax, n, name, figsize, grid=None):
    """``(figure, [n Axes])``: new pyplot axes when ``ax`` is None, else the ``n`` axes given."""
    from matplotlib.axes import Axes
    if ax is None:
        import matplotlib.pyplot as plt
        rows, cols = grid or (1, n)
        fig, axes = plt.subplots(rows, cols, figsize=figsize, squeeze=False, layout="constrained")
        return fig, list(axes.ravel())
    axes = [ax] if isinstance(ax, Axes) else list(np.asarray(ax, dtype=object).ravel())
    if len(axes) != n or not all(isinstance(a, Axes) for a in axes):
        raise ValueError(f"{name} must be {'a matplotlib Axes' if n == 1 else f'{n} matplotlib Axes'}; got {ax!r}")
    return axes[0].figure, axes
