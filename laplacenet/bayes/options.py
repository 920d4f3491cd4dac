"""The curvature options of the Bayesian functions, validated once and passed around as one frozen object.

Which data Hessian H goes into the posterior precision A = H + diag(alpha) (PRML 5.166), how A is held, what is
added to its diagonal and how many rows of data a pass reads at a time: the seven keywords ``hessian``, ``jitter``,
``chunk_size``, ``subset``, ``rank``, ``lowrank_hessian`` and ``lowrank_diag`` of :func:`laplacenet.laplace`,
the evidence functions, the evidence loop, :func:`laplacenet.compare_models` and the estimators.
"""
from dataclasses import dataclass
from typing import Optional

from ..core._validation import check_chunk_size, check_flag, check_number, check_positive_int
from ..core.routes import HESSIAN_METHODS
from ..core.curvature.lowrank import LOWRANK_KINDS

__all__ = ["Curvature"]

#: Hessians held in a structure that is never formed as a W x W matrix.
STRUCTURED = ("kron", "lowrank")
#: Every ``hessian=`` option of the Bayesian functions.
HESSIANS = STRUCTURED + HESSIAN_METHODS
#: ``subset=`` options: the whole network, or the output layer alone (the others fixed at w_MAP).
SUBSETS = ("all", "last_layer")


class CurvatureConflict(ValueError):
    """Options of a :class:`Curvature` that do not go together; ``rule`` says which: ``'subset'`` (a last-layer
    posterior of another Hessian), ``'rank'`` (``'lowrank'`` without a rank) or ``'lowrank'`` (its options
    without it). The command line words each in its own options."""

    def __init__(self, rule, message):
        super().__init__(message)
        self.rule = rule


@dataclass(frozen=True)
class Curvature:
    """The curvature options of a Laplace posterior, validated when made; frozen and hashable.

    The public functions take these options as keywords and fold them into one of these at their boundary; inside
    the package it travels whole. The defaults are those of the functional API (:func:`laplacenet.laplace`); the
    estimators and :func:`laplacenet.compare_models` pass their own ``hessian='outer'``. The attributes are
    normalised: ``subset='all'`` is None, ``jitter`` a float, ``rank`` an int, ``lowrank_diag`` a bool. That
    ``rank`` is at most the number of weights W is checked by :meth:`within`, once a network is at hand.
    Each option is described at :func:`laplacenet.laplace`.

    Attributes
    ----------
    hessian : {'exact', 'outer', 'diag', 'fd', 'kron', 'lowrank'}
        The route to the data Hessian H, or the structure A is held in.
    jitter : float
        Added to the diagonal of A.
    chunk_size : int or None
        Rows of data per chunk.
    subset : None or 'last_layer'
        The posterior over the output layer alone.
    rank : int or None
        With ``hessian='lowrank'``: the eigenpairs kept.
    lowrank_hessian : {'outer', 'exact'}
        With ``hessian='lowrank'``: the data Hessian whose eigenpairs are taken.
    lowrank_diag : bool
        With ``hessian='lowrank'``: add back the part of H's diagonal they miss.

    Raises
    ------
    ValueError
        Naming the option that is wrong, or the options that do not go together.
    """

    hessian: str = "exact"
    jitter: float = 0.0
    chunk_size: Optional[int] = None
    subset: Optional[str] = None
    rank: Optional[int] = None
    lowrank_hessian: str = "outer"
    lowrank_diag: bool = False

    def __post_init__(self):
        hessian, subset, rank, lowrank_hessian, lowrank_diag = (self.hessian, self.subset, self.rank,
                                                                self.lowrank_hessian, self.lowrank_diag)
        if not isinstance(hessian, str) or hessian not in HESSIANS:
            raise ValueError(f"hessian must be one of {', '.join(map(repr, HESSIAN_METHODS))}; got {hessian!r} (or a "
                             f"structure never formed as a W x W matrix: {', '.join(map(repr, STRUCTURED))})")
        if subset is not None and (not isinstance(subset, str) or subset not in SUBSETS):
            raise ValueError(f"subset must be None or one of {', '.join(map(repr, SUBSETS))}; got {subset!r}")
        subset = None if subset == "all" else subset
        if subset == "last_layer" and hessian not in ("exact", "outer"):
            raise CurvatureConflict("subset", f"subset='last_layer' needs hessian='exact' or 'outer' on the output "
                                              f"layer (the two coincide there); got hessian={hessian!r}")
        if hessian == "lowrank":
            if rank is None:
                raise CurvatureConflict("rank", "hessian='lowrank' needs rank=k, the number of eigenpairs of the data "
                                                "Hessian to keep")
            rank = check_positive_int(rank, "rank")
            if lowrank_hessian not in LOWRANK_KINDS:
                raise ValueError(f"lowrank_hessian must be one of {', '.join(map(repr, LOWRANK_KINDS))}; "
                                 f"got {lowrank_hessian!r}")
            check_flag(lowrank_diag, "lowrank_diag")
        elif rank is not None or lowrank_hessian != "outer" or lowrank_diag is not False:
            raise CurvatureConflict("lowrank", f"rank, lowrank_hessian and lowrank_diag apply only to "
                                               f"hessian='lowrank'; got hessian={hessian!r} with rank={rank!r}, "
                                               f"lowrank_hessian={lowrank_hessian!r}, lowrank_diag={lowrank_diag!r}")
        normal = dict(subset=subset, rank=rank, lowrank_diag=bool(lowrank_diag),
                      jitter=check_number(self.jitter, "jitter"), chunk_size=check_chunk_size(self.chunk_size))
        for name, value in normal.items():
            object.__setattr__(self, name, value)

    def within(self, n_params):
        """This object, once ``rank`` is checked to be at most the number of weights W = ``n_params``."""
        if self.rank is not None and self.rank > n_params:
            raise ValueError(f"rank must be at most the number of weights W = {n_params}; got {self.rank}")
        return self


def as_curvature(curvature):
    """A :class:`Curvature` as it is, or one from a plain ``hessian`` string."""
    return curvature if isinstance(curvature, Curvature) else Curvature(curvature)


def check_structure(hessian, subset=None, rank=None, lowrank_hessian="outer", lowrank_diag=False, n_params=None):
    """Validate ``hessian`` and its structure options (``rank <= n_params`` when given); return a :class:`Curvature`."""
    curvature = Curvature(hessian, subset=subset, rank=rank, lowrank_hessian=lowrank_hessian,
                          lowrank_diag=lowrank_diag)
    return curvature if n_params is None else curvature.within(n_params)
