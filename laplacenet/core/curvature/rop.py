"""Fast multiplication by the Hessian: Pearlmutter's R-operator (PRML 5.4.6, 5.96-5.111).

``R{.} = v^T grad(.)`` applied to forward propagation and backpropagation gives ``H v`` at the cost of a
few gradients, without forming H, for any depth, activation and likelihood. Every product takes a block
of k directions at once: ``V (W, k)`` is split into per-layer arrays ``R{W_l} (k, d_l, d_{l-1})`` and
``R{b_l} (k, d_l)``, and the R-quantities carry the directions as an axis after the batch, e.g.
``R{a_l} (N, k, d_l)``, so that each step is one BLAS matrix product over patterns and directions.

* :func:`data_hvp` - the exact data Hessian times V.
* :func:`data_gnvp` - the outer-product (Gauss-Newton) matrix times V: ``sum_n J_n^T Lambda_n (J_n V)``,
  one forward R-pass and one plain backward pass.
* :func:`laplacenet.hvp`, :func:`laplacenet.hessian_operator` (in :mod:`laplacenet.core.routes`) - the public
  products with the prior added.
"""
import numpy as np

from .._chunks import data_sum, rows_for_budget
from .._validation import check_finite_result
from .backprop import backprop, forward_pass, hidden_slopes


#: bytes of one chunk of an R-quantity over all layers (rows * k * sum(d_l) * 8). A few live at once;
#: about half the L2 cache measured fastest for blocks of 10-50 directions.
R_CHUNK_BYTES = 2**20
#: fewest data rows per chunk by default: the weight-gradient products contract over the rows and every
#: chunk adds a (k, W) result, so fewer rows waste time (16 rows took twice as long as 32).
MIN_CHUNK_ROWS = 32


# --- Lambda_n U_n: the output Hessian applied to directions (N, k, K) without forming (N, K, K) ---------

def _gaussian_times(y, beta, U):
    return U * np.asarray(beta, dtype=float)


def _bernoulli_times(y, beta, U):
    return (y * (1.0 - y))[:, None, :] * U


def _categorical_times(y, beta, U):
    # (diag(y) - y y^T) u = y * (u - y.u) (PRML 4.110 per pattern).
    y3 = y[:, None, :]
    return y3 * (U - (U * y3).sum(axis=2, keepdims=True))


_OUTPUT_HESSIAN_TIMES = {"gaussian": _gaussian_times, "bernoulli": _bernoulli_times,
                         "categorical": _categorical_times}


def output_hessian_times(lik, y, beta, U):
    """``Lambda_n U_n`` for every pattern: ``U`` (N, k, K) -> (N, k, K).

    Closed forms for the built-in likelihoods; any other :class:`~laplacenet.core.likelihoods.Likelihood`
    goes through its ``output_hessian`` (N, K, K).
    """
    times = _OUTPUT_HESSIAN_TIMES.get(lik.name)
    if times is None:
        return np.einsum("nij,nkj->nki", lik.output_hessian(y, beta), U, optimize=True)
    return times(y, beta, U)


# --- the R-passes -----------------------------------------------------------------------------------

def _split_directions(net, V):
    """``V (W, k)`` -> ``[(R{W_l} (k, d_l, d_{l-1}), R{b_l} (k, d_l)), ...]``, input side first."""
    Vt = np.ascontiguousarray(V.T)
    k = Vt.shape[0]
    return [(Vt[:, ws].reshape(k, d_out, d_in), Vt[:, bs])
            for (ws, bs), d_in, d_out in zip(net.layer_slices, net.sizes[:-1], net.sizes[1:])]


def _r_forward(layers, dirs, fw, slopes):
    """Forward R-pass: ``R{a_l}`` (N, k, d_l) for l = 1..L and ``R{z_l}`` for l = 1..L-1.

    ``R{a_l} = W_l R{z_{l-1}} + R{W_l} z_{l-1} + R{b_l}``, ``R{z_l} = h'(a_l) R{a_l}``, ``R{z_0} = 0``
    (PRML 5.101-5.103 for any depth).
    """
    N = fw.z[0].shape[0]
    Ra, Rz = [], []
    for l, ((W, _), (VW, Vb)) in enumerate(zip(layers, dirs)):
        k, d_out, d_in = VW.shape
        Ra_l = (fw.z[l] @ VW.reshape(k * d_out, d_in).T).reshape(N, k, d_out) + Vb
        if l > 0:
            Ra_l += (Rz[-1].reshape(N * k, d_in) @ W.T).reshape(N, k, d_out)
        Ra.append(Ra_l)
        if l < len(layers) - 1:
            Rz.append(slopes[l][:, None, :] * Ra_l)
    return Ra, Rz


def _r_backward(net, layers, dirs, fw, slopes, Ra, delta_out, R_delta_out):
    """Backpropagation and its R-pass: ``[delta_l]`` (N, d_l) and ``[R{delta_l}]`` (N, k, d_l).

    ``R{delta_l} = h''(a_l) R{a_l} (W^T delta) + h'(a_l) (R{W}^T delta) + h'(a_l) (W^T R{delta})`` with
    ``W = W_{l+1}`` and ``delta = delta_{l+1}`` (PRML 5.105, 5.107 for any depth).
    """
    d2h = net.activation.d2h
    deltas, R_deltas = [delta_out], [R_delta_out]
    for l in range(len(layers) - 2, -1, -1):
        W, VW = layers[l + 1][0], dirs[l + 1][0]
        k, d_next, d_l = VW.shape
        N = delta_out.shape[0]
        back = deltas[0] @ W
        R_back = (R_deltas[0].reshape(N * k, d_next) @ W).reshape(N, k, d_l)
        R_back += (deltas[0] @ VW.transpose(1, 0, 2).reshape(d_next, k * d_l)).reshape(N, k, d_l)
        curvature = d2h(fw.a[l], fw.z[l + 1])
        slope = slopes[l][:, None, :]
        deltas.insert(0, slopes[l] * back)
        R_deltas.insert(0, (curvature * back)[:, None, :] * Ra[l] + slope * R_back)
    return deltas, R_deltas


def _r_weight_gradient(fw, R_deltas, deltas=None, Rz=None):
    """``R{grad E}`` summed over the batch, (k, W): ``sum_n R{delta_l} z_{l-1}^T + delta_l R{z_{l-1}}^T``.

    PRML 5.110-5.111 for any depth. Without ``deltas`` and ``Rz`` only the first term is taken, which is
    the Gauss-Newton product.
    """
    N, k = R_deltas[0].shape[:2]
    parts = []
    for l, (z_prev, R_d) in enumerate(zip(fw.z, R_deltas)):
        d_out, d_in = R_d.shape[2], z_prev.shape[1]
        G = (R_d.reshape(N, k * d_out).T @ z_prev).reshape(k, d_out * d_in)
        if deltas is not None and l > 0:
            G += (deltas[l].T @ Rz[l - 1].reshape(N, k * d_in)).reshape(d_out, k, d_in) \
                .transpose(1, 0, 2).reshape(k, d_out * d_in)
        parts += [G, R_d.sum(axis=0)]
    return np.concatenate(parts, axis=1)


def _chunk_shape(net, k, chunk_size):
    """``(rows, width)``: data rows per chunk and directions per pass.

    One R-quantity, (rows, width, d_l) over all layers, then takes about ``R_CHUNK_BYTES``; a very wide
    V (e.g. the identity, for a full Hessian) is taken in blocks of columns.
    """
    bytes_per_row_and_direction = 8 * sum(net.sizes[1:])
    if chunk_size is None:
        chunk_size = max(MIN_CHUNK_ROWS, rows_for_budget(bytes_per_row_and_direction * k, R_CHUNK_BYTES))
    return chunk_size, rows_for_budget(bytes_per_row_and_direction * chunk_size, R_CHUNK_BYTES)


def _block_product(chunk_product, net, w, X, T, V, chunk_size):
    """``V (W,)`` or ``(W, k)`` -> the product of the same shape.

    ``chunk_product(layers, dirs, X_chunk, T_chunk)`` returns a chunk's (width, W) contribution; it is
    summed over the data for each block of ``width`` columns of V.
    """
    layers = net.unpack(w)
    V2 = V.reshape(net.n_params, -1)
    rows, width = _chunk_shape(net, V2.shape[1], chunk_size)
    blocks = []
    for start in range(0, V2.shape[1], width):
        dirs = _split_directions(net, V2[:, start:start + width])
        blocks.append(data_sum(lambda Xc, Tc: chunk_product(layers, dirs, Xc, Tc), X, T, rows))
    return check_finite_result(np.concatenate(blocks).T.reshape(V.shape), "a Hessian-vector product")


def data_hvp(net, w, X, T, V, beta, chunk_size=None):
    """Exact data Hessian times ``V`` by the R-operator, on validated arrays.

    Parameters
    ----------
    net : MLP
    w : (W,) weights.
    X : (N, D) inputs.
    T : (N, K) canonical targets.
    V : (W,) or (W, k) directions.
    beta : noise precision (Gaussian) or None.
    chunk_size : int, optional
        Rows of data per chunk; by default about 1 MiB per R-quantity (see ``R_CHUNK_BYTES``). The
        columns of V are taken in blocks that keep to the same budget.

    Returns
    -------
    (W,) or (W, k), the shape of ``V``.
    """
    lik = net.likelihood

    def chunk_product(layers, dirs, Xc, Tc):
        fw = forward_pass(net, layers, Xc)
        slopes = hidden_slopes(net, fw)
        Ra, Rz = _r_forward(layers, dirs, fw, slopes)
        delta_out = lik.delta(fw.y, Tc, beta)
        R_delta_out = output_hessian_times(lik, fw.y, beta, Ra[-1])  # PRML 5.106: R{delta_k} = Lambda R{a_k}
        deltas, R_deltas = _r_backward(net, layers, dirs, fw, slopes, Ra, delta_out, R_delta_out)
        return _r_weight_gradient(fw, R_deltas, deltas, Rz)

    return _block_product(chunk_product, net, w, X, T, V, chunk_size)


def data_gnvp(net, w, X, T, V, beta, chunk_size=None):
    """Outer-product (Gauss-Newton) data matrix times ``V``: ``sum_n J_n^T Lambda_n J_n V`` (PRML 5.84).

    ``J_n V`` is the forward R-pass ``R{a_L}``; ``Lambda_n R{a_L}`` is then backpropagated as a block of
    output deltas. Same parameters and shapes as :func:`data_hvp`.
    """
    lik = net.likelihood

    def chunk_product(layers, dirs, Xc, Tc):
        fw = forward_pass(net, layers, Xc)
        slopes = hidden_slopes(net, fw)
        Ra, _ = _r_forward(layers, dirs, fw, slopes)
        R_deltas = backprop(layers, slopes, output_hessian_times(lik, fw.y, beta, Ra[-1]))
        return _r_weight_gradient(fw, R_deltas)

    return _block_product(chunk_product, net, w, X, T, V, chunk_size)


#: the data Hessian's matrix-free product by kind: exact (R-operator), or outer product (Gauss-Newton)
PRODUCTS = {"exact": data_hvp, "outer": data_gnvp}
HVP_KINDS = tuple(PRODUCTS)
