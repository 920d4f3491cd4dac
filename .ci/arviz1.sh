#!/usr/bin/env bash
# The ArviZ-dependent tests a second time, under the arviz 1.x API: a fresh virtual environment with
# arviz-base, arviz-stats and arviz-plots and WITHOUT the arviz package (the project is installed with
# --no-deps, since its pyproject asks for arviz 0.x). Run from anywhere; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-arviz1
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
# matplotlib<3.11: arviz-plots 0.8 (the newest on Python 3.11) reads matplotlib.style.core at import, which
# matplotlib 3.11 no longer binds (arviz-devs/arviz-plots#500). h5py: h5netcdf >= 1.8 no longer requires it,
# and writing netCDF needs it. The other runtime dependencies of pyproject.toml are listed by hand: keep them in step.
"$venv/bin/python" -m pip install -q "arviz-base>=0.8" "arviz-stats>=0.8" "arviz-plots>=0.8" \
    h5netcdf h5py "matplotlib<3.11" numpy scipy pandas tqdm threadpoolctl pytest hypothesis
"$venv/bin/python" -m pip install -q --no-deps -e .

if "$venv/bin/python" -c "import arviz" 2>/dev/null; then
    echo "arviz1.sh: the arviz package is importable in $venv; this run must use arviz-base/-stats/-plots only" >&2
    exit 1
fi
"$venv/bin/python" -c "import arviz_base, arviz_stats, arviz_plots; print('+ arviz-base', arviz_base.__version__, \
'arviz-stats', arviz_stats.__version__, 'arviz-plots', arviz_plots.__version__)"

echo "+ python -m pytest -q tests/test_arviz.py tests/bayes/test_diagnostics.py (arviz 1.x API)"
MPLBACKEND=Agg "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/test_arviz.py tests/bayes/test_diagnostics.py
