"""laplacenet: Bayesian multilayer perceptrons by the Laplace approximation (PRML 5.4 and 5.7)."""
from . import check
from ._version import __version__
from .activations import ACTIVATIONS
from .exceptions import ConvergenceWarning
from .likelihoods import LIKELIHOODS
from .network import MLP
from .objective import error, gradient
from .training import TrainReport, train

__all__ = ["__version__", "MLP", "ACTIVATIONS", "LIKELIHOODS", "error", "gradient", "train", "TrainReport",
           "check", "ConvergenceWarning"]
