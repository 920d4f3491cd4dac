"""Regression figures: the predictive bands of a network with one input, and predicted against observed,
interval coverage and the PIT histogram for any number of inputs (PRML 5.172, 5.173)."""
import numpy as np

from ..core._validation import check_flag, check_positive_int, check_X, float_array
from ..estimators import BayesianMLPRegressor
from ._common import axes_for, legend_outside, padded_range, posterior_for, scaled_inputs, shown_data

__all__ = ["plot_predictive", "plot_coverage"]


# --- 1-D regression ------------------------------------------------------------------------------------

def plot_predictive(model, X, T, grid=None, *, extend=0.0, output=0, return_noise=True, truth=None, xlabel="x",
                    ylabel="t", ax=None):
    """Data, predictive mean and ±1σ, ±2σ bands of a regression network with one input (PRML 5.172, 5.173).

    Parameters
    ----------
    model : LaplacePosterior, EvidenceResult or fitted BayesianMLPRegressor
        A Gaussian-likelihood network with one input.
    X : (N, 1) array
    T : (N,) or (N, K) array
        The data, drawn as points.
    grid : (G,) or (G, 1) array, optional
        Inputs at which to draw the predictive; by default 200 points over the range of X (widened by
        ``extend``).
    extend : float
        For the default grid: the fraction of the data's range added on each side, e.g. 0.1 to see the
        error bars widen beyond the data. 0 (the default) keeps the grid inside the data's range.
    output : int
        Which output to draw when the network has several.
    return_noise : bool
        Include the noise variance 1/beta in the bands (the predictive of t); ``False`` draws the
        uncertainty of the function alone.
    truth : callable, optional
        A function of ``(G,)`` inputs returning ``(G,)`` real values (or ``(G, 1)``), drawn dashed (e.g. the
        generating curve); NaN values leave gaps.
    xlabel, ylabel : str
        Names of the input and the target, for the axes and the title.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    posterior = posterior_for(model, lambda net: net.likelihood.uses_beta and net.n_inputs == 1,
                              "a regression network (Gaussian likelihood) with one input")
    net = posterior.net
    extend = _check_extend(extend, grid)
    X, T = shown_data(model, posterior, X, T)
    _check_output(output, net)
    if truth is not None and not callable(truth):
        raise ValueError(f"truth must be callable or None; got {truth!r}")
    x = _grid_1d(grid, X[:, 0], extend)
    truth_values = None if truth is None else _truth_values(truth, x)
    return_noise = check_flag(return_noise, "return_noise")
    mean, variance = posterior.predict(scaled_inputs(model, x[:, None]), return_noise=return_noise)
    if isinstance(model, BayesianMLPRegressor):
        mean, variance = model.scaling_.means(mean), model.scaling_.variances(variance)
    mu, sd = mean[:, output], np.sqrt(variance[:, output])
    fig, (ax,) = axes_for(ax, 1, "ax", figsize=(7.0, 4.5))
    ax.fill_between(x, mu - 2 * sd, mu + 2 * sd, color="C0", alpha=0.15, linewidth=0, label="±2σ")
    ax.fill_between(x, mu - sd, mu + sd, color="C0", alpha=0.3, linewidth=0, label="±1σ")
    if truth_values is not None:
        ax.plot(x, truth_values, "--", color="0.35", label="truth")
    ax.plot(x, mu, color="C0", linewidth=2, label="predictive mean")
    ax.plot(X[:, 0], T[:, output], "o", color="k", markersize=3, label="data")
    what = "noise included" if return_noise else "function only, noise excluded"
    ax.set(xlabel=xlabel, ylabel=ylabel, title=f"Laplace predictive of {ylabel}, {what}")
    legend_outside(ax)
    return fig


# --- regression with any number of inputs ---------------------------------------------------------------

def plot_coverage(model, X, T, *, output=0, bins=10, target="t", axes=None):
    """Are the error bars right? Predicted against observed, interval coverage and the PIT histogram.

    Three panels for a regression network with any number of inputs, from the Gaussian predictive of ``t``
    (PRML 5.172, 5.173): the predictive mean against the observed target with ±1.96σ bars; the coverage of
    the central intervals at every level against the level itself (on the diagonal when the error bars are
    calibrated, below it when they are too narrow); and the histogram of the probability integral transform
    ``Phi((t - mean) / sd)``, uniform when the predictive distribution is (too narrow bars give a U, too
    wide a hump). Use held-out data: on the training data the bars of a fitted model look better than they
    are.

    Parameters
    ----------
    model : LaplacePosterior, EvidenceResult or fitted BayesianMLPRegressor
        A Gaussian-likelihood network.
    X : (N, D) array
    T : (N,) or (N, K) array
    output : int
        Which output to check when the network has several.
    bins : int
        Bars of the PIT histogram.
    target : str
        Name of the target (with its unit), for the axes of the first panel.
    axes : three matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    from scipy.stats import norm
    posterior = posterior_for(model, lambda net: net.likelihood.uses_beta, "a regression network (Gaussian likelihood)")
    net = posterior.net
    X, T = shown_data(model, posterior, X, T)
    _check_output(output, net)
    bins = check_positive_int(bins, "bins")
    mean, variance = posterior.predict(scaled_inputs(model, X))
    if isinstance(model, BayesianMLPRegressor):
        mean, variance = model.scaling_.means(mean), model.scaling_.variances(variance)
    mu, sd, t = mean[:, output], np.sqrt(variance[:, output]), T[:, output]
    pit = norm.cdf((t - mu) / sd)
    levels = np.linspace(0.0, 1.0, 21)
    covered = np.mean(np.abs(2 * pit - 1)[:, None] <= levels, axis=0)  # |2 PIT - 1| <= p: inside the central p
    fig, (ax_pred, ax_cov, ax_pit) = axes_for(axes, 3, "axes", figsize=(14.0, 4.3))
    ax_pred.errorbar(t, mu, yerr=1.96 * sd, fmt="o", markersize=3, color="C0", ecolor="C0", alpha=0.6,
                     elinewidth=0.8, label="mean ± 1.96σ")
    ax_pred.plot(*[padded_range(np.concatenate([t, mu]), 0.02)] * 2, ":", color="0.4", label="predicted = observed")
    ax_pred.set(xlabel=f"observed {target}", ylabel=f"predicted {target}",
                title=f"predicted against observed ({t.size} points)")
    ax_pred.legend(loc="upper left")  # where predicted >> observed: empty for any useful model
    ax_cov.plot([0, 1], [0, 1], ":", color="0.4", label="calibrated")
    ax_cov.plot(levels, covered, "o-", color="C0", markersize=3, label="observed", clip_on=False)
    for level, inside in zip(levels[[10, 18, 19]], covered[[10, 18, 19]]):  # the 50%, 90% and 95% intervals
        ax_cov.annotate(f"{level:.0%}: {inside:.2f}", (level, inside), xytext=(-6, 8), textcoords="offset points",
                        ha="right", fontsize=8, arrowprops={"arrowstyle": "-", "color": "0.5", "linewidth": 0.6})
    ax_cov.set(xlim=(0, 1), ylim=(0, 1), xlabel="nominal level of the central interval",
               ylabel="fraction of points inside", title="interval coverage")
    ax_cov.legend(loc="lower right")
    heights, _, _ = ax_pit.hist(pit, bins=bins, range=(0, 1), color="C0", alpha=0.7, edgecolor="white")
    ax_pit.axhline(t.size / bins, ls=":", color="0.4", label="uniform")
    ax_pit.set(xlim=(0, 1), ylim=(0, 1.3 * max(np.max(heights), t.size / bins)), xlabel="PIT = Φ((t − mean) / σ)",
               ylabel="points", title=f"PIT histogram (KS distance {_ks_uniform(pit):.3f})")
    ax_pit.legend(loc="upper center")
    return fig


def _ks_uniform(u):
    """Kolmogorov-Smirnov distance of the sample ``u`` from the uniform distribution on [0, 1]."""
    u = np.sort(u)
    n = u.size
    return float(max(np.max(np.arange(1, n + 1) / n - u), np.max(u - np.arange(n) / n)))


def _check_output(output, net):
    if isinstance(output, bool) or not isinstance(output, (int, np.integer)) or not 0 <= output < net.n_outputs:
        raise ValueError(f"output must be an integer in 0..{net.n_outputs - 1}; got {output!r}")


def _check_extend(extend, grid):
    if isinstance(extend, bool) or not isinstance(extend, (int, float, np.integer, np.floating)) \
            or not np.isfinite(extend) or extend < 0:
        raise ValueError(f"extend must be a finite number >= 0; got {extend!r}")
    if extend and grid is not None:
        raise ValueError(f"extend widens the default grid; pass a grid or extend, not both (got extend={extend!r})")
    return float(extend)


def _truth_values(truth, x):
    """``truth(x)`` as ``(G,)`` floats (a ``(G, 1)`` result is taken as its column); NaN leaves a gap."""
    values = float_array(truth(x), "truth(grid)", f"real values, one per grid point ({x.size},)")
    if values.shape not in ((x.size,), (x.size, 1)):
        raise ValueError(f"truth must return one value per grid point, shape ({x.size},); got shape {values.shape}")
    return values.reshape(-1)


def _grid_1d(grid, x, extend):
    if grid is None:
        return np.linspace(*padded_range(x, extend), 200)
    shape = np.shape(grid)
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
        raise ValueError(f"grid must be a 1-D array of inputs or of shape (G, 1); got shape {shape}")
    return np.sort(check_X(np.reshape(grid, (-1, 1)), 1, "grid")[:, 0])
