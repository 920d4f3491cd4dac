"""The public curvature routes (laplacenet.core.routes): they validate, the kernels of core/curvature/ do not."""
import ast
import pathlib

import numpy as np
import pytest

import laplacenet as ln
from laplacenet.core import routes
from laplacenet.core._validation import check_finite_number

from tests.problems import make_problem

CURVATURE = pathlib.Path(ln.__file__).parent / "core" / "curvature"


def _imported_modules(path):
    """The modules a file imports, resolved to ``laplacenet.core.<name>`` for its relative imports."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = ["laplacenet", "core", "curvature"][:3 - node.level + 1] if node.level else []
            yield ".".join(base + ([node.module] if node.module else []))
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


@pytest.mark.parametrize("path", sorted(CURVATURE.glob("*.py")), ids=lambda p: p.name)
def test_the_curvature_kernels_import_neither_the_objective_nor_the_checks_nor_the_routes(path):
    imported = set(_imported_modules(path))
    assert not imported & {"laplacenet.core.objective", "laplacenet.core.check", "laplacenet.core.routes"}, imported


def _route_calls(net, w, X, T):
    return {
        "hessian": lambda **kw: ln.hessian(net, w, X, T, 0.1, 1.0, **kw),
        "hessian_diagonal": lambda **kw: ln.hessian_diagonal(net, w, X, T, 0.1, 1.0, **kw),
        "hvp": lambda **kw: ln.hvp(net, w, X, T, np.ones(net.n_params), 0.1, 1.0, **kw),
        "hessian_operator": lambda **kw: ln.hessian_operator(net, w, X, T, 0.1, 1.0, **kw),
        "kron_factors": lambda **kw: ln.kron_factors(net, w, X, T, 1.0, **kw),
        "inverse_outer_hessian": lambda **kw: ln.inverse_outer_hessian(net, w, X, T, 0.1, 1.0, **kw),
    }


@pytest.mark.parametrize("chunk_size", [0, 1.5, True, "2"])
@pytest.mark.parametrize("route", routes.__all__)
def test_every_route_checks_chunk_size_naming_it(route, chunk_size):
    call = _route_calls(*make_problem("gaussian", hidden=(3,), n=6))[route]
    with pytest.raises(ValueError, match="chunk_size must be an integer >= 1"):
        call(chunk_size=chunk_size)


@pytest.mark.parametrize("route", routes.__all__)
def test_every_route_is_the_public_function(route):
    assert getattr(ln, route) is getattr(routes, route)
    assert _route_calls(*make_problem("gaussian", hidden=(3,), n=6))[route](chunk_size=2) is not None


@pytest.mark.parametrize("value, expected", [(1, 1.0), (np.float32(-2.5), -2.5), ("0.5", 0.5)])
def test_a_finite_number_is_returned_as_a_float(value, expected):
    got = check_finite_number(value, "log_det")
    assert type(got) is float and got == expected


@pytest.mark.parametrize("value", [True, np.bool_(False), None, "x", np.nan, -np.inf, [1.0, 2.0]])
def test_anything_else_is_refused_naming_the_argument(value):
    with pytest.raises(ValueError, match="log_det must be a finite number"):
        check_finite_number(value, "log_det")
