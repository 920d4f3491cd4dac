"""Trust-region Newton-CG (Steihaug) on exact Hessian-vector products by the R-operator (PRML 5.96-5.111).

Each step of :func:`newton_cg` runs conjugate gradients preconditioned by the Gauss-Newton diagonal plus
alpha, stopped at the trust-region boundary, at negative curvature or at a residual that shrinks with the
gradient (Eisenstat-Walker). CG meets negative curvature only where the gradient has a part along it, so where
the convergence test passes, Lanczos (``_lanczos.py``) looks for it, and what it finds is followed to the
trust radius.
"""
import numpy as np

from ._lanczos import negative_curvature_by_lanczos
from ._newton import ACCEPT, diagonal_preconditioner, finish, gain_ratio, new_radius, newton_decrement, where

#: largest relative residual of the CG solve for a Newton-CG step (Eisenstat-Walker forcing term)
FORCING = 0.5


def newton_cg(obj, w, stop):
    """Trust-region Newton-CG on exact Hessian-vector products; returns an :class:`Outcome`.

    The trust region is ||p||_M <= radius in the norm of the preconditioner M (Gauss-Newton diagonal plus
    alpha); it starts unbounded, is set by the first step, quartered after a poor step and doubled after a
    good one that reached it. CG meets negative curvature only where the gradient has a part along it, so
    where the test passes, a few Lanczos steps look for it; what they find is followed to the trust radius.
    """
    E, g = obj.value_and_gradient(w)
    M = obj.gn_diagonal(w)
    radius, n_iter, decrement, lowest = np.inf, 0, np.nan, None
    while True:
        scaled = np.sqrt(g @ (g / M))  # ||g|| in the metric M^-1: the decrement of the diagonal model
        if np.isnan(decrement) and stop.wants_decrement(scaled):
            decrement = newton_decrement(obj, w, g, diagonal_preconditioner(M))
        if stop.met(g, decrement):
            lowest = lowest or negative_curvature_by_lanczos(obj, w, M)
            if lowest is None:
                return finish(obj, w, E, g, n_iter, decrement, "converged", diagonal_preconditioner(M))
        if n_iter >= stop.maxiter:
            return finish(obj, w, E, g, n_iter, decrement, "iteration limit reached" + where(lowest),
                          diagonal_preconditioner(M), lowest is not None)
        if lowest is not None:
            p, curvature = _along_eigenvector(g, lowest, M, min(radius, np.sqrt(2 * E / -lowest.value)))
        else:
            p, curvature, interior = _steihaug(obj, w, g, M, radius, _forcing(g, scaled, stop))
            if interior and np.isnan(decrement) and stop.wants_decrement(np.sqrt(max(-(g @ p), 0.0))):
                decrement = newton_decrement(obj, w, g, diagonal_preconditioner(M))
                if stop.met(g, decrement):
                    continue
        n_iter += 1
        E_new, g_new = obj.value_and_gradient(w + p)
        rho = gain_ratio(E, E_new, -(g @ p + 0.5 * curvature))
        radius = new_radius(radius, rho, np.sqrt(p @ (M * p)))
        if rho > ACCEPT:
            w, E, g, decrement, lowest = w + p, E_new, g_new, np.nan, None
            M = obj.gn_diagonal(w)


def _along_eigenvector(g, lowest, M, radius):
    """The step along the eigenvector v to ||p||_M = radius, downhill (g^T p <= 0), and its p^T H p."""
    v = lowest.vector
    p = (-radius / np.sqrt(v @ (M * v))) * (1.0 if g @ v <= 0 else -1.0) * v
    return p, lowest.value * (p @ p)


def _forcing(g, scaled, stop):
    """Relative residual for the CG of a Newton-CG step (Eisenstat-Walker): min(FORCING, sqrt(||g||_{M^-1})),
    superlinear, but no smaller than half the reduction the convergence test still asks for."""
    eta = min(FORCING, np.sqrt(scaled))
    needed = stop.gtol / np.linalg.norm(g) if stop.by_gradient else stop.tol / max(scaled, 1e-300)
    return min(FORCING, max(eta, 0.5 * needed))


def _steihaug(obj, w, g, M, radius, eta):
    """Truncated preconditioned CG on the model g^T p + p^T H p / 2 within ||p||_M <= radius.

    Returns ``p``, ``p^T H p`` and whether p is interior (CG reached ||r||_{M^-1} <= eta ||g||_{M^-1}: an
    inexact Newton step) rather than stopped at the boundary or at negative curvature.
    """
    p, r = np.zeros_like(g), g.copy()
    z = r / M
    d, rz = -z, r @ z
    if rz == 0.0:
        return p, 0.0, True
    target = eta ** 2 * rz
    pHp = 0.0
    for _ in range(g.size):
        Hd = obj.hvp(w, d)
        dHd = d @ Hd
        step = rz / dHd if dHd > 0 else np.inf
        if step == np.inf or (p + step * d) @ (M * (p + step * d)) >= radius ** 2:
            tau = _to_boundary(p, d, M, radius)
            return p + tau * d, pHp + 2 * tau * (p @ Hd) + tau ** 2 * dHd, False
        pHp += 2 * step * (p @ Hd) + step ** 2 * dHd
        p += step * d
        r += step * Hd
        z = r / M
        rz, rz_old = r @ z, rz
        if rz <= target:
            break
        d = -z + (rz / rz_old) * d
    return p, pHp, True


def _to_boundary(p, d, M, radius):
    """tau >= 0 with ||p + tau d||_M = radius; with no radius yet, stop where CG is (or take d itself)."""
    if not np.isfinite(radius):
        return 0.0 if p.any() else 1.0
    a, b, c = d @ (M * d), 2 * (p @ (M * d)), p @ (M * p) - radius ** 2
    return (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a)
