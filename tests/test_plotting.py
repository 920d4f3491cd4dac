"""The figures of ``laplacenet.plotting``, drawn with Agg and read back: what is on them must be the numbers
of the model (band widths, contours, calibration errors, eigenvalues, histories), computed here another way."""
import subprocess
import sys
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import laplacenet as ln  # noqa: E402
from laplacenet import plotting  # noqa: E402
from laplacenet.bayes.comparison import ComparisonRow, ModelComparison  # noqa: E402
from laplacenet.core.routes import hessian as full_hessian  # noqa: E402
from laplacenet.datasets import make_sinusoid, make_two_class_2d  # noqa: E402
from laplacenet.bayes.evidence import reestimate  # noqa: E402
from laplacenet.bayes.hyper import EvidenceCycle, fit_evidence  # noqa: E402
from laplacenet.core.exceptions import NotFittedError  # noqa: E402
from laplacenet.bayes.laplace import laplace  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def regression():
    X, T = make_sinusoid(20, noise=0.1, seed=3)
    net = ln.MLP([1, 3, 1])
    alpha, beta = 0.5, 100.0
    w, _ = ln.train(net, X, T, alpha, beta, seed=0)
    return net, w, X, T, alpha, beta, laplace(net, w, X, T, alpha, beta, hessian="outer")


@pytest.fixture(scope="module")
def binary():
    X, y = make_two_class_2d(60, seed=1)
    net = ln.MLP([2, 3, 1], likelihood="bernoulli")
    w, _ = ln.train(net, X, y, 0.5, seed=0)
    return net, w, X, y, laplace(net, w, X, y, 0.5, hessian="outer")


@pytest.fixture(scope="module")
def three_class():
    rng = np.random.default_rng(5)
    y = np.repeat([0, 1, 2], 25)
    X = np.array([[0.0, 1.0], [1.0, -0.5], [-1.0, -0.5]])[y] + 0.7 * rng.standard_normal((75, 2))
    net = ln.MLP([2, 3, 3], likelihood="categorical")
    w, _ = ln.train(net, X, y, 0.5, seed=0)
    return net, w, X, y, laplace(net, w, X, y, 0.5, hessian="outer")


def legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def line(ax, label):
    (found,) = [ln_ for ln_ in ax.get_lines() if ln_.get_label() == label]
    return found


def band(ax, label):
    (found,) = [c for c in ax.collections if isinstance(c, PolyCollection) and c.get_label() == label]
    return found.get_paths()[0].vertices


def points_under_legend(ax):
    """Data points (of lines with markers and of scatters) that the legend of ``ax`` covers, in display pixels."""
    ax.figure.canvas.draw()
    legend = ax.get_legend() or ax.figure.legends[0]
    box = legend.get_window_extent()
    points = [ln_.get_xydata() for ln_ in ax.get_lines() if ln_.get_marker() not in (None, "None", "", " ")]
    points += [c.get_offsets() for c in ax.collections if len(c.get_offsets())]
    pixels = ax.transData.transform(np.concatenate(points))
    return [p for p in pixels if box.contains(*p)]


def outside_axes(ax):
    """The legend of ``ax`` lies entirely outside the axes' area."""
    ax.figure.canvas.draw()
    return not ax.get_legend().get_window_extent().overlaps(ax.get_window_extent())


def numerical_output_jacobian(net, w, x, eps=1e-6):
    """d y(x, w) / d w of a single-output network by central differences: ``(G, W)``."""
    E = np.eye(w.size) * eps
    return np.stack([(net.forward(w + e, x) - net.forward(w - e, x))[:, 0] / (2 * eps) for e in E], axis=1)


def test_importing_laplacenet_leaves_matplotlib_out():
    code = ("import sys, laplacenet, laplacenet.plotting, laplacenet.datasets; "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# --- plot_predictive ---------------------------------------------------------------------------------------

def test_predictive_bands_are_one_and_two_predictive_standard_deviations(regression):
    net, w, X, T, alpha, beta, post = regression
    grid = np.array([-0.3, 0.1, 0.55, 1.4])
    fig = plotting.plot_predictive(post, X, T, grid=grid)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    # PRML (5.173) computed here from a finite-difference Jacobian and the dense covariance A^-1.
    G = numerical_output_jacobian(net, w, grid[:, None])
    sd = np.sqrt(1.0 / beta + np.einsum("gw,wv,gv->g", G, post.covariance(), G))
    mean = net.forward(w, grid[:, None])[:, 0]
    for k, label in ((1, "±1σ"), (2, "±2σ")):
        vertices = band(ax, label)
        for x, m, s in zip(grid, mean, sd):
            at_x = vertices[np.isclose(vertices[:, 0], x, rtol=0, atol=1e-12), 1]
            assert at_x.max() == pytest.approx(m + k * s, rel=1e-7, abs=1e-9)
            assert at_x.min() == pytest.approx(m - k * s, rel=1e-7, abs=1e-9)
    assert np.allclose(line(ax, "predictive mean").get_ydata(), mean, rtol=1e-12)
    data = line(ax, "data")
    assert np.array_equal(data.get_xdata(), X[:, 0]) and np.array_equal(data.get_ydata(), T[:, 0])
    assert legend_texts(ax) == ["±2σ", "±1σ", "predictive mean", "data"] and outside_axes(ax)
    assert ax.get_xlabel() == "x" and ax.get_ylabel() == "t"
    assert ax.get_title() == "Laplace predictive of t, noise included"
    # Outside the data the bands widen (the function is less certain there).
    assert sd[-1] > 2 * sd[1]


def test_predictive_without_noise_draws_the_function_uncertainty_alone(regression):
    net, w, X, T, alpha, beta, post = regression
    grid = np.array([0.25, 1.3])
    ax = plotting.plot_predictive(post, X, T, grid=grid, return_noise=False, truth=np.sin, xlabel="time",
                                  ylabel="accel").axes[0]
    G = numerical_output_jacobian(net, w, grid[:, None])
    sd = np.sqrt(np.einsum("gw,wv,gv->g", G, post.covariance(), G))
    vertices = band(ax, "±1σ")
    for x, s in zip(grid, sd):
        at_x = vertices[np.isclose(vertices[:, 0], x, rtol=0, atol=1e-12), 1]
        assert at_x.max() - at_x.min() == pytest.approx(2 * s, rel=1e-6)
    assert np.allclose(line(ax, "truth").get_ydata(), np.sin(grid))
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("time", "accel")
    assert ax.get_title() == "Laplace predictive of accel, function only, noise excluded"


def test_predictive_of_an_estimator_on_given_axes_matches_its_predict(regression):
    _, _, X, T, _, _, _ = regression
    model = ln.BayesianMLPRegressor(hidden=3, alpha=0.5, beta=100.0, reestimate=False, seed=0).fit(X, T[:, 0])
    fig, ax = plt.subplots()
    assert plotting.plot_predictive(model, X, T[:, 0], ax=ax) is fig
    vertices = band(ax, "±2σ")
    grid = np.unique(vertices[:, 0])
    assert grid.size == 200 and (grid[0], grid[-1]) == (X.min(), X.max())  # the data's range, no further
    mean, sd = model.predict(grid[[0, 100]][:, None], return_std=True)
    for g, m, s in zip(grid[[0, 100]], mean, sd):
        at_x = vertices[vertices[:, 0] == g, 1]
        assert (at_x.min(), at_x.max()) == (pytest.approx(m - 2 * s, rel=1e-10), pytest.approx(m + 2 * s, rel=1e-10))


def test_predictive_grid_extends_beyond_the_data_when_asked(regression):
    _, _, X, T, _, _, post = regression
    ax = plotting.plot_predictive(post, X, T, extend=0.25).axes[0]
    grid = line(ax, "predictive mean").get_xdata()
    span = X.max() - X.min()
    assert grid.size == 200
    assert grid[0] == pytest.approx(X.min() - 0.25 * span, rel=1e-14)
    assert grid[-1] == pytest.approx(X.max() + 0.25 * span, rel=1e-14)


@pytest.mark.parametrize("kwargs, match", [
    ({"output": 1}, "output must be an integer in 0..0"),
    ({"grid": np.zeros((3, 2))}, r"grid must be a 1-D array .* got shape \(3, 2\)"),
    ({"grid": [0.0, np.nan]}, "grid must be finite"),
    ({"truth": 3.0}, "truth must be callable"),
    ({"truth": lambda x: x[:-1]}, r"truth must return one value per grid point, shape \(200,\); got shape \(199,\)"),
    ({"truth": lambda x: 1.0}, r"truth must return one value per grid point, shape \(200,\); got shape \(\)"),
    ({"truth": lambda x: np.sin(x) + 0j}, r"truth\(grid\) must be real numbers"),
    ({"ax": "axes"}, "ax must be a matplotlib Axes"),
    ({"extend": -0.1}, "extend must be a finite number >= 0; got -0.1"),
    ({"extend": "10%"}, "extend must be a finite number >= 0"),
    ({"extend": 0.1, "grid": [0.0, 1.0]}, "pass a grid or extend, not both"),
])
def test_predictive_bad_input_is_named(regression, kwargs, match):
    _, _, X, T, _, _, post = regression
    with pytest.raises(ValueError, match=match):
        plotting.plot_predictive(post, X, T, **kwargs)
    assert not plt.get_fignums()  # refused before a figure was made


def test_predictive_refuses_a_classifier_and_strangers(binary, regression):
    net, w, X, y, post = binary
    with pytest.raises(ValueError, match="regression network"):
        plotting.plot_predictive(post, X, y)
    with pytest.raises(ValueError, match="model must be a LaplacePosterior"):
        plotting.plot_predictive(object(), X, y)
    with pytest.raises(NotFittedError):
        plotting.plot_predictive(ln.BayesianMLPRegressor(), X, y)


# --- plot_decision_2d --------------------------------------------------------------------------------------

def contour_vertices(ax, level):
    (contours,) = [c for c in ax.collections if isinstance(c, ContourSet)]
    i = int(np.flatnonzero(np.isclose(contours.levels, level))[0])
    return np.concatenate(contours.get_paths()[i].to_polygons(closed_only=False))


def test_decision_contours_are_the_map_and_the_moderated_probabilities(binary):
    net, w, X, y, post = binary
    fig = plotting.plot_decision_2d(post, X, y, resolution=150)
    assert len(fig.axes) == 2
    left, right = fig.axes
    for ax in fig.axes:
        (contours,) = [c for c in ax.collections if isinstance(c, ContourSet)]
        assert np.allclose(contours.levels, [0.1, 0.5, 0.9])
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("x1", "x2")
        # below 1/2 in the colour of class 0 (C0), above in that of class 1 (C3), the boundary black
        (contours,) = [c for c in ax.collections if isinstance(c, ContourSet)]
        assert [to_hex(c) for c in contours.get_edgecolor()] == [to_hex("C0"), "#000000", to_hex("C3")]
    # one legend, outside the right panel, naming the classes
    assert left.get_legend() is None and legend_texts(right) == ["class 0", "class 1"] and outside_axes(right)
    assert "MAP" in left.get_title() and "moderated" in right.get_title()
    for level in (0.1, 0.5, 0.9):
        assert np.allclose(net.forward(w, contour_vertices(left, level)), level, atol=5e-3)
        assert np.allclose(post.predict(contour_vertices(right, level))[0], level, atol=5e-3)
    # sigma(kappa a) = 1/2 exactly where a = 0: the MAP network's 0.5 contour is also the moderated one ...
    assert np.allclose(post.predict(contour_vertices(left, 0.5))[0], 0.5, atol=5e-3)
    # ... while its 0.9 and 0.1 contours are pulled towards 1/2 by the moderation (PRML 5.7.3).
    assert np.all(post.predict(contour_vertices(left, 0.9))[0] < 0.9)
    assert np.all(post.predict(contour_vertices(left, 0.1))[0] > 0.1)


def test_decision_plot_of_a_classifier_uses_its_labels():
    X, y = make_two_class_2d(40, seed=2)
    labels = np.array(["no", "yes"])[y]
    model = ln.BayesianMLPClassifier(hidden=2, alpha=1.0, reestimate=False, seed=0).fit(X, labels)
    fig = plotting.plot_decision_2d(model, X, labels, levels=[0.5], resolution=20)
    assert legend_texts(fig.axes[1]) == ["class no", "class yes"]
    scattered = [c for c in fig.axes[0].collections if c.get_label() == "class yes"][0]
    assert np.allclose(scattered.get_offsets(), X[labels == "yes"])
    with pytest.raises(ValueError, match=r"T must hold only the classes seen in fit \[.no., .yes.\]; got \[.maybe.\]"):
        plotting.plot_decision_2d(model, X, np.where(y == 1, "maybe", "no"))


def test_decision_axes_are_named_by_the_features():
    pd = pytest.importorskip("pandas")
    X, y = make_two_class_2d(40, seed=2)
    frame = pd.DataFrame(X, columns=["bill length (mm)", "bill depth (mm)"])
    model = ln.BayesianMLPClassifier(hidden=2, alpha=1.0, reestimate=False, seed=0).fit(frame, y)
    for data in (frame, X):  # the names the estimator saw, whatever the data drawn
        fig = plotting.plot_decision_2d(model, data, y, levels=[0.5], resolution=20)
        assert [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes] == [("bill length (mm)", "bill depth (mm)")] * 2
    # a posterior takes the names of a DataFrame's columns, and explicit labels win over both
    fig = plotting.plot_decision_2d(model.posterior_, frame, y, levels=[0.5], resolution=20, ylabel="depth")
    assert (fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()) == ("bill length (mm)", "depth")


@pytest.mark.parametrize("kwargs, match", [
    ({"levels": [0.5, 1.0]}, r"levels must be probabilities in \(0, 1\)"),
    ({"resolution": 1}, "resolution must be an integer >= 2"),
    ({"levels": []}, "levels must be probabilities"),
])
def test_decision_bad_input_is_named(binary, kwargs, match):
    net, w, X, y, post = binary
    with pytest.raises(ValueError, match=match):
        plotting.plot_decision_2d(post, X, y, **kwargs)


def test_decision_needs_two_inputs_and_two_classes(binary, three_class):
    with pytest.raises(ValueError, match="two-class network"):
        plotting.plot_decision_2d(three_class[-1], three_class[2], three_class[3])
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="axes must be 2 matplotlib Axes"):
        plotting.plot_decision_2d(binary[-1], binary[2], binary[3], axes=ax)


# --- calibration -------------------------------------------------------------------------------------------

def reference_ece(confidence, outcome, n_bins):
    """Expected calibration error, bin by bin with a Python loop over equal-width bins of [0, 1]."""
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        inside = (confidence >= lo) & ((confidence < hi) if b < n_bins - 1 else (confidence <= hi))
        if inside.any():
            total += inside.sum() / confidence.size * abs(outcome[inside].mean() - confidence[inside].mean())
    return total


def test_calibration_curve_closed_forms():
    # All at 0.9 but never class 1: one bin, ECE 0.9.
    curve = plotting.calibration_curve(np.full(10, 0.9), np.zeros(10, dtype=int), n_bins=5)
    assert curve.ece == pytest.approx(0.9, rel=1e-15)
    assert curve.counts.tolist() == [0, 0, 0, 0, 10] and np.isnan(curve.confidence[0])
    # A quarter of the points at p = 0.25 are positive, three quarters at p = 0.75: perfectly calibrated.
    p = np.array([0.25] * 8 + [0.75] * 8)
    labels = np.array([1, 1, 0, 0, 0, 0, 0, 0] + [1, 1, 1, 1, 1, 1, 0, 0])
    assert plotting.calibration_curve(p, labels, n_bins=4).ece == pytest.approx(0.0, abs=1e-15)
    # Top label: the confidence is the largest probability, the outcome whether its class was right.
    P = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.3, 0.3, 0.4]])
    curve = plotting.calibration_curve(P, np.array([0, 2, 2]), n_bins=10)
    assert curve.counts[[4, 6, 7]].tolist() == [1, 1, 1]
    assert curve.frequency[[4, 6, 7]].tolist() == [1.0, 0.0, 1.0]
    assert curve.ece == pytest.approx((0.6 + 0.6 + 0.3) / 3, rel=1e-14)
    # a Bernoulli network's (N, 1) column is class 1's probability: it was read as one class of C = 1 (ECE 0.553
    # where 0.447 is right, or "labels must be class indices in 0..0")
    for column in (p[:, None], np.full((10, 1), 0.9)):
        outcomes = labels if len(column) == len(labels) else np.zeros(10, dtype=int)
        as_column = plotting.calibration_curve(column, outcomes, n_bins=4)
        as_vector = plotting.calibration_curve(column[:, 0], outcomes, n_bins=4)
        assert as_column.ece == as_vector.ece and np.array_equal(as_column.counts, as_vector.counts)


@pytest.mark.parametrize("probabilities, labels, match", [
    (np.array([0.2, 1.2]), np.array([0, 1]), r"probabilities must be finite and in \[0, 1\]"),
    (np.array([0.2, 0.3]), np.array([0, 1, 1]), r"labels must have shape \(2,\)"),
    (np.array([0.2, 0.3]), np.array([0, 2]), r"labels must be class indices in 0..1"),
    (np.zeros((2, 2, 2)), np.array([0, 1]), r"probabilities must have shape \(N,\) or \(N, C\)"),
])
def test_calibration_curve_bad_input_is_named(probabilities, labels, match):
    with pytest.raises(ValueError, match=match):
        plotting.calibration_curve(probabilities, labels)


def test_binary_calibration_legend_gives_the_expected_calibration_errors(binary):
    net, w, X, y, post = binary
    fig = plotting.plot_calibration(post, X, y, n_bins=8)
    assert len(fig.axes) == 2
    ax, counts_ax = fig.axes
    p_map, p_moderated = net.forward(w, X)[:, 0], post.predict(X)[0][:, 0]
    expected = [f"MAP (ECE = {reference_ece(p_map, y, 8):.4f})",
                f"moderated (ECE = {reference_ece(p_moderated, y, 8):.4f})"]
    assert legend_texts(ax) == ["perfectly calibrated"] + expected
    assert reference_ece(p_map, y, 8) != reference_ece(p_moderated, y, 8)
    # The MAP curve: mean probability and frequency of class 1 in each non-empty bin.
    bins = np.minimum((p_map * 8).astype(int), 7)
    occupied = np.unique(bins)
    curve = line(ax, expected[0])
    assert np.allclose(curve.get_xdata(), [p_map[bins == b].mean() for b in occupied], rtol=1e-12)
    assert np.allclose(curve.get_ydata(), [y[bins == b].mean() for b in occupied], rtol=1e-12)
    assert counts_ax.get_xlabel() == "predicted probability of class 1"
    assert points_under_legend(ax) == []


def test_calibration_counts_the_points_of_every_bin(binary):
    """The panel under the diagram: one bar per bin and curve, as high as the points the bin holds."""
    net, w, X, y, post = binary
    fig = plotting.plot_calibration(post, X, y, n_bins=5)
    ax, counts_ax = fig.axes
    assert counts_ax.get_shared_x_axes().joined(ax, counts_ax) and counts_ax.get_yscale() == "log"
    assert counts_ax.get_position().y1 <= ax.get_position().y0  # below the diagram
    bars = counts_ax.patches
    assert len(bars) == 10
    for k, p in enumerate((net.forward(w, X)[:, 0], post.predict(X)[0][:, 0])):  # MAP, then moderated
        expected = np.bincount(np.minimum((p * 5).astype(int), 4), minlength=5)
        drawn = bars[5 * k: 5 * (k + 1)]
        assert [bar.get_height() for bar in drawn] == expected.tolist()
        assert all(bar.get_x() < (b + 1) / 5 and bar.get_x() + bar.get_width() > b / 5 for b, bar in enumerate(drawn))
    assert sum(bar.get_height() for bar in bars[:5]) == X.shape[0]


def test_calibration_of_a_binary_classifier_compares_map_with_the_moderated_output():
    """predict_proba's default (the Laplace bridge) gives the MAP network's probabilities for two classes, so
    the diagram draws the moderated output beside them; on given axes the counts go in a panel below."""
    X, y = make_two_class_2d(60, seed=1)
    model = ln.BayesianMLPClassifier(hidden=3, alpha=0.5, reestimate=False, seed=0).fit(X, y)
    fig, ax = plt.subplots(layout="constrained")
    assert plotting.plot_calibration(model, X, y, ax=ax) is fig
    moderated = model.predict_proba(X, method="linear")[:, 1]
    ece = reference_ece(moderated, y, 10)
    assert f"moderated (ECE = {ece:.4f})" in legend_texts(ax)
    assert len(fig.axes) == 2 and fig.axes[1].get_position().y1 <= ax.get_position().y0


def test_multiclass_calibration_uses_the_top_label(three_class):
    net, w, X, y, post = three_class
    fig = plotting.plot_calibration(post, X, y)
    ax = fig.axes[0]
    P_map, P_moderated = net.forward(w, X), post.predict(X)[0]
    for name, P in (("MAP", P_map), ("moderated", P_moderated)):
        ece = reference_ece(P.max(axis=1), (P.argmax(axis=1) == y).astype(float), 10)
        assert f"{name} (ECE = {ece:.4f})" in legend_texts(ax)
    assert ax.get_ylabel() == "accuracy" and "confidence" in fig.axes[1].get_xlabel()


def test_calibration_refuses_regression(regression):
    with pytest.raises(ValueError, match="model must be a classifier"):
        plotting.plot_calibration(regression[-1], regression[2], regression[3])


# --- plot_evidence -----------------------------------------------------------------------------------------

def rows(with_test=True):
    evidence = {(1,): [-30.0, -31.5], (2,): [-22.0, -20.5], (4,): [-21.0, -24.0], (2, 2): [-25.0, -26.0]}
    tests = {(1,): 0.30, (2,): 0.11, (4,): 0.09, (2, 2): 0.2}
    return [ComparisonRow(h, r, 10, e, 3.0, 0.1, 50.0, 0.1, (tests[h] + r / 100) if with_test else None, True)
            for h, es in evidence.items() for r, e in enumerate(es)]


def test_evidence_plot_shows_every_restart_the_best_per_size_and_the_test_error():
    fig = plotting.plot_evidence(ModelComparison(rows()))
    assert len(fig.axes) == 2
    ax, twin = fig.axes
    every = line(ax, "every restart")
    assert every.get_xdata().tolist() == [1, 1, 2, 2, 4, 4, 4, 4]
    assert every.get_ydata().tolist() == [-30.0, -31.5, -22.0, -20.5, -21.0, -24.0, -25.0, -26.0]
    best = line(ax, "best restart per size")
    assert best.get_xdata().tolist() == [1, 2, 4] and best.get_ydata().tolist() == [-30.0, -20.5, -21.0]
    star = line(ax, "highest evidence: 2 hidden")
    assert (star.get_xdata(), star.get_ydata()) == (2, -20.5)
    test = line(twin, "test error (best restart)")
    assert test.get_ydata() == pytest.approx([0.30, 0.12, 0.09])
    assert twin.get_ylabel() == "test error" and ax.get_ylabel() == "log evidence ln p(D)"
    assert ax.get_xlabel() == "hidden units"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "2-2, 4"]
    assert twin.get_legend() is not None and len(legend_texts(twin)) == 4


def test_evidence_plot_without_test_error_has_one_axis_and_takes_dicts():
    table = ModelComparison(rows(with_test=False))
    fig = plotting.plot_evidence(table.to_dicts())
    assert len(fig.axes) == 1
    assert legend_texts(fig.axes[0]) == ["every restart", "best restart per size", "highest evidence: 2 hidden"]
    with pytest.raises(ValueError, match="at least one row"):
        plotting.plot_evidence([])


def test_evidence_plot_takes_dicts_without_a_test_error():
    ax = plotting.plot_evidence([{"hidden": (1,), "log_evidence": -3.0}, {"hidden": 2, "log_evidence": -2.0}]).axes[0]
    assert line(ax, "every restart").get_ydata().tolist() == [-3.0, -2.0]


def test_evidence_plot_refuses_anything_but_a_comparison(regression):
    _, _, X, T, _, _, post = regression
    expected = "comparison must be a ModelComparison .* or a list of its rows"
    model = ln.BayesianMLPRegressor(hidden=2, alpha=0.5, beta=100.0, reestimate=False, seed=0).fit(X, T[:, 0])
    table = ModelComparison(rows())
    for bad, match in [(model, expected + ".*got a BayesianMLPRegressor \\(pass its hidden_table_"),
                       (None, expected + ".*got NoneType"), (post, expected + ".*got LaplacePosterior"),
                       (table.to_dicts()[0], expected + ".*got dict"), ("rows", expected + ".*got str"),
                       ([{"hidden": (3,)}], r"comparison\[0\] must be a ComparisonRow or a dict with 'hidden', "
                                            r"'log_evidence'"),
                       ([table.rows[0], 3.0], r"comparison\[1\] must be a ComparisonRow"),
                       ([{"hidden": "wide", "log_evidence": 1.0}], r"comparison\[0\]\['hidden'\] must be"),
                       ([{"hidden": 2, "log_evidence": "high"}], r"comparison\[0\]\['log_evidence'\] must be a "
                                                                 r"finite number"),
                       ([{"hidden": 2, "log_evidence": 1.0, "test_error": "low"}],
                        r"comparison\[0\]\['test_error'\] must be None or a finite number")]:
        with pytest.raises(ValueError, match=match):
            plotting.plot_evidence(bad)
    pd = pytest.importorskip("pandas")
    with pytest.raises(ValueError, match=expected + ".*got DataFrame"):
        plotting.plot_evidence(pd.DataFrame(table.to_dicts()))


# --- plot_spectrum -----------------------------------------------------------------------------------------

def test_spectrum_shows_the_data_hessian_eigenvalues_alpha_and_gamma(regression):
    net, w, X, T, alpha, beta, post = regression
    fig = plotting.plot_spectrum(post)
    ax = fig.axes[0]
    lam = np.linalg.eigvalsh(full_hessian(net, w, X, T, 0.0, beta, method="outer"))[::-1]
    # The outer-product Hessian has no negative eigenvalues; those within rounding of zero are drawn grey.
    rounding = lam.size * np.finfo(float).eps * lam[0]
    assert np.allclose(line(ax, "λ_i > 0").get_ydata(), lam[lam > rounding], rtol=1e-8)
    assert "λ_i < 0 (|λ_i| shown)" not in legend_texts(ax)
    if np.any(lam <= rounding):
        assert line(ax, "|λ_i| at rounding level").get_ydata().max() <= 10 * rounding
    assert line(ax, f"α = {alpha:.4g}").get_ydata() == [alpha, alpha]
    gamma = reestimate(net, w, X, T, alpha, beta, hessian="outer").gamma
    assert f"γ = Σ λ/(λ+α) = {gamma:.3f} of W = {net.n_params}" in ax.get_title()
    assert ax.get_yscale() == "log" and "data Hessian" in ax.get_ylabel()


def test_spectrum_of_the_exact_hessian_marks_negative_eigenvalues(regression):
    net, w, X, T, alpha, beta, _ = regression
    w0 = net.init(7)  # far from a minimum; the outer-product posterior is still proper there
    post = laplace(net, w0, X, T, 5.0, beta, hessian="outer")
    ax = plotting.plot_spectrum(post, X, T, hessian="exact").axes[0]
    lam = np.linalg.eigvalsh(full_hessian(net, w0, X, T, 0.0, beta, method="exact"))
    assert np.sum(lam < 0) > 0
    negative = line(ax, "λ_i < 0 (|λ_i| shown)")
    assert np.allclose(np.sort(negative.get_ydata()), np.sort(-lam[lam < 0]), rtol=1e-9)
    assert "'exact'" in ax.get_ylabel()
    if np.all(lam + 5.0 > 0):
        assert f"{np.sum(lam / (lam + 5.0)):.3f}" in ax.get_title()
    else:
        assert "γ undefined" in ax.get_title()


def test_spectrum_with_grouped_alpha_and_a_diagonal_posterior(regression):
    net, w, X, T, alpha, beta, _ = regression
    grouped = np.array([0.3, 1.1, 0.6, 2.0])
    post = laplace(net, w, X, T, grouped, beta, hessian="outer")
    ax = plotting.plot_spectrum(post).axes[0]
    assert len([t for t in legend_texts(ax) if t.startswith("α_")]) == 4
    gamma = reestimate(net, w, X, T, grouped, beta, hessian="outer").gamma
    assert f"= {gamma:.3f} of W" in ax.get_title()
    diag = laplace(net, w, X, T, alpha, beta, hessian="diag")
    ax = plotting.plot_spectrum(diag).axes[0]
    h = np.diag(full_hessian(net, w, X, T, 0.0, beta, method="outer"))  # Becker-Le Cun = diag of outer
    assert f"= {np.sum(h / (h + alpha)):.3f} of W" in ax.get_title()


def test_spectrum_of_structured_and_last_layer_posteriors(regression):
    net, w, X, T, alpha, beta, _ = regression
    kron = laplace(net, w, X, T, alpha, beta, hessian="kron")
    title = plotting.plot_spectrum(kron).axes[0].get_title()
    # gamma from the Kronecker factors' own eigenvalues (5.179 block by block)
    assert f"= {kron.precision.gamma_groups(net.group_index, net.n_groups).sum():.3f} of W = {net.n_params}" in title
    lowrank = laplace(net, w, X, T, alpha, beta, hessian="lowrank", rank=3)
    ax = plotting.plot_spectrum(lowrank).axes[0]
    assert np.allclose(line(ax, "λ_i > 0").get_ydata(), lowrank.precision.eigenvalues, rtol=1e-9)
    last = laplace(net, w, X, T, alpha, beta, hessian="outer", subset="last_layer")
    ax = plotting.plot_spectrum(last).axes[0]
    block = full_hessian(net, w, X, T, 0.0, beta, method="outer")[last.subset_slice, last.subset_slice]
    assert np.allclose(line(ax, "λ_i > 0").get_ydata(), np.linalg.eigvalsh(block)[::-1], rtol=1e-9)
    assert ax.get_title().endswith(f"of W = {block.shape[0]}")


@pytest.mark.parametrize("kwargs, match", [
    ({"hessian": "exact"}, "differs from the posterior's 'outer': pass X and T"),
    ({"X": np.zeros((2, 1))}, "X and T must be given together"),
    ({"hessian": "full", "X": np.zeros((2, 1)), "T": np.zeros(2)}, "hessian must be one of"),
])
def test_spectrum_bad_input_is_named(regression, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plotting.plot_spectrum(regression[-1], **kwargs)


# --- plot_history ------------------------------------------------------------------------------------------

def test_history_of_an_evidence_result_has_one_panel_per_quantity(regression):
    net, _, X, T, _, _, _ = regression
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ln.EvidenceConvergenceWarning)
        result = fit_evidence(net, X, T, 0.5, 5.0, "outer", cycles=6, seed=0, method="fixed_point")
    fig = plotting.plot_history(result)
    assert len(fig.axes) == 4
    quantities = ("alpha", "beta", "gamma", "log_evidence")
    for ax, name in zip(fig.axes, quantities):
        (drawn,) = ax.get_lines()
        assert drawn.get_xdata().tolist() == list(range(len(result.history)))
        assert np.array_equal(drawn.get_ydata(), [getattr(c, name) for c in result.history])
        assert ax.get_xlabel() == "cycle"
    assert [ax.get_ylabel() for ax in fig.axes] == ["α (prior precision)", "β (noise precision)",
                                                    "γ (well-determined parameters)", "log evidence"]
    assert fig.axes[1].get_yscale() == "log"  # beta rises from 5 to about 1/0.1^2, more than tenfold


def test_history_of_classification_with_grouped_alpha_on_given_axes():
    history = [EvidenceCycle(0, c, np.array([1.0, 2.0, 3.0, 4.0]) / (c + 1), None, 2.0 + c, -10.0 + c, 5.0, True)
               for c in range(3)]
    fig, axes = plt.subplots(1, 3)
    assert plotting.plot_history(history, axes=axes) is fig
    alpha_lines = axes[0].get_lines()
    assert len(alpha_lines) == 4 and legend_texts(axes[0]) == ["group 0", "group 1", "group 2", "group 3"]
    assert np.allclose(alpha_lines[2].get_ydata(), [3.0, 1.5, 1.0])
    assert axes[1].get_lines()[0].get_ydata().tolist() == [2.0, 3.0, 4.0]
    with pytest.raises(ValueError, match="axes must be 3 matplotlib Axes"):
        plotting.plot_history(history, axes=axes[:2])


def test_history_needs_a_history(regression):
    _, _, X, T, _, _, _ = regression
    model = ln.BayesianMLPRegressor(hidden=2, reestimate=False, seed=0).fit(X, T)
    with pytest.raises(ValueError, match="no re-estimation history"):
        plotting.plot_history(model)
    with pytest.raises(ValueError, match="source must be an EvidenceResult"):
        plotting.plot_history([1, 2])


def test_coverage_figure_of_a_multi_input_regressor_shows_its_own_error_bars():
    """Predicted against observed with 1.96 sd bars, coverage at every level and the PIT histogram, computed
    here from predict(return_std=True) and scipy's normal distribution function."""
    from scipy.stats import kstest, norm
    rng = np.random.default_rng(2)
    X = rng.normal(size=(80, 3))
    y = 10.0 + 5.0 * np.tanh(X[:, 0]) - 3.0 * X[:, 1] * X[:, 2] + rng.normal(size=80)
    model = ln.BayesianMLPRegressor(hidden=(4,), seed=0).fit(X[:60], y[:60])
    fig = plotting.plot_coverage(model, X[60:], y[60:], bins=5, target="y (mm)")
    ax_pred, ax_cov, ax_pit = fig.axes
    mean, sd = model.predict(X[60:], return_std=True)
    points = ax_pred.lines[0].get_data()
    assert np.allclose(points[0], y[60:], rtol=1e-14) and np.allclose(points[1], mean, rtol=1e-12)
    bars = ax_pred.collections[0].get_segments()
    assert np.allclose([b[1, 1] - b[0, 1] for b in bars], 2 * 1.96 * sd, rtol=1e-10)
    pit = norm.cdf((y[60:] - mean) / sd)
    levels, covered = ax_cov.lines[1].get_data()
    expected = [np.mean((pit >= (1 - p) / 2) & (pit <= (1 + p) / 2)) for p in levels]
    assert np.allclose(covered, expected, atol=1e-12) and covered[0] <= covered[-1] == 1.0
    # the 50%, 90% and 95% intervals annotated with their coverage, at their points of the curve
    notes = {t.get_text(): t.xy for t in ax_cov.texts}
    for p in (0.5, 0.9, 0.95):
        inside = np.mean(np.abs(y[60:] - mean) <= norm.ppf(0.5 + p / 2) * sd)
        assert notes[f"{p:.0%}: {inside:.2f}"] == (pytest.approx(p), pytest.approx(inside))
    heights = [patch.get_height() for patch in ax_pit.patches]
    assert heights == np.histogram(pit, bins=5, range=(0, 1))[0].tolist()
    assert f"KS distance {kstest(pit, 'uniform').statistic:.3f}" in ax_pit.get_title()
    assert (ax_pred.get_xlabel(), ax_pred.get_ylabel()) == ("observed y (mm)", "predicted y (mm)")
    # no legend covers a point or a bar
    assert points_under_legend(ax_pred) == [] and points_under_legend(ax_cov) == []
    fig.canvas.draw()
    legend = ax_pit.get_legend().get_window_extent()
    assert not any(legend.overlaps(bar.get_window_extent()) for bar in ax_pit.patches)


def test_coverage_figure_rejects_a_classifier_and_bad_arguments(binary, regression):
    net, w, X, y, post = binary
    with pytest.raises(ValueError, match="model must be a regression network"):
        plotting.plot_coverage(post, X, y)
    post = regression[-1]
    with pytest.raises(ValueError, match="bins must be an integer >= 1"):
        plotting.plot_coverage(post, regression[2], regression[3], bins=0)
    with pytest.raises(ValueError, match="axes must be 3 matplotlib Axes"):
        plotting.plot_coverage(post, regression[2], regression[3], axes=plt.subplots(1, 2)[1])
