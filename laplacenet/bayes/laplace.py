"""The Laplace approximation to the posterior over the weights (PRML 5.7.1).

q(w | D) = N(w | w_MAP, A^-1) with the precision A = H + diag(alpha) (5.166, 5.167), H the Hessian of the
data error at w_MAP by one of the curvature routes of PRML 5.4. A dense A is held through its Cholesky
factor ``A = L L^T``: every product with A^-1 is a triangular solve, and the log-determinant is
``2 sum ln L_ii``. A diagonal A (``hessian='diag'``) is a vector. A posterior that has taken in new data
through :meth:`LaplacePosterior.update` holds A^-1 itself, kept by the Woodbury identity (C.7).

For networks whose W x W matrix does not fit, A is held in a structure that is never formed densely
(:mod:`laplacenet.bayes.posteriors`): Kronecker factors per layer (``hessian='kron'``), the top eigenpairs of the
data Hessian (``hessian='lowrank'``), or a dense A over the output layer alone (``subset='last_layer'``).
The dense forms (Cholesky, diagonal, Woodbury) are in :mod:`laplacenet.bayes.dense_forms`.
"""
import numpy as np
from scipy.linalg import blas
from scipy.sparse.linalg import LinearOperator

from ..core._chunks import is_dask_array, iter_chunks, rows_for_budget
from ..core._config import BAYESIAN_REMEDY, check_matrix_budget
from ..core._dense import mirror_upper
from ..core._validation import (float_array, check_alpha, check_beta, check_data, check_finite_result,
                                check_positive_int, check_random_seed, check_w)
from ..core.routes import data_hessian
from ..core.curvature.jacobian import scaled_jacobians
from ..core.curvature.kron import data_kron_factors
from ..core.curvature.last_layer import last_layer_hessian, last_layer_slice
from ..core.curvature.lowrank import lowrank_curvature
from ..core.curvature.outer import jacobian_chunk_rows
from ..core.curvature.woodbury import IncrementalInverse
from .options import Curvature, as_curvature
from .dense_forms import Cholesky, Diagonal, _Woodbury
from .posteriors import KroneckerPrecision, LowRankPrecision, check_finite_curvature
from .evidence_terms import posterior_evidence_terms
from .predictive import predict
from ..core.priors import alpha_per_param, prior_error

__all__ = ["LaplacePosterior", "laplace"]

#: The forms a posterior's precision is held in, as :meth:`LaplacePosterior.to_state` names them.
FORMS = ("cholesky", "diagonal", "woodbury", "kron", "lowrank")
#: why :meth:`LaplacePosterior.update` refuses a posterior of each of these Hessians
_NOT_A_SUM_OF_OUTER_PRODUCTS = ("its curvature of new patterns is not a sum of outer products B^T B (the "
                                "second-derivative term may be indefinite), so the Woodbury update does not apply")
_NOT_UPDATABLE = {
    "exact": _NOT_A_SUM_OF_OUTER_PRODUCTS,
    "fd": _NOT_A_SUM_OF_OUTER_PRODUCTS,
    "kron": "its precision is held as per-layer Kronecker factors (1/N) Q_l (x) Z_l, never as the dense W x W "
            "matrix that the Woodbury update works on",
    "lowrank": "its precision keeps only the top eigenpairs of the data Hessian and a diagonal, no dense W x W "
               "matrix for the Woodbury update to work on, and the top eigenpairs of all the data are not those of "
               "the old patterns with the new ones added",
}


def validate_bayesian(net, w_map, X, T, alpha, beta):
    """Validate a public Bayesian call: like ``validate_problem``, but alpha must be > 0 and w is ``w_map``,
    whose prior term ``sum alpha/2 w^2`` (a term of the log evidence) must not overflow."""
    X, T = check_data(net, X, T)
    w, alpha = check_w(net, w_map, "w_map"), check_alpha(net, alpha, allow_zero=False)
    check_finite_result(prior_error(net, w, alpha), "the prior term sum alpha/2 w_map^2")
    return w, X, T, alpha, check_beta(net, beta)


def laplace(net, w_map, X, T, alpha, beta=None, hessian="exact", *, jitter=0.0, chunk_size=None, subset=None,
            rank=None, lowrank_hessian="outer", lowrank_diag=False):
    """The Laplace approximation N(w_MAP, A^-1) to the posterior over the weights (PRML 5.167).

    Parameters
    ----------
    net : MLP
    w_map : (W,) array
        The mode of the posterior, e.g. from :func:`laplacenet.train` (the approximation is only meaningful
        at a minimum of E).
    X : (N, D) array
    T : targets, as for :func:`laplacenet.error`.
    alpha : float or (n_groups,) array
        Prior precision(s), all > 0; group g's alpha lies on its part of the diagonal of A.
    beta : float or (K,) array, optional
        Noise precision of a Gaussian likelihood (one per output allowed); ignored for classification.
    hessian : {'exact', 'outer', 'diag', 'fd', 'kron', 'lowrank'}
        Route to the data Hessian H (see :func:`laplacenet.hessian`). ``'outer'`` is positive semi-definite
        at any w, so A is positive definite; ``'diag'`` gives a diagonal posterior. For networks whose
        W x W matrix does not fit, two structures are never formed densely: ``'kron'``, the
        Kronecker-factored Gauss-Newton matrix (KFAC, see :func:`laplacenet.kron_factors`, laplace-torch's
        convention), and ``'lowrank'``, the top ``rank`` eigenpairs of the data Hessian found by Lanczos on
        the matrix-free product, the rest of the spectrum left to the prior.
    jitter : float
        Added to the diagonal of A (as if it were data curvature); 0 by default. Nothing else is added.
    chunk_size : int, optional
        Rows of data per chunk when forming H and in predictions.
    subset : {None, 'all', 'last_layer'}
        ``'last_layer'``: the posterior over the output layer's weights and biases alone, every other weight
        fixed at w_map (laplace-torch's default); ``hessian`` must be ``'exact'`` or ``'outer'``, which agree
        on that layer. The precision and covariance are then (W_L, W_L) over ``posterior.subset_slice``.
    rank : int
        With ``hessian='lowrank'``: the number k of eigenpairs kept.
    lowrank_hessian : {'outer', 'exact'}
        With ``hessian='lowrank'``: the data Hessian whose eigenpairs are taken.
    lowrank_diag : bool
        With ``hessian='lowrank'``: add back the part of H's diagonal the k eigenpairs miss,
        ``max(diag(H) - diag(U diag(lam) U^T), 0)``.

    Returns
    -------
    LaplacePosterior

    Raises
    ------
    NotPositiveDefiniteError
        When A is not positive definite (w_map is not a minimum); the message gives the smallest eigenvalue.
    """
    w, X, T, alpha, beta = validate_bayesian(net, w_map, X, T, alpha, beta)
    curvature = Curvature(hessian, jitter, chunk_size, subset, rank, lowrank_hessian, lowrank_diag).within(net.n_params)
    return build_posterior(net, w, X, T, alpha, beta, curvature)


def posterior_curvature(net, w, X, T, beta, curvature):
    """The data curvature a posterior of ``curvature`` (a :class:`Curvature` or a ``hessian`` string) is built from.

    A dense (W, W) or diagonal (W,) data Hessian; the (W_L, W_L) output-layer Hessian for
    ``subset='last_layer'``; :class:`~laplacenet.core.curvature.kron.KronFactors` for ``'kron'``; a
    :class:`~laplacenet.core.curvature.lowrank.LowRankCurvature` for ``'lowrank'``.
    """
    structure = as_curvature(curvature)
    chunk_size = structure.chunk_size
    if structure.subset == "last_layer":
        subset = last_layer_slice(net)
        check_matrix_budget(subset.stop - subset.start, "the output layer's posterior precision",
                            remedy=BAYESIAN_REMEDY)
        return last_layer_hessian(net, w, X, T, beta, chunk_size)
    if structure.hessian == "kron":
        return data_kron_factors(net, w, X, T, beta, chunk_size)
    if structure.hessian == "lowrank":
        return lowrank_curvature(net, w, X, T, beta, structure.rank, structure.lowrank_hessian,
                                 structure.lowrank_diag, chunk_size)
    if structure.hessian != "diag":
        check_matrix_budget(net.n_params, f"the posterior precision from hessian={structure.hessian!r}",
                            remedy=BAYESIAN_REMEDY)
    return data_hessian(net, w, X, T, beta, structure.hessian, chunk_size)


def build_posterior(net, w, X, T, alpha, beta, curvature, *, H=None, take_H=False):
    """:func:`laplace` on validated arguments; ``curvature`` is a :class:`Curvature` or a ``hessian`` string, ``H``
    the data curvature of :func:`posterior_curvature` when already at hand (``take_H``: the caller has no further
    use for it, and a dense or diagonal one becomes A in place instead of being copied)."""
    structure = as_curvature(curvature)
    name, jitter = structure.hessian, structure.jitter
    fresh = H is None or take_H
    if H is None:
        H = posterior_curvature(net, w, X, T, beta, structure)
    if name == "kron":
        A = form = KroneckerPrecision(net, H, alpha, jitter)
    elif name == "lowrank":
        A = form = LowRankPrecision(net, H, alpha, jitter, semidefinite=structure.lowrank_hessian == "outer")
    else:
        # A given H is copied (the caller still needs it); a fresh one becomes A in place.
        A = H if fresh else np.array(H, dtype=float)
        prior = alpha_per_param(net, alpha)[_subset_slice(net, structure.subset)] + jitter  # PRML (5.166)
        if A.ndim == 1:
            A += prior
            form = Diagonal(A, name, jitter)
        else:
            A[np.diag_indices_from(A)] += prior
            form = Cholesky(A, name, semidefinite=name == "outer" or structure.subset == "last_layer",
                            jitter=jitter)
    return LaplacePosterior(net, w, A, alpha, beta, name, form, jitter, structure.chunk_size, X.shape[0],
                            subset=structure.subset)


def _subset_slice(net, subset):
    return last_layer_slice(net) if subset == "last_layer" else slice(0, net.n_params)


class LaplacePosterior:
    """A Gaussian approximation N(w | mean, A^-1) to the posterior over the weights (PRML 5.167).

    Built by :func:`laplacenet.laplace`; not meant to be constructed directly.

    Attributes
    ----------
    net : MLP
    mean : (W,) array
        w_MAP.
    precision
        A = H + diag(alpha) (+ jitter I), read-only: a (W, W) array; a (W,) vector for ``hessian='diag'``;
        for ``'kron'`` and ``'lowrank'`` a :class:`~laplacenet.KroneckerPrecision` or
        :class:`~laplacenet.LowRankPrecision`, a (W, W) :class:`scipy.sparse.linalg.LinearOperator` holding
        its factors (never a dense matrix); with ``subset='last_layer'`` a (W_L, W_L) array over the
        output layer's parameters ``mean[subset_slice]``.
    alpha, beta
        The hyperparameters A was built with (beta is None for classification).
    hessian : str
        The Hessian route or structure.
    subset : None or 'last_layer'
        None when the posterior covers every weight; ``'last_layer'`` when it covers the output layer alone,
        the other weights fixed at ``mean``.
    subset_slice : slice
        The part of the flat weight vector the posterior covers (``slice(0, W)`` without a subset).
    jitter : float
    n_data : int
        Patterns taken in, including those folded in by :meth:`update`.
    """

    def __init__(self, net, mean, precision, alpha, beta, hessian, form, jitter, chunk_size, n_data,
                 subset=None):
        self.net = net
        self.mean = _read_only(np.array(mean, dtype=float))
        # built here, not the caller's; the structured precisions are operators, not arrays
        self.precision = precision if isinstance(precision, LinearOperator) else _read_only(precision)
        self.alpha = alpha
        self.beta = beta
        self.hessian = hessian
        self.jitter = jitter
        self.chunk_size = chunk_size
        self.n_data = n_data
        self.subset = subset
        self.subset_slice = _subset_slice(net, subset)
        self._form = form

    @property
    def log_det(self):
        """``ln|A|``, the log-determinant of the precision (of the output layer's, with a subset)."""
        return self._form.log_det

    def covariance(self):
        """The posterior covariance A^-1: ``(W, W)``, or the variances ``(W,)`` of a diagonal posterior.

        A dense A^-1 is formed by a Cholesky solve against the identity (O(W^3)); the predictive
        and sampling routes never form it. For ``'kron'`` and ``'lowrank'`` it is a LinearOperator (products
        with A^-1 through the factors); with ``subset='last_layer'`` it is (W_L, W_L).
        """
        return self._form.covariance()

    def solve(self, B):
        """``A^-1 B`` for ``B`` of shape (dim,) or (dim, m), dim the number of weights the posterior covers (all,
        or the output layer's with ``subset='last_layer'``)."""
        dim = self._form.dim
        B = float_array(B, "B", f"a real ({dim},) or ({dim}, m) array")
        if B.ndim not in (1, 2) or B.shape[0] != dim:
            raise ValueError(f"B must have shape ({dim},) or ({dim}, m); got {B.shape}")
        if not np.all(np.isfinite(B)):
            raise ValueError("B must be finite; it has inf or NaN values")
        return self._form.solve(B)

    def variances(self):
        """``(W,)``: the posterior variance of every weight, the diagonal of A^-1 (0 for weights held fixed)."""
        out = np.zeros(self.mean.size)
        out[self.subset_slice] = self._form.variances()
        return out

    def sample(self, n, seed=None):
        """``(n, W)`` draws from N(mean, A^-1): ``w = mean + S z`` with ``S S^T = A^-1`` (``S = L^-T`` for
        ``A = L L^T``), z standard normal; with a subset, the other weights stay at ``mean``. ``seed`` is None, a
        non-negative integer or a numpy Generator (drawn from as it is)."""
        n, seed = check_positive_int(n, "n"), check_random_seed(seed)
        Z = np.random.default_rng(seed).standard_normal((n, self._form.dim))
        draws = np.tile(self.mean, (n, 1))
        draws[:, self.subset_slice] += self._form.deviations(Z)
        return draws

    def activation_covariance(self, G):
        """``G A^-1 G^T`` per pattern: ``G`` (n, K, W) output Jacobians -> ``(n, K, K)`` (PRML 5.173, 5.188)."""
        return self._form.activation_covariance(G[:, :, self.subset_slice])

    def linearised_covariance(self, inputs, deltas):
        """``G A^-1 G^T`` per pattern from the factors of G: ``inputs`` and ``deltas`` are, for every layer l,
        its input ``z_{l-1}`` (n, d_{l-1}) and the rows of ``d a_L / d a_l`` (n, K, d_l) (PRML 5.73)."""
        layers = range(self.net.n_layers) if self.subset is None else [self.net.n_layers - 1]
        return self._form.linearised_covariance([inputs[l] for l in layers], [deltas[l] for l in layers])

    def prediction_chunk_rows(self):
        """Test points per chunk so that their Jacobians stay within the chunk budget."""
        if self.chunk_size is not None:
            return self.chunk_size
        width = max(self._form.jacobian_width, sum(self.net.sizes))
        return rows_for_budget(8 * self.net.n_outputs * width)

    def predict(self, X_new, method="linear", return_noise=True, full_cov=False, n_samples=1000, seed=None):
        """The predictive distribution at ``X_new``: ``(mean, variance)``.

        See :func:`laplacenet.bayes.predictive.predict` for the methods, the approximations and the shapes. A
        :class:`~laplacenet.NonFiniteError` when the mean or variance overflows at ``X_new`` (checked for a numpy
        ``X_new``; the lazy results of a dask one are not computed here).
        """
        mean, variance = predict(self, X_new, method, return_noise, full_cov, n_samples, seed)
        if not is_dask_array(mean):
            remedy = "Rescale X_new as the inputs the posterior was built from were rescaled."
            check_finite_result(mean, "the predictive mean at X_new", remedy)
            check_finite_result(variance, "the predictive variance at X_new", remedy)
        return mean, variance

    def log_evidence(self, X, T, *, symmetry=True, terms=False):
        """The Laplace log evidence (PRML 5.175, 5.183) from this posterior's ln|A|, without a new Hessian.

        The posterior does not keep its data: ``X``, ``T`` must be the patterns it was built from (with those
        folded in by :meth:`update`), which is checked by their number. Equals :func:`laplacenet.log_evidence`
        at the same weights, hyperparameters and Hessian route.

        Parameters
        ----------
        X : (N, D) array
        T : targets, as for :func:`laplacenet.laplace`.
        symmetry, terms
            As for :func:`laplacenet.log_evidence`: by default the symmetry term of the hidden units this
            posterior tells from zero is included.
        """
        X, T = check_data(self.net, X, T)
        if X.shape[0] != self.n_data:
            raise ValueError(f"X must hold the {self.n_data} patterns this posterior was built from; got "
                             f"{X.shape[0]} rows")
        result = posterior_evidence_terms(self.net, self.mean, X, T, self.alpha, self.beta, self, bool(symmetry),
                                          self.chunk_size)
        return result if terms else result.total

    def update(self, X_new, T_new):
        """Fold new patterns into the posterior at the same w; returns a NEW :class:`LaplacePosterior`.

        The mean w_MAP does NOT move: the result is the Laplace approximation at the old w_MAP with the
        curvature of the new patterns added, equal to ``laplace`` on all the data at that w (refit with
        :func:`laplacenet.train` from ``mean`` and call :func:`laplacenet.laplace` to move it).

        * ``hessian='outer'``: the rows ``S_n J_n`` of the new patterns (``S_n^T S_n = Lambda_n``) are folded
          into A^-1 by the Woodbury identity (C.7) and into ln|A| by the determinant lemma (C.14): O(W^2 k)
          for k new patterns. The first update of a Cholesky-held posterior forms A^-1 once (O(W^3)).
        * ``hessian='diag'``: the Becker-Le Cun diagonal of the new patterns is added to A, O(W k).
        * ``'exact'`` and ``'fd'`` are refused: the exact curvature of new patterns is not a sum of outer
          products B^T B (its second-derivative term may be indefinite), so no Woodbury update applies and
          a new O(W^3) factorisation is needed anyway - call :func:`laplacenet.laplace` on all the data.
        * ``'kron'`` and ``'lowrank'`` are refused: they hold no dense W x W matrix for the Woodbury identity to
          update (per-layer Kronecker factors; the top eigenpairs of the data Hessian, which those of all the data
          need not share) - call :func:`laplacenet.laplace` on all the data.

        Parameters
        ----------
        X_new : (k, D) array
            Numpy or dask (a dask stream is taken one partition at a time).
        T_new : targets of the new patterns.
        """
        if self.subset is not None:
            raise ValueError(f"update needs a posterior over all the weights; this one has subset={self.subset!r}. "
                             f"Call laplacenet.laplace on all the data instead.")
        if self.hessian not in ("outer", "diag"):
            raise ValueError(f"update needs a posterior built with hessian='outer' or 'diag'; this one uses "
                             f"hessian={self.hessian!r}: {_NOT_UPDATABLE[self.hessian]}. Call laplacenet.laplace on "
                             f"all the data instead.")
        X_new, T_new = check_data(self.net, X_new, T_new, "X_new", "T_new")
        w = self.mean
        if self.hessian == "diag":
            A = self.precision + data_hessian(self.net, w, X_new, T_new, self.beta, "diag", self.chunk_size)
            form = Diagonal(A, "diag", self.jitter)
        else:
            A, form = self._woodbury_update(X_new, T_new)
        return LaplacePosterior(self.net, w, A, self.alpha, self.beta, self.hessian, form, self.jitter,
                                self.chunk_size, self.n_data + X_new.shape[0])

    def _woodbury_update(self, X_new, T_new):
        """``A + sum_n (S_n J_n)^T (S_n J_n)`` and its inverse by Woodbury (PRML 5.84-5.89, C.7).

        A serial pass over the validated new data in numpy chunks (a dask partition computed when reached);
        the targets are read only so that their values are checked, as the numpy ones already were.
        """
        net, W = self.net, self.mean.size
        state = self._form.incremental_inverse(self.precision)
        A = np.array(self.precision, order="F")
        layers = net.unpack(self.mean)
        for X_chunk, _ in iter_chunks((X_new, T_new), jacobian_chunk_rows(net, self.chunk_size)):
            B = scaled_jacobians(net, layers, X_chunk, self.beta).reshape(-1, W)
            check_finite_result(B, "the curvature rows S_n J_n of X_new")
            A = blas.dsyrk(1.0, B, beta=1.0, c=A, trans=1, lower=0, overwrite_c=1)  # upper triangle of A + B^T B
            state.update(B)
        mirror_upper(A)
        check_finite_curvature([A, state.inverse_diagonal(), state.log_det], "outer")
        return A, _Woodbury(state, A)

    def to_state(self):
        """What the posterior is rebuilt from by :meth:`from_state`: a dict of plain values and numpy arrays.

        The plain values: ``form`` (one of ``FORMS``), ``hessian``, ``subset``, ``jitter``, ``chunk_size``,
        ``n_data``, ``log_det`` (and ``kron_n_data``); the arrays: ``mean``, ``alpha``, ``beta`` (None for
        classification: left out), the dense or diagonal ``precision`` (with ``covariance``, A^-1, after
        :meth:`update`), or the factors of a structured one (see ``KroneckerPrecision.to_state`` and
        ``LowRankPrecision.to_state``). The arrays are the posterior's own, not copies; the network is not part
        of the state. :func:`laplacenet.save` writes the arrays as entries and the plain values as metadata.
        """
        form = self._form
        if form.kind is None:
            raise ValueError(f"cannot save a posterior held as {type(form).__name__}")
        state = {"form": form.kind, "hessian": self.hessian, "subset": self.subset, "jitter": float(self.jitter),
                 "chunk_size": self.chunk_size, "n_data": int(self.n_data), "log_det": float(self.log_det),
                 "mean": self.mean, "alpha": np.asarray(self.alpha, dtype=float)}
        if self.beta is not None:
            state["beta"] = np.asarray(self.beta, dtype=float)
        if not isinstance(self.precision, LinearOperator):
            state["precision"] = self.precision
        state.update(form.to_state())
        return state

    @classmethod
    def from_state(cls, net, state):
        """The posterior of ``net`` that :meth:`to_state` described, its precision rebuilt by the same builder from
        the same arrays (PRML 5.167): the same LAPACK calls on the same bits give the same factors.

        ``state`` is trusted: values read from a file are checked by :func:`laplacenet.load` first.
        """
        kind, hessian, jitter = state["form"], state["hessian"], float(state["jitter"])
        alpha, beta = hyperparameter_value(state["alpha"]), hyperparameter_value(state.get("beta"))
        precision = state.get("precision")
        if kind == "kron":
            precision = form = KroneckerPrecision.from_state(net, state, alpha, jitter)
        elif kind == "lowrank":
            precision = form = LowRankPrecision.from_state(net, state, alpha, jitter, hessian)
        elif kind == "cholesky":
            form = Cholesky(precision, hessian, jitter=jitter)
        elif kind == "diagonal":
            form = Diagonal(precision, hessian, jitter)
        elif kind == "woodbury":
            form = _Woodbury(IncrementalInverse(state["covariance"], state["log_det"]), precision)
        else:
            raise ValueError(f"form must be one of {', '.join(map(repr, FORMS))}; got {kind!r}")
        return cls(net, state["mean"], precision, alpha, beta, hessian, form, jitter, state["chunk_size"],
                   state["n_data"], subset=state["subset"])

    def __repr__(self):
        return (f"LaplacePosterior({self.net!r}, hessian={self.hessian!r}, n_params={self.mean.size}, "
                f"n_data={self.n_data}, log_det={self.log_det:.6g})")


def _read_only(a):
    a.flags.writeable = False
    return a


def hyperparameter_value(a):
    """A stored alpha or beta back in the form the library uses: a float, a fresh array, or None."""
    if a is None:
        return None
    return float(a) if np.ndim(a) == 0 else np.array(a)
