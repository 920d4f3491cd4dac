"""laplacenet: Bayesian multilayer perceptrons by the Laplace approximation (PRML 5.4 and 5.7)."""
from . import datasets, plotting
from ._moved import install as _install_old_paths, old_path_attribute as __getattr__
from .core import check
from .core._config import get_matrix_budget, set_matrix_budget
from ._version import __version__
from .core.activations import ACTIVATIONS
from .arviz import to_inference_data
from .bayes.comparison import ComparisonCycle, ComparisonRow, ModelComparison, compare_models
from .core.curvature.kron import KronFactors
from .core.curvature.woodbury import IncrementalInverse
from .core.routes import hessian, hessian_diagonal, hessian_operator, hvp, inverse_outer_hessian, kron_factors
from .estimators import BayesianMLPClassifier, BayesianMLPRegressor
from .bayes.evidence import EvidenceGradient, EvidenceTerms, log_evidence, log_evidence_gradient
from .bayes.hyper import fit_evidence
from .bayes.hyper_types import EvidenceCycle, EvidenceOptions, EvidenceResult
from .bayes.diagnostics import LaplaceDiagnostic, diagnose
from .core.exceptions import (ConvergenceWarning, EvidenceConvergenceWarning, NonFiniteError, NotFittedError,
                         NotPositiveDefiniteError)
from .io import load, save
from .bayes.laplace import LaplacePosterior, laplace
from .bayes.options import Curvature
from .bayes.reestimation import Reestimate, reestimate
from .bayes.posteriors import KroneckerPrecision, LowRankPrecision
from .core.likelihoods import LIKELIHOODS
from .core.network import MLP
from .core.objective import error, gradient
from .core.training import TrainReport, train

__all__ = [
    "__version__", "MLP", "ACTIVATIONS", "LIKELIHOODS",
    # the functional core
    "error", "gradient", "train", "TrainReport", "check", "datasets", "plotting",
    "hessian", "hessian_diagonal", "hvp", "hessian_operator", "inverse_outer_hessian", "IncrementalInverse",
    "kron_factors", "KronFactors", "get_matrix_budget", "set_matrix_budget",
    # the Bayesian layer
    "laplace", "LaplacePosterior", "KroneckerPrecision", "LowRankPrecision", "log_evidence", "log_evidence_gradient",
    "Curvature", "reestimate", "fit_evidence", "EvidenceOptions", "EvidenceTerms", "EvidenceGradient", "Reestimate",
    "EvidenceCycle", "EvidenceResult", "compare_models", "ModelComparison", "ComparisonRow", "ComparisonCycle",
    # estimators, persistence, ArviZ
    "BayesianMLPRegressor", "BayesianMLPClassifier", "save", "load", "to_inference_data", "diagnose",
    "LaplaceDiagnostic",
    # warnings and errors
    "ConvergenceWarning", "EvidenceConvergenceWarning", "NotPositiveDefiniteError", "NonFiniteError",
    "NotFittedError",
]

_install_old_paths()
