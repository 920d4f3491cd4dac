"""The inverse Hessian built up one block of rows at a time (PRML 5.86-5.89, Woodbury C.7).

Folding rows ``B`` (k, W) into a symmetric positive-definite ``A`` changes it to ``A + B^T B``; the
Woodbury identity (C.7) updates the inverse in O(W^2 k) and the determinant lemma (C.14) its
log-determinant, without ever inverting a W x W matrix. For the outer-product Hessian the rows are
those of ``S_n J_n`` (``S_n^T S_n = Lambda_n``), starting from the prior ``diag(alpha)``.

Only the upper triangle of the stored inverse is updated (BLAS ``dsymv``/``dsyr`` for one row,
``dsymm``/``dsyrk`` for a block); the full matrix is mirrored from it on request, so it is exactly
symmetric and the mirroring is paid once, not per update.
"""
import numpy as np
from scipy.linalg import blas, lapack, solve_triangular

from .._chunks import iter_chunks
from .._config import check_matrix_budget, check_max_bytes
from .._dense import mirror_upper
from .._validation import (SCALE_REMEDY, check_finite_number, check_finite_rows, check_positive_int,
                           check_symmetric_matrix, refuse_complex, rows_array)
from ..exceptions import NonFiniteError
from ..priors import alpha_per_param
from .jacobian import scaled_jacobians
from .outer import jacobian_chunk_rows

__all__ = ["IncrementalInverse"]

#: smallest squared Cholesky pivot of I -+ B A^-1 B^T (whose eigenvalues are near 1 in scale) accepted
PIVOT_FLOOR = 64 * np.finfo(float).eps


class IncrementalInverse:
    """The inverse of a symmetric positive-definite ``A`` (W, W) and ``ln|A|``, updated by Woodbury.

    Parameters
    ----------
    inverse : (W, W) array
        ``A^-1``: symmetric to a relative 1e-8 of its largest entry, finite and positive definite (checked by a
        Cholesky factorisation, O(W^3) once); it is copied and symmetrised.
    log_det : float, optional
        ``ln|A|`` of the matrix itself (not of its inverse); computed from that factorisation when omitted.
    max_bytes : int, optional
        Largest dense matrix allowed; default :func:`laplacenet.get_matrix_budget`. The state is one W x W
        matrix (the upper triangle of A^-1); :attr:`inverse` forms a second.

    Attributes
    ----------
    n_updates : int
        Rows folded in by :meth:`update` since construction.
    n_downdates : int
        Rows removed by :meth:`downdate` since construction.

    Notes
    -----
    Each row costs O(W^2) work, in BLAS. Rounding error grows with the number of rows folded in; see
    ``docs/woodbury.md`` for measurements.
    """

    def __init__(self, inverse, log_det=None, *, max_bytes=None):
        P = check_symmetric_matrix(inverse, "inverse", max_bytes)
        chol, info = lapack.dpotrf(P, lower=0)
        if info != 0:
            raise ValueError("inverse must be positive definite; its Cholesky factorisation failed "
                             f"(LAPACK dpotrf info={info})")
        if log_det is None:
            log_det = -2.0 * float(np.sum(np.log(np.diag(chol))))  # ln|A| = -ln|A^-1|
        self._set_state(P, check_finite_number(log_det, "log_det"))

    @classmethod
    def from_prior(cls, alpha, n_params, *, max_bytes=None):
        """Start from the prior precision ``A_0 = diag(alpha)`` (PRML 5.89 with ``H_0 = alpha I``).

        Parameters
        ----------
        alpha : float or (W,) array
            Precision of every parameter (see :func:`laplacenet.core.priors.alpha_per_param`); all > 0.
        n_params : int
            W.
        max_bytes : int, optional
            Largest dense matrix allowed; default :func:`laplacenet.get_matrix_budget`.
        """
        n_params = check_positive_int(n_params, "n_params")
        refuse_complex(alpha, "alpha")
        try:
            a = np.asarray(alpha, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"alpha must be a positive number or {n_params} of them; got {alpha!r}") from None
        if a.shape not in ((), (n_params,)):
            raise ValueError(f"alpha must be a scalar or a vector of length n_params={n_params}; "
                             f"got shape {a.shape}")
        if not (np.all(np.isfinite(a)) and np.all(a > 0)):
            raise ValueError(f"alpha must be positive and finite; got {alpha!r}")
        a = np.broadcast_to(a, (n_params,))
        check_matrix_budget(n_params, "the inverse prior precision", check_max_bytes(max_bytes))
        inverse = np.zeros((n_params, n_params), order="F")
        inverse[np.diag_indices(n_params)] = 1.0 / a
        self = cls.__new__(cls)
        self._set_state(inverse, float(np.sum(np.log(a))))
        return self

    @classmethod
    def from_matrix(cls, A, *, max_bytes=None):
        """Start from a symmetric positive-definite ``A`` (W, W), inverted through its Cholesky factor.

        One W x W matrix is formed (a symmetrised copy of A, factored and inverted in place), subject to
        ``max_bytes`` (default :func:`laplacenet.get_matrix_budget`).
        """
        A = check_symmetric_matrix(A, "A", max_bytes)
        chol, info = lapack.dpotrf(A, lower=0, overwrite_a=1)
        if info != 0:
            raise ValueError(f"A must be positive definite; its Cholesky factorisation failed (LAPACK dpotrf "
                             f"info={info})")
        log_det = 2.0 * float(np.sum(np.log(np.diag(chol))))
        upper, info = lapack.dpotri(chol, lower=0, overwrite_c=1)  # upper triangle of A^-1
        self = cls.__new__(cls)
        self._set_state(upper, log_det)
        return self

    @classmethod
    def from_cholesky(cls, L):
        """Start from the lower Cholesky factor ``L`` (W, W) of a positive-definite ``A = L L^T``.

        ``A^-1`` is formed from the factor (LAPACK ``dpotri``, one W x W matrix) without factoring A again.
        """
        upper, info = lapack.dpotri(L.T, lower=0)  # L^T is the upper factor of A; one F-ordered copy
        if info != 0:
            raise ValueError(f"L must be a nonsingular Cholesky factor; LAPACK dpotri failed (info={info})")
        self = cls.__new__(cls)
        self._set_state(upper, 2.0 * float(np.sum(np.log(np.diag(L)))))
        return self

    def _set_state(self, upper, log_det, n_updates=0, n_downdates=0):
        self._upper = upper  # F-ordered (W, W); only its upper triangle is meaningful
        self._log_det = log_det
        self._full = None
        self.n_updates = n_updates
        self.n_downdates = n_downdates

    # --- read access ---------------------------------------------------------------------------------
    @property
    def n_params(self):
        """W, the order of the matrix."""
        return self._upper.shape[0]

    @property
    def log_det(self):
        """``ln|A|``, the log-determinant of the matrix (not of its inverse)."""
        return self._log_det

    @property
    def inverse(self):
        """``A^-1`` (W, W): read-only, exactly symmetric; a fresh array after every change."""
        if self._full is None:
            self._full = self._full_matrix()
            self._full.flags.writeable = False
        return self._full

    def _full_matrix(self):
        return mirror_upper(np.array(self._upper, order="F"))

    def inverse_diagonal(self):
        """``(W,)``: the diagonal of ``A^-1`` (without forming the full matrix)."""
        return np.diag(self._upper).copy()

    def inverse_times(self, B):
        """``A^-1 B`` for ``B`` (W,) or (W, m), from the stored triangle (BLAS ``dsymm``; no full inverse formed)."""
        W = self.n_params
        B = rows_array(B, f"({W},) or ({W}, m)")
        if B.ndim not in (1, 2) or B.shape[0] != W:
            raise ValueError(f"B must have shape ({W},) or ({W}, m) (W = n_params); got shape {B.shape}")
        check_finite_rows(B)
        product = blas.dsymm(1.0, self._upper, B.reshape(W, -1), side=0, lower=0)
        return product[:, 0] if B.ndim == 1 else product

    def copy(self):
        """An independent copy (to update one and keep the other)."""
        other = type(self).__new__(type(self))
        other._set_state(self._upper.copy(order="F"), self._log_det, self.n_updates, self.n_downdates)
        return other

    def __repr__(self):
        return (f"IncrementalInverse(n_params={self.n_params}, log_det={self._log_det:.6g}, "
                f"n_updates={self.n_updates}, n_downdates={self.n_downdates})")

    # --- changes -------------------------------------------------------------------------------------
    def update(self, B):
        """Fold in rows: ``A <- A + B^T B`` (PRML 5.87, 5.89; C.7 for k > 1); returns ``self``.

        Parameters
        ----------
        B : (k, W) or (W,) array
            New rows, e.g. ``S_n J_n`` of new patterns. O(W^2 k).
        """
        return self._fold(self._check_rows(B), 1.0)

    def downdate(self, B):
        """Remove rows: ``A <- A - B^T B``; returns ``self``.

        Raises ``ValueError`` (leaving the state unchanged) when the result would not be positive definite,
        i.e. when ``I - B A^-1 B^T`` is not (numerically) positive definite: its squared Cholesky pivots
        must exceed ``PIVOT_FLOOR``.

        Parameters
        ----------
        B : (k, W) or (W,) array
            Rows previously folded in (or any rows whose removal keeps A positive definite).
        """
        return self._fold(self._check_rows(B), -1.0)

    def _check_rows(self, B):
        W = self.n_params
        B = rows_array(B, f"(k, {W}) or ({W},)")
        if B.ndim == 1:
            B = B[None, :]
        if B.ndim != 2 or B.shape[1] != W:
            raise ValueError(f"B must have shape (k, {W}) or ({W},) (W = n_params); got shape {np.shape(B)}")
        check_finite_rows(B)
        return np.ascontiguousarray(B)

    def _fold(self, B, sign):
        """``A <- A + sign B^T B`` on validated rows ``B`` (k, W), updating the upper triangle in place."""
        k = B.shape[0]
        if k == 0:
            return self
        P = self._upper
        if k == 1:
            b = B[0]
            c = blas.dsymv(1.0, P, b, lower=0)                  # A^-1 b
            s = 1.0 + sign * float(b @ c)                       # 1 + b^T A^-1 b, PRML (5.89); |A'| = s|A| (C.15)
            _check_finite_fold(c, s)
            self._check_pivots(np.array([s]), sign)
            P = blas.dsyr(-sign / s, c, a=P, lower=0, overwrite_a=1)  # PRML (5.88), (5.89)
            log_det_change = np.log(s)
        else:
            C = blas.dsymm(1.0, P, B.T, side=0, lower=0)       # A^-1 B^T, (W, k)
            S = B @ C
            S *= sign
            S[np.diag_indices(k)] += 1.0                        # I +- B A^-1 B^T (k, k)
            _check_finite_fold(C, S)
            L, info = lapack.dpotrf(S, lower=1)
            pivots = np.diag(L) ** 2 if info == 0 else np.array([-np.inf])
            self._check_pivots(pivots, sign)
            G = solve_triangular(L, C.T, lower=True, check_finite=False).T   # C L^-T, so G G^T = C S^-1 C^T
            P = blas.dsyrk(-sign, G, beta=1.0, c=P, lower=0, overwrite_c=1)  # Woodbury (C.7)
            log_det_change = float(np.sum(np.log(pivots)))      # |A'| = |S| |A| (C.14)
        self._upper = P
        self._log_det += float(log_det_change)
        self._full = None
        if sign > 0:
            self.n_updates += k
        else:
            self.n_downdates += k
        return self

    @staticmethod
    def _check_pivots(pivots, sign):
        if np.all(pivots > PIVOT_FLOOR):
            return
        worst = float(np.min(pivots))
        if sign < 0:
            raise ValueError(f"B cannot be removed: A - B^T B would not be positive definite (I - B A^-1 B^T "
                             f"has a squared Cholesky pivot of {worst:.3g}; it must exceed {PIVOT_FLOOR:.3g})")
        raise ValueError(f"the stored inverse is no longer positive definite (I + B A^-1 B^T has a squared "
                         f"Cholesky pivot of {worst:.3g}); rebuild it with IncrementalInverse.from_matrix")


def fold_in_outer_data(state, net, w, X, T, beta, block_size=1, chunk_size=None):
    """Fold the outer-product Hessian of the data into ``state`` on validated arrays; returns ``state``.

    Pattern n contributes the R rows of ``S_n J_n`` (``S_n^T S_n = Lambda_n``, PRML 5.84, 5.85), so
    that the rows of a block of ``block_size`` patterns are folded in together (``block_size * R`` rows,
    C.7). With ``block_size=1`` and one output this is PRML (5.89) pattern by pattern. The data are
    taken ``chunk_size`` patterns at a time (rounded up to whole blocks) so only one chunk of Jacobians
    is held; a dask ``X`` is computed a partition at a time. The sequence of updates is inherently serial: each
    step is O(W^2 block_size R) in BLAS.
    """
    W = net.n_params
    layers = net.unpack(w)
    rows = jacobian_chunk_rows(net, chunk_size)
    rows = -(-rows // block_size) * block_size
    for Xc in iter_chunks(X, rows):
        SJ = scaled_jacobians(net, layers, Xc, beta)    # (n, R, W)
        for start in range(0, SJ.shape[0], block_size):
            state._fold(SJ[start:start + block_size].reshape(-1, W), 1.0)
    return state


def inverse_outer_data(net, w, X, T, alpha, beta, block_size=1, chunk_size=None, *, max_bytes=None,
                       return_state=False):
    """``(H_outer + diag(alpha))^-1`` (W, W), or its :class:`IncrementalInverse`, on validated arrays.

    Starts from the prior ``diag(alpha)`` and folds in the data (PRML 5.86-5.89, C.7); see
    :func:`laplacenet.inverse_outer_hessian`.
    """
    check_matrix_budget(net.n_params, "the inverse outer-product Hessian", max_bytes)
    state = IncrementalInverse.from_prior(alpha_per_param(net, alpha), net.n_params, max_bytes=max_bytes)
    fold_in_outer_data(state, net, w, X, T, beta, block_size, chunk_size)
    return state if return_state else state._full_matrix()


def _check_finite_fold(C, S):
    """A NonFiniteError when ``A^-1 B^T`` or ``I +- B A^-1 B^T`` of a fold has overflowed (before any change)."""
    if not (np.all(np.isfinite(C)) and np.all(np.isfinite(S))):
        raise NonFiniteError(f"folding rows into the inverse overflowed float64 (A^-1 B^T or I + B A^-1 B^T "
                             f"is not finite): the rows are too large for this matrix. {SCALE_REMEDY}")
