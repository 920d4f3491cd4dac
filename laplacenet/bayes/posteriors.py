"""Posterior precisions that are never formed as W x W matrices: Kronecker-factored and low-rank.

A Laplace posterior N(w_MAP, A^-1) (PRML 5.167) needs from its precision A: ``ln|A|`` (the evidence, 5.175),
products with ``A^-1`` and a square root of it (error bars 5.173, sampling), the diagonal of ``A^-1`` and the
number of well-determined parameters gamma (re-estimation, 5.179). Each class here is a
:class:`scipy.sparse.linalg.LinearOperator` of shape (W, W) holding A in factored form and supplying all of
these from small eigendecompositions:

* :class:`KroneckerPrecision` - per layer ``(1/N) Q_l (x) Z_l + alpha_W I`` for the weights and
  ``Q_l + alpha_b I`` for the biases (KFAC, :mod:`laplacenet.core.curvature.kron`). With ``Q_l = U diag(lam) U^T``
  and ``Z_l = V diag(mu) V^T`` the weight block is ``(U (x) V) diag(lam_i mu_j / N + alpha) (U (x) V)^T``:
  the prior goes exactly onto the eigenvalues.
* :class:`LowRankPrecision` - ``A = diag(d) + U diag(lam) U^T`` with k eigenpairs of the data Hessian,
  ``d`` the prior (plus an optional diagonal). Whitened by ``D = diag(d)`` it is
  ``D^1/2 (I + Y diag(nu) Y^T) D^1/2`` with Y (W, k) orthonormal, and every quantity follows from the k
  numbers ``nu`` (the Woodbury identity, PRML C.7, in that basis).

:class:`Form` is the small protocol every posterior form follows (the dense forms of
:mod:`laplacenet.bayes.dense_forms` too).
"""
from collections import namedtuple

import numpy as np
from scipy.linalg import eigh, qr
from scipy.sparse.linalg import LinearOperator, eigsh

from ..core._config import check_matrix_budget
from ..core._validation import check_finite_result
from ..core.curvature.last_layer import layer_jacobians
from ..core.exceptions import NotPositiveDefiniteError
from ..core.priors import alpha_per_param

__all__ = ["KroneckerPrecision", "LowRankPrecision"]

#: curvatures positive semi-definite at any w: with them A = H + diag(alpha) fails to be positive definite only
#: by rounding
SEMIDEFINITE = ("outer", "kron")
#: what to use instead of a curvature that may be indefinite
_SEMIDEFINITE_ALTERNATIVE = {"lowrank": "lowrank_hessian='outer' (positive semi-definite at any w)",
                             "diag": "hessian='outer' or 'kron' (positive semi-definite at any w)"}


def not_positive_definite(min_eigenvalue, hessian, semidefinite=None, jitter=0.0):
    """The :class:`NotPositiveDefiniteError` for a precision whose smallest eigenvalue is ``min_eigenvalue``, with
    ``jitter`` on its diagonal already.

    Its remedies fit the curvature: for one that is positive semi-definite at any w (``semidefinite``; by
    default ``hessian in SEMIDEFINITE``) the negative eigenvalue is rounding, and only a larger alpha or a
    jitter helps; otherwise w_map may not be a minimum, and a positive semi-definite curvature is advised. The
    jitter it advises is the total to pass, rounded up to three digits: the one given plus the eigenvalue's
    shortfall (the advice after ``jitter=2`` was the shortfall alone, and passing it failed again).
    """
    semidefinite = hessian in SEMIDEFINITE if semidefinite is None else semidefinite
    needed = _round_up(float(jitter) + max(-min_eigenvalue, 0.0))
    jitter = f"pass an explicit jitter larger than {needed:.3g} to add to the diagonal"
    if semidefinite:
        cause = (": rounding error, as the data curvature is positive semi-definite at any w (hessian='outer', "
                 "'kron', lowrank_hessian='outer' or subset='last_layer') and alpha is too small next to it")
        remedies = f"use a larger alpha, or {jitter}"
    else:
        cause = ", so w_map is not a minimum of E"
        alternative = _SEMIDEFINITE_ALTERNATIVE.get(hessian, "hessian='outer' (positive semi-definite at any w)")
        remedies = f"train further (laplacenet.train with a smaller gtol), use {alternative}, or {jitter}"
    return NotPositiveDefiniteError(
        f"the posterior precision A = H + diag(alpha) from hessian={hessian!r} is not positive definite: its "
        f"smallest eigenvalue is {min_eigenvalue:.6g}{cause}. Remedies: {remedies}.", min_eigenvalue)


def _round_up(value, digits=3):
    """``value`` rounded up to ``digits`` significant digits (a jitter printed so is enough)."""
    if not np.isfinite(value) or value <= 0.0:
        return value
    unit = 10.0 ** (np.floor(np.log10(value)) - digits + 1)
    return float(np.ceil(value / unit) * unit)


def check_finite_curvature(values, hessian):
    """A :class:`~laplacenet.NonFiniteError` unless every array of ``values`` is finite: checked where a posterior
    precision is built, before it is factorised (O(size), next to the factorisation's cost)."""
    for value in values:
        check_finite_result(value, f"the posterior precision from hessian={hessian!r}")


class Form:
    """What a Laplace posterior needs from its precision A over ``dim`` parameters.

    ``log_det``; ``covariance()``; ``solve(B (dim,) or (dim, m))`` -> ``A^-1 B``; ``deviations(Z (n, dim))`` ->
    rows of ``S z`` with ``S S^T = A^-1``;
    ``activation_covariance(G (n, K, dim))`` -> ``G A^-1 G^T``; ``linearised_covariance(inputs, deltas)``, the
    same from the factors of G (see :func:`layer_jacobians`); ``variances()`` -> diag(A^-1); and
    ``jacobian_width``, the columns of G it builds per output (to size chunks of test points). ``kind`` names the
    form and ``to_state()`` gives the arrays it is rebuilt from beyond the posterior's own
    (:meth:`laplacenet.LaplacePosterior.to_state`).
    """

    #: the name of the form in a posterior's state; None for a form that has no state
    kind = None

    def to_state(self):
        return {}

    @property
    def jacobian_width(self):
        return self.dim

    def linearised_covariance(self, inputs, deltas):
        return self.activation_covariance(layer_jacobians(inputs, deltas))


class _FactoredPrecision(LinearOperator, Form):
    """A symmetric positive-definite A held in factored form; subclasses define ``_power(X, p)`` = A^p X."""

    def _matmat(self, X):
        return self._power(np.asarray(X, dtype=float), 1.0)

    def _matvec(self, x):
        return self._matmat(np.reshape(x, (-1, 1)))[:, 0]

    def _adjoint(self):
        return self

    @property
    def dim(self):
        return self.shape[0]

    def solve(self, B):
        """``A^-1 B`` for B (W,) or (W, m)."""
        B = np.asarray(B, dtype=float)
        return self._power(B.reshape(self.shape[0], -1), -1.0).reshape(B.shape)

    def covariance(self):
        """``A^-1`` as a LinearOperator (W, W); its diagonal is :meth:`variances`."""
        return LinearOperator(self.shape, matvec=self.solve, rmatvec=self.solve, matmat=self.solve,
                              rmatmat=self.solve, dtype=np.float64)

    def deviations(self, Z):
        # Rows of A^-1/2 z: covariance A^-1/2 A^-1/2 = A^-1.
        return self._power(Z.T, -0.5).T

    def to_dense(self, max_bytes=None):
        """A as a dense (W, W) array (for checks on small networks; subject to the matrix budget)."""
        check_matrix_budget(self.shape[0], "the structured precision", max_bytes)
        return self._power(np.eye(self.shape[0]), 1.0)


def _factor_eigen(F):
    """Eigenvalues (clipped at 0: the factors are Gram matrices) and eigenvectors of a Kronecker factor."""
    lam, U = eigh(F, check_finite=False)
    return np.maximum(lam, 0.0), U


#: One layer of a :class:`KroneckerPrecision`: its weight and bias slices, the eigenvectors U, V of Q and Z, the
#: eigenvalues mu of Z, the data eigenvalues (+ jitter) of the weight block (d_l, d_{l-1}) and of the bias
#: block (d_l,), and the same with the prior added, Dw and Db: the eigenvalues of A's two blocks.
_KronBlock = namedtuple("_KronBlock", "ws bs U V mu curvature_w curvature_b Dw Db")


def _sandwich(L, X, R):
    """``L @ X[m] @ R`` for every m of X (m, a, b), as two large matrix products."""
    m, a, b = X.shape
    Y = (X.reshape(m * a, b) @ R).reshape(m, a, -1)
    return (L @ Y.transpose(1, 0, 2).reshape(a, -1)).reshape(L.shape[0], m, -1).transpose(1, 0, 2)


class KroneckerPrecision(_FactoredPrecision):
    """The Kronecker-factored precision (KFAC): per layer ``(1/N) Q_l (x) Z_l + alpha_W I`` and ``Q_l + alpha_b I``.

    Built by :func:`laplacenet.laplace` with ``hessian='kron'``; it is that posterior's ``precision``.

    Attributes
    ----------
    output_factors : list of (d_l, d_l) arrays
        ``Q_l = sum_n B_n^T Lambda_n B_n``.
    input_factors : list of (d_{l-1}, d_{l-1}) arrays
        ``Z_l = sum_n z_{l-1,n} z_{l-1,n}^T``.
    n_data : int
        N of the weight blocks' 1/N.
    alpha : (n_groups,) array
        The prior precision of every weight and bias group.
    jitter : float
        Added to every eigenvalue (as data curvature).
    log_det : float
        ``ln|A| = sum_l sum_ij ln(lam_i mu_j / N + alpha_W) + sum_i ln(lam_i + alpha_b)``.
    """

    kind = "kron"

    def __init__(self, net, factors, alpha, jitter=0.0):
        super().__init__(np.float64, (net.n_params, net.n_params))
        self.output_factors, self.input_factors, self.n_data = factors
        check_finite_curvature([*self.output_factors, *self.input_factors], "kron")
        self.alpha = np.broadcast_to(np.asarray(alpha, dtype=float), (net.n_groups,)).copy()
        self.jitter = float(jitter)
        self._blocks = []
        for l, ((ws, bs), Q, Z) in enumerate(zip(net.layer_slices, self.output_factors, self.input_factors)):
            lam, U = _factor_eigen(Q)
            mu, V = _factor_eigen(Z)
            curvature_w = np.outer(lam, mu) / self.n_data + self.jitter  # eigenvalues of (1/N) Q (x) Z
            curvature_b = lam + self.jitter
            check_finite_curvature([curvature_w], "kron")
            self._blocks.append(_KronBlock(ws, bs, U, V, mu, curvature_w, curvature_b,
                                           curvature_w + self.alpha[2 * l], curvature_b + self.alpha[2 * l + 1]))
        self.log_det = float(sum(np.sum(np.log(b.Dw)) + np.sum(np.log(b.Db)) for b in self._blocks))

    def to_state(self):
        """``kron_n_data`` and the factors ``kron_output_factor_<l>``, ``kron_input_factor_<l>`` of every layer l."""
        state = {"kron_n_data": int(self.n_data)}
        for l, (Q, Z) in enumerate(zip(self.output_factors, self.input_factors)):
            state[f"kron_output_factor_{l}"], state[f"kron_input_factor_{l}"] = Q, Z
        return state

    @classmethod
    def from_state(cls, net, state, alpha, jitter=0.0):
        """The precision :meth:`to_state` describes, rebuilt from the same factors (the same bits)."""
        layers = range(net.n_layers)
        return cls(net, ([state[f"kron_output_factor_{l}"] for l in layers],
                         [state[f"kron_input_factor_{l}"] for l in layers], state["kron_n_data"]), alpha, jitter)

    def _power(self, X, p):
        out = np.empty_like(X)
        m = X.shape[1]
        for b in self._blocks:
            U, V, (d_out, d_in) = b.U, b.V, b.Dw.shape
            C = _sandwich(U.T, X[b.ws].T.reshape(m, d_out, d_in), V) * b.Dw ** p
            out[b.ws] = _sandwich(U, C, V.T).reshape(m, -1).T
            out[b.bs] = U @ ((U.T @ X[b.bs]) * (b.Db ** p)[:, None])
        return out

    def activation_covariance(self, G):
        """``G A^-1 G^T`` ``(n, K, K)`` for output Jacobians ``G`` ``(n, K, W)``, block by block."""
        n, K, _ = G.shape
        parts = []
        for b in self._blocks:
            d_out, d_in = b.Dw.shape
            C = _sandwich(b.U.T, G[:, :, b.ws].reshape(n * K, d_out, d_in), b.V) / np.sqrt(b.Dw)
            parts += [C.reshape(n, K, -1), (G[:, :, b.bs] @ b.U) / np.sqrt(b.Db)]
        F = np.concatenate(parts, axis=2)
        return F @ F.transpose(0, 2, 1)

    @property
    def jacobian_width(self):
        return 0

    def linearised_covariance(self, inputs, deltas):
        """``G A^-1 G^T`` from the factors of G (:func:`layer_jacobians`), never assembling it."""
        # g_k = delta_k (x) z, so (U (x) V)^T g_k = (U^T delta_k) (x) (V^T z): a (K, d_l) and a (d_{l-1},) factor.
        n, K = deltas[0].shape[:2]
        cov = np.zeros((n, K, K))
        for b, z, d in zip(self._blocks, inputs, deltas):
            c = d @ b.U
            weight = ((z @ b.V) ** 2) @ (1.0 / b.Dw).T  # (n, d_l): sum_j (V^T z)_j^2 / D_ij
            cov += (c * (weight + 1.0 / b.Db)[:, None, :]) @ c.transpose(0, 2, 1)
        return cov

    def variances(self):
        """diag(A^-1) ``(W,)``, block by block."""
        out = np.empty(self.shape[0])
        for b in self._blocks:
            U2, V2 = b.U ** 2, b.V ** 2
            out[b.ws] = (U2 @ (1.0 / b.Dw) @ V2.T).ravel()
            out[b.bs] = U2 @ (1.0 / b.Db)
        return out

    def gamma_groups(self, group_index, n_groups):
        """``(n_groups,)``: ``gamma_g = sum lambda / (lambda + alpha_g)`` over each block's eigenvalues (5.179)."""
        gamma = np.zeros(n_groups)
        for l, b in enumerate(self._blocks):
            gamma[2 * l] = np.sum(b.curvature_w / b.Dw)
            gamma[2 * l + 1] = np.sum(b.curvature_b / b.Db)
        return gamma

    def trace_products(self, pieces):
        """``(K,)``: ``tr(A^-1 H_k)`` with ``H_k`` the Kronecker curvature of output k at unit noise precision.

        ``pieces`` holds per-output factors (K, d_l, d_l) (see
        :func:`laplacenet.core.curvature.kron.data_kron_factors`);
        in the eigenbases, ``tr = sum_ij (U^T Q_k U)_ii mu_j / (N D_ij) + sum_i (U^T Q_k U)_ii / D_b,i``.
        """
        total = 0.0
        for b, Q_k in zip(self._blocks, pieces.output_factors):
            q = np.einsum("ai,kab,bi->ki", b.U, Q_k, b.U, optimize=True)  # (K, d_l)
            total = total + q @ ((1.0 / b.Dw) @ b.mu / self.n_data + 1.0 / b.Db)
        return total


class LowRankPrecision(_FactoredPrecision):
    """A low-rank-plus-diagonal precision ``A = diag(d) + U diag(lam) U^T``.

    Built by :func:`laplacenet.laplace` with ``hessian='lowrank'``; it is that posterior's ``precision``.

    Attributes
    ----------
    eigenvalues : (k,) array
        The top k eigenvalues of the data Hessian, in decreasing order.
    eigenvectors : (W, k) array
        Their orthonormal eigenvectors U.
    diagonal : (W,) array
        ``d``: the prior precision of every parameter, plus the jitter, plus the diagonal correction of
        ``lowrank_diag=True`` (else nothing).
    correction : (W,) array
        That diagonal correction (zeros without ``lowrank_diag``).
    rank : int
    log_det : float
        ``sum_i ln d_i + sum_j ln(1 + nu_j)``.
    """

    kind = "lowrank"

    def __init__(self, net, curvature, alpha, jitter=0.0, hessian="lowrank", semidefinite=False):
        super().__init__(np.float64, (net.n_params, net.n_params))
        self.eigenvalues, self.eigenvectors, correction = curvature
        check_finite_curvature([c for c in curvature if c is not None], hessian)
        self.correction = np.zeros(net.n_params) if correction is None else correction
        self.rank = self.eigenvalues.size
        self.jitter = float(jitter)
        self._prior = alpha_per_param(net, alpha)
        self.diagonal = self._prior + self.correction + self.jitter
        self._s = 1.0 / np.sqrt(self.diagonal)
        P, R = qr(self._s[:, None] * self.eigenvectors, mode="economic", check_finite=False)
        self._nu, E = eigh((R * self.eigenvalues) @ R.T, check_finite=False)  # D^-1/2 U lam U^T D^-1/2 = P (.) P^T
        if not np.all(1.0 + self._nu > 0):
            raise not_positive_definite(self._smallest_eigenvalue(), hessian, semidefinite, self.jitter)
        self._Y = P @ E
        self.log_det = float(np.sum(np.log(self.diagonal)) + np.sum(np.log1p(self._nu)))

    def to_state(self):
        """The eigenpairs and the diagonal correction: ``lowrank_eigenvalues``, ``lowrank_eigenvectors``,
        ``lowrank_correction``."""
        return {"lowrank_eigenvalues": self.eigenvalues, "lowrank_eigenvectors": self.eigenvectors,
                "lowrank_correction": self.correction}

    @classmethod
    def from_state(cls, net, state, alpha, jitter=0.0, hessian="lowrank"):
        """The precision :meth:`to_state` describes, rebuilt from the same eigenpairs (the same bits)."""
        curvature = (state["lowrank_eigenvalues"], state["lowrank_eigenvectors"], state["lowrank_correction"])
        return cls(net, curvature, alpha, jitter, hessian)

    def _smallest_eigenvalue(self):
        if self.shape[0] <= 2:
            return float(np.linalg.eigvalsh(np.diag(self.diagonal) + (self.eigenvectors * self.eigenvalues)
                                            @ self.eigenvectors.T)[0])
        v0 = np.random.default_rng(0).standard_normal(self.shape[0])
        op = LinearOperator(self.shape, matvec=lambda x: self.diagonal * x + self.eigenvectors
                            @ (self.eigenvalues * (self.eigenvectors.T @ x)), dtype=np.float64)
        return float(eigsh(op, k=1, which="SA", v0=v0, return_eigenvectors=False)[0])

    def _shrink(self, p):
        """``(1 + nu)^p - 1``: ``M^p = I + Y diag((1 + nu)^p - 1) Y^T`` for ``M = I + Y diag(nu) Y^T``."""
        return np.expm1(p * np.log1p(self._nu))

    def _power(self, X, p):
        if p == 1.0:
            U = self.eigenvectors
            return self.diagonal[:, None] * X + U @ (self.eigenvalues[:, None] * (U.T @ X))
        s = self._s[:, None]
        # A^-1 = D^-1/2 M^-1 D^-1/2 and A^-1/2 := D^-1/2 M^-1/2 (a square root: S S^T = A^-1).
        Xs = s * X if p == -1.0 else X
        return s * (Xs + self._Y @ (self._shrink(p)[:, None] * (self._Y.T @ Xs)))

    def activation_covariance(self, G):
        """``G A^-1 G^T`` ``(n, K, K)`` for output Jacobians ``G`` ``(n, K, W)``, by the Woodbury form."""
        Gs = G * self._s
        P = Gs @ self._Y
        return Gs @ Gs.transpose(0, 2, 1) + (P * self._shrink(-1.0)) @ P.transpose(0, 2, 1)  # Woodbury (C.7)

    def variances(self):
        """diag(A^-1) ``(W,)``, by the Woodbury form."""
        return self._s ** 2 * (1.0 + (self._Y ** 2) @ self._shrink(-1.0))

    def gamma_groups(self, group_index, n_groups):
        """``(n_groups,)``: ``gamma_g = W_g - alpha_g tr_g(A^-1)``, term by term without cancellation.

        ``1 - alpha_i (A^-1)_ii = (d_i - alpha_i) / d_i + alpha_i / d_i sum_j Y_ij^2 nu_j / (1 + nu_j)``; with a
        scalar alpha and no diagonal it sums to ``sum_j lambda_j / (alpha + lambda_j)`` over the k eigenvalues.
        """
        captured = (self._Y ** 2) @ (-self._shrink(-1.0))
        per_param = (self.diagonal - self._prior + self._prior * captured) / self.diagonal
        return np.bincount(group_index, weights=per_param, minlength=n_groups)
