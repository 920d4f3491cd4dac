"""The top eigenpairs of the data Hessian by Lanczos on the matrix-free product (PRML 5.4.6).

``H ~ U diag(lam) U^T`` with the k largest eigenvalues of the outer-product (Gauss-Newton, 5.84) or the
exact (5.92-5.95) data Hessian. ``scipy.sparse.linalg.eigsh`` (ARPACK's implicitly restarted Lanczos) needs
only products ``H v``, which the R-operator gives at the cost of a few gradients
(:mod:`laplacenet.core.curvature.rop`), so no W x W matrix is formed. Optionally the diagonal of H that the
k eigenpairs miss is kept too (a low-rank-plus-diagonal approximation).
"""
from collections import namedtuple

import numpy as np
from scipy.linalg import eigh, qr
from scipy.sparse.linalg import ArpackError, ArpackNoConvergence, LinearOperator, eigsh

from .._config import check_array_budget, check_matrix_budget
from .._validation import check_finite_result
from .diagonal import DIAGONALS
from .exact import exact_data_hessian
from .outer import outer_data_hessian
from .rop import PRODUCTS

__all__ = ["top_eigenpairs"]

#: ``eigenvalues`` (k,) decreasing, ``eigenvectors`` (W, k) orthonormal, ``diagonal`` (W,) or None.
LowRankCurvature = namedtuple("LowRankCurvature", "eigenvalues eigenvectors diagonal")

_HESSIANS = {"outer": outer_data_hessian, "exact": exact_data_hessian}
LOWRANK_KINDS = ("outer", "exact")
#: what to do when the eigenpairs of ``rank`` would not fit the matrix budget
_RANK_REMEDY = ("use a smaller rank (the top k eigenpairs keep a W x (2k + 1) Lanczos basis, and 2k + 1 >= W "
                "the whole Hessian), or raise the budget with laplacenet.set_matrix_budget")


def top_eigenpairs(net, w, X, T, beta, rank, kind="outer", chunk_size=None):
    """The ``rank`` largest (algebraic) eigenvalues of the data Hessian and their eigenvectors.

    Lanczos (``eigsh``, ``which='LA'``, to machine precision, from a fixed start vector) on the matrix-free
    product; when ``2 rank + 1 >= W`` the Lanczos basis would span the whole space anyway, so the dense
    Hessian is eigendecomposed instead (subject to the matrix budget).

    Returns
    -------
    eigenvalues : (rank,) decreasing
    eigenvectors : (W, rank)
    """
    W = net.n_params
    rng = np.random.default_rng(0)
    if 2 * rank + 1 >= W:
        check_matrix_budget(W, f"the {kind} data Hessian (rank={rank} with 2 rank + 1 >= W = {W}: the whole "
                               f"spectrum)", remedy=_RANK_REMEDY)
        H = check_finite_result(_HESSIANS[kind](net, w, X, T, beta, chunk_size),
                                f"the {kind} Hessian of the data error")
        lam, U = eigh(H, subset_by_index=[W - rank, W - 1], check_finite=False)
    else:
        ncv = min(W, max(2 * rank + 1, 20))  # eigsh's Lanczos basis, (W, ncv)
        check_array_budget((W, ncv), f"the Lanczos basis of rank={rank}", remedy=_RANK_REMEDY)
        product = PRODUCTS[kind]

        def matmat(V):
            return product(net, w, X, T, np.asarray(V, dtype=float), beta, chunk_size)

        op = LinearOperator((W, W), matvec=lambda v: matmat(np.reshape(v, (-1, 1)))[:, 0], matmat=matmat,
                            dtype=np.float64)
        v0 = rng.standard_normal(W)
        try:
            lam, U = eigsh(op, k=rank, which="LA", tol=0, v0=v0, ncv=ncv)
        except ArpackNoConvergence as ex:
            raise ValueError(
                f"the top rank={rank} eigenpairs of the {kind} data Hessian did not converge (ARPACK found "
                f"{len(ex.eigenvalues)} of {rank}): its eigenvalues cluster where the rank cuts them (repeated "
                f"eigenvalues, as pruned hidden units give, which Lanczos cannot resolve)"
                f"{'; use lowrank_hessian=' + repr('outer') + ' or' if kind == 'exact' else '; use'} another "
                f"rank") from None
        except ArpackError:
            if np.any(op.matvec(v0)):
                raise
            # H v0 = 0 for a random v0, so H = 0 (saturated outputs, say), which ARPACK cannot start from
            lam, U = np.zeros(rank), qr(rng.standard_normal((W, rank)), mode="economic")[0]
    order = np.argsort(lam)[::-1]
    return lam[order], U[:, order]


def lowrank_curvature(net, w, X, T, beta, rank, kind="outer", with_diagonal=False, chunk_size=None):
    """:class:`LowRankCurvature` of the data Hessian, on validated arrays.

    With ``with_diagonal`` the diagonal the k eigenpairs leave out is added back,
    ``max(diag(H) - sum_j lam_j U_ij^2, 0)`` (diag(H) exact, by :mod:`laplacenet.core.curvature.diagonal`), so
    that the approximation has H's diagonal wherever that residual is not negative.
    """
    lam, U = top_eigenpairs(net, w, X, T, beta, rank, kind, chunk_size)
    diagonal = None
    if with_diagonal:
        residual = DIAGONALS[kind](net, w, X, T, beta, chunk_size) - (U ** 2) @ lam
        diagonal = np.maximum(residual, 0.0)
    return LowRankCurvature(lam, U, diagonal)
