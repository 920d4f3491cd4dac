import subprocess
import sys

import laplacenet as ln
from laplacenet.cli import main


def test_version(capsys):
    try:
        main(["--version"])
    except SystemExit as ex:
        assert ex.code == 0
    assert capsys.readouterr().out.strip() == f"laplacenet {ln.__version__}"


def test_help_via_python_dash_m():
    out = subprocess.run([sys.executable, "-m", "laplacenet", "--help"], capture_output=True, text=True, check=True)
    assert "usage: laplacenet" in out.stdout and "Laplace" in out.stdout


def test_import_leaves_plotting_and_arviz_unloaded():
    code = "import sys, laplacenet; print(sorted(m for m in ('arviz', 'matplotlib', 'xarray') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
