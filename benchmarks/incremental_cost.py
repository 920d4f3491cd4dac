"""What the incremental inverse (PRML 5.86-5.89, C.7) can cost at best, against the direct route.

Rows B (M x W, M = N R: every pattern's rows of S_n J_n) are folded into ``IncrementalInverse.from_prior``
in blocks of 64 (and one at a time, on a prefix) and timed against the direct route on the same rows: the
Gram matrix ``B.T @ B`` (numpy calls BLAS ``dsyrk``), the prior added, then the inverse by Cholesky
(LAPACK ``dpotrf`` + ``dpotri``), and against ``numpy.linalg.inv`` alone. The rows are random, so the
Jacobians' cost, which the two routes share, is left out: these are the ratios of the linear algebra
itself, the most the network code could ever get down to.

Flop model (leading terms): a Woodbury block of k rows costs 2 W^2 k (``dsymm``, A^-1 B^T) + W^2 k (``dsyrk``,
the rank-k update) = 3 W^2 k, whatever k is; the direct route costs W^2 M (the Gram matrix) + W^3 (the
Cholesky inverse). With r = M / W the ratio is 3 r / (r + 1): 1.5 at r = 1, 2 at r = 2, and 3 as r grows.
Keeping the inverse exact after every block means applying A^-1 to the new rows (2 W^2 per row), and the
stored inverse must change by a rank-k term (at least W^2 per row in a symmetric update), so no variant of
the sequential recursion goes below 3 W^2 per row: "within 2x of the direct route" is out of reach
beyond r = 2 for any implementation of it.

Run from the project root: ``.venv/bin/python benchmarks/incremental_cost.py [--repeat R]``. BLAS runs on
one thread (set before numpy loads); export OPENBLAS_NUM_THREADS to override.
"""
import argparse
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from scipy.linalg import lapack  # noqa: E402

from laplacenet.core.curvature.woodbury import IncrementalInverse  # noqa: E402
from _common import best_time  # noqa: E402

ALPHA = 1.0
BLOCK = 64


def direct(B, W):
    A = B.T @ B
    A[np.diag_indices(W)] += ALPHA
    chol, info = lapack.dpotrf(A, lower=0, overwrite_a=1)
    assert info == 0
    return lapack.dpotri(chol, lower=0, overwrite_c=1)[0]


def incremental(B, W, block):
    state = IncrementalInverse.from_prior(ALPHA, W)
    for start in range(0, B.shape[0], block):
        state._fold(B[start:start + block], 1.0)
    return state


def run(W, r, repeat, rng):
    M = int(round(r * W))
    B = rng.normal(size=(M, W)) / np.sqrt(W)
    t_direct = best_time(lambda: direct(B, W), repeat)
    A = B.T @ B + ALPHA * np.eye(W)
    t_inv = best_time(lambda: np.linalg.inv(A), repeat)
    t_block = best_time(lambda: incremental(B, W, BLOCK), repeat)
    m1 = min(M, max(64, int(4e8 / W**2)))           # one row at a time: a prefix, scaled to M rows
    t_one = best_time(lambda: incremental(B[:m1], W, 1), 1) * M / m1
    # the answer is the same either way (checked, not timed)
    upper = np.triu(direct(B, W))
    P = np.triu(incremental(B, W, BLOCK).inverse)
    assert np.max(np.abs(P - upper)) <= 1e-9 * np.max(np.abs(upper))
    return dict(W=W, r=r, M=M, direct=t_direct, inv=t_inv, block=t_block, one=t_one,
                model=3 * r / (r + 1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timing repeats (best is kept)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000], help="values of W")
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.5, 1, 2, 4, 8, 16],
                        help="values of r = M / W (rows per parameter)")
    opts = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"Blocks of {BLOCK} rows; times in seconds; 'model' is the flop ratio 3 r / (r + 1).")
    print("| W | r = M/W | M rows | direct (Gram + Cholesky inverse) s | numpy.linalg.inv s | block 64 s "
          "| block 64 / direct | model | block 64 / inv | block 1 / direct |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for W in opts.sizes:
        for r in opts.ratios:
            x = run(W, r, opts.repeat, rng)
            print(f"| {x['W']} | {x['r']:g} | {x['M']} | {x['direct']:.3g} | {x['inv']:.3g} | {x['block']:.3g} "
                  f"| {x['block'] / x['direct']:.2f} | {x['model']:.2f} | {x['block'] / x['inv']:.1f} "
                  f"| {x['one'] / x['direct']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
