"""How rounding grows in the incremental inverse (PRML 5.89, C.7) with the number of rows folded in.

A tanh network [8, 40, 1] (W = 401) is trained to its MAP weights on a synthetic regression problem; the
rows b_n = sqrt(beta) J_n of N = 10 000 patterns are folded into ``IncrementalInverse.from_prior(alpha, W)``
one at a time (block 1, PRML 5.89) or 64 at a time (C.7). After n = 10, 100, 1 000, 10 000 rows the stored
inverse is compared with a reference for ``A_n = alpha I + sum_{i<=n} b_i b_i^T``:

* ``A_n`` is summed in long double (64-bit mantissa) from the same float64 rows;
* its inverse is ``numpy.linalg.inv`` refined by two Newton steps ``X <- X + X (I - A X)`` in long double;
* its log-determinant comes from a long-double Cholesky factorisation.

Errors are ``max|P - X_ref| / max|X_ref|`` (as ``laplacenet.check.relative_error``). For scale the table also
gives the error of the direct float64 route (``A_n`` summed in float64, then ``numpy.linalg.inv``), the
2-norm condition number kappa of ``A_n``, the largest kappa met on the way (``A_m``, m <= n, on a grid of 60
log-spaced m) and the block-1 error as a multiple of that largest kappa times eps. A last line
times building the inverse of all N rows incrementally, as a ratio to the direct route (Gram + Cholesky).

Run from the project root: ``.venv/bin/python benchmarks/woodbury_rounding.py`` (a few minutes: the
long-double reference is slow). BLAS runs on one thread (set before numpy loads) so that timings on a shared
machine are not spoilt by spinning threads; export OPENBLAS_NUM_THREADS to override.
"""
import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import laplacenet as ln  # noqa: E402
from laplacenet.core.curvature.jacobian import scaled_jacobians  # noqa: E402
from laplacenet.core.curvature.woodbury import IncrementalInverse  # noqa: E402

EPS = np.finfo(float).eps
LD = np.longdouble


def problem(n, seed=0):
    """MAP weights of an [8, 40, 1] tanh net and the rows sqrt(beta) J_n of n patterns, (n, W)."""
    rng = np.random.default_rng(seed)
    net = ln.MLP([8, 40, 1], activation="tanh")
    X = rng.standard_normal((n, 8))
    t = np.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2] + 0.3 * np.tanh(X[:, 3:].sum(axis=1))
    T = (t + 0.1 * rng.standard_normal(n))[:, None]
    w, _ = ln.train(net, X[:2000], T[:2000], 0.01, 100.0, seed=seed, maxiter=3000, warn=False)
    rows = scaled_jacobians(net, net.unpack(w), X, 100.0).reshape(n, net.n_params)
    return rows


def long_double_grams(rows, checkpoints):
    """``sum_{i<n} b_i b_i^T`` in long double at every checkpoint n."""
    grams, G, done = {}, np.zeros((rows.shape[1],) * 2, dtype=LD), 0
    for n in checkpoints:
        part = rows[done:n].astype(LD)
        G += part.T @ part
        grams[n], done = G.copy(), n
    return grams


def gram_spectra(rows, checkpoints, n_grid=60):
    """Eigenvalues of ``sum_{i<m} b_i b_i^T`` (float64) for the checkpoints and m on a log-spaced grid."""
    spectra, G, done = {}, np.zeros((rows.shape[1],) * 2), 0
    for m in np.union1d(np.geomspace(1, rows.shape[0], n_grid).astype(int), checkpoints):
        G += rows[done:m].T @ rows[done:m]
        spectra[m], done = np.linalg.eigvalsh(G), m
    return spectra


def condition(eigenvalues, alpha):
    return (eigenvalues[-1] + alpha) / (eigenvalues[0] + alpha)


def reference_inverse(A):
    """Inverse of the long-double ``A``: float64 inverse refined by two Newton steps in long double."""
    X = np.linalg.inv(A.astype(float)).astype(LD)
    eye = np.eye(A.shape[0], dtype=LD)
    for _ in range(2):
        X = X + X @ (eye - A @ X)
    return 0.5 * (X + X.T)


def reference_log_det(A):
    """ln|A| from a right-looking Cholesky factorisation in long double."""
    L = A.copy()
    log_det = LD(0)
    for j in range(L.shape[0]):
        pivot = np.sqrt(L[j, j])
        log_det += 2 * np.log(pivot)
        col = L[j + 1:, j] / pivot
        L[j + 1:, j + 1:] -= np.outer(col, col)
    return log_det


def rel(P, X_ref):
    return float(np.max(np.abs(P.astype(LD) - X_ref)) / np.max(np.abs(X_ref)))


def incremental_errors(rows, alpha, block, checkpoints, refs):
    state, done, out = IncrementalInverse.from_prior(alpha, rows.shape[1]), 0, {}
    for n in checkpoints:
        for start in range(done, n, block):
            state.update(rows[start:min(start + block, n)])
        X_ref, log_det_ref = refs[n]
        out[n] = (rel(state.inverse, X_ref), abs(float(LD(state.log_det) - log_det_ref)))
        done = n
    return out


def direct_errors(rows, alpha, n, X_ref, log_det_ref):
    A = rows[:n].T @ rows[:n]
    A[np.diag_indices_from(A)] += alpha
    return rel(np.linalg.inv(A), X_ref), abs(float(LD(np.linalg.slogdet(A)[1]) - log_det_ref))


def timings(rows, alpha, repeats=3):
    """Seconds to invert all rows: incremental (block 1 and 64) and direct (Gram + Cholesky inverse)."""
    W = rows.shape[1]

    def direct():
        IncrementalInverse.from_matrix(rows.T @ rows + alpha * np.eye(W)).inverse

    def incremental(block):
        state = IncrementalInverse.from_prior(alpha, W)
        for start in range(0, rows.shape[0], block):
            state.update(rows[start:start + block])
        state.inverse

    best = {}
    for name, fn in (("direct", direct), ("block 1", lambda: incremental(1)), ("block 64", lambda: incremental(64))):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        best[name] = min(times)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alphas", type=float, nargs="+", default=[1.0, 1e-2, 1e-4])
    args = parser.parse_args()
    checkpoints = [10, 100, 1000, 10000]
    rows = problem(checkpoints[-1])
    grams = long_double_grams(rows, checkpoints)
    spectra = gram_spectra(rows, checkpoints)
    print(f"W = {rows.shape[1]}, N = {rows.shape[0]}; errors relative to a long-double reference\n")
    print("| alpha | n | kappa(A_n) | max kappa so far | direct float64 | block 1 | block 64 "
          "| block 1 / (max kappa eps) | abs err of ln\\|A\\|: direct, block 1, block 64 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for alpha in args.alphas:
        refs = {}
        for n in checkpoints:
            A = grams[n] + LD(alpha) * np.eye(rows.shape[1], dtype=LD)
            refs[n] = reference_inverse(A), reference_log_det(A)
        by_block = {b: incremental_errors(rows, alpha, b, checkpoints, refs) for b in (1, 64)}
        for n in checkpoints:
            kappa = condition(spectra[n], alpha)
            kappa_max = max(condition(ev, alpha) for m, ev in spectra.items() if m <= n)
            d_err, d_ld = direct_errors(rows, alpha, n, *refs[n])
            (e1, l1), (e64, l64) = by_block[1][n], by_block[64][n]
            print(f"| {alpha:g} | {n} | {kappa:.1e} | {kappa_max:.1e} | {d_err:.1e} | {e1:.1e} | {e64:.1e} | "
                  f"{e1 / (kappa_max * EPS):.1e} | {d_ld:.0e}, {l1:.0e}, {l64:.0e} |")
    t = timings(rows, args.alphas[0])
    print(f"\ntime for all N = {rows.shape[0]} rows: direct {t['direct']:.3f} s; incremental block 1 "
          f"{t['block 1'] / t['direct']:.1f}x, block 64 {t['block 64'] / t['direct']:.1f}x the direct time")


if __name__ == "__main__":
    main()
