"""Time of the structured Laplace posteriors with their log evidence, beside laplace-torch when it is importable.

For each problem, the MAP weights of a tanh network on teacher-generated data, then the best of ``--repeat``
runs of ``log_evidence`` (which builds the posterior: curvature, factorisation, ln|A|, data fit) with
``hessian='kron'``, ``subset='last_layer'`` and ``hessian='lowrank'``, the peak memory numpy allocated during
one run (tracemalloc), and - in a venv with torch and laplace-torch - ``Laplace(...).fit`` plus
``log_marginal_likelihood()`` with ``hessian_structure='kron'`` and the last-layer ``'full'`` structure
(see benchmarks/peer_check.py) on the same weights and data.

Run:  python benchmarks/scale_structures.py [--quick] [--repeat R]       (laplacenet only)
      /work/peer-venv/bin/python benchmarks/scale_structures.py           (beside laplace-torch)
On a machine shared with other jobs, ``OPENBLAS_NUM_THREADS=1`` gives stable times (multithreaded BLAS on
oversubscribed cores was up to 40x slower and erratic).
"""
import argparse
import tracemalloc

from laplacenet.bayes.evidence import log_evidence
from _common import best_time, teacher_problem
from peer_check import laplace_torch, torch_log_marginal_likelihood

#: name: (sizes, likelihood, N, lowrank rank)
PROBLEMS = {
    "[10,50,3] categorical": ([10, 50, 3], "categorical", 1000, 20),
    "[8,40,40,1] gaussian": ([8, 40, 40, 1], "gaussian", 1000, 20),
    "[100,300,100,10] categorical": ([100, 300, 100, 10], "categorical", 1000, 20),
}
ALPHA, BETA = 1.0, 25.0


def structures(rank):
    """label: (laplacenet options, laplace-torch (subset_of_weights, hessian_structure) or None)."""
    return {"kron": (dict(hessian="kron"), ("all", "kron")),
            "last layer": (dict(hessian="outer", subset="last_layer"), ("last_layer", "full")),
            f"lowrank k={rank}": (dict(hessian="lowrank", rank=rank), None)}


def peak_mib(fn):
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the two small problems only")
    parser.add_argument("--repeat", type=int, default=5)
    opts = parser.parse_args()
    try:
        laplace_torch()
        import torch
        torch.set_num_threads(2)
        torch.set_default_dtype(torch.float64)
        have_peer = True
    except ImportError:
        have_peer = False
    header = f"{'problem':>30} {'W':>6} {'posterior':>12} {'ln Z':>14} {'ours s':>8} {'peak MiB':>9}"
    if have_peer:
        header += f" {'torch s':>8} {'torch/ours':>10} {'ln Z torch':>14}"
    print(header)
    problems = dict(list(PROBLEMS.items())[:2]) if opts.quick else PROBLEMS
    for name, (sizes, likelihood, n, rank) in problems.items():
        beta = BETA if likelihood == "gaussian" else None
        maxiter = 100 if net_is_large(sizes) else 300
        net, w, X, T, _ = teacher_problem(sizes, likelihood, ALPHA, beta, n, maxiter=maxiter)
        for label, (options, peer) in structures(rank).items():
            def ours():
                return log_evidence(net, w, X, T, ALPHA, beta, **options)
            evidence = ours()
            repeat = 1 if label.startswith("lowrank") and net_is_large(sizes) else opts.repeat
            seconds = best_time(ours, repeat)
            line = (f"{name:>30} {net.n_params:>6} {label:>12} {evidence:>14.6f} {seconds:>8.3f} "
                    f"{peak_mib(ours):>9.1f}")
            if have_peer and peer is not None:
                def theirs():
                    return torch_log_marginal_likelihood(net, w, X, T, ALPHA, beta, *peer)
                t_torch = best_time(theirs, opts.repeat)
                line += f" {t_torch:>8.3f} {t_torch / seconds:>10.1f} {theirs():>14.6f}"
            print(line, flush=True)


def net_is_large(sizes):
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:])) > 10_000


if __name__ == "__main__":
    main()
