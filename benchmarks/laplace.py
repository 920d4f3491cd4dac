"""Benchmark of a full Laplace fit at given weights (issue 4), beside laplace-torch when it is importable.

A "fit" is: the Hessian, its factorisation, the log evidence and the predictive variance at 1 000 test
points. Times are the best of ``--repeat`` runs, each also as a ratio to numpy's ``J.T @ J`` with J of
shape (N*K, W) measured in the same run.

Run:  python benchmarks/laplace.py            (laplacenet only)
      /path/to/peer-venv/bin/python benchmarks/laplace.py   (a venv with torch and laplace-torch as well)
"""
import argparse
import importlib.util
import os
import sys

import numpy as np

# this file is called laplace.py: keep its folder off the path so that `laplace` means laplace-torch
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import laplacenet as ln

_spec = importlib.util.spec_from_file_location("_common", os.path.join(_HERE, "_common.py"))
_common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_common)
best_time, teacher_problem, torch_mlp = _common.best_time, _common.teacher_problem, _common.torch_mlp

PROBLEMS = {"[10,50,3] categorical": ([10, 50, 3], "categorical"),
            "[8,40,40,1] gaussian": ([8, 40, 40, 1], "gaussian")}
ALPHA, BETA, N, N_TEST = 1.0, 25.0, 1000, 1000


def laplacenet_fit(net, w, X, T, X_test, hessian):
    posterior = ln.laplace(net, w, X, T, ALPHA, BETA, hessian=hessian)
    evidence = posterior.log_evidence(X, T)
    _, variance = posterior.predict(X_test)
    return evidence, variance


def torch_fit(net, w, X, T, X_test):
    """laplace-torch's full (Gauss-Newton) Laplace on the same weights and data, float64."""
    import torch
    from laplace import Laplace
    from torch.utils.data import DataLoader, TensorDataset

    torch.set_default_dtype(torch.float64)
    model = torch_mlp(net, w)
    regression = net.likelihood.name == "gaussian"
    targets = torch.from_numpy(T) if regression else torch.from_numpy(np.asarray(T, dtype=np.int64))
    loader = DataLoader(TensorDataset(torch.from_numpy(X), targets), batch_size=N)
    la = Laplace(model, "regression" if regression else "classification", subset_of_weights="all",
                 hessian_structure="full", prior_precision=ALPHA,
                 sigma_noise=1 / np.sqrt(BETA) if regression else 1.0)
    la.fit(loader)
    evidence = la.log_marginal_likelihood().item()
    with torch.no_grad():
        la(torch.from_numpy(X_test), pred_type="glm", link_approx="probit")
    return evidence


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()
    have_peer = importlib.util.find_spec("laplace") is not None  # laplace-torch
    header = f"{'problem':>22} {'W':>5} {'floor s':>8} {'exact s':>8} {'ratio':>6} {'outer s':>8} {'ratio':>6}"
    if have_peer:
        header += f" {'torch s':>8} {'torch/outer':>11} {'ln Z ours':>12} {'ln Z torch':>12}"
    print(header)
    for name, (sizes, likelihood) in PROBLEMS.items():
        net, w, X, T, X_test = teacher_problem(sizes, likelihood, ALPHA, BETA, N, N_TEST, maxiter=5000)
        J = np.random.default_rng(1).normal(size=(N * net.n_outputs, net.n_params))
        t_floor = best_time(lambda: J.T @ J, opts.repeat)
        try:
            t_exact = best_time(lambda: laplacenet_fit(net, w, X, T, X_test, "exact"), opts.repeat)
        except ln.NotPositiveDefiniteError:  # training stopped where the exact Hessian is indefinite
            t_exact = np.nan
        t_outer = best_time(lambda: laplacenet_fit(net, w, X, T, X_test, "outer"), opts.repeat)
        line = (f"{name:>22} {net.n_params:>5} {t_floor:>8.3f} {t_exact:>8.3f} {t_exact / t_floor:>6.1f} "
                f"{t_outer:>8.3f} {t_outer / t_floor:>6.1f}")
        if have_peer:
            t_torch = best_time(lambda: torch_fit(net, w, X, T, X_test), opts.repeat)
            ours = laplacenet_fit(net, w, X, T, X_test, "outer")[0]
            line += f" {t_torch:>8.3f} {t_torch / t_outer:>11.1f} {ours:>12.6f} {torch_fit(net, w, X, T, X_test):>12.6f}"
        print(line)


if __name__ == "__main__":
    main()
