"""The layers of ``DEVELOPERS.md``: no import cycle, no upward import, a core on numpy and scipy alone.

Every ``import`` and ``from ... import`` of every module counts, at module level and inside functions,
relative or absolute. ``laplacenet.core`` is layer 0, ``laplacenet.bayes`` layer 1, the rest of the package
(the user shell) layer 2; the façade (``__init__``, ``__main__``, ``_moved``) may import any layer.
"""
import ast
import sys
from pathlib import Path

import pytest

import laplacenet

PACKAGE_ROOT = Path(laplacenet.__file__).parent
LAYERS = {"core": 0, "bayes": 1}
SHELL = 2
FACADE = ("", "__main__", "_moved")  # relative to the package
CORE_THIRD_PARTY = {"numpy", "scipy"}


def module_names(root, package):
    """``{dotted module name: path}`` for every ``.py`` file under ``root``, the package ``package``."""
    names = {}
    for path in sorted(Path(root).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join([package, *parts])] = path
    return names


class _Imports(ast.NodeVisitor):
    """The imports of one module as ``(target, lineno, in_function)``, targets absolute."""

    def __init__(self, module, is_package):
        self.base = module.split(".") if is_package else module.split(".")[:-1]
        self.depth = 0
        self.found = []

    def visit_FunctionDef(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_Lambda = visit_FunctionDef

    def visit_Import(self, node):
        for alias in node.names:
            self.found.append((alias.name, [], node.lineno, self.depth > 0))

    def visit_ImportFrom(self, node):
        if node.level:
            base = self.base[:len(self.base) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module
        self.found.append((target, [alias.name for alias in node.names], node.lineno, self.depth > 0))


def module_imports(root, package):
    """``{module: [(imported name, lineno, in_function), ...]}``; ``from a import b`` imports ``a.b`` if a module."""
    modules = module_names(root, package)
    imports = {}
    for module, path in modules.items():
        visitor = _Imports(module, path.name == "__init__.py")
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        imports[module] = []
        for target, names, lineno, in_function in visitor.found:
            submodules = [f"{target}.{name}" for name in names if f"{target}.{name}" in modules]
            if len(submodules) < len(names) or not names:
                submodules.append(target)
            imports[module] += [(name, lineno, in_function) for name in submodules]
    return imports


def import_graph(root, package):
    """``{module: {imported module of the package: lineno}}`` (``from . import name`` in a package's ``__init__``,
    ``name`` not a module, is no edge to itself)."""
    graph = {}
    for module, found in module_imports(root, package).items():
        graph[module] = {}
        for target, lineno, _ in found:
            if target != module and (target == package or target.startswith(package + ".")):
                graph[module].setdefault(target, lineno)
    return graph


def find_cycle(graph):
    """One import cycle as a list of modules ``[a, b, ..., a]``, or None (depth-first search)."""
    state = {}  # 1 on the path, 2 done
    for start in sorted(graph):
        if start in state:
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            target = next(stack[-1], None)
            if target is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(target) == 1:
                return path[path.index(target):] + [target]
            elif target not in state and target in graph:
                state[target] = 1
                path.append(target)
                stack.append(iter(sorted(graph[target])))
    return None


def layer(module, package):
    """0 for ``package.core``, 1 for ``package.bayes``, 2 for the rest; None for the façade."""
    parts = module.split(".")[1:]
    if ".".join(parts) in FACADE:
        return None
    return LAYERS.get(parts[0], SHELL)


def upward_imports(graph, package):
    """``["a (layer 0) imports b (layer 1), line 3", ...]``; importing the façade from a layer counts."""
    found = []
    for module, targets in sorted(graph.items()):
        low = layer(module, package)
        for target, lineno in sorted(targets.items()):
            high = layer(target, package)
            high = SHELL + 1 if high is None else high
            if low is not None and high > low:
                found.append(f"{module} (layer {low}) imports {target} (layer {high}), line {lineno}")
    return found


def core_third_party(root, package):
    """Module-level imports in ``package.core`` of anything but the standard library, numpy and scipy."""
    found = []
    for module, imports in sorted(module_imports(root, package).items()):
        if layer(module, package) != 0:
            continue
        for target, lineno, in_function in imports:
            top = target.split(".")[0]
            allowed = top == package or top in CORE_THIRD_PARTY or top in sys.stdlib_module_names
            if not in_function and not allowed:
                found.append(f"{module} imports {target} at module level, line {lineno}")
    return found


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(import_graph(PACKAGE_ROOT, "laplacenet"))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_layer_imports_a_layer_above_it():
    assert upward_imports(import_graph(PACKAGE_ROOT, "laplacenet"), "laplacenet") == []


def test_the_core_imports_numpy_and_scipy_alone_at_module_level():
    assert core_third_party(PACKAGE_ROOT, "laplacenet") == []


def test_the_walk_sees_every_module():
    graph = import_graph(PACKAGE_ROOT, "laplacenet")
    assert {"laplacenet", "laplacenet.core.curvature.rop", "laplacenet.bayes.hyper", "laplacenet.io"} <= set(graph)
    assert {"laplacenet.core.network", "laplacenet.bayes.laplace"} <= set(graph["laplacenet.estimators"])


def _package(tmp_path, files):
    root = tmp_path / "pkg"
    for name, text in {"__init__.py": "", "core/__init__.py": "", "bayes/__init__.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_a_cycle_through_an_import_inside_a_function_is_found(tmp_path):
    root = _package(tmp_path, {
        "core/a.py": "from . import b\n",
        "core/b.py": "import numpy\n\ndef f():\n    from .c import g\n    return g\n",
        "core/c.py": "from pkg.core.a import x\n",
    })
    graph = import_graph(root, "pkg")
    assert graph["pkg.core.a"] == {"pkg.core.b": 1}
    assert find_cycle(graph) == ["pkg.core.a", "pkg.core.b", "pkg.core.c", "pkg.core.a"]
    del graph["pkg.core.c"]["pkg.core.a"]
    assert find_cycle(graph) is None


def test_an_upward_import_is_found(tmp_path):
    root = _package(tmp_path, {
        "core/a.py": "def f():\n    from ..bayes import post\n",
        "bayes/post.py": "from ..core import a\nfrom .. import io\n",
        "io.py": "from .bayes.post import f\nfrom .core.a import f\n",
        "_moved.py": "from . import io\n",
    })
    graph = import_graph(root, "pkg")
    assert find_cycle(graph) == ["pkg.bayes.post", "pkg.core.a", "pkg.bayes.post"]
    assert upward_imports(graph, "pkg") == [
        "pkg.bayes.post (layer 1) imports pkg.io (layer 2), line 2",
        "pkg.core.a (layer 0) imports pkg.bayes.post (layer 1), line 2",
    ]


def test_a_third_party_import_at_the_core_module_level_is_found(tmp_path):
    root = _package(tmp_path, {
        "core/a.py": "import os\nimport numpy as np\nfrom scipy import linalg\nimport dask.array\n\n"
                     "def f():\n    import dask\n",
        "bayes/b.py": "import arviz\n",
    })
    assert core_third_party(root, "pkg") == ["pkg.core.a imports dask.array at module level, line 4"]


@pytest.mark.parametrize("module, expected", [
    ("laplacenet.core.curvature.rop", 0), ("laplacenet.core", 0), ("laplacenet.bayes.laplace", 1),
    ("laplacenet.plotting.evidence", 2), ("laplacenet.io", 2), ("laplacenet", None), ("laplacenet._moved", None),
])
def test_the_layer_of_a_module(module, expected):
    assert layer(module, "laplacenet") == expected
