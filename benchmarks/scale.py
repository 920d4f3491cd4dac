"""Memory and time of the data sums as N grows, in process and on a dask ``LocalCluster`` (issue 6).

Table 1: the gradient, the outer-product Hessian (PRML 5.84) and the Kronecker factors
(``laplacenet.kron_factors``) of a tanh network at N = 10^4, 10^5, 10^6 synthetic points. Each
(quantity, N) runs in a fresh subprocess of this script: it generates the data chunk by chunk (X (N, D)
standard normal, T from a random teacher network plus noise), calls the quantity once on 1 000 rows to
load code and BLAS buffers, takes the resident set size as the baseline, resets the peak RSS (Linux
``/proc/self/clear_refs``), and then calls it on all N rows. "peak RSS" is the peak resident memory of that
call above the baseline (``getrusage(RUSAGE_SELF).ru_maxrss``), "traced" the peak of the allocations
tracemalloc saw during it (numpy's buffers included). Both must stay flat in N while the data grow. Time is
the best of the calls made within ~2 s (the first, traced one included: for chunked numpy code tracemalloc
costs little); the weights are random (the cost does not depend on them); laplacenet's default chunk
sizes unless ``--chunk-size`` is given.

Table 2: the gradient and the Kronecker factors on dask arrays on two ``dask.distributed.LocalCluster``,
of 1 and of 2 worker processes (one thread each, 127.0.0.1, no dashboard), beside numpy in this process, at
N = 10^5 and 10^6: points per second, the speed-up of 2 workers over 1 and the largest difference from the
numpy result relative to its largest entry. The data are scattered to the workers' memory as 8 partitions
before timing. The first call on each cluster (importing laplacenet on the workers) is not timed; then
numpy, 1 worker and 2 workers are called in turn, 5 times, and the best time of each is kept, so that a
load from other jobs that varies slowly weighs on all three alike. Both clusters are closed at the end.

Page faults: glibc's malloc gives the temporaries of a chunk (a few MiB) back to the kernel when they are
freed, and the next chunk faults them in again; "system s" in table 1 is that kernel time. How much depends on
the chunk size and on the process's allocation history (glibc adapts its thresholds to the largest block freed
so far). dask's nanny starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536``
(``distributed.nanny.pre-spawn-environ``), which turns the adaptation off, so a worker runs the same numpy
code slower than this process; ``--no-worker-trim`` starts the workers without it. To measure without the page
faults at all, keep freed memory in the process:
``MALLOC_MMAP_THRESHOLD_=268435456 MALLOC_TRIM_THRESHOLD_=1073741824 python benchmarks/scale.py --no-worker-trim``.

The ``kron``, ``last_layer`` and ``lowrank`` Laplace posteriors with their evidence on a network with
W ~ 60 000, beside laplace-torch, are benchmarks/scale_structures.py; ``--structures`` runs it after these
tables (in a subprocess, with ``--quick`` when given here).

Run:  python benchmarks/scale.py [--quick] [--structures] [--no-worker-trim] [--chunk-size ROWS]
                                 [--sizes 8,32,32,1]
``--quick``: N up to 10^5, no cluster. The full run takes a few minutes on 2 cores.

BLAS threads: unless ``OPENBLAS_NUM_THREADS`` is set, this script sets it to 1 before numpy loads (the
subprocesses inherit it; dask's nanny gives its workers 1 thread anyway), so one process uses one core and
the 1-worker cluster, the 2-worker cluster and numpy compare like with like. On a 2-core machine loaded by
other jobs one thread is also far steadier: two OpenBLAS threads on oversubscribed cores made the Kronecker
factors 30 to 240 times slower. Set ``OPENBLAS_NUM_THREADS=2`` to measure multithreaded BLAS instead.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from functools import partial  # noqa: E402

import numpy as np  # noqa: E402

import laplacenet as ln  # noqa: E402

ALPHA, BETA = 1.0, 25.0
#: [8, 32, 32, 1]: W = 1 377, small enough that the outer Hessian (N K W^2 flops) takes under a minute at N = 10^6
SIZES = (8, 32, 32, 1)
QUANTITIES = ("gradient", "outer Hessian", "Kronecker factors")
GENERATE_ROWS = 65536
WARMUP_ROWS = 1000
TIME_BUDGET = 2.0
PARTITIONS = 8
REPEAT = 5
#: no dashboard; the scheduler's plain HTTP routes (health, metrics) on a free loopback port, not 8787
SCHEDULER_HTTP = {"dashboard_address": "127.0.0.1:0"}
HERE = os.path.dirname(os.path.abspath(__file__))


# --- problem -------------------------------------------------------------------------------------------

def make_data(sizes, n, seed=0):
    """A tanh network, random weights and N synthetic points, generated ``GENERATE_ROWS`` at a time."""
    rng = np.random.default_rng(seed)
    net = ln.MLP(list(sizes), "tanh", "gaussian")
    teacher_w = net.init(seed + 100) * 1.5
    X = np.empty((n, sizes[0]))
    T = np.empty((n, sizes[-1]))
    for start in range(0, n, GENERATE_ROWS):
        rows = slice(start, min(start + GENERATE_ROWS, n))
        rng.standard_normal(out=X[rows])
        T[rows] = net.forward(teacher_w, X[rows]) + 0.2 * rng.standard_normal((rows.stop - rows.start, sizes[-1]))
    return net, net.init(seed), X, T


def quantity_fn(quantity, net, w, chunk_size=None):
    """``fn(X, T)`` computing one quantity through the public API (``chunk_size`` None: its default)."""
    chunks = {} if chunk_size is None else {"chunk_size": chunk_size}
    if quantity == "gradient":
        return lambda X, T: ln.gradient(net, w, X, T, ALPHA, BETA, **chunks)
    if quantity == "outer Hessian":
        return lambda X, T: ln.hessian(net, w, X, T, ALPHA, BETA, method="outer", **chunks)
    return lambda X, T: ln.kron_factors(net, w, X, T, BETA, **chunks)


# --- table 1: one measurement per subprocess ------------------------------------------------------------

def current_rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak_rss():
    """Reset the peak RSS that ``ru_maxrss`` reports (Linux >= 4.0); False where that is not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def peak_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def measure(quantity, n, sizes, chunk_size=None):
    """Time, peak RSS above the baseline and tracemalloc peak of one quantity on N points, as a dict."""
    net, w, X, T = make_data(sizes, n)
    fn = quantity_fn(quantity, net, w, chunk_size)
    fn(X[:WARMUP_ROWS], T[:WARMUP_ROWS])
    baseline = current_rss()
    was_reset = reset_peak_rss()
    tracemalloc.start()
    calls = [timed_call(fn, X, T)]
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss = peak_rss() - baseline
    while sum(wall for wall, _ in calls) < TIME_BUDGET and len(calls) < 5:
        calls.append(timed_call(fn, X, T))
    seconds, system = min(calls)
    return dict(quantity=quantity, n=n, W=net.n_params, seconds=seconds, system=system, peak_rss=rss,
                traced=traced, data_bytes=X.nbytes + T.nbytes, exact_peak=was_reset)


def timed_call(fn, X, T):
    """Wall seconds of ``fn(X, T)`` and the system CPU seconds of this process during it."""
    t0, cpu0 = time.perf_counter(), os.times()
    fn(X, T)
    return time.perf_counter() - t0, os.times().system - cpu0.system


def measure_in_subprocess(quantity, n, sizes, chunk_size=None):
    command = [sys.executable, os.path.abspath(__file__), "--child", quantity, str(n),
               "--sizes", ",".join(map(str, sizes))] + ([] if chunk_size is None else ["--chunk-size", str(chunk_size)])
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def memory_table(ns, sizes, chunk_size=None):
    mib = 2**20
    print(f"\n### Table 1: memory and time in one process, {list(sizes)} tanh Gaussian network, "
          f"{chunk_label(chunk_size)}\n")
    print("| quantity | N | data MiB | seconds | system s | points/s | peak RSS MiB | traced MiB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for quantity in QUANTITIES:
        for n in ns:
            r = measure_in_subprocess(quantity, n, sizes, chunk_size)
            note = "" if r["exact_peak"] else " (peak since start)"
            print(f"| {quantity} | {n:.0e} | {r['data_bytes'] / mib:.1f} | {r['seconds']:.3f} | {r['system']:.2f} | "
                  f"{n / r['seconds']:,.0f} | {r['peak_rss'] / mib:.1f}{note} | {r['traced'] / mib:.1f} |",
                  flush=True)
    print(f"\nW = {r['W']}. peak RSS: resident memory of the call above the resident memory before it; "
          "traced: peak of the allocations tracemalloc saw during the call; system s: kernel CPU time of the "
          "process during the call (page faults).")


# --- table 2: dask.distributed ---------------------------------------------------------------------------

def relative_difference(a, b):
    """Largest |a - b| over the largest |b|, for arrays or KronFactors."""
    if isinstance(b, ln.KronFactors):
        pairs = list(zip(a.output_factors + a.input_factors, b.output_factors + b.input_factors))
    else:
        pairs = [(a, b)]
    return max(np.max(np.abs(x - y)) / np.max(np.abs(y)) for x, y in pairs)


def to_cluster(client, X, T):
    """``X`` and ``T`` as dask arrays of ``PARTITIONS`` row blocks held in the memory of ``client``'s workers,
    block i of both on worker i mod (number of workers), so that no task waits for a transfer."""
    import dask.array as da

    workers = sorted(client.scheduler_info()["workers"])
    rows = -(-X.shape[0] // PARTITIONS)
    blocks = [slice(start, min(start + rows, X.shape[0])) for start in range(0, X.shape[0], rows)]
    parts = [client.scatter([X[b], T[b]], workers=[workers[i % len(workers)]]) for i, b in enumerate(blocks)]
    return tuple(da.concatenate([da.from_delayed(part[j], A[b].shape, dtype=A.dtype) for part, b in zip(parts, blocks)])
                 for j, A in enumerate((X, T)))


def on_client(client, fn, X, T):
    with client.as_current():
        return fn(X, T)


def interleaved_best(runs, repeat=REPEAT):
    """Best seconds of each of ``runs`` {label: callable}, called in turn ``repeat`` times (a slowly varying
    load then weighs on all of them alike)."""
    best = dict.fromkeys(runs, np.inf)
    for _ in range(repeat):
        for label, run in runs.items():
            t0 = time.perf_counter()
            run()
            best[label] = min(best[label], time.perf_counter() - t0)
    return best


def cluster_table(ns, sizes, worker_trim=True, chunk_size=None):
    from contextlib import ExitStack

    import dask
    from dask.distributed import Client, LocalCluster

    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
    if not worker_trim:
        environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    print(f"\n### Table 2: dask.distributed LocalCluster (1 thread per worker, {PARTITIONS} partitions, "
          f"MALLOC_TRIM_THRESHOLD_={environ.get('MALLOC_TRIM_THRESHOLD_', 'unset')} in the workers, "
          f"{chunk_label(chunk_size)}), "
          f"points per second\n")
    print("| quantity | N | numpy in process | 1 worker | 2 workers | speed-up 2/1 | rel. diff. 1 / 2 workers |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    with ExitStack() as stack:
        stack.enter_context(dask.config.set({"distributed.nanny.pre-spawn-environ": environ}))
        clients = {k: stack.enter_context(Client(stack.enter_context(
            LocalCluster(n_workers=k, threads_per_worker=1, processes=True, host="127.0.0.1",
                         dashboard_address=None, scheduler_kwargs=SCHEDULER_HTTP)), set_as_default=False))
            for k in (1, 2)}
        for n in ns:
            net, w, X, T = make_data(sizes, n)
            data = {k: to_cluster(client, X, T) for k, client in clients.items()}
            for quantity in ("gradient", "Kronecker factors"):
                fn = quantity_fn(quantity, net, w, chunk_size)
                expected = fn(X, T)
                runs = {"numpy": lambda: fn(X, T)}
                # first call per cluster, untimed: laplacenet imported and the function shipped to the workers
                diffs = {k: relative_difference(on_client(client, fn, *data[k]), expected)
                         for k, client in clients.items()}
                runs.update({k: partial(on_client, client, fn, *data[k]) for k, client in clients.items()})
                best = interleaved_best(runs)
                print(f"| {quantity} | {n:.0e} | {n / best['numpy']:,.0f} | {n / best[1]:,.0f} | "
                      f"{n / best[2]:,.0f} | {best[1] / best[2]:.2f} | {diffs[1]:.1e} / {diffs[2]:.1e} |",
                      flush=True)
            del data


# --- main -------------------------------------------------------------------------------------------------

def chunk_label(chunk_size):
    return "laplacenet's default chunks" if chunk_size is None else f"chunks of {chunk_size} rows"


def load_line(when):
    one, five, fifteen = os.getloadavg()
    return f"load average {when}: {one:.2f}, {five:.2f}, {fifteen:.2f} (1, 5, 15 min) on {os.cpu_count()} cores"


def parse_sizes(text):
    return tuple(int(s) for s in text.split(","))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N up to 10^5, no cluster")
    parser.add_argument("--structures", action="store_true",
                        help="then run benchmarks/scale_structures.py (kron, last-layer, lowrank Laplace)")
    parser.add_argument("--sizes", type=parse_sizes, default=SIZES, help="layer sizes, e.g. 8,32,32,1")
    parser.add_argument("--no-worker-trim", action="store_true",
                        help="start the dask workers without distributed's MALLOC_TRIM_THRESHOLD_=65536")
    parser.add_argument("--chunk-size", type=int, default=None,
                        help="rows per chunk for every quantity (default: laplacenet's defaults)")
    parser.add_argument("--child", nargs=2, metavar=("QUANTITY", "N"), help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.child:
        print(json.dumps(measure(opts.child[0], int(opts.child[1]), opts.sizes, opts.chunk_size)))
        return
    start = time.perf_counter()
    print(f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}; {load_line('at start')}")
    memory_table((10**4, 10**5) if opts.quick else (10**4, 10**5, 10**6), opts.sizes, opts.chunk_size)
    if not opts.quick:
        cluster_table((10**5, 10**6), opts.sizes, not opts.no_worker_trim, opts.chunk_size)
    print(f"\n{load_line('at end')}; total {time.perf_counter() - start:.0f} s")
    structures = os.path.join(HERE, "scale_structures.py")
    if opts.structures:
        print("\n### Structured Laplace posteriors with evidence (benchmarks/scale_structures.py)\n", flush=True)
        subprocess.run([sys.executable, structures] + (["--quick"] if opts.quick else []), check=True)
    else:
        print("\nThe kron, last-layer and lowrank Laplace posteriors with evidence at W ~ 60 000 (and laplace-torch "
              "beside them): python benchmarks/scale_structures.py, or this script with --structures.")


if __name__ == "__main__":
    main()
