"""glibc's allocator settled at the first fit (laplacenet.core._allocator): where it applies, the thresholds are set
once; the numbers of a fit are the same bits with and without it."""
import os
import platform
import subprocess
import sys

import numpy as np

from laplacenet.core import _allocator

_GLIBC_LINUX = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

_FIT = """
import sys, numpy as np, laplacenet as ln
from laplacenet.core import _allocator
X, y = ln.datasets.load_penguins()[:2]
est = ln.BayesianMLPClassifier(hidden=(6,), seed=0).fit(X[::3], y[::3])
sys.stdout.write(repr(_allocator.settle()) + " " + est.w_.tobytes().hex() + " " + est.predict_proba(X).tobytes().hex())
"""


def _fit_in_subprocess(mallopt):
    env = dict(os.environ, LAPLACENET_MALLOPT=mallopt, OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", _FIT], env=env, capture_output=True, text=True, timeout=300,
                         check=True).stdout.split()
    return out[0] == "True", bytes.fromhex(out[1]), bytes.fromhex(out[2])


def test_a_fit_settles_the_allocator_where_glibc_is_and_computes_the_same_bits_either_way():
    settled, w, proba = _fit_in_subprocess("1")
    kept, w_kept, proba_kept = _fit_in_subprocess("0")
    assert settled is _GLIBC_LINUX and kept is False  # LAPLACENET_MALLOPT=0 leaves the allocator alone
    assert w == w_kept and proba == proba_kept
    assert np.frombuffer(proba, dtype=float).size == 342 * 3  # the bytes compared are the whole predictions


def test_settle_runs_once_and_then_reports_what_it_did(monkeypatch):
    calls = []
    monkeypatch.setattr(_allocator, "_settled", None)
    monkeypatch.setattr(_allocator, "_set_thresholds", lambda: calls.append(1) or True)
    assert _allocator.settle() is True and _allocator.settle() is True
    assert calls == [1]


def test_the_opt_out_and_other_systems_set_nothing(monkeypatch):
    monkeypatch.setenv("LAPLACENET_MALLOPT", "0")
    assert _allocator._set_thresholds() is False
    monkeypatch.setenv("LAPLACENET_MALLOPT", "1")
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    assert _allocator._set_thresholds() is False
