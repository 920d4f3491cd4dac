"""
Three penguin species: architecture by the evidence, and calibration
====================================================================

A real three-class problem: the Palmer penguins (Gorman, Williams and Fraser 2014; CC0;
``laplacenet.datasets.load_penguins``, shipped with the package), species from bill length, bill depth,
flipper length and body mass (standardised by ``compare_models`` and the estimator themselves). Half of the
342 penguins train, the other half test.

The architecture: softmax networks of 1 to 6 tanh units, two starts each, fitted by the evidence
framework (alpha re-estimated, PRML 5.7.3) and compared by their log evidence (5.183). One unit is clearly
too few; from two on the evidences lie within a few nats of each other, and so do the test errors.

The calibration: for several classes the predictive probabilities are an integral of the softmax over the
Gaussian of the output activations. ``method='linear_mc'`` computes it by Monte Carlo; the generalised
probit approximation (``predict_proba(X, method='linear')``) scales each activation by its own moderation
factor; the Laplace bridge (``method='bridge'``, the default of ``predict_proba``) maps the Gaussian to a
Dirichlet and takes its mean (see ``laplacenet.bayes.predictive.predict``). All are compared with the MAP
network's probabilities by the test log loss and the expected calibration error (ECE, top label). On these
data the MAP network is already well calibrated and the integral is under-confident: it averages over the
direction that moves all activations together, which the softmax does not see but the prior leaves broad.
The probit approximation is less so, and the bridge stays close to the MAP network. The reliability
diagram shows the MAP and the bridge probabilities, with the number of test penguins in each bin below:
nearly all of them in the most confident bin.

Run:  python examples/penguins.py
"""
import warnings

import matplotlib.pyplot as plt
import numpy as np

import laplacenet as ln
from laplacenet import plotting
from laplacenet.datasets import load_penguins

HIDDEN = (1, 2, 3, 4, 6)


def scores(P, y):
    """Accuracy, log loss and top-label ECE of class probabilities ``P`` (N, C) for labels ``y``."""
    picked = np.clip(P[np.arange(y.size), y], 1e-12, 1.0)
    return {"accuracy": float(np.mean(P.argmax(axis=1) == y)), "log_loss": float(-np.mean(np.log(picked))),
            "ece": plotting.calibration_curve(P, y).ece}


def run(seed=0):
    data = load_penguins()
    X = data.X
    order = np.random.default_rng(seed).permutation(data.y.size)
    train, test = order[: data.y.size // 2], order[data.y.size // 2:]
    options = dict(alpha=0.1, cycles=40, tol=1e-4, seed=seed)
    with warnings.catch_warnings(record=True) as caught:
        # fit_evidence warns when the evidence dips slightly near convergence; counted, not printed.
        warnings.simplefilter("always", ln.ConvergenceWarning)
        table = ln.compare_models(X[train], data.y[train], HIDDEN, restarts=2, likelihood="categorical",
                                  X_test=X[test], T_test=data.y[test], **options)
        model = ln.BayesianMLPClassifier(hidden=table.best().hidden, restarts=2, **options)
        model.fit(X[train], data.y[train])
    X_test, y_test = X[test], data.y[test]
    probabilities = {
        "MAP": model.net_.forward(model.w_, (X_test - model.x_mean_) / model.x_scale_),  # as the fit standardised
        "moderated (probit)": model.predict_proba(X_test, method="linear"),
        "Laplace bridge": model.predict_proba(X_test),
        "linearised MC": model.predict_proba(X_test, method="linear_mc"),
    }
    return {"data": data, "X_test": X_test, "y_test": y_test, "table": table, "model": model,
            "scores": {name: scores(P, y_test) for name, P in probabilities.items()}, "n_warnings": len(caught)}


def main():
    out = run()
    table, model = out["table"], out["model"]
    print(f"{'hidden':>6} {'best log evidence':>18} {'gamma':>6} {'test error':>11}")
    for m in HIDDEN:
        best = max((row for row in table.rows if row.hidden == (m,)), key=lambda row: row.log_evidence)
        print(f"{m:>6} {best.log_evidence:>18.3f} {best.gamma:>6.2f} {best.test_error:>11.4f}")
    print(f"chosen by the evidence: {model.hidden} hidden units, alpha {model.alpha_:.4g}, gamma {model.gamma_:.2f} "
          f"of {model.w_.size} ({out['n_warnings']} convergence warnings)")
    print(f"{'probabilities on ' + str(out['y_test'].size) + ' test penguins':<36} {'accuracy':>8} {'log loss':>9} "
          f"{'ECE':>7}")
    for name, s in out["scores"].items():
        print(f"{name:<36} {s['accuracy']:>8.4f} {s['log_loss']:>9.4f} {s['ece']:>7.4f}")
    return out


def plot(out):
    plotting.plot_evidence(out["table"])
    plotting.plot_calibration(out["model"], out["X_test"], out["y_test"], n_bins=10)


if __name__ == "__main__":
    plot(main())
    plt.show()
