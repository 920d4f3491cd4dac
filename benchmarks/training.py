"""Benchmark of MAP training (issue 10, item 2): every method on scikit-learn's bundled data sets, from cold
starts and from warm starts, all to the same convergence test (Newton decrement <= 1e-6).

Run:  OPENBLAS_NUM_THREADS=1 python benchmarks/training.py [--quick] [--data NAME ...] [--hidden H ...]
                                                          [--methods M ...]
      OPENBLAS_NUM_THREADS=1 python benchmarks/training.py --evidence

Data: diabetes (regression; inputs and targets standardised, beta = 1, 10, 100: 1 is 1/var(y)), breast_cancer
(Bernoulli), wine and digits (softmax), inputs standardised, the 80 % training part of a fixed random split.
One tanh hidden layer of 20 or 50 units. alpha: weak (0.01), moderate (1) and per layer (the fan-in of each
layer's weights, 1 for the biases; groups W1, b1, W2, b2). Cold starts from ``net.init(0)``; warm starts from
the lowest converged cold-start solution with alpha multiplied by 1.2, as in an evidence cycle.

Prints, per run, wall and CPU seconds, iterations, the counts of ``TrainReport`` (gradients, dense Hessians,
Hessian-vector products, Gauss-Newton diagonals), the final E, decrement, gradient norm and converged flag;
then a summary per method and start; then the measured cost of one dense iteration in Hessian-vector
products beside :func:`laplacenet.core.training.auto_method`'s model of it. scikit-learn is a benchmark requirement.

``--evidence`` instead times the end-to-end fits whose MAP trainings met saddle points: the classifier on iris
(80 % stratified split) and the regressor on 106 motorcycle points, 50 tanh units, seeds 0-2; per fit the best
wall time of three, the evidence cycles, and per training its iterations, Hessians and the lowest eigenvalue of
the exact Hessian at the returned weights.
"""
import argparse
import time
import warnings

import numpy as np
from scipy.linalg import cholesky

import laplacenet as ln
from laplacenet.core.training import auto_method, dense_iteration_cost
from _common import best_time

DATA = ("diabetes", "breast_cancer", "wine", "digits")
HIDDEN = (20, 50)
METHODS = ("newton", "newton-cg", "L-BFGS-B")
QUICK = {"data": ("diabetes", "wine"), "hidden": (20,)}


def load(name, seed=0):
    """The standardised 80 % training part of a bundled data set: ``X, T, likelihood, K``."""
    from sklearn import datasets
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    keep = np.random.default_rng(seed).permutation(len(y))[: int(0.8 * len(y))]
    X, y = X[keep], y[keep]
    X = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1.0)
    if name == "diabetes":
        return X, ((y - y.mean()) / y.std())[:, None], "gaussian", 1
    if name == "breast_cancer":
        return X, y.astype(float), "bernoulli", 1
    return X, y.astype(int), "categorical", int(y.max()) + 1


def priors(net):
    """The three priors: weak, moderate, and per layer (fan-in for the weights, 1 for the biases)."""
    fan_in = np.array([float(net.sizes[l // 2]) if l % 2 == 0 else 1.0 for l in range(net.n_groups)])
    return {"0.01": 0.01, "1": 1.0, "fan-in": fan_in}


def timed_train(net, X, T, alpha, beta, w0, method):
    wall, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ln.ConvergenceWarning)
        w, report = ln.train(net, X, T, alpha, beta, w0=w0, method=method)
    return w, report, time.perf_counter() - wall, time.process_time() - cpu


def row(cells):
    print("| " + " | ".join(str(c) for c in cells) + " |", flush=True)


def run_problem(name, hidden, X, T, lik, K, methods, results):
    net = ln.MLP([X.shape[1], hidden, K], "tanh", lik)
    for beta in ((1.0, 10.0, 100.0) if lik == "gaussian" else (None,)):
        for prior, alpha in priors(net).items():
            cold = {}
            for method in methods:
                cold[method] = timed_train(net, X, T, alpha, beta, net.init(0), method)
                emit(name, hidden, net, X, prior, beta, "cold", method, cold[method], results)
            done = [run for run in cold.values() if run[1].converged]
            if not done:
                continue
            w_warm = min(done, key=lambda run: run[1].error)[0]
            for method in methods:
                run = timed_train(net, X, T, 1.2 * np.asarray(alpha), beta, w_warm, method)
                emit(name, hidden, net, X, prior, beta, "warm", method, run, results)


def emit(name, hidden, net, X, prior, beta, start, method, run, results):
    _, r, wall, cpu = run
    picked = auto_method(net.n_params, X.shape[0])
    results.append((start, method, cpu, r.converged, r.n_iter, (name, hidden, prior, beta), picked))
    row([name, hidden, net.n_params, X.shape[0], prior, "–" if beta is None else f"{beta:g}", start, method,
         f"{wall:.3g}", f"{cpu:.3g}", r.n_iter, r.n_gradients, r.n_hessians, r.n_hvps, r.n_diagonals,
         f"{r.error:.10g}", f"{r.decrement:.2g}", f"{r.grad_norm:.2g}", "yes" if r.converged else "**no**"])


def summary(results, methods):
    """Per start and method: converged runs, CPU seconds (all, and where every method converged), median iterations.

    The row 'auto' takes, per problem, the method :func:`auto_method` picks (when it was run).
    """
    print("\n| start | method | converged | total CPU s | CPU s where all methods converged | median iterations |")
    print("|---|---|---:|---:|---:|---:|")
    key = lambda res: (res[0], res[5])  # noqa: E731 (one problem and start)
    everyone = {k for k in {key(res) for res in results} if all(res[3] for res in results if key(res) == k)}
    for start in ("cold", "warm"):
        for method in (*methods, "auto"):
            mine = [res for res in results
                    if res[0] == start and (res[1] == method or method == "auto" and res[1] == res[6])]
            if not mine:
                continue
            common = sum(res[2] for res in mine if key(res) in everyone)
            row([start, method, f"{sum(res[3] for res in mine)} / {len(mine)}", f"{sum(res[2] for res in mine):.3g}",
                 f"{common:.3g}", f"{np.median([res[4] for res in mine]):.0f}"])


def cost_rule(problems):
    """Measured seconds of one dense iteration (exact Hessian + Cholesky) over one Hessian-vector product."""
    print("\n| data | H | W | N | exact Hessian s | Cholesky s | hvp s | dense iteration / hvp "
          "| model W/22 + W²/(260N) | auto |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, hidden, X, T, lik, K in problems:
        net = ln.MLP([X.shape[1], hidden, K], "tanh", lik)
        beta = 1.0 if lik == "gaussian" else None
        w, v = net.init(0), np.random.default_rng(1).normal(size=net.n_params)
        H = ln.hessian(net, w, X, T, 1.0, beta, method="outer")
        t_hessian = best_time(lambda: ln.hessian(net, w, X, T, 1.0, beta), 3)
        t_cholesky = best_time(lambda: cholesky(H, lower=True), 3)
        t_hvp = best_time(lambda: ln.hvp(net, w, X, T, v, 1.0, beta), 20)
        W, N = net.n_params, X.shape[0]
        row([name, hidden, W, N, f"{t_hessian:.3g}", f"{t_cholesky:.3g}", f"{t_hvp:.3g}",
             f"{(t_hessian + t_cholesky) / t_hvp:.3g}", f"{dense_iteration_cost(W, N):.3g}", auto_method(W, N)])


def evidence_fits(repeat=3):
    """The end-to-end fits of ``--evidence``, with every MAP training of the evidence loop recorded."""
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split
    import laplacenet.bayes.hyper as hyper
    X, y = load_iris(return_X_y=True)
    X_iris, _, y_iris, _ = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    X, T = ln.datasets.load_motorcycle()
    keep = np.random.default_rng(0).permutation(len(X))[:106]
    fits = {"iris": (ln.BayesianMLPClassifier, X_iris, y_iris),
            "motorcycle": (ln.BayesianMLPRegressor, X[keep], T[keep, 0])}
    trainings, train = [], hyper.train

    def recorded(net, X, T, alpha, beta, **kwargs):
        w, report = train(net, X, T, alpha, beta, **kwargs)
        lowest = np.linalg.eigvalsh(ln.hessian(net, w, X, T, alpha, beta))[0]
        trainings.append(f"{report.n_iter}/{report.n_hessians}/{lowest:.2g}")
        return w, report

    print("| data | seed | wall s | CPU s | cycles | log evidence | trainings: iterations/Hessians/lowest eigenvalue |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, (estimator, X, y) in fits.items():
        for seed in range(3):
            times = []
            for _ in range(repeat):
                wall, cpu = time.perf_counter(), time.process_time()
                fit = estimator(hidden=50, seed=seed).fit(X, y)
                times.append((time.perf_counter() - wall, time.process_time() - cpu))
            hyper.train = recorded
            trainings.clear()
            estimator(hidden=50, seed=seed).fit(X, y)
            hyper.train = train
            wall, cpu = min(times)
            row([name, seed, f"{wall:.3f}", f"{cpu:.3f}", len(fit.history_), f"{fit.log_evidence_:.4f}",
                 " ".join(trainings)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="diabetes and wine, 20 hidden units")
    parser.add_argument("--data", nargs="+", choices=DATA, default=DATA)
    parser.add_argument("--hidden", nargs="+", type=int, default=HIDDEN)
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--evidence", action="store_true", help="the end-to-end fits on iris and motorcycle")
    args = parser.parse_args()
    if args.evidence:
        return evidence_fits()
    data, hidden = (QUICK["data"], QUICK["hidden"]) if args.quick else (args.data, args.hidden)
    print("| data | H | W | N | α | β | start | method | wall s | CPU s | iterations | gradients | Hessians | HVPs "
          "| diagonals | E | decrement | gradient norm | converged |")
    print("|---|---:|---:|---:|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    results, problems = [], []
    for name in data:
        X, T, lik, K = load(name)
        for h in hidden:
            problems.append((name, h, X, T, lik, K))
            run_problem(name, h, X, T, lik, K, args.methods, results)
    summary(results, args.methods)
    cost_rule(problems)


if __name__ == "__main__":
    main()
