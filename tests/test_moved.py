"""The module paths before the layered layout stay importable until 0.2, with a DeprecationWarning."""
import importlib
import subprocess
import sys

import pytest

import laplacenet as ln
from laplacenet._moved import MOVED


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_path_imports_and_reads_the_new_module_with_a_warning(old):
    stand_in = importlib.import_module("laplacenet." + old)
    new = importlib.import_module("laplacenet." + MOVED[old])
    if old == "curvature":  # the old package: its submodules are the old submodules' stand-ins
        assert stand_in.rop is sys.modules["laplacenet.curvature.rop"]
        stand_in, new = stand_in.rop, new.rop
    # any function or class the new module defines (a module need not have an __all__)
    public = sorted(name for name, obj in vars(new).items()
                    if not name.startswith("_") and getattr(obj, "__module__", None) == new.__name__)
    assert public, f"{MOVED[old]} defines nothing to forward"
    with pytest.warns(DeprecationWarning, match=f"{stand_in.__name__} is now {new.__name__}"):
        got = getattr(stand_in, public[0])
    assert got is getattr(new, public[0])


@pytest.mark.parametrize("old, name", [("rop", "hvp"), ("rop", "hessian_operator"),
                                       ("diagonal", "hessian_diagonal"),
                                       ("kron", "kron_factors"), ("woodbury", "inverse_outer_hessian"),
                                       ("hessian", "hessian"), ("hessian", "data_hessian"),
                                       ("hessian", "HESSIAN_METHODS")])
def test_an_old_curvature_path_finds_the_routes_that_left_it(old, name):
    stand_in = importlib.import_module("laplacenet.curvature." + old)
    with pytest.warns(DeprecationWarning, match=f"laplacenet.curvature.{old}.* is now laplacenet.core.routes"):
        got = getattr(stand_in, name)
    assert got is getattr(importlib.import_module("laplacenet.core.routes"), name)
    assert name in dir(stand_in)


@pytest.mark.parametrize("old, name", [("rop", "HVP_KINDS"), ("diagonal", "DIAGONAL_KINDS")])
def test_the_kinds_of_a_route_stay_with_their_kernels(old, name):
    stand_in = importlib.import_module("laplacenet.curvature." + old)
    with pytest.warns(DeprecationWarning, match=f"laplacenet.curvature.{old} is now laplacenet.core.curvature.{old};"):
        got = getattr(stand_in, name)
    assert got is getattr(importlib.import_module("laplacenet.core.curvature." + old), name)
    assert got is getattr(importlib.import_module("laplacenet.core.routes"), name)


def test_an_old_curvature_path_still_finds_its_kernels_first():
    with pytest.warns(DeprecationWarning, match="laplacenet.curvature.rop is now laplacenet.core.curvature.rop;"):
        from laplacenet.curvature.rop import data_hvp
    assert data_hvp is importlib.import_module("laplacenet.core.curvature.rop").data_hvp
    with pytest.warns(DeprecationWarning, match="laplacenet.curvature.rop is now"):
        with pytest.raises(AttributeError, match="nonexistent"):
            importlib.import_module("laplacenet.curvature.rop").nonexistent  # noqa: B018


def test_importing_an_old_path_leaves_the_package_functions_alone():
    code = ("import warnings; warnings.simplefilter('error')\n"
            "import sys\nimport laplacenet as ln\n"
            "import laplacenet.laplace, laplacenet.curvature.rop, laplacenet.check\n"
            "assert callable(ln.laplace) and ln.laplace.__module__ == 'laplacenet.bayes.laplace'\n"
            "assert ln.check.__name__ == 'laplacenet.core.check'\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always')\n"
            "    from laplacenet.objective import error\n"
            "    from laplacenet.curvature.rop import hvp\n"
            "    from laplacenet.curvature import rop\n"
            "assert error is ln.error and hvp is ln.hvp and rop is sys.modules['laplacenet.curvature.rop']\n"
            "assert len(w) == 2\n"
            "assert all(issubclass(x.category, DeprecationWarning) for x in w)\n"
            "assert w[0].filename == '<string>'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_an_old_path_is_an_attribute_of_the_package_and_unknown_names_are_not():
    assert ln.objective is sys.modules["laplacenet.objective"]
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        ln.nonexistent  # noqa: B018
