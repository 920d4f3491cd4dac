"""The guard of the evidence loop: which evaluated states it may keep, and which it returns as not converged.

A state counts only where its Laplace evidence can be trusted: its MAP training converged, every gamma_g > 0
(and gamma < N K), and (checked once, on the returned state) no eigenvalue of an exact data Hessian below
-alpha/3 (PRML 5.179). Each check says why a state fails, in words the warning of the loop repeats.
"""
import numpy as np
from scipy.linalg import eigvalsh

from ..core.priors import alpha_per_param


def well_determined(state, problem):
    """A state that may replace a better-known one: its training converged (the Laplace evidence is taken at a
    minimum of E), and every gamma_g > 0 (and gamma < N K): otherwise negative curvature of an exact Hessian,
    not data, makes ln|A| small, and a rising 'evidence' there is the Laplace approximation failing."""
    return ill_determined(state, problem) is None


def ill_determined(state, problem):
    """Why the evidence of ``state`` is not to be trusted (:func:`well_determined`), or None."""
    stats = state.stats
    if not state.report.converged:
        return "its MAP training did not converge"
    if np.any(stats.gamma_groups < 0.0):
        return (f"gamma = {stats.gamma:.6g} with some gamma_g < 0 (PRML 5.179): the data Hessian has eigenvalues in "
                f"(-alpha, 0), which shrink ln|A| where the data determine nothing"
                + ("; hessian='outer' (positive semi-definite) avoids this" if state.posterior.hessian == "exact"
                   else ""))
    if not np.all(stats.gamma_groups > 0.0):
        return "gamma_g = 0 for some prior group (PRML 5.179): the data determine none of its weights"
    if stats.residuals is None:
        return None
    n_values = problem.X.shape[0] * problem.net.n_outputs
    if stats.gamma >= n_values:
        return f"gamma = {stats.gamma:.6g} >= N K = {n_values}: every residual is fitted, and beta has no estimate"
    return None


def negative_data_curvature(state):
    """Why the returned state's gamma is not to be trusted although positive, or None: an exact data Hessian with an
    eigenvalue below -alpha/3 (one that takes more than half a parameter off gamma, lambda / (alpha + lambda) <
    -1/2, PRML 5.179). Negative terms can cancel positive ones: a 6-unit sinusoid fit returned gamma 5e-5 of 19
    with beta 57.5 against 107 by the outer product, reported converged. Checked once, at the end: one
    eigenvalue of the W x W data Hessian."""
    posterior = state.posterior
    if posterior.hessian not in ("exact", "fd") or posterior.subset is not None:
        return None
    prior = alpha_per_param(posterior.net, state.alpha)
    data = np.array(posterior.precision, dtype=float)  # the data curvature plus the jitter, which gamma counts
    data[np.diag_indices_from(data)] -= prior
    lowest = float(eigvalsh(data, subset_by_index=[0, 0], check_finite=False)[0])
    if lowest >= -float(np.max(prior)) / 3.0:
        return None
    return (f"the exact data Hessian has an eigenvalue of {lowest:.3g}, below -alpha/3 = {-np.max(prior) / 3:.3g}: "
            f"its negative terms cancel part of gamma = {state.gamma:.6g} (PRML 5.179), so gamma, the re-estimated "
            f"alpha and beta and the evidence are not to be trusted; hessian='outer' (positive semi-definite) avoids "
            f"this")
