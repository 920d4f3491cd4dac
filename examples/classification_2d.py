"""
Moderated outputs of a two-class network
========================================

Two-class data in the plane (``laplacenet.datasets.make_two_class_2d``: each class a mixture of two
Gaussians) fitted by a network of 6 tanh hidden units and a logistic output, its prior precision alpha set
by the evidence (PRML 5.7.3).

The MAP network's output ``y(x, w_MAP)`` is as sure of itself far from the data as near it. The
moderated output ``sigma(kappa(sigma_a^2) a_MAP)`` averages the logistic over the Gaussian posterior of
the output activation (linearised): where the activation is uncertain its probabilities are pulled
towards 1/2. The 0.5 contour, where ``a_MAP = 0``, is the same for both, so the decisions and the error
rate are too; what changes is the probabilities, which the test log loss and the expected calibration
error (ECE) score on 2000 fresh points.

With 40 training points the moderated probabilities are clearly better; with 200 the posterior is narrow,
the MAP network is already well calibrated, and moderation makes it slightly under-confident. The figures
are those of the 40-point fit.

Run:  python examples/classification_2d.py
"""
import matplotlib.pyplot as plt
import numpy as np

import laplacenet as ln
from laplacenet import plotting
from laplacenet.datasets import make_two_class_2d


def log_loss(p, y):
    """Mean negative log probability of the labels ``y`` (0/1) under probabilities ``p`` of class 1."""
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def scores(p, y):
    return {"error": float(np.mean((p > 0.5) != y)), "log_loss": log_loss(p, y),
            "ece": plotting.calibration_curve(p, y).ece}


def run(n=40, seed=0):
    """Fit to ``n`` points; score the MAP and the moderated probabilities on 2000 test points."""
    X, y = make_two_class_2d(n, seed=seed)
    X_test, y_test = make_two_class_2d(2000, seed=seed + 1)
    model = ln.BayesianMLPClassifier(hidden=6, alpha=0.1, restarts=2, seed=seed, cycles=30, tol=1e-4).fit(X, y)
    far = np.array([[4.0, -4.0], [-4.0, 4.0]])
    return {"X": X, "y": y, "X_test": X_test, "y_test": y_test, "model": model, "far": far,
            "far_map": map_probability(model, far), "far_moderated": moderated_probability(model, far),
            "map": scores(map_probability(model, X_test), y_test),
            "moderated": scores(moderated_probability(model, X_test), y_test)}


def map_probability(model, X):
    """``y(x, w_MAP)``: the MAP network's probability of class 1 (on the inputs standardised as in the fit)."""
    return model.net_.forward(model.w_, (X - model.x_mean_) / model.x_scale_)[:, 0]


def moderated_probability(model, X):
    """The moderated output ``sigma(kappa(sigma_a^2) a_MAP)`` (PRML 5.190) of class 1."""
    return model.predict_proba(X, method="linear")[:, 1]


def main():
    runs = {n: run(n) for n in (40, 200)}
    print(f"{'n':>4} {'alpha':>7} {'gamma':>6} {'log ev':>8} {'outputs':>10} {'error':>7} {'log loss':>9} {'ECE':>7}")
    for n, out in runs.items():
        model = out["model"]
        for name in ("map", "moderated"):
            r = out[name]
            print(f"{n:>4} {model.alpha_:>7.3g} {model.gamma_:>6.2f} {model.log_evidence_:>8.2f} {name:>10} "
                  f"{r['error']:>7.4f} {r['log_loss']:>9.4f} {r['ece']:>7.4f}")
    out = runs[40]
    for x, p_map, p_mod in zip(out["far"], out["far_map"], out["far_moderated"]):
        print(f"far from the 40 points, at x = {x}: p(t = 1) MAP {p_map:.4f}, moderated {p_mod:.4f}")
    return runs


def plot(runs):
    out = runs[40]
    plotting.plot_decision_2d(out["model"], out["X"], out["y"])
    plotting.plot_calibration(out["model"], out["X_test"], out["y_test"])


if __name__ == "__main__":
    plot(main())
    plt.show()
