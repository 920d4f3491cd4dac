"""The evidence loop's types: how it is told to run and what it reports.

:class:`EvidenceOptions` (with ``EVIDENCE_METHODS`` and :func:`evidence_options`, which folds a dict or keyword
overrides into one) fixes the settings of :func:`laplacenet.fit_evidence` once; :class:`EvidenceCycle` is one cycle
of its history and :class:`EvidenceResult` what it returns. Plain frozen or plain dataclasses, with no numerics.
"""
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from ..core._validation import check_number, check_positive_int

__all__ = ["EvidenceOptions", "EvidenceCycle", "EvidenceResult"]

EVIDENCE_METHODS = ("fixed_point", "gradient", "online")


@dataclass(frozen=True)
class EvidenceOptions:
    """How :func:`fit_evidence` maximises the evidence; validated once, then passed around whole.

    Attributes
    ----------
    method : {'fixed_point', 'gradient', 'online'}
        See :func:`fit_evidence`.
    cycles : int
        At most this many evaluations of (train, posterior, evidence) per restart.
    tol : float
        Converged when the log evidence changes by less than this between cycles (``'fixed_point'``,
        ``'online'``, which also stops once no ln alpha or ln beta moves by more than ``ONLINE_SETTLED``), or
        when the gain the local model of ln Z predicts is below it (``'gradient'``). Nats, absolute: differences
        of the log evidence are what model comparison reads, whatever N.
    patience : int
        Stop after the log evidence has been below the best seen for this many cycles running.
    fall_tol : float
        A fall of the log evidence between consecutive accepted cycles larger than this is warned about
        (``'fixed_point'``; the other methods never accept a fall).
    radius : float
        ``'gradient'``: the first trust radius, the largest change of any ln alpha or ln beta in one step
        (1 = a factor e). ``'online'``: the largest such change per re-estimation step.
    steps : int
        ``'online'``: optimiser iterations between two re-estimation steps.
    bound : float
        alpha and beta are kept within a factor ``bound`` of their starting values; a value that reaches the
        bound is reported (:class:`~laplacenet.EvidenceConvergenceWarning`): an alpha going to 0 or to infinity is
        a degenerate evidence maximum (an improper prior, or a pruned group), not a result.
    """

    method: str = "gradient"
    cycles: int = 50
    tol: float = 1e-3
    patience: int = 3
    fall_tol: float = 1e-2
    radius: float = 1.0
    steps: int = 10
    bound: float = 1e6

    def __post_init__(self):
        if self.method not in EVIDENCE_METHODS:
            raise ValueError(f"method must be one of {', '.join(map(repr, EVIDENCE_METHODS))}; got {self.method!r}")
        for name in ("cycles", "patience", "steps"):
            object.__setattr__(self, name, check_positive_int(getattr(self, name), name))
        object.__setattr__(self, "tol", check_number(self.tol, "tol", positive=True, unit=" (nats of log evidence)"))
        object.__setattr__(self, "fall_tol", check_number(self.fall_tol, "fall_tol", unit=" (nats of log evidence)"))
        object.__setattr__(self, "radius", check_number(self.radius, "radius", positive=True))
        bound = check_number(self.bound, "bound", positive=True)
        if bound <= 1.0:
            raise ValueError(f"bound must be a factor larger than 1; got {self.bound!r}")
        object.__setattr__(self, "bound", bound)


def evidence_options(options=None, **overrides):
    """An :class:`EvidenceOptions` from None, a dict of its fields or an instance, with ``overrides`` (keywords whose
    value is not None) applied on top."""
    if options is None:
        options = EvidenceOptions()
    elif isinstance(options, dict):
        unknown = sorted(set(options) - {f.name for f in fields(EvidenceOptions)})
        if unknown:
            raise ValueError(f"options has unknown keys {unknown}; valid: {[f.name for f in fields(EvidenceOptions)]}")
        options = EvidenceOptions(**options)
    elif not isinstance(options, EvidenceOptions):
        raise TypeError(f"options must be an EvidenceOptions, a dict of its fields or None; got {options!r}")
    given = {name: value for name, value in overrides.items() if value is not None}
    return replace(options, **given) if given else options


@dataclass(frozen=True)
class EvidenceCycle:
    """One cycle of :func:`fit_evidence`: the hyperparameters trained at and what came out.

    ``accepted`` is False for a ``'gradient'`` step the loop rejected (its evidence was lower) and for the
    intermediate rounds of ``'online'``, whose weights are not trained to convergence.
    """

    restart: int
    cycle: int
    alpha: Any
    beta: Any
    gamma: float
    log_evidence: float
    train_error: float
    train_converged: bool
    accepted: bool = True


@dataclass
class EvidenceResult:
    """What :func:`fit_evidence` found (for the restart of highest evidence).

    Attributes
    ----------
    w : (W,) array
        w_MAP at the returned alpha and beta.
    alpha, beta
        The hyperparameters of the returned state: the accepted cycle of highest evidence.
    gamma : float
        Well-determined parameters there.
    log_evidence : float
    history : list of EvidenceCycle
        One entry per cycle of the kept restart.
    converged : bool
        The evidence loop met its tolerance AND the MAP training of the returned state converged.
    posterior : LaplacePosterior
        The Laplace posterior at w, alpha, beta.
    best_restart : int
    restarts : list of EvidenceResult
        Every restart, in the order run (each with an empty ``restarts``).
    best_cycle : int
        The cycle of ``history`` the returned state comes from.
    train_converged : bool
        Whether the MAP training of the returned state converged.
    message : str
        Why the loop stopped.
    at_bound : list of str
        Hyperparameters (``'alpha'``, group names such as ``'W1'``, ``'beta'``) that ended on the bound of the loop
        (:class:`EvidenceOptions`): a warning was given.
    """

    w: np.ndarray
    alpha: Any
    beta: Any
    gamma: float
    log_evidence: float
    history: list
    converged: bool
    posterior: Any
    best_restart: int = 0
    restarts: list = field(default_factory=list)
    best_cycle: int = 0
    train_converged: bool = True
    message: str = ""
    at_bound: list = field(default_factory=list)
