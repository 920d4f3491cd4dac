"""Hessians block by block over pairs of layers, the data axis the inner dimension of every BLAS product.

Shared by the exact Hessian (:mod:`.exact`, PRML 5.92-5.95) and the outer-product, Gauss-Newton Hessian
(:mod:`.outer`, PRML 5.84, 5.85), which is the exact one without its second-order terms.

Layer l has d_l units and e_l inputs counting the bias, z̄_l = [z_l; 1]; weight (i, j) of layer l multiplies
z̄_l[j] into unit i (j = e_l - 1 is the bias). With g_l = dE_n/da_l (the deltas), M_l = d²E_n/da_l²,
Q_ml = da_m/da_l and F_ml = dz_m/da_l (z_m without its bias input), the blocks of one pattern's Hessian for
layers l <= m (input side first) are

* same layer: ``H[(i,j),(p,q)] = M_l[i,p] z̄_l[j] z̄_l[q]``;
* layers l < m: ``H[(i,j),(p,q)] = z̄_l[j] ((M_m Q_ml)[p,i] z̄_m[q] + g_m[p] F_ml[q,i])``, the second term
  absent when q is the bias column of layer m.

``M_L = Lambda`` (the output Hessian) and
``M_l = D_l W_{l+1}^T M_{l+1} W_{l+1} D_l + diag(h''(a_l) * W_{l+1}^T g_{l+1})`` with D_l = diag(h'(a_l)).
The second-order terms are the h'' term of M_l and the g_m F_ml term of the blocks between layers; without
them M_l = S_l^T S_l with S_l the rows of S_n backpropagated to layer l, and the blocks are those of
``sum_n J_n^T Lambda_n J_n``.

Every block is a sum over patterns of products of two per-pattern factors, so its sum over a chunk of data
is one matrix product whose inner dimension is the data axis: the work is in BLAS, O(N W^2) in all, whatever
the number of outputs. Same-layer blocks use the symmetry of M_l and of z̄ z̄^T: only their upper triangles
are multiplied.
"""
import functools
import itertools

import numpy as np

from .._chunks import data_sum, rows_for_budget
from .backprop import backprop, forward_pass, hidden_slopes, preact_hessian


def layer_block_hessian(net, w, X, T, beta, chunk_size=None, second_order=True):
    """Data Hessian ``(W, W)`` by layer blocks: exact, or Gauss-Newton with ``second_order=False``.

    Parameters
    ----------
    net : MLP
    w : (W,) weights in the package's flat layout.
    X : (N, D) inputs.
    T : (N, K) canonical targets (not read when ``second_order`` is False).
    beta : float, (K,) array or None
        Noise precision of a Gaussian likelihood; None for classification.
    chunk_size : int, optional
        Rows of data per chunk; by default from the network's sizes (:func:`_chunk_rows`).
    second_order : bool
        Keep the terms in h'' and in the deltas g (the exact Hessian), or drop them (Gauss-Newton).

    Returns
    -------
    H : (W, W) exactly symmetric array.
    """
    layers = net.unpack(w)
    rows = chunk_size if chunk_size is not None else _chunk_rows(net.sizes, X.shape[0], second_order)
    sums = data_sum(lambda Xc, Tc: _block_products(net, layers, Xc, Tc, beta, second_order), X, T, rows)
    return _assemble(net, sums, second_order)


#: A chunk has at least this many rows: the data axis is the inner dimension of the block products.
_MIN_ROWS = 256


def _chunk_rows(sizes, n_rows, second_order):
    """Rows per chunk: about as many as make the chunk's per-pattern factors as large as its block products.

    Every chunk allocates and adds its block products once (about W²/2 floats): fewer rows spend more time on
    that, more rows push the per-pattern factors out of cache. At least 256 rows, at most the 64 MiB chunk
    budget of factors, then equal chunks. Measured on the problems of ``benchmarks/curvature.py`` at
    N = 10 000 against fixed sizes of 256 to 2 048 rows: within 11 % of the best for the Gauss-Newton blocks
    and 17 % for the exact ones on every problem; 10-17 % faster than 256 rows for the Gauss-Newton blocks at
    W = 5 000.
    """
    floats = _floats_per_pattern(sizes, second_order)
    most = min(max(_product_floats(sizes) // floats, _MIN_ROWS), rows_for_budget(8 * floats))
    n_chunks = -(-n_rows // most)
    return -(-n_rows // n_chunks)


def _tri(n):
    return n * (n + 1) // 2


def _product_floats(sizes):
    """Floats of one chunk's block products: triangles for each layer, full blocks for each pair."""
    d, e = sizes[1:], [s + 1 for s in sizes[:-1]]
    same = sum(_tri(d_l) * _tri(e_l) for d_l, e_l in zip(d, e))
    return same + sum(d[l] * d[m] * e[l] * e[m] for l in range(len(d)) for m in range(l + 1, len(d)))


def block_costs(sizes):
    """Per pattern: the flops of the block products and the floats of the factors they multiply.

    Each product element takes one multiply-add per pattern; the factors of layer l are the upper triangles
    of M_l and of z̄ z̄^T, those of a pair l < m the (d_l d_m) and (e_l e_m) outer products.
    """
    d, e = sizes[1:], [s + 1 for s in sizes[:-1]]
    floats = sum(_tri(d_l) + _tri(e_l) for d_l, e_l in zip(d, e))
    floats += sum(d[l] * d[m] + e[l] * e[m] for l in range(len(d)) for m in range(l + 1, len(d)))
    return 2 * _product_floats(sizes), floats


def _floats_per_pattern(sizes, second_order):
    """Per-pattern floats alive at the peak of :func:`_block_products`.

    Exact: every M_l and one block's factors. Gauss-Newton: the rows S_l (at most K of them, twice), the
    inputs z̄ and one block's factors.
    """
    d, e = sizes[1:], [s + 1 for s in sizes[:-1]]
    if second_order:
        same = [_tri(d_l) + e_l * (e_l + 3) // 2 for d_l, e_l in zip(d, e)]
        pairs = [3 * d[l] * d[m] + e[l] * e[m] + d[m] * e[l] for l in range(len(d)) for m in range(l + 1, len(d))]
        return sum(d_l * d_l for d_l in d) + max(same + pairs)
    same = [_tri(d_l) + _tri(e_l) for d_l, e_l in zip(d, e)]
    pairs = [2 * d[l] * d[m] + e[l] * e[m] for l in range(len(d)) for m in range(l + 1, len(d))]
    return 2 * d[-1] * sum(d) + sum(e) + max(same + pairs)


def _preact_hessians(net, layers, fw, slopes, g, output_hessian):
    """``[M_1, ..., M_L]``, each (N, d_l, d_l): M_l = d²E_n/da_l², backpropagated from Lambda."""
    M = [output_hessian]
    for l in range(len(layers) - 2, -1, -1):
        W = layers[l + 1][0]
        M.insert(0, preact_hessian(M[0], W, slopes[l], net.activation.d2h(fw.a[l], fw.z[l + 1]) * (g[l + 1] @ W)))
    return M


@functools.lru_cache(maxsize=32)
def _triu(n):
    """``np.triu_indices(n)``, read-only and computed once per n (a small network's Hessian asks for it dozens
    of times per Newton iteration)."""
    iu = np.triu_indices(n)
    for index in iu:
        index.setflags(write=False)
    return iu


def _upper(A):
    """``(N, n, n)`` symmetric per pattern -> ``(N, n (n + 1) / 2)``: the upper triangles."""
    iu = _triu(A.shape[1])
    return A[:, iu[0], iu[1]]


#: up to this many floats, the upper outer products are formed at once; beyond, column by column (measured: at
#: 273 x 21 units 72 against 145 microseconds, at 273 x 51 2.8 against 0.8 ms, the gathered columns out of cache)
_WHOLE_OUTER_FLOATS = 2**16


def _upper_outer(z):
    """``(N, n)`` -> ``(N, n (n + 1) / 2)``: the upper triangles of the outer products z z^T, row by row."""
    N, n = z.shape
    if N * n * (n + 1) // 2 <= _WHOLE_OUTER_FLOATS:  # small: one product of gathered columns, 2-3x faster
        i, j = _triu(n)
        return np.multiply(z[:, j], z[:, i], out=np.empty((N, i.size)))  # row-major, as below (BLAS's path)
    out = np.empty((N, n * (n + 1) // 2))
    start = 0
    for i in range(n):
        np.multiply(z[:, i:], z[:, i, None], out=out[:, start:start + n - i])
        start += n - i
    return out


def _upper_gram(S):
    """``(n, R, N)`` rows S of each pattern -> ``(n (n + 1) / 2, N)``: the upper triangles of S^T S."""
    n, _, N = S.shape
    out = np.empty((n * (n + 1) // 2, N))
    start = 0
    for i in range(n):
        np.einsum("rn,krn->kn", S[i], S[i:], out=out[start:start + n - i])
        start += n - i
    return out


def _block_products(net, layers, X, T, beta, second_order):
    """Sums over a chunk of the per-pattern block factors, as matrix products over the data axis.

    Returns a tuple: for each layer l the (n_tri(d_l), n_tri(e_l)) product of the upper triangles of M_l
    and z̄_l z̄_l^T (rows (i, p), columns (j, q)); then, for each pair l < m in turn, the (d_l d_m, e_l e_m)
    product of ``(M_m Q_ml)^T`` and z̄_l z̄_m^T (rows (i, p), columns (j, q)), followed with ``second_order``
    by the products of the g_m F_ml term (:func:`_exact_factors`).
    """
    fw = forward_pass(net, layers, X)
    slopes = hidden_slopes(net, fw)
    zbar = [np.concatenate([z, np.ones((X.shape[0], 1))], axis=1) for z in fw.z]
    factors = _exact_factors if second_order else _gauss_newton_factors
    upper_M, pairs = factors(net, layers, fw, slopes, zbar, T, beta)
    # Same layer: sum_n M_l[i,p] z̄_l[j] z̄_l[q] (PRML 5.93, 5.94).
    out = [U @ _upper_outer(z) for U, z in zip(upper_M, zbar)]
    # Layers l < m: sum_n (M_m Q_ml)[p,i] z̄_l[j] z̄_m[q] (PRML 5.95, first term).
    for (l, m), A, second in pairs:
        out.append(A @ (zbar[l][:, :, None] * zbar[m][:, None, :]).reshape(X.shape[0], -1))
        out += second
    return tuple(out)


def _gauss_newton_factors(net, layers, fw, slopes, zbar, T, beta):
    """Factors of the Gauss-Newton blocks (PRML 5.84, 5.85) from the rows S_l of S_n backpropagated to each layer.

    M_l = S_l^T S_l and (M_m Q_ml)^T = S_l^T S_m (as S_m Q_ml = S_l), so every factor costs R per entry.
    Returns the upper triangles of M_l, each (n_tri(d_l), N) (M_L = Lambda itself), and an iterator of
    ``((l, m), (S_l^T S_m) as (d_l d_m, N), [])`` over the pairs l < m.
    """
    lik = net.likelihood
    # S_l[i, r, n] = (S_n da_L/da_l)[r, i]: the output rows backpropagated (PRML 5.73), data axis last.
    S = [np.ascontiguousarray(S_l.transpose(2, 1, 0))
         for S_l in backprop(layers, slopes, lik.output_hessian_sqrt(fw.y, beta))]
    # One layer's triangles at a time: a generator, consumed by the same-layer products.
    upper_M = itertools.chain((_upper_gram(S_l) for S_l in S[:-1]), [_upper(lik.output_hessian(fw.y, beta)).T])
    L, N = len(layers), fw.y.shape[0]
    pairs = (((l, m), np.einsum("irn,prn->ipn", S[l], S[m]).reshape(-1, N), [])
             for l in range(L) for m in range(l + 1, L))
    return upper_M, pairs


def _exact_factors(net, layers, fw, slopes, zbar, T, beta):
    """Factors of the exact blocks: M_l with its h'' term, (M_m Q_ml)^T, and the g_m F_ml products.

    Returns the upper triangles of M_l, each (n_tri(d_l), N), and an iterator of ``((l, m), A, second)``
    over the pairs l < m, A the (d_l d_m, N) factor ``(M_m Q_ml)^T`` and ``second`` the one product of the
    g_m F_ml term (see :func:`_pair_products`).
    """
    lik = net.likelihood
    g = backprop(layers, slopes, lik.delta(fw.y, T, beta))
    M = _preact_hessians(net, layers, fw, slopes, g, lik.output_hessian(fw.y, beta))
    pairs = (item for l in range(len(layers) - 1) for item in _pair_products(layers, slopes, g, M, zbar, l))
    return [_upper(M_l).T for M_l in M], pairs


def _pair_products(layers, slopes, g, M, zbar, l):
    """For every layer m > l: ``((l, m), A, [second])`` of the (l, m) block (PRML 5.95) over the chunk.

    ``A[(i, p), n] = (M_m Q_ml)[p,i]`` for the first term ``sum_n (M_m Q_ml)[p,i] z̄_l[j] z̄_m[q]``. The second
    term ``sum_n g_m[p] F_ml[q,i] z̄_l[j]``: for m = l + 1, where F_ml = D_l, rows p and columns (i, j)
    (q = i); otherwise rows (p, j) and columns (i, q).
    """
    N, d_l = slopes[l].shape
    # Qt[n, i, p] = (da_m/da_l)[p, i], starting from m = l + 1: W_{l+1} D_l.
    Qt = layers[l + 1][0].T[None] * slopes[l][:, :, None]
    for m in range(l + 1, len(layers)):
        W_m = layers[m][0]
        if m > l + 1:
            # Ft[n, i, q] = (dz_m/da_l)[q, i] = h'(a_{m-1})[q] (da_{m-1}/da_l)[q, i]
            Ft = Qt * slopes[m - 1][:, None, :]
            Qt = (Ft.reshape(N * d_l, W_m.shape[1]) @ W_m.T).reshape(N, d_l, W_m.shape[0])
        A = np.matmul(Qt, M[m]).reshape(N, -1).T  # (M_m Q_ml)^T, as M_m is symmetric
        if m == l + 1:
            second = g[m].T @ (slopes[l][:, :, None] * zbar[l][:, None, :]).reshape(N, -1)
        else:
            second = (g[m][:, :, None] * zbar[l][:, None, :]).reshape(N, -1).T @ Ft.reshape(N, -1)
        yield (l, m), A, [second]


def _assemble(net, sums, second_order):
    """Place the summed block products into the ``(W, W)`` Hessian in the package's flat layout."""
    L = net.n_layers
    d = net.sizes[1:]
    e = [s + 1 for s in net.sizes[:-1]]
    H = np.empty((net.n_params, net.n_params))
    for l in range(L):
        _place_same_layer(H, net, l, sums[l])
    pair_sums = iter(sums[L:])
    for l in range(L):
        for m in range(l + 1, L):
            # [(i, p), (j, q)] -> [i, j, p, q]
            block = next(pair_sums).reshape(d[l], d[m], e[l], e[m]).transpose(0, 2, 1, 3)
            if second_order:
                block = np.ascontiguousarray(block)
                _add_delta_term(block, next(pair_sums), m == l + 1)
            if block.size <= _WHOLE_BLOCK_FLOATS:
                _place_units(H, net, l, m, block)
            else:
                for i in range(d[l]):
                    _place_units(H, net, l, m, block[i:i + 1], first=i)
            _mirror(H, net, l, m)
    return H


def _add_delta_term(block, second, adjacent):
    """Add the summed ``g_m F_ml`` term of :func:`_pair_products` to the (l, m) block ``[i, j, p, q]``."""
    d_l, e_l, d_m, e_m = block.shape
    if adjacent:
        diag = np.arange(d_l)
        block[diag, :, :, diag] += second.reshape(d_m, d_l, e_l).transpose(1, 2, 0)
    else:
        block[:, :, :, :-1] += second.reshape(d_m, e_l, d_l, e_m - 1).transpose(2, 1, 0, 3)


@functools.lru_cache(maxsize=32)
def _tri_index(n):
    """``(n, n)`` map from (i, p) to the position of (min, max) in the upper-triangle order of ``_upper``
    (read-only, computed once per n)."""
    idx = np.empty((n, n), dtype=np.intp)
    iu = _triu(n)
    idx[iu] = idx[iu[::-1]] = np.arange(iu[0].size)
    idx.setflags(write=False)
    return idx


def _place_same_layer(H, net, l, upper_sums):
    """Unfold the ``(n_tri(d_l), n_tri(e_l))`` product of upper triangles into the (l, l) block of H.

    Unit by unit, so that the unfolded rows of one unit, ``[j, p, q]``, stay in cache on their way to H; a
    small block at once (the per-unit calls cost more than the copying there).
    """
    d, e = net.sizes[l + 1], net.sizes[l] + 1
    tri_d, tri_e = _tri_index(d), _tri_index(e).ravel()
    if d * d * e * e <= _WHOLE_BLOCK_FLOATS:
        unfolded = np.take(np.take(upper_sums, tri_d.ravel(), axis=0), tri_e, axis=1)  # [(i, p), (j, q)]
        _place_units(H, net, l, l, unfolded.reshape(d, d, e, e).transpose(0, 2, 1, 3))
        return
    for i in range(d):
        rows = np.take(np.take(upper_sums, tri_d[i], axis=0), tri_e, axis=1)  # [p, (j, q)]
        _place_units(H, net, l, l, rows.reshape(1, d, e, e).transpose(0, 2, 1, 3), first=i)


#: blocks of at most this many floats are placed into H at once, larger ones unit by unit
_WHOLE_BLOCK_FLOATS = 2**16


def _place_units(H, net, l, m, block, first=0):
    """Write ``block[i, j, p, q]`` - units ``first + i`` of layer l (z̄ columns j, bias last) against layer m - into
    H."""
    (ws_l, bs_l), (ws_m, bs_m) = net.layer_slices[l], net.layer_slices[m]
    n, e_l, d_m, e_m = block.shape
    weights = slice(ws_l.start + first * (e_l - 1), ws_l.start + (first + n) * (e_l - 1))
    biases = slice(bs_l.start + first, bs_l.start + first + n)
    # Splitting the axes of a slice of H is always possible without a copy: these are views of H.
    H[weights, ws_m].reshape(n, e_l - 1, d_m, e_m - 1)[...] = block[:, :-1, :, :-1]
    H[weights, bs_m].reshape(n, e_l - 1, d_m)[...] = block[:, :-1, :, -1]
    H[biases, ws_m].reshape(n, d_m, e_m - 1)[...] = block[:, -1, :, :-1]
    H[biases, bs_m] = block[:, -1, :, -1]


#: rows of H mirrored at a time: a strip of this height stays in cache while it is transposed
_MIRROR_ROWS = 64


def _mirror(H, net, l, m):
    """Copy the (l, m) block of H, l < m, into the (m, l) block, transposed, strip by strip."""
    (ws_l, bs_l), (ws_m, bs_m) = net.layer_slices[l], net.layer_slices[m]
    cols = slice(ws_m.start, bs_m.stop)
    for start in range(ws_l.start, bs_l.stop, _MIRROR_ROWS):
        stop = min(start + _MIRROR_ROWS, bs_l.stop)
        H[cols, start:stop] = H[start:stop, cols].T
