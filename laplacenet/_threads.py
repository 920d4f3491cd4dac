"""BLAS threads for the loops of small matrices (training, the evidence loop, predictions).

A fit of a small network is thousands of BLAS calls on matrices of a few hundred rows, and MAP training of any
network is a loop of products whose sizes are the layer widths. Threads cannot speed those up, and on a machine
whose cores are busy with other work OpenBLAS's threads spin while they wait for one another: the default
threads made such fits 4-7 times slower than one thread (``benchmarks/threads.py``), and the gradient passes of
digits with 50 hidden units 4 times slower even on an idle machine. So training runs on one BLAS thread (but
for the dense Newton method on a large network, whose iterations are W x W factorisations), and the
estimators' fits and predictions run on one thread while the network has at most :data:`SMALL_NETWORK`
weights; beyond, the W x W linear algebra of the posterior uses the threads as configured.

threadpoolctl is imported here, when a limit is taken, not when laplacenet is.
"""
import contextlib

__all__ = ["SMALL_NETWORK", "blas_threads_for", "training_threads"]

#: networks of up to this many weights run their fits with one BLAS thread
SMALL_NETWORK = 2000


def blas_threads_for(n_params):
    """A context manager: one BLAS thread for a network of at most ``SMALL_NETWORK`` weights, else no change."""
    if n_params > SMALL_NETWORK:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits
    return threadpool_limits(limits=1, user_api="blas")


def training_threads(method, n_params):
    """A context manager for MAP training by ``method`` (as resolved from 'auto'): one BLAS thread, except for
    the dense Newton method on a network of more than ``SMALL_NETWORK`` weights."""
    return blas_threads_for(0 if method != "newton" else n_params)
