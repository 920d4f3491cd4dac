"""How close the low-rank Laplace approximation comes to the full outer-product one as its rank k grows.

On networks small enough for the full W x W answer: the MAP weights of a tanh network on teacher-generated
data, then for each k the log evidence, gamma and the linearised predictive variance at test points of
``hessian='lowrank'`` (with and without ``lowrank_diag``) beside ``hessian='outer'``; the Kronecker and
last-layer posteriors are listed for comparison. Prints a markdown table (docs/lowrank.md holds one run).

Run:  python benchmarks/lowrank_accuracy.py [--quick]
"""
import argparse
import time

import numpy as np

from laplacenet.bayes.evidence import posterior_evidence_terms
from laplacenet.bayes.laplace import laplace
from _common import teacher_problem

#: name: (sizes, likelihood, N). With N = 100 the outer-product Hessian of the Gaussian problem has rank at most
#: N K = 100 < W, so k = 100 eigenpairs hold all of it.
PROBLEMS = {"[10,50,3] categorical, N = 1000": ([10, 50, 3], "categorical", 1000),
            "[8,40,40,1] gaussian, N = 1000": ([8, 40, 40, 1], "gaussian", 1000),
            "[8,40,40,1] gaussian, N = 100": ([8, 40, 40, 1], "gaussian", 100)}
ALPHA, BETA, N_TEST = 1.0, 25.0, 200
RANKS = (1, 3, 10, 30, 100, 300)


def summary(net, w, X, T, X_test, **options):
    """Log evidence, gamma, predictive variance of the activations and seconds for one posterior."""
    t0 = time.perf_counter()
    posterior = laplace(net, w, X, T, ALPHA, BETA, **options)
    beta = BETA if net.likelihood.uses_beta else None
    evidence = posterior_evidence_terms(net, w, X, np.asarray(_canonical(net, T)), ALPHA, beta, posterior).total
    seconds = time.perf_counter() - t0
    covered = posterior.subset_slice
    gamma = float(np.sum(1.0 - ALPHA * posterior.variances()[covered]))  # W - alpha tr(A^-1), PRML (5.179)
    _, variance = posterior.predict(X_test, return_noise=False)
    return evidence, gamma, variance, seconds


def _canonical(net, T):
    return net.likelihood.check_targets(T, net.n_outputs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the categorical problem and ranks up to 30 only")
    opts = parser.parse_args()
    problems = dict(list(PROBLEMS.items())[:1]) if opts.quick else PROBLEMS
    ranks = [k for k in RANKS if not opts.quick or k <= 30]
    print("| problem | posterior | ln Z | ln Z - full | gamma | median rel. error of variance | s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for name, (sizes, likelihood, n) in problems.items():
        net, w, X, T, X_test = teacher_problem(sizes, likelihood, ALPHA, BETA, n, N_TEST)
        full = summary(net, w, X, T, X_test, hessian="outer")
        rows = [(f"full outer (W = {net.n_params})", full)]
        for k in [*ranks, net.n_params]:
            rows.append((f"lowrank k = {k}", summary(net, w, X, T, X_test, hessian="lowrank", rank=k)))
            if k < net.n_params:
                rows.append((f"lowrank k = {k} + diag", summary(net, w, X, T, X_test, hessian="lowrank", rank=k,
                                                                lowrank_diag=True)))
        rows.append(("kron", summary(net, w, X, T, X_test, hessian="kron")))
        rows.append(("last layer", summary(net, w, X, T, X_test, hessian="outer", subset="last_layer")))
        for label, (evidence, gamma, variance, seconds) in rows:
            error = np.median(np.abs(variance - full[2]) / full[2])
            print(f"| {name} | {label} | {evidence:.3f} | {evidence - full[0]:+.3f} | {gamma:.2f} | {error:.2e} | "
                  f"{seconds:.3f} |")


if __name__ == "__main__":
    main()
