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

The cores are not left idle: the outermost :func:`one_blas_thread` notes how many threads BLAS had (at most the
CPUs the process may use), and :func:`run_parallel` runs independent pieces of work - the chunks of a pass over
the data, the two curvatures of the evidence slope - on that many Python threads, each on one BLAS thread.
NumPy releases the GIL inside BLAS and most array loops. Each piece computes what it would alone and the
callers combine the results in a fixed order, so the numbers do not depend on the count of workers.

threadpoolctl is imported here, when a limit is first taken, not when laplacenet is. The libraries it controls
are found once, at that first limit (``threadpool_limits`` searched the process's loaded libraries on every
call: 0.9 ms, against 7.5 microseconds for the kept controller, and a fit takes a limit per evidence cycle and
per prediction). laplacenet imports numpy and scipy, whose BLAS libraries are the ones it calls, before any
limit can be taken; a BLAS library loaded later by other code is not limited.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from ._allocator import settle as settle_allocator

#: the most threads a fit runs pieces on: each holds a piece's partial sums (a chunk's block products are about
#: W^2 / 3 floats), so memory grows with them, while two to four cover the pairs and chunk waves of a fit
MAX_WORKERS = 4

_controller = None
#: per thread: how deep inside one_blas_thread it is, and the workers its outermost entry found
_local = threading.local()
_pool, _pool_size = None, 0
_pool_lock = threading.Lock()


@contextmanager
def one_blas_thread():
    """A context manager: BLAS limited to one thread inside, restored after.

    Its outermost entry also sets :func:`task_workers`, the threads that independent work inside may run on:
    the BLAS threads the process had (``OPENBLAS_NUM_THREADS``, ``threadpoolctl``), at most the CPUs it may use
    and ``MAX_WORKERS``.
    """
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController
        _controller = ThreadpoolController()
    depth = getattr(_local, "depth", 0)
    if depth == 0:
        settle_allocator()
        _local.workers = max(1, min(_blas_threads(), _available_cpus(), MAX_WORKERS))
    _local.depth = depth + 1
    try:
        with _controller.limit(limits=1, user_api="blas"):
            yield
    finally:
        _local.depth = depth


def task_workers():
    """Threads that independent pieces of work may run on here: 1 outside :func:`one_blas_thread` (BLAS threads
    its calls), in a worker thread and in a task of :func:`run_parallel` (no nesting: the pool is busy), else what
    the outermost entry found."""
    if not getattr(_local, "depth", 0) or getattr(_local, "busy", False):
        return 1
    return _local.workers


def run_parallel(tasks):
    """``[task() for task in tasks]``, the tasks run on up to :func:`task_workers` threads at once.

    Each task computes exactly what it would alone (one BLAS thread each, no shared state), so the results do not
    depend on the number of workers; the first exception, in task order, is raised once all have finished.
    """
    workers = task_workers()
    if workers == 1 or len(tasks) < 2:
        return [task() for task in tasks]
    futures = [_submit(workers, task) for task in tasks[1:]]
    _local.busy = True
    try:
        outcomes = [_outcome(tasks[0])]
    finally:
        _local.busy = False
    for future in futures:
        error = future.exception()
        outcomes.append((None, error) if error is not None else (future.result(), None))
    for _, error in outcomes:
        if error is not None:
            raise error
    return [value for value, _ in outcomes]


def _outcome(task):
    try:
        return task(), None
    except Exception as error:  # raised after the other tasks have finished
        return None, error


def _submit(workers, task):
    """``task`` given to the shared pool of ``workers - 1`` threads (the calling thread works too), made anew when
    the count changes; under the lock, so that no other thread shuts the pool down in between."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size != workers - 1:
            if _pool is not None:
                _pool.shutdown(wait=True)
            _pool_size = workers - 1
            _pool = ThreadPoolExecutor(max_workers=_pool_size, thread_name_prefix="laplacenet")
        return _pool.submit(task)


def _forget_pool():
    """In a child made by fork: the parent's pool threads do not exist there, and work submitted to its copy of
    the pool would wait for ever. The child starts a pool of its own when it needs one."""
    global _pool, _pool_size, _pool_lock
    _pool, _pool_size, _pool_lock = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _blas_threads():
    """The most threads any BLAS library of the process has now."""
    return max((lib["num_threads"] for lib in _controller.select(user_api="blas").info()), default=1)


def _available_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
