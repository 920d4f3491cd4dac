"""Benchmark of the curvature routes (issue 3): times, ratios to floors measured in the same run, peak memory,
and how far each approximation lies from the exact Hessian.

Run:  python benchmarks/curvature.py [--quick] [--repeat R] [--problems NAME ...] [--n N ...] [--routes ROUTE ...]

Floors: one gradient for ``hvp``; numpy's ``J.T @ J`` with J of shape (N*K, W) for the outer and exact
Hessians; ``numpy.linalg.inv`` of a W x W matrix for the incremental inverse, which is also compared with
the whole direct route (form the outer Hessian, then invert it: ``direct``). Peak memory is the largest
block numpy allocated during the call (tracemalloc), so "flat in N" can be read off two rows.
"""
import argparse
import tracemalloc

import numpy as np

import laplacenet as ln
from _common import best_time

PROBLEMS = {  # name: (sizes, likelihood)
    "gauss-500": ([8, 20, 16, 1], "gaussian"),
    "gauss-2k": ([8, 40, 40, 1], "gaussian"),
    "gauss-5k": ([20, 70, 50, 1], "gaussian"),
    "cat-500": ([10, 35, 3], "categorical"),
    "cat-700": ([10, 50, 3], "categorical"),
    "cat-2k": ([20, 80, 5], "categorical"),
    "cat-5k": ([30, 120, 10], "categorical"),
}
QUICK = ["gauss-500", "cat-700"]
ALPHA, BETA = 1.0, 25.0


def make_data(sizes, likelihood, n, seed=0):
    """Targets from a random teacher network of the same shape, so the problem has structure."""
    rng = np.random.default_rng(seed)
    teacher = ln.MLP(sizes, "tanh", "gaussian")
    X = rng.normal(size=(n, sizes[0]))
    a = teacher.forward(teacher.init(seed + 100) * 1.5, X)
    if likelihood == "gaussian":
        return X, a + 0.2 * rng.normal(size=a.shape)
    return X, np.argmax(a + rng.gumbel(size=a.shape), axis=1)


def timed(fn, repeat):
    """Best wall time of ``repeat`` calls and the peak traced allocation of the first, in MiB."""
    tracemalloc.start()
    out = fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return out, best_time(fn, repeat), peak


def gram_floor(rows, W, repeat):
    """Time of numpy's ``J.T @ J`` for a random J of shape (rows, W)."""
    J = np.random.default_rng(2).normal(size=(rows, W))
    return timed(lambda: J.T @ J, repeat)[1]


def logdet(A):
    sign, value = np.linalg.slogdet(A)
    return value if sign > 0 else np.nan


#: route groups that ``--routes`` can pick; every group is timed by default
ROUTES = ("gradient", "hvp", "exact", "outer", "diagonals", "inverse")


def run_problem(name, n, repeat, routes=ROUTES):
    sizes, likelihood = PROBLEMS[name]
    net = ln.MLP(sizes, "tanh", likelihood)
    X, T = make_data(sizes, likelihood, n)
    w, _ = ln.train(net, X, T, ALPHA, BETA, seed=0, maxiter=150, warn=False)
    W, K = net.n_params, net.n_outputs
    args = (net, w, X, T, ALPHA, BETA)
    v = np.random.default_rng(1).normal(size=W)
    timing, memory, out = dict(W=W, N=n), dict(W=W, N=n), {}
    calls = {
        "gradient": {"grad": lambda: ln.gradient(*args)},
        "hvp": {"hvp": lambda: ln.hvp(net, w, X, T, v, ALPHA, BETA)},
        "exact": {"exact": lambda: ln.hessian(*args, method="exact")},
        "outer": {"outer": lambda: ln.hessian(*args, method="outer")},
        "diagonals": {"diag_exact": lambda: ln.hessian_diagonal(*args, kind="exact"),
                      "diag_outer": lambda: ln.hessian_diagonal(*args, kind="outer"),
                      "diag_bl": lambda: ln.hessian(*args, method="diag")},
    }
    if "exact" in routes or "outer" in routes:
        timing["floor"] = gram_floor(n * K, W, repeat)
    for route in routes:
        for key, fn in calls.get(route, {}).items():
            out[key], timing[key], memory[key] = timed(fn, repeat)
    if "inverse" in routes:
        timing.update(inverse_timings(args, repeat))
        memory.update(inc64=timing.pop("m_inc64"), inc1=timing.pop("m_inc1"))
    rows = {"timing": timing, "memory": memory}
    ratios(timing)
    if {"exact", "outer", "diagonals"} <= set(routes):
        rows["accuracy"] = accuracy(out, W, n)
    return rows


def inverse_timings(args, repeat):
    """Direct inversion and the incremental inverse (block sizes 64 and 1), with the peaks of the latter."""
    net, w, X, T, alpha, beta = args
    W, n = net.n_params, X.shape[0]
    A = ln.hessian(*args, method="outer")
    _, t_inv, _ = timed(lambda: np.linalg.inv(A), repeat)
    _, t_inc64, m_inc64 = timed(lambda: ln.inverse_outer_hessian(*args, block_size=64), 1)
    # block size 1 costs O(W^2) per pattern with little BLAS-3 work; time a prefix and scale up for large W
    n1 = n if W * W * n <= 2000**2 * 1000 else max(50, int(2000**2 * 1000 / (W * W)))
    args1 = (net, w, X[:n1], T[:n1], alpha, beta)
    _, t_inc1, m_inc1 = timed(lambda: ln.inverse_outer_hessian(*args1, block_size=1), 1)
    return dict(inv_direct=t_inv, inc64=t_inc64, inc1=t_inc1 * n / n1, inc1_extrapolated=n1 < n,
                m_inc64=m_inc64, m_inc1=m_inc1)


def ratios(t):
    """Add to the timings ``t`` every ratio whose two times were measured."""
    pairs = {"hvp_ratio": ("hvp", "grad"), "exact_ratio": ("exact", "floor"), "outer_ratio": ("outer", "floor"),
             "outer_exact": ("outer", "exact"), "inc64_ratio": ("inc64", "inv_direct"),
             "inc1_ratio": ("inc1", "inv_direct")}
    for key, (num, den) in pairs.items():
        if num in t and den in t:
            t[key] = t[num] / t[den]
    if "inc64" in t and "outer" in t:
        t["inc64_direct"] = t["inc64"] / (t["outer"] + t["inv_direct"])


def accuracy(out, W, n):
    """Distances of the outer product and of the diagonals from the exact Hessian."""
    H_exact, H_outer = out["exact"], out["outer"]
    d_exact, d_outer, d_bl = out["diag_exact"], out["diag_outer"], out["diag_bl"]
    fro = np.linalg.norm(H_exact)
    diag_true = np.diag(H_exact)
    ld_exact = logdet(H_exact)
    return dict(
        W=W, N=n,
        outer_fro=np.linalg.norm(H_outer - H_exact) / fro,
        diag_outer_err=np.linalg.norm(d_outer - diag_true) / np.linalg.norm(diag_true),
        diag_bl_err=np.linalg.norm(d_bl - diag_true) / np.linalg.norm(diag_true),
        diag_exact_err=np.linalg.norm(d_exact - diag_true) / np.linalg.norm(diag_true),
        logdet_exact=ld_exact,
        logdet_outer_err=abs(logdet(H_outer) - ld_exact) / abs(ld_exact),
        logdet_diag_outer_err=abs(np.sum(np.log(d_outer)) - ld_exact) / abs(ld_exact),
        logdet_bl_err=abs(np.sum(np.log(np.where(d_bl > 0, d_bl, np.nan))) - ld_exact) / abs(ld_exact))


def print_table(title, rows, columns):
    """Print the ``columns`` that were measured, one line per problem."""
    rows = [(name, row) for name, row in rows if row is not None]
    if not rows:
        return
    columns = [c for c in columns if all(c in row for _, row in rows)]
    print(f"\n{title}")
    header = " | ".join(f"{c:>12}" for c in ["problem", *columns])
    print(header)
    print("-" * len(header))
    for name, row in rows:
        cells = []
        for c in columns:
            value = row[c]
            cells.append(f"{value:>12}" if isinstance(value, (int, np.integer, bool)) else f"{value:>12.3g}")
        print(" | ".join([f"{name:>12}", *cells]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two small problems at N = 1000 only")
    parser.add_argument("--repeat", type=int, default=3, help="timing repeats (best is kept)")
    parser.add_argument("--problems", nargs="+", choices=list(PROBLEMS), help="a subset of the problems")
    parser.add_argument("--n", nargs="+", type=int, help="data sizes (default 1000 and 10000)")
    parser.add_argument("--routes", nargs="+", choices=ROUTES, default=ROUTES,
                        help="time only these routes (the accuracy table needs exact, outer and diagonals)")
    opts = parser.parse_args()
    names = opts.problems or (QUICK if opts.quick else list(PROBLEMS))
    sizes_n = opts.n or ([1000] if opts.quick else [1000, 10000])
    results = [(f"{name}/{n}", run_problem(name, n, opts.repeat, opts.routes)) for name in names for n in sizes_n]
    print_table("Time in seconds, and ratios to the floors (hvp / gradient; exact, outer / J.T@J; outer / exact; "
                "incremental inverse / numpy.linalg.inv, and / (outer + inv), the direct route)",
                [(k, r["timing"]) for k, r in results],
                ["W", "N", "grad", "hvp", "hvp_ratio", "floor", "exact", "exact_ratio", "outer", "outer_ratio",
                 "outer_exact", "diag_exact", "diag_outer", "diag_bl", "inv_direct", "inc64", "inc64_ratio",
                 "inc64_direct", "inc1", "inc1_ratio", "inc1_extrapolated"])
    print_table("Peak traced memory in MiB", [(k, r["memory"]) for k, r in results],
                ["W", "N", "grad", "hvp", "exact", "outer", "diag_exact", "diag_outer", "diag_bl", "inc64", "inc1"])
    print_table("Distance from the exact Hessian (relative Frobenius; relative error of ln det A)",
                [(k, r.get("accuracy")) for k, r in results],
                ["W", "N", "outer_fro", "diag_outer_err", "diag_bl_err", "diag_exact_err", "logdet_exact",
                 "logdet_outer_err", "logdet_diag_outer_err", "logdet_bl_err"])


if __name__ == "__main__":
    main()
