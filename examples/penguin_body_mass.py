"""
Error bars on a real table: penguin body mass from six inputs
=============================================================

Regression with several inputs, where the predictive cannot be drawn against x: the body mass of the
Palmer penguins (Gorman, Williams and Fraser 2014; CC0; ``laplacenet.datasets.load_penguins``, shipped
with the package) from bill length, bill depth, flipper length and the species (three 0/1 columns). Half of
the 342 penguins train, the other half test. The estimator standardises inputs and target itself and
reports everything in grams.

``hidden='auto'`` fits Bayesian networks of none to 16 tanh units, alpha and beta re-estimated (PRML
5.178, 5.180), and keeps the one of highest log evidence (5.175): here the network without a hidden layer,
Bayesian linear regression. The networks fit the training data slightly better, but their evidence is
lower by about 4 nats: the extra weights buy too little. Their test errors are within a few grams of the
linear model's.

Are the error bars right? ``plotting.plot_coverage`` checks them on the test penguins, in three panels: the
predicted mass against the observed one with ±1.96σ bars (PRML 5.173, noise included); the fraction of
test points inside the central interval of each nominal level; and the histogram of the probability
integral transform ``Phi((t - mean) / sigma)``, flat when the predictive distribution is right. The
coverage lies close to the diagonal, a little above it: the model has a single noise level (about 320 g),
which the Chinstrap penguins, less varied in mass for their measurements, do not need. The table of
coverage by species shows it.

Run:  python examples/penguin_body_mass.py
"""
import matplotlib.pyplot as plt
import numpy as np

import laplacenet as ln
from laplacenet import plotting
from laplacenet.datasets import load_penguins


def run(seed=0):
    data = load_penguins()
    X = np.column_stack([data.X[:, :3], np.eye(3)[data.y]])  # three measurements, species one-hot
    mass = data.X[:, 3]
    order = np.random.default_rng(seed).permutation(mass.size)
    train, test = order[: mass.size // 2], order[mass.size // 2:]
    model = ln.BayesianMLPRegressor(hidden="auto", seed=seed).fit(X[train], mass[train])
    mean, std = model.predict(X[test], return_std=True)
    return {"data": data, "X_test": X[test], "y_test": mass[test], "species_test": data.y[test], "model": model,
            "mean": mean, "std": std}


def coverage_by_species(out):
    """Test points, residual sd, mean predictive sd and coverage of the 68% and 95% intervals per species."""
    z = (out["y_test"] - out["mean"]) / out["std"]
    rows = []
    for k, name in enumerate(out["data"].class_names):
        sel = out["species_test"] == k
        rows.append((name, int(sel.sum()), float(np.std(out["y_test"][sel] - out["mean"][sel])),
                     float(out["std"][sel].mean()), float(np.mean(np.abs(z[sel]) <= 1.0)),
                     float(np.mean(np.abs(z[sel]) <= 1.96))))
    return rows


def main():
    out = run()
    model = out["model"]
    print(f"{'hidden':>6} {'W':>4} {'log evidence':>13} {'gamma':>6} {'noise sd (g)':>13}")
    for row in model.hidden_table_.rows:
        print(f"{'-'.join(map(str, row.hidden)) or 'none':>6} {row.n_params:>4} {row.log_evidence:>13.2f} "
              f"{row.gamma:>6.2f} {1 / np.sqrt(row.beta):>13.1f}")
    rmse = float(np.sqrt(np.mean((out["y_test"] - out["mean"]) ** 2)))
    print(f"chosen by the evidence: hidden = {model.hidden_}; test RMSE {rmse:.1f} g on {out['y_test'].size} "
          f"penguins, predictive sd {out['std'].mean():.1f} g on average")
    print(f"{'species':>10} {'test':>5} {'residual sd (g)':>16} {'predictive sd (g)':>18} {'within 1 sd':>12} "
          f"{'within 1.96 sd':>15}")
    for name, n, residual, predictive, one, two in coverage_by_species(out):
        print(f"{name:>10} {n:>5} {residual:>16.1f} {predictive:>18.1f} {one:>12.2f} {two:>15.2f}")
    return out


def plot(out):
    plotting.plot_coverage(out["model"], out["X_test"], out["y_test"], target="body mass (g)")
    plotting.plot_evidence(out["model"].hidden_table_)


if __name__ == "__main__":
    plot(main())
    plt.show()
