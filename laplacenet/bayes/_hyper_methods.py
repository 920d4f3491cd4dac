"""The log coordinates the evidence loop moves in, and its two simpler methods (PRML 5.7.2).

:class:`Coordinates` maps (alpha, beta) to theta = (ln alpha over the re-estimated groups, ln beta) and back,
within the loop's bound; :func:`clipped_move` limits a move in theta. :func:`fixed_point` is MacKay's
re-estimation (5.178, 5.180) after every training to convergence, :func:`online` a few optimiser iterations
between re-estimation steps (Immer et al. 2021). The gradient method is in ``_hyper_gradient``.
"""
import numpy as np

from ..core.exceptions import NonFiniteError, NotPositiveDefiniteError
from ._hyper_guard import well_determined

#: ``'online'``: the hyperparameters have settled when no ln alpha or ln beta moves by more than this in a step
#: (the evidence at unconverged weights moves by more than ``tol`` long after they have)
ONLINE_SETTLED = 1e-3


class Coordinates:
    """theta = (ln alpha over the groups a posterior re-estimates, ln beta): to and from (alpha, beta)."""

    def __init__(self, alpha, beta, groups, bound):
        self.template_alpha, self.groups = alpha, groups
        self.scalar_beta = beta is None or np.ndim(beta) == 0
        self.n_beta = 0 if beta is None else np.size(beta)
        start = self.theta(alpha, beta)
        self.lower, self.upper = start - np.log(bound), start + np.log(bound)

    def theta(self, alpha, beta):
        ln_alpha = np.log(np.atleast_1d(alpha)[self.groups] if np.ndim(alpha) else [alpha])
        return np.concatenate([ln_alpha, np.log(np.atleast_1d(beta)) if self.n_beta else []])

    def hyperparameters(self, theta):
        theta = np.clip(theta, self.lower, self.upper)
        n_alpha = theta.size - self.n_beta
        if np.ndim(self.template_alpha):
            alpha = np.array(self.template_alpha, dtype=float)
            alpha[self.groups] = np.exp(theta[:n_alpha])
        else:
            alpha = float(np.exp(theta[0]))
        if not self.n_beta:
            return alpha, None
        beta = np.exp(theta[n_alpha:])
        return alpha, float(beta[0]) if self.scalar_beta else beta

    def at_bound(self, theta):
        """Indices of theta that sit on the box."""
        scale = np.log(2.0)
        return np.flatnonzero((theta <= self.lower + scale) | (theta >= self.upper - scale))


def clipped_move(coords, state, target, radius):
    """The hyperparameters ``target`` pulled back so no ln alpha or ln beta moves by more than ``radius``."""
    theta = coords.theta(state.alpha, state.beta)
    step = np.clip(coords.theta(*target) - theta, -radius, radius)
    return coords.hyperparameters(theta + step)


# --- two of the methods ------------------------------------------------------------------------------

def fixed_point(problem, alpha, beta, w, options, coords):
    """MacKay's loop: train to convergence, re-estimate, repeat; keep the best state."""
    best = state = problem.evaluate(alpha, beta, w)
    previous, falls = state.log_evidence, 0
    for _ in range(options.cycles - 1):
        try:
            target = problem.reestimated(state)
        except ValueError as ex:  # gamma <= 0 or a zero residual: the update is undefined here
            return best, False, f"re-estimation is undefined at cycle {state.cycle} ({ex})"
        alpha, beta = clipped_move(coords, state, target, np.inf)
        try:
            state = problem.evaluate(alpha, beta, state.w)
        except NotPositiveDefiniteError as ex:
            return best, False, f"the posterior after cycle {state.cycle} is not positive definite ({ex})"
        except NonFiniteError as ex:  # a training that overflowed float64: no state to evaluate there
            return best, False, f"the training after cycle {state.cycle} overflowed ({ex})"
        if abs(state.log_evidence - previous) < options.tol:
            best = state if state.log_evidence >= best.log_evidence and well_determined(state, problem) else best
            return best, True, f"the log evidence changed by less than tol={options.tol:g}"
        previous = state.log_evidence
        if state.log_evidence > best.log_evidence and well_determined(state, problem):
            best, falls = state, 0
        else:
            falls += 1
            if falls >= options.patience:
                return best, False, (f"the log evidence stayed below its best (cycle {best.cycle}) for "
                                     f"{falls} cycles")
    return best, False, f"cycles={options.cycles} reached"


def online(problem, alpha, beta, w, options, coords):
    """A few optimiser iterations, one re-estimation step, repeated; then training to convergence once."""
    previous = None
    for _ in range(options.cycles - 1):
        state = problem.evaluate(alpha, beta, w, maxiter=options.steps, accepted=False)
        w = state.w
        try:
            target = problem.reestimated(state)
        except ValueError:  # undefined at these unconverged weights: train further at the same values
            target = (state.alpha, state.beta)
        alpha, beta = clipped_move(coords, state, target, options.radius)
        settled = np.max(np.abs(coords.theta(alpha, beta) - coords.theta(state.alpha, state.beta))) < ONLINE_SETTLED
        if settled or (previous is not None and abs(state.log_evidence - previous) < options.tol):
            break
        previous = state.log_evidence
    final = problem.evaluate(alpha, beta, w)
    return final, True, "trained to convergence at the hyperparameters of the last online step"
