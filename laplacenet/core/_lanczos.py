"""The lowest eigenpair of the Hessian of E by Lanczos, which is how both Newton methods find negative curvature.

H has negative curvature (w is a saddle point, not a minimum) when its lowest eigenvalue is below
-``NEGATIVE_CURVATURE`` times its scale. The dense method finds the eigenpair of an indefinite H by a few
Lanczos steps on (H + m I)^-1 through the Cholesky factor it already has (shift-invert), or roughly on H
itself where it has no eigenvector from the last step (:func:`lowest_eigenpair`, :func:`rough_eigenvector`);
Newton-CG runs Lanczos on Hessian-vector products where its convergence test passes
(:func:`negative_curvature_by_lanczos`). Every run takes a fixed number of steps from the same start vector,
with full reorthogonalisation, so that rounding moves the result by rounding only, whatever the BLAS.
"""
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_solve

#: H has negative curvature (w is a saddle, not a minimum) when its lowest eigenvalue is below -this max|H_ii|
NEGATIVE_CURVATURE = 1e-8
#: Lanczos steps on (H + m I)^-1 for the lowest eigenpair of an indefinite H, and on H for a first rough one
EIGEN_STEPS = 8
ROUGH_STEPS = 20
#: Lanczos steps (Hessian-vector products) by which Newton-CG looks for negative curvature where its test passes
CURVATURE_STEPS = 30


@dataclass(frozen=True)
class Eigenpair:
    value: float
    vector: np.ndarray


def _start(n):
    """The same start vector for the eigensolvers on every run, orthogonal to no symmetry of the weights."""
    return np.random.default_rng(0).standard_normal(n)


def rough_eigenvector(H):
    """An eigenvector of about lambda_1 by ROUGH_STEPS Lanczos steps on H."""
    return _lowest_ritz_pair(lambda v: H @ v, _start(len(H)), ROUGH_STEPS).vector


def lowest_eigenpair(H, F, m, start):
    """The lowest eigenpair of H by EIGEN_STEPS Lanczos steps on (H + m I)^-1 = (F F^T)^-1 (shift-invert).

    The largest eigenvalue of (H + m I)^-1, 1 / (lambda_1 + m), stands well apart from the rest even where
    lambda_1 is tiny beside the largest eigenvalue of H, where Lanczos on H itself crawls (seconds at W = 241,
    as measured); started from the last eigenvector, a few steps find it.
    """
    return _lowest_ritz_pair(lambda v: cho_solve((F, True), v, check_finite=False),
                             _start(len(H)) if start is None else start, EIGEN_STEPS, H)


def _lowest_ritz_pair(apply, start, steps, H=None):
    """The lowest Rayleigh-Ritz pair of H (``apply`` itself when None) on the Krylov space of ``apply`` from
    ``start``: Lanczos with full reorthogonalisation, for a fixed number of steps so that rounding moves the
    result by rounding only, whatever the BLAS."""
    Q = np.zeros((start.size, min(steps, start.size)))
    AQ = np.zeros_like(Q)
    Q[:, 0] = start / np.linalg.norm(start)
    for j in range(Q.shape[1]):
        AQ[:, j] = apply(Q[:, j])
        z = AQ[:, j] - Q @ (Q.T @ AQ[:, j])
        z -= Q @ (Q.T @ z)  # twice is enough (Parlett 1998, 6.9)
        if j + 1 == Q.shape[1] or np.linalg.norm(z) <= 1e-12 * np.linalg.norm(AQ[:, j]):
            break  # (or an invariant subspace: its Ritz pairs are exact)
        Q[:, j + 1] = z / np.linalg.norm(z)
    Q, AQ = Q[:, :j + 1], AQ[:, :j + 1]
    values, vectors = np.linalg.eigh(Q.T @ (AQ if H is None else H @ Q))
    return Eigenpair(float(values[0]), Q @ vectors[:, 0])


def negative_curvature_by_lanczos(obj, w, M):
    """The lowest Ritz pair of H after CURVATURE_STEPS Lanczos steps on Hessian-vector products, if its value is
    below -NEGATIVE_CURVATURE max(M) (H then has negative curvature); else None."""
    lowest = _lowest_ritz_pair(lambda v: obj.hvp(w, v), _start(w.size), CURVATURE_STEPS)
    return lowest if lowest.value < -NEGATIVE_CURVATURE * M.max() else None
