"""glibc's allocator moved to its own steady state before the first fit, so that the temporaries of a Newton
loop are not handed back to the system and faulted in again at every iteration.

glibc's malloc serves blocks above its mmap threshold by mmap and returns the free top of its heap to the system
beyond its trim threshold. Both start at 128 KiB and rise as the process frees larger blocks, to at most 32 MiB
and twice that. Until they have risen, every iteration of a fit of a small network allocates and frees a few MiB
of per-pattern factors, Hessian and Cholesky copies, and pays a page fault for each 4 KiB page of them when it
allocates them again: motorcycle with 50 hidden units took 1 024 faults per exact Hessian (40 % of its time),
penguins with 50 units 2 700 per Hessian, factorisation and gradient. :func:`settle` sets the two thresholds to
those end values once, as a process that had freed a 32 MiB array would have them: the free top of the heap, up
to 64 MiB, stays with the process. The numbers computed are the same bits (only where memory comes from changes).

Only on Linux with glibc; nothing is done elsewhere, or when the environment variable ``LAPLACENET_MALLOPT`` is
``0``. Called by the outermost :func:`laplacenet.core._threads.one_blas_thread`, that is when the first fit, training
or prediction starts, not when laplacenet is imported.
"""
import ctypes
import os
import platform
import threading

#: mallopt's parameters (glibc's malloc.h) and the values glibc's own dynamic thresholds end at on 64-bit systems
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 * 2**20
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD

_settled = None  # None until tried, then whether the thresholds are set
_lock = threading.Lock()


def settle():
    """Set glibc's mmap and trim thresholds to ``MMAP_THRESHOLD`` and ``TRIM_THRESHOLD``, once per process.

    Returns whether they are set (False off glibc, with ``LAPLACENET_MALLOPT=0``, or where mallopt refused).
    """
    global _settled
    with _lock:
        if _settled is None:
            _settled = _set_thresholds()
        return _settled


def _set_thresholds():
    if os.environ.get("LAPLACENET_MALLOPT", "1") == "0" or platform.system() != "Linux" \
            or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # setting either stops glibc adjusting both: the mmap threshold first, so that it is never left at its start
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
