"""The module paths before the layered layout (``laplacenet.core``, ``laplacenet.bayes``), kept for one release.

``import laplacenet.laplace`` or ``from laplacenet.curvature.rop import hvp`` still work: each old path is a
stand-in module whose attributes are looked up in the new module, with a ``DeprecationWarning``. The stand-ins
forward reads, not writes: patch the new module. They go in 0.2.
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
    **{"curvature." + name: "core.curvature." + name for name in _CURVATURE},
    **{name: "bayes." + name for name in ("posteriors", "laplace", "predictive", "evidence", "symmetry", "hyper",
                                          "comparison", "diagnostics", "calibration")},
}
#: names an old module held that now live elsewhere than its new module: the evidence loop is in hyper
HOMES = {("laplacenet.bayes.evidence", name): "laplacenet.bayes.hyper"
         for name in ("fit_evidence", "EvidenceCycle", "EvidenceResult")}


class _OldPath(types.ModuleType):
    """A stand-in for a moved module: reading an attribute warns and reads it from the new module."""

    def __init__(self, old, new):
        super().__init__(old, f"Moved to {new}; this path works until laplacenet 0.2.")
        self.__dict__["_new_name"] = new
        if old == "laplacenet.curvature":
            self.__path__ = []  # a package, so that its old submodules import

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        new = self.__dict__["_new_name"]
        warnings.warn(f"{self.__name__} is now {new}; the old path works until laplacenet 0.2.",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(HOMES.get((new, name), new)), name)

    def __dir__(self):
        return dir(importlib.import_module(self.__dict__["_new_name"]))


def install():
    """Register the stand-ins for the old paths (and ``laplacenet.check``, a public module, under its name)."""
    sys.modules.setdefault("laplacenet.check", importlib.import_module("laplacenet.core.check"))
    for old, new in MOVED.items():
        sys.modules.setdefault("laplacenet." + old, _OldPath("laplacenet." + old, "laplacenet." + new))
    package = sys.modules["laplacenet.curvature"]
    for name in _CURVATURE:  # the old package's submodules are the old submodules' stand-ins
        package.__dict__[name] = sys.modules["laplacenet.curvature." + name]


def old_path_attribute(name):
    """Module ``__getattr__`` of the package: ``laplacenet.objective`` and the like after ``import laplacenet``."""
    if name in MOVED:
        return sys.modules["laplacenet." + name]
    raise AttributeError(f"module 'laplacenet' has no attribute {name!r}")
