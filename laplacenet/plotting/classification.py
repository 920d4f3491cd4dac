"""Classification figures: the MAP and the moderated decision contours of a two-input network (PRML 5.7.3)
and the reliability diagram with its per-bin counts."""
import numpy as np

from ..core._validation import check_positive_int
from ..bayes.calibration import calibration_curve
from ._common import (axes_for, check_levels, class_names, feature_names, is_estimator, legend_outside,
                      padded_range, panel_below, posterior_for, scaled_data, scaled_inputs, shown_data)

__all__ = ["plot_decision_2d", "plot_calibration"]


# --- 2-D binary classification -------------------------------------------------------------------------

def plot_decision_2d(model, X, T, *, levels=(0.1, 0.5, 0.9), resolution=120, xlabel=None, ylabel=None, axes=None):
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
    xlabel, ylabel : str, optional
        Names of the two inputs; by default the feature names a fitted estimator saw
        (``feature_names_in_``, from a DataFrame) or the columns of a DataFrame ``X``, else ``'x1'`` and
        ``'x2'``.
    axes : two matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    posterior = posterior_for(model, lambda net: net.likelihood.name == "bernoulli" and net.n_inputs == 2,
                              "a two-class network (Bernoulli likelihood) with two inputs")
    net = posterior.net
    names = feature_names(model, X, 2)
    xlabel, ylabel = (names[0] if xlabel is None else xlabel), (names[1] if ylabel is None else ylabel)
    X, T = shown_data(model, posterior, X, T)
    levels = check_levels(levels)
    resolution = check_positive_int(resolution, "resolution", minimum=2)
    (lo1, hi1), (lo2, hi2) = (padded_range(X[:, j]) for j in range(2))
    g1, g2 = np.meshgrid(np.linspace(lo1, hi1, resolution), np.linspace(lo2, hi2, resolution))
    grid = np.column_stack([g1.ravel(), g2.ravel()])
    p_map = net.forward(posterior.mean, scaled_inputs(model, grid))[:, 0].reshape(g1.shape)
    p_moderated = posterior.predict(scaled_inputs(model, grid))[0][:, 0].reshape(g1.shape)
    classes = class_names(model, 2)
    fig, axes = axes_for(axes, 2, "axes", figsize=(12.0, 4.8))
    panels = (("MAP network y(x, w_MAP)", p_map), ("moderated output p(t = 1 | x, D)", p_moderated))
    # A contour below 1/2 in the colour of class 0, above in that of class 1, the boundary in black.
    colors = ["k" if level == 0.5 else ("C0" if level < 0.5 else "C3") for level in levels]
    for ax, (title, prob) in zip(axes, panels):
        contours = ax.contour(g1, g2, prob, levels=levels, colors=colors, linewidths=1.5)
        ax.clabel(contours, fmt="%.2g")
        for k, marker in enumerate("os"):
            sel = T[:, 0] == k
            ax.scatter(X[sel, 0], X[sel, 1], marker=marker, s=14, color=f"C{3 * k}", edgecolor="k",
                       linewidth=0.3, label=classes[k])
        ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    legend_outside(axes[-1])
    return fig


# --- calibration -----------------------------------------------------------------------------------------

def plot_calibration(model, X, T, n_bins=10, *, ax=None, method=None):
    """Reliability diagram of the MAP network's probabilities and the Laplace predictive's, with their ECEs and
    the number of points in each bin.

    Two classes: the probability of class 1 against the observed frequency of class 1. Several classes: the
    top-label confidence against the accuracy (see :func:`calibration_curve`). The legend gives each
    curve's expected calibration error; a panel under the diagram counts the points in each bin, for each
    curve, since a bin of a few points says little.

    Parameters
    ----------
    model : LaplacePosterior, EvidenceResult or fitted BayesianMLPClassifier
        A Bernoulli or categorical network.
    X : (N, D) array
    T : targets
        0/1 or class indices (one-hot accepted), or the classifier's class labels.
    n_bins : int
    ax : matplotlib Axes, optional
        Where to draw: the diagram takes the upper three quarters of its space, the counts panel the rest.
    method : str, optional
        The predictive (see :func:`laplacenet.bayes.predictive.predict`). By default the moderated output
        (``'linear'``, PRML 5.190) for two classes, and for several that of ``predict_proba`` for a fitted
        classifier (``'bridge'``) and ``'linear'`` for a posterior. (For two classes the bridge's
        probabilities are the MAP network's, which the diagram shows anyway.)

    Returns
    -------
    matplotlib.figure.Figure
    """
    posterior = posterior_for(model, lambda net: not net.likelihood.uses_beta,
                              "a classifier (Bernoulli or categorical likelihood)")
    net = posterior.net
    X, T = scaled_data(model, posterior, X, T)
    n_bins = check_positive_int(n_bins, "n_bins")
    binary = net.likelihood.name == "bernoulli"
    if method is None:
        method = "bridge" if is_estimator(model) and not binary else "linear"
    p_map, p_laplace = net.forward(posterior.mean, X), posterior.predict(X, method, seed=0)[0]  # posterior's scale
    labels = T[:, 0] if binary else T.argmax(axis=1)
    fig, (ax,) = axes_for(ax, 1, "ax", figsize=(5.5, 6.5))
    counts_ax = panel_below(ax, 0.25)
    ax.plot([0, 1], [0, 1], ":", color="0.5", label="perfectly calibrated")
    laplace_name = "moderated" if method == "linear" else f"Laplace, {method}"
    centres, width = (np.arange(n_bins) + 0.5) / n_bins, 0.4 / n_bins
    for i, (name, prob, marker) in enumerate((("MAP", p_map, "o"), (laplace_name, p_laplace, "s"))):
        curve = calibration_curve(prob[:, 0] if binary else prob, labels, n_bins)
        seen = curve.counts > 0
        (drawn,) = ax.plot(curve.confidence[seen], curve.frequency[seen], marker=marker, clip_on=False,
                           label=f"{name} (ECE = {curve.ece:.4f})")
        counts_ax.bar(centres + (i - 0.5) * width, curve.counts, width=width, color=drawn.get_color(), label=name)
    if binary:
        xlabel, ylabel = "predicted probability of class 1", "observed frequency of class 1"
    else:
        xlabel, ylabel = "confidence (probability of the predicted class)", "accuracy"
    ax.set(xlim=(0, 1), ylim=(0, 1), ylabel=ylabel, title=f"reliability diagram ({X.shape[0]} points, {n_bins} bins)")
    ax.tick_params(labelbottom=False)  # the counts panel below shares the x axis and names it
    counts_ax.set_yscale("log")  # a bin of 3 points beside one of 300 must still show, and (from 0.5) one of 1
    counts_ax.set(ylim=(0.5, None), xlabel=xlabel, ylabel="points per bin")
    ax.legend(loc="best")
    return fig
