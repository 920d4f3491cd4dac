"""Default BLAS threads against one thread on a busy machine: the end-to-end fit + predict of real tables.

Each fit runs in a fresh interpreter (BLAS fixes its thread count when numpy loads), once with the BLAS
thread variables unset (OpenBLAS then takes every core) and once with them set to 1, while ``--busy`` other
processes spin on the CPU, as on a shared machine. The table gives the wall time of each and their ratio, and
checks that the two fits agree (predictions to ``1e-6`` relative: results must not depend on the thread count
once training has converged).

Run:  python benchmarks/threads.py [--busy 1] [--repeat 2] [--cases diabetes:50 digits:20 ...]
"""
import argparse
import json
import multiprocessing
import os
import subprocess
import sys

import numpy as np

_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

_FIT = r"""
import json, sys, time, warnings
import numpy as np
import laplacenet as ln
from sklearn import datasets
name, hidden = sys.argv[1], int(sys.argv[2])
X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
rng = np.random.default_rng(0)
test = rng.permutation(len(y))[: len(y) // 5]
train = np.setdiff1d(np.arange(len(y)), test)
estimator = ln.BayesianMLPRegressor if name == "diabetes" else ln.BayesianMLPClassifier
start = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    model = estimator(hidden=hidden, seed=0).fit(X[train], y[train])
    out = model.predict(X[test]) if name == "diabetes" else model.predict_proba(X[test])
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "output": np.ravel(out).tolist(), "converged": bool(model.converged_)}))
"""


def _spin(stop):
    while not stop.is_set():
        sum(i * i for i in range(10000))


def _fit(case, threads):
    name, hidden = case.split(":")
    env = dict(os.environ)
    for variable in _THREAD_VARIABLES:
        env.pop(variable, None)
        if threads is not None:
            env[variable] = str(threads)
    done = subprocess.run([sys.executable, "-c", _FIT, name, hidden], env=env, check=True, capture_output=True,
                          text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=1, help="spinning processes beside the fits (1)")
    parser.add_argument("--repeat", type=int, default=2, help="fits per setting; the best time is kept (2)")
    parser.add_argument("--cases", nargs="+", default=["diabetes:20", "diabetes:50", "breast_cancer:20",
                                                        "digits:20", "digits:50"])
    args = parser.parse_args()
    stop = multiprocessing.Event()
    spinners = [multiprocessing.Process(target=_spin, args=(stop,), daemon=True) for _ in range(args.busy)]
    for p in spinners:
        p.start()
    print(f"{os.cpu_count()} cores, {args.busy} busy processes, best of {args.repeat}; load average "
          f"{os.getloadavg()[0]:.1f} at the start\n")
    print("| data:hidden | default threads s | 1 thread s | default / 1 | max rel. difference of outputs | converged |")
    print("|---|---:|---:|---:|---:|---|")
    try:
        for case in args.cases:
            runs = {threads: [_fit(case, threads) for _ in range(args.repeat)] for threads in (None, 1)}
            best = {threads: min(r["seconds"] for r in results) for threads, results in runs.items()}
            a, b = (np.array(runs[threads][0]["output"]) for threads in (None, 1))
            difference = float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
            converged = all(r["converged"] for results in runs.values() for r in results)
            print(f"| {case} | {best[None]:.2f} | {best[1]:.2f} | {best[None] / best[1]:.2f} | {difference:.1e} | "
                  f"{converged} |", flush=True)
    finally:
        stop.set()
        for p in spinners:
            p.join(timeout=5)


if __name__ == "__main__":
    main()
