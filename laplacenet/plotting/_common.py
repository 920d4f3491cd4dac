"""What the figures of :mod:`laplacenet.plotting` share: the posterior behind a model argument, the data on
the posterior's scale and in the user's units, names for axes and classes, and the axes to draw on."""
import numpy as np

from ..core._validation import check_data
from ..estimators import BayesianMLPClassifier, BayesianMLPRegressor
from ..bayes.diagnostics import posterior_and_estimator
from ..bayes.hyper_types import EvidenceResult


def posterior_of(model):
    """The LaplacePosterior behind ``model``."""
    if isinstance(model, EvidenceResult):
        return model.posterior
    return posterior_and_estimator(model, "model", "a LaplacePosterior, an EvidenceResult or a fitted "
                                   "BayesianMLPRegressor or BayesianMLPClassifier")[0]


def posterior_for(model, fits, kind):
    """:func:`posterior_of` ``model``, refused unless ``fits(net)``: a ValueError saying that model must be ``kind``."""
    posterior = posterior_of(model)
    if not fits(posterior.net):
        raise ValueError(f"model must be {kind}; got {posterior.net!r}")
    return posterior


def is_estimator(model):
    return isinstance(model, (BayesianMLPRegressor, BayesianMLPClassifier))


def scaled_data(model, posterior, X, T):
    """Validated ``X (N, D)`` and canonical ``T (N, K)`` on the posterior's scale (an estimator's standardisation
    applied, a classifier's labels encoded as in its fit)."""
    return model.posterior_data(X, T, "T") if is_estimator(model) else check_data(posterior.net, X, T)


def shown_data(model, posterior, X, T):
    """Validated ``X`` and canonical ``T`` in the user's units, to be drawn (labels encoded as in the fit); an
    estimator's ``X`` checked as its ``predict`` checks it (a DataFrame's columns in the fitted order)."""
    return model._user_data(X, T, "T") if is_estimator(model) else check_data(posterior.net, X, T)


def scaled_inputs(model, X):
    """Inputs in the user's units on the posterior's scale."""
    return model.scaling_.inputs(X) if is_estimator(model) else X


def feature_names(model, X, n):
    """Names of the ``n`` inputs: the estimator's ``feature_names_in_``, a DataFrame's columns, or x1, x2, ..."""
    names = getattr(model, "feature_names_in_", None) if is_estimator(model) else None
    if names is None and hasattr(X, "columns"):
        names = list(X.columns)
    if names is None or len(names) != n:
        return [f"x{j + 1}" for j in range(n)]
    return [str(name) for name in names]


def panel_below(ax, fraction):
    """A new Axes under ``ax`` sharing its x axis, taking ``fraction`` of the space ``ax`` had."""
    fig, spec = ax.figure, ax.get_subplotspec()
    if spec is not None:
        top, bottom = spec.subgridspec(2, 1, height_ratios=[1.0 - fraction, fraction], hspace=0.05)
        ax.set_subplotspec(top)
        return fig.add_subplot(bottom, sharex=ax)
    x0, y0, width, height = ax.get_position().bounds
    ax.set_position([x0, y0 + fraction * height, width, (1.0 - fraction) * height])
    return fig.add_axes([x0, y0, width, 0.8 * fraction * height], sharex=ax)


def legend_outside(ax, *args, **kwargs):
    """The legend to the right of ``ax``, where it covers nothing drawn."""
    return ax.legend(*args, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kwargs)


def class_names(model, n):
    if isinstance(model, BayesianMLPClassifier):
        return [f"class {c}" for c in model.classes_]
    return [f"class {k}" for k in range(n)]


def padded_range(values, fraction=0.1):
    low, high = float(np.min(values)), float(np.max(values))
    pad = fraction * (high - low) if high > low else 0.5
    return low - pad, high + pad


def check_levels(levels):
    values = np.sort(np.asarray(levels, dtype=float).ravel())
    if values.size == 0 or not np.all((values > 0) & (values < 1)):
        raise ValueError(f"levels must be probabilities in (0, 1); got {levels!r}")
    return values


def axes_for(ax, n, name, figsize, grid=None):
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
