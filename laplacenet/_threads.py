"""BLAS threads for the loops of the fits (training, the evidence loop, predictions).

A fit is thousands of BLAS calls on matrices of a few hundred rows, and MAP training of any network is a loop of
products whose sizes are the layer widths. Threads cannot speed those up, and on a machine whose cores are busy
with other work OpenBLAS's threads spin while they wait for one another: the default threads made such fits 4-7
times slower than one thread (``benchmarks/threads.py``), and the gradient passes of digits with 50 hidden
units 4 times slower even on an idle machine. And the results must not depend on the thread count: with two
threads the W x W factorisations of a large network round differently, the evidence loop (which stops on a
tolerance) then stops at a different point, and digits with 50 hidden units (W = 3760) gave test probabilities
up to 0.036 apart and one class changed (``docs/performance.md``). So MAP training, the estimators' fits and
predictions, :func:`laplacenet.fit_evidence` and :func:`laplacenet.compare_models` run on one BLAS thread,
whatever the network.

threadpoolctl is imported here, when a limit is first taken, not when laplacenet is. The libraries it controls
are found once, at that first limit (``threadpool_limits`` searched the process's loaded libraries on every
call: 0.9 ms, against 7.5 microseconds for the kept controller, and a fit takes a limit per evidence cycle and
per prediction). laplacenet imports numpy and scipy, whose BLAS libraries are the ones it calls, before any
limit can be taken; a BLAS library loaded later by other code is not limited.
"""

__all__ = ["one_blas_thread"]

_controller = None


def one_blas_thread():
    """A context manager: BLAS limited to one thread inside, restored after."""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")
