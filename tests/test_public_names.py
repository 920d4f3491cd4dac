"""Module ``__all__``s hold only public names, and a private module has none.

Public means: in ``laplacenet.__all__``, listed in an ``api-autosummary`` block of ``docs/api/*.rst``, or a
documented member (a function or class of its ``__all__``) of a module listed there (``check``, ``datasets``,
``plotting``).
"""
import importlib
import types
from pathlib import Path

import laplacenet as ln

from .test_docs import listed_api_names

PACKAGE = Path(ln.__file__).resolve().parent


def module_names():
    """Every module of the package by its dotted name (``__main__`` left out: importing it runs the program)."""
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def listed_object(entry):
    """The object a ``docs/api`` entry (relative to ``laplacenet``: ``MLP``, ``cli.main``) names."""
    module, _, attr = f"laplacenet.{entry}".rpartition(".")
    return getattr(importlib.import_module(module), attr)


def public_objects():
    """``(name, object)`` of every public name."""
    public = [(name, getattr(ln, name)) for name in ln.__all__]
    for entry in listed_api_names():
        obj = listed_object(entry)
        public.append((entry.rpartition(".")[2], obj))
        if isinstance(obj, types.ModuleType):
            public += [(name, getattr(obj, name)) for name in obj.__all__ if callable(getattr(obj, name))]
    return public


def is_private(module_name):
    return any(part.startswith("_") for part in module_name.split("."))


def test_a_module_all_holds_only_public_names():
    public = public_objects()
    internal = []
    for module_name in module_names():
        module = importlib.import_module(module_name)
        for name in vars(module).get("__all__", ()) if module is not ln else ():
            obj = getattr(module, name, None)
            if not any(name == known and obj is known_obj for known, known_obj in public):
                internal.append(f"{module_name}.{name}")
    assert internal == [], (f"module __all__s list names that are neither in laplacenet.__all__ nor in "
                            f"docs/api/*.rst: {internal}")


def test_a_private_module_has_no_all():
    with_all = [name for name in module_names()
                if is_private(name) and "__all__" in vars(importlib.import_module(name))]
    assert with_all == [], f"private modules with an __all__: {with_all}"


def test_the_walk_sees_the_modules_and_the_public_names():
    # the tests above must see real modules and names, or they would pass vacuously
    names = set(module_names())
    assert {"laplacenet", "laplacenet.bayes.laplace", "laplacenet.core._validation", "laplacenet.plotting"} <= names
    assert "laplacenet.__main__" not in names and is_private("laplacenet.core._validation")
    assert not is_private("laplacenet.bayes.laplace")
    public = public_objects()
    assert ("laplace", ln.laplace) in public and ("plot_predictive", ln.plotting.plot_predictive) in public
    assert ("main", importlib.import_module("laplacenet.cli").main) in public
