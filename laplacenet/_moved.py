"""The module paths before the layered layout (``laplacenet.core``, ``laplacenet.bayes``), kept for one release.

``import laplacenet.laplace`` or ``from laplacenet.curvature.rop import hvp`` still work: each old path is a
stand-in module whose attributes are looked up in the new modules, in order, with a ``DeprecationWarning``. The
stand-ins forward reads, not writes: patch the new module. They go in 0.2.
"""
import importlib
import sys
import types
import warnings

_CURVATURE = ("backprop", "jacobian", "outer", "exact", "diagonal", "rop", "kron", "last_layer", "lowrank",
              "woodbury", "hessian")
MOVED = {
    **{name: "core." + name for name in ("exceptions", "activations", "likelihoods", "priors", "network",
                                         "objective", "training", "curvature")},
    **{"curvature." + name: "core.curvature." + name for name in _CURVATURE if name != "hessian"},
    "curvature.hessian": "core.routes",
    **{name: "bayes." + name for name in ("posteriors", "laplace", "predictive", "evidence", "symmetry", "hyper",
                                          "comparison", "diagnostics", "calibration")},
}

#: where an old module's names are looked up second: the public, validating curvature functions are now in
#: ``core.routes``, and the evidence loop (fit_evidence, EvidenceCycle, EvidenceResult) in ``bayes.hyper``
ALSO = {**{"curvature." + name: "core.routes" for name in ("diagonal", "rop", "kron", "woodbury")},
        "evidence": "bayes.hyper"}


class _OldPath(types.ModuleType):
    """A stand-in for a moved module: reading an attribute warns and reads it from the first new module that has it."""

    def __init__(self, old, *new):
        super().__init__(old, f"Moved to {' and '.join(new)}; this path works until laplacenet 0.2.")
        self.__dict__["_new_names"] = new
        if old == "laplacenet.curvature":
            self.__path__ = []  # a package, so that its old submodules import

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        modules = [importlib.import_module(new) for new in self.__dict__["_new_names"]]
        module = next((m for m in modules if hasattr(m, name)), modules[0])
        moved = (f"{self.__name__} is now {module.__name__}" if module is modules[0]
                 else f"{self.__name__}.{name} is now {module.__name__}.{name}")
        warnings.warn(f"{moved}; the old path works until laplacenet 0.2.", DeprecationWarning, stacklevel=2)
        return getattr(module, name)

    def __dir__(self):
        return sorted({name for new in self.__dict__["_new_names"] for name in dir(importlib.import_module(new))})


def install():
    """Register the stand-ins for the old paths (and ``laplacenet.check``, a public module, under its name)."""
    sys.modules.setdefault("laplacenet.check", importlib.import_module("laplacenet.core.check"))
    for old, new in MOVED.items():
        new = ("laplacenet." + new,) + (("laplacenet." + ALSO[old],) if old in ALSO else ())
        sys.modules.setdefault("laplacenet." + old, _OldPath("laplacenet." + old, *new))
    package = sys.modules["laplacenet.curvature"]
    for name in _CURVATURE:  # the old package's submodules are the old submodules' stand-ins
        package.__dict__[name] = sys.modules["laplacenet.curvature." + name]


def old_path_attribute(name):
    """Module ``__getattr__`` of the package: ``laplacenet.objective`` and the like after ``import laplacenet``."""
    if name in MOVED:
        return sys.modules["laplacenet." + name]
    raise AttributeError(f"module 'laplacenet' has no attribute {name!r}")
