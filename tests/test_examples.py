"""Every script of ``examples/`` runs to the end as a script, headless, prints what it is about and draws the
figures the gallery shows."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))

# What each example must print, and how many figures it leaves open for plt.show() / sphinx-gallery.
EXPECTED = {
    "quickstart.py": (["noise standard deviation used to make the data"], 0),
    "sinusoid_evidence.py": (["converged: beta =", "log evidence"], 3),
    "classification_2d.py": (["moderated", "far from the 40 points"], 2),
    "evidence_model_comparison.py": (["highest log evidence", "+ ln M_a! + M_a ln 2"], 1),
    "motorcycle.py": (["chosen by the evidence:", "within 2 sd"], 2),
    "penguins.py": (["chosen by the evidence", "moderated (probit)", "Laplace bridge", "linearised MC"], 2),
    "penguin_body_mass.py": (["chosen by the evidence: hidden =", "test RMSE", "within 1.96 sd"], 2),
}

# Run the script as __main__ (as ``python examples/NAME.py`` and sphinx-gallery do), then count its figures.
RUNNER = ("import runpy, sys; import matplotlib.pyplot as plt; runpy.run_path(sys.argv[1], run_name='__main__'); "
          "print(f'open figures: {len(plt.get_fignums())}')")


def test_every_example_is_listed():
    assert sorted(path.name for path in SCRIPTS) == sorted(EXPECTED)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_example_runs_and_prints_its_results(script, tmp_path):
    # Agg: no display. One BLAS thread: the examples' matrices are tiny, and on a shared 2-core machine
    # OpenBLAS threads spinning in scipy's L-BFGS-B slow the training many times over.
    env = {**os.environ, "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", RUNNER, str(script)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr[-3000:]
    texts, n_figures = EXPECTED[script.name]
    for text in texts:
        assert text in result.stdout, f"{script.name} did not print {text!r}:\n{result.stdout[-2000:]}"
    assert result.stdout.rstrip().endswith(f"open figures: {n_figures}")
    assert list(tmp_path.iterdir()) == [], "examples must not write files"
    assert elapsed < 60, f"{script.name} took {elapsed:.1f} s; examples must run in under a minute"
