"""Dense W x W matrices worked on in place, a block of rows at a time, so that no W x W temporary is made.

The matrix budget (:mod:`laplacenet.core._config`) bounds each dense matrix a call forms; these helpers keep the
symmetrisations, mirrorings and scans of such a matrix from forming a second one.
"""
import numpy as np

#: elements of a block: 512 KiB of float64, a few per cent of a 2 000 x 2 000 matrix
BLOCK_ELEMENTS = 2**16


def _block_rows(n):
    return max(1, BLOCK_ELEMENTS // max(1, n))


def symmetrise(A):
    """``A <- (A + A^T) / 2`` in place for a square ``A``; returns ``A``."""
    n = A.shape[0]
    block = _block_rows(n)
    for start in range(0, n, block):
        rows = slice(start, min(start + block, n))
        mean = 0.5 * (A[rows, start:] + A[start:, rows].T)  # symmetric on its diagonal block
        A[rows, start:] = mean
        A[start:, rows] = mean.T
    return A


def mirror_upper(A):
    """Copy the upper triangle of a square ``A`` onto its lower triangle, in place; returns ``A``."""
    n = A.shape[0]
    block = _block_rows(n)
    for start in range(0, n, block):
        stop = min(start + block, n)
        cols = slice(start, stop)
        diagonal_block = A[cols, cols]
        lower = np.tril_indices(stop - start, -1)
        diagonal_block[lower] = diagonal_block.T[lower]
        A[stop:, cols] = A[cols, stop:].T
    return A


def max_asymmetry(A):
    """``max |A - A^T|`` of a square ``A``."""
    n, worst = A.shape[0], 0.0
    block = _block_rows(n)
    for start in range(0, n, block):
        rows = slice(start, min(start + block, n))
        worst = max(worst, float(np.max(np.abs(A[rows, start:] - A[start:, rows].T))))
    return worst


def count_non_finite(a):
    """How many entries of the array ``a`` are inf or NaN."""
    if a.ndim < 2 or a.size <= BLOCK_ELEMENTS:
        return int(a.size - np.count_nonzero(np.isfinite(a)))
    rows = max(1, BLOCK_ELEMENTS // a[0].size)
    return sum(int(a[i:i + rows].size - np.count_nonzero(np.isfinite(a[i:i + rows])))
               for i in range(0, a.shape[0], rows))
