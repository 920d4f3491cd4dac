"""The dense forms of a Laplace posterior's precision A = H + diag(alpha) (PRML 5.166, 5.167).

Each follows the :class:`~laplacenet.bayes.posteriors.Form` protocol that :class:`~laplacenet.LaplacePosterior`
reads: ``ln|A|``, products with A^-1, its diagonal, a square root of it for sampling and ``G A^-1 G^T`` for the
predictive (5.173). :class:`Cholesky` holds a dense A through its lower Cholesky factor ``A = L L^T`` (``ln|A| =
2 sum ln L_ii``); :class:`Diagonal` a diagonal A (``hessian='diag'``) as a vector; ``_Woodbury`` a dense A whose
inverse is kept by the Woodbury identity (C.7) once :meth:`~laplacenet.LaplacePosterior.update` has folded new
patterns in. The structured forms, never formed densely, are in :mod:`laplacenet.bayes.posteriors`.
"""
import numpy as np
from scipy.linalg import LinAlgError, cho_solve, cholesky, eigvalsh, lapack, solve_triangular

from ..core._dense import mirror_upper
from ..core.curvature.woodbury import IncrementalInverse
from .posteriors import Form, check_finite_curvature, not_positive_definite as _not_positive_definite


class Cholesky(Form):
    """A dense positive-definite precision held as its lower Cholesky factor, ``A = L L^T``.

    ``semidefinite``: whether A's data curvature is positive semi-definite at any w (the outer-product or the
    output layer's Hessian), which decides the remedies of a :class:`~laplacenet.NotPositiveDefiniteError`.
    """

    kind = "cholesky"

    def __init__(self, A, hessian, semidefinite=None, jitter=0.0):
        check_finite_curvature([A], hessian)
        try:
            self.L = cholesky(A, lower=True, check_finite=False)
        except LinAlgError:
            smallest = float(eigvalsh(A, subset_by_index=[0, 0], check_finite=False)[0])
            raise _not_positive_definite(smallest, hessian, semidefinite, jitter) from None
        self.log_det = 2.0 * float(np.sum(np.log(np.diag(self.L))))

    @property
    def dim(self):
        return self.L.shape[0]

    def covariance(self):
        # A^-1 = L^-T L^-1 from the factor (LAPACK potri: one triangle, mirrored, so exactly symmetric)
        inverse, info = lapack.dpotri(self.L, lower=1)
        _check_lapack(info, "dpotri")
        mirror_upper(inverse.T)  # the lower triangle of A^-1 onto its upper one, in place
        return inverse

    def solve(self, B):
        return cho_solve((self.L, True), B, check_finite=False)

    def variances(self):
        # diag(A^-1) = column sums of squares of L^-1: a third of the work of the whole inverse
        L_inv, info = lapack.dtrtri(self.L, lower=1)
        _check_lapack(info, "dtrtri")
        return np.einsum("ij,ij->j", L_inv, L_inv)

    def deviations(self, Z):
        # Rows of L^-T z: covariance L^-T L^-1 = A^-1.
        return solve_triangular(self.L, Z.T, lower=True, trans="T", check_finite=False).T

    def activation_covariance(self, G):
        n, K, W = G.shape
        V = solve_triangular(self.L, G.reshape(n * K, W).T, lower=True, check_finite=False)
        V = V.T.reshape(n, K, W)  # rows of L^-1 g, so (L^-1 g)^T (L^-1 g) = g^T A^-1 g
        return V @ V.transpose(0, 2, 1)

    def incremental_inverse(self, A):
        return IncrementalInverse.from_cholesky(self.L)


def _check_lapack(info, routine):
    if info != 0:
        raise LinAlgError(f"LAPACK {routine} failed (info = {info}) on the Cholesky factor of the precision")


class Diagonal(Form):
    """A diagonal precision ``A = diag(a)``."""

    kind = "diagonal"

    def __init__(self, a, hessian, jitter=0.0):
        check_finite_curvature([a], hessian)
        if not np.all(a > 0):
            raise _not_positive_definite(float(np.min(a)), hessian, jitter=jitter)
        self.a = a
        self.log_det = float(np.sum(np.log(a)))

    @property
    def dim(self):
        return self.a.size

    def covariance(self):
        return 1.0 / self.a

    def solve(self, B):
        return B / (self.a if B.ndim == 1 else self.a[:, None])

    def variances(self):
        return 1.0 / self.a

    def deviations(self, Z):
        return Z / np.sqrt(self.a)

    def activation_covariance(self, G):
        return (G / self.a) @ G.transpose(0, 2, 1)


class _Woodbury(Form):
    """A dense precision whose inverse is kept by Woodbury updates (after :meth:`LaplacePosterior.update`)."""

    kind = "woodbury"

    def __init__(self, state, A):
        self.state = state
        self.A = A
        self._cholesky = None

    @property
    def log_det(self):
        return self.state.log_det

    @property
    def dim(self):
        return self.A.shape[0]

    def covariance(self):
        return self.state._full_matrix()

    def solve(self, B):
        return self.state.inverse_times(B)

    def variances(self):
        return self.state.inverse_diagonal()

    def deviations(self, Z):
        # Sampling needs a square root: factor the precision once, on first use.
        if self._cholesky is None:
            self._cholesky = Cholesky(self.A, "outer")
        return self._cholesky.deviations(Z)

    def activation_covariance(self, G):
        n, K, W = G.shape
        U = self.state.inverse_times(G.reshape(n * K, W).T).T.reshape(n, K, W)  # rows of G A^-1, A^-1 symmetric
        return U @ G.transpose(0, 2, 1)

    def incremental_inverse(self, A):
        return self.state.copy()

    def to_state(self):
        return {"covariance": self.state.inverse}
