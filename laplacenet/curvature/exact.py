"""The exact Hessian of the data error by extended backpropagation (PRML 5.4.5), for any depth.

PRML (5.92)-(5.95) give the two-layer case. Layer l has d_l units and e_l inputs counting the bias,
z̄_l = [z_l; 1]; weight (i, j) of layer l multiplies z̄_l[j] into unit i (j = e_l - 1 is the bias). With
g_l = dE_n/da_l (the deltas), M_l = d²E_n/da_l², Q_ml = da_m/da_l and F_ml = dz_m/da_l (z_m without its
bias input), the blocks of one pattern's Hessian for layers l <= m (input side first) are

* same layer: ``H[(i,j),(p,q)] = M_l[i,p] z̄_l[j] z̄_l[q]``;
* layers l < m: ``H[(i,j),(p,q)] = z̄_l[j] ((M_m Q_ml)[p,i] z̄_m[q] + g_m[p] F_ml[q,i])``, the second term
  absent when q is the bias column of layer m.

M_l is backpropagated exactly: ``M_L = Lambda`` (the output Hessian) and
``M_l = D_l W_{l+1}^T M_{l+1} W_{l+1} D_l + diag(h''(a_l) * W_{l+1}^T g_{l+1})`` with D_l = diag(h'(a_l)).
Every block is a sum over patterns of products of two per-pattern factors, so its sum over a chunk of data
is one matrix product whose inner dimension is the data axis: the work is in BLAS, O(N W^2) in all.
Same-layer blocks use the symmetry of M_l and of z̄ z̄^T: only their upper triangles are multiplied.
"""
import numpy as np

from .._chunks import data_sum, rows_for_budget
from .backprop import backprop, forward_pass, hidden_slopes

__all__ = ["exact_data_hessian"]


def exact_data_hessian(net, w, X, T, beta, chunk_size=None):
    """Exact Hessian of the data error on validated arrays, ``(W, W)`` (PRML 5.92-5.95, any depth).

    Parameters
    ----------
    net : MLP
    w : (W,) weights in the package's flat layout.
    X : (N, D) inputs.
    T : (N, K) canonical targets.
    beta : float, (K,) array or None
        Noise precision of a Gaussian likelihood; None for classification.
    chunk_size : int, optional
        Rows of data per chunk; by default chosen so the per-pattern factors of a chunk take about 64 MiB.

    Returns
    -------
    H : (W, W) symmetric array.
    """
    layers = net.unpack(w)
    rows = chunk_size if chunk_size is not None else _chunk_rows(net.sizes, X.shape[0])
    sums = data_sum(lambda Xc, Tc: _block_products(net, layers, Xc, Tc, beta), X, T, rows)
    return _assemble(net, sums)


#: Per-pattern factors of a chunk aim at this many bytes (cache-friendly for small networks), but a chunk keeps
#: at least ``_MIN_ROWS`` rows (the data axis is the inner dimension of the block products) within the
#: 64 MiB chunk budget. Measured on [8,20,16,1] and [10,50,3] at N = 10 000: 30-40 % faster than 64 MiB chunks.
_TARGET_BYTES = 8 * 2**20
_MIN_ROWS = 256


def _chunk_rows(sizes, n_rows):
    """Rows per chunk: equal chunks of about 8 MiB of per-pattern factors, at least 256 rows, at most 64 MiB."""
    bytes_per_row = 8 * _floats_per_pattern(sizes)
    most = min(max(rows_for_budget(bytes_per_row, _TARGET_BYTES), _MIN_ROWS), rows_for_budget(bytes_per_row))
    n_chunks = -(-n_rows // most)
    return -(-n_rows // n_chunks)


def _floats_per_pattern(sizes):
    """Per-pattern floats alive at the peak of :func:`_block_products`: every M_l and one block's factors."""
    d, e = sizes[1:], [s + 1 for s in sizes[:-1]]
    same = [d_l * (d_l + 1) // 2 + e_l * (e_l + 3) // 2 for d_l, e_l in zip(d, e)]
    pairs = [3 * d[l] * d[m] + e[l] * e[m] + d[m] * e[l] for l in range(len(d)) for m in range(l + 1, len(d))]
    return sum(d_l * d_l for d_l in d) + max(same + pairs)


def _preact_hessians(net, layers, fw, slopes, g, output_hessian):
    """``[M_1, ..., M_L]``, each (N, d_l, d_l): M_l = d²E_n/da_l², backpropagated from Lambda."""
    M = [output_hessian]
    for l in range(len(layers) - 2, -1, -1):
        W = layers[l + 1][0]
        M_l = slopes[l][:, :, None] * np.matmul(W.T, np.matmul(M[0], W)) * slopes[l][:, None, :]
        diag = np.arange(W.shape[1])
        M_l[:, diag, diag] += net.activation.d2h(fw.a[l], fw.z[l + 1]) * (g[l + 1] @ W)
        M.insert(0, M_l)
    return M


def _upper(A):
    """``(N, n, n)`` symmetric per pattern -> ``(N, n (n + 1) / 2)``: the upper triangles."""
    iu = np.triu_indices(A.shape[1])
    return A[:, iu[0], iu[1]]


def _upper_outer(z):
    """``(N, n)`` -> ``(N, n (n + 1) / 2)``: the upper triangles of the outer products z z^T."""
    iu = np.triu_indices(z.shape[1])
    return z[:, iu[0]] * z[:, iu[1]]


def _block_products(net, layers, X, T, beta):
    """Sums over a chunk of the per-pattern block factors, as matrix products over the data axis.

    Returns a tuple: for each layer l the (n_tri(d_l), n_tri(e_l)) product of the upper triangles of M_l
    and z̄_l z̄_l^T (rows (i, p), columns (j, q)); then, for each pair l < m in turn, the two products of
    :func:`_pair_products`.
    """
    lik = net.likelihood
    fw = forward_pass(net, layers, X)
    slopes = hidden_slopes(net, fw)
    g = backprop(layers, slopes, lik.delta(fw.y, T, beta))
    M = _preact_hessians(net, layers, fw, slopes, g, lik.output_hessian(fw.y, beta))
    zbar = [np.concatenate([z, np.ones((X.shape[0], 1))], axis=1) for z in fw.z]
    # Same layer: sum_n M_l[i,p] z̄_l[j] z̄_l[q] (PRML 5.93, 5.94).
    out = [_upper(M_l).T @ _upper_outer(z) for M_l, z in zip(M, zbar)]
    for l in range(len(layers) - 1):
        out += _pair_products(layers, slopes, g, M, zbar, l)
    return tuple(out)


def _pair_products(layers, slopes, g, M, zbar, l):
    """For every layer m > l the two products of the (l, m) block (PRML 5.95), summed over the chunk.

    First term ``sum_n (M_m Q_ml)[p,i] z̄_l[j] z̄_m[q]``: rows (i, p), columns (j, q). Second term
    ``sum_n g_m[p] F_ml[q,i] z̄_l[j]``: for m = l + 1, where F_ml = D_l, rows p and columns (i, j) (q = i);
    otherwise rows (p, j) and columns (i, q).
    """
    N, d_l = slopes[l].shape
    out = []
    # Qt[n, i, p] = (da_m/da_l)[p, i], starting from m = l + 1: W_{l+1} D_l.
    Qt = layers[l + 1][0].T[None] * slopes[l][:, :, None]
    for m in range(l + 1, len(layers)):
        W_m = layers[m][0]
        if m > l + 1:
            # Ft[n, i, q] = (dz_m/da_l)[q, i] = h'(a_{m-1})[q] (da_{m-1}/da_l)[q, i]
            Ft = Qt * slopes[m - 1][:, None, :]
            Qt = (Ft.reshape(N * d_l, W_m.shape[1]) @ W_m.T).reshape(N, d_l, W_m.shape[0])
        A = np.matmul(Qt, M[m])  # (M_m Q_ml)^T, as M_m is symmetric
        out.append(A.reshape(N, -1).T @ (zbar[l][:, :, None] * zbar[m][:, None, :]).reshape(N, -1))
        if m == l + 1:
            out.append(g[m].T @ (slopes[l][:, :, None] * zbar[l][:, None, :]).reshape(N, -1))
        else:
            out.append((g[m][:, :, None] * zbar[l][:, None, :]).reshape(N, -1).T @ Ft.reshape(N, -1))
    return out


def _assemble(net, sums):
    """Place the summed block products into the ``(W, W)`` Hessian in the package's flat layout."""
    L = net.n_layers
    d = net.sizes[1:]
    e = [s + 1 for s in net.sizes[:-1]]
    H = np.empty((net.n_params, net.n_params))
    for l in range(L):
        # S[tri(i,p), tri(j,q)] -> (i, p, j, q) -> (i, j, p, q).
        S = np.take(sums[l], _tri_index(e[l]).ravel(), axis=1)
        block = np.take(S, _tri_index(d[l]), axis=0).reshape(d[l], d[l], e[l], e[l])
        _place(H, net, l, l, block.transpose(0, 2, 1, 3))
    k = L
    for l in range(L):
        for m in range(l + 1, L):
            block = np.ascontiguousarray(sums[k].reshape(d[l], d[m], e[l], e[m]).transpose(0, 2, 1, 3))
            second = sums[k + 1]
            if m == l + 1:
                diag = np.arange(d[l])
                block[diag, :, :, diag] += second.reshape(d[m], d[l], e[l]).transpose(1, 2, 0)
            else:
                block[:, :, :, :-1] += second.reshape(d[m], e[l], d[l], e[m] - 1).transpose(2, 1, 0, 3)
            _place(H, net, l, m, block)
            k += 2
    return H


def _tri_index(n):
    """``(n, n)`` map from (i, p) to the position of (min, max) in the upper-triangle order of ``_upper``."""
    idx = np.empty((n, n), dtype=np.intp)
    iu = np.triu_indices(n)
    idx[iu] = idx[iu[::-1]] = np.arange(iu[0].size)
    return idx


def _place(H, net, l, m, block):
    """Write ``block[i, j, p, q]`` (z̄ columns, bias last) of layers l <= m into H and its mirror image."""
    (ws_l, bs_l), (ws_m, bs_m) = net.layer_slices[l], net.layer_slices[m]
    d_l, e_l, d_m, e_m = block.shape
    # Splitting the axes of a 2-D slice of H is always possible without a copy: these are views of H.
    H[ws_l, ws_m].reshape(d_l, e_l - 1, d_m, e_m - 1)[...] = block[:, :-1, :, :-1]
    H[ws_l, bs_m].reshape(d_l, e_l - 1, d_m)[...] = block[:, :-1, :, -1]
    H[bs_l, ws_m].reshape(d_l, d_m, e_m - 1)[...] = block[:, -1, :, :-1]
    H[bs_l, bs_m] = block[:, -1, :, -1]
    if l != m:
        rows, cols = slice(ws_l.start, bs_l.stop), slice(ws_m.start, bs_m.stop)
        H[cols, rows] = H[rows, cols].T
