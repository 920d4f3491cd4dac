"""Curvature of the error: backpropagation and every Hessian route of PRML 5.4."""
