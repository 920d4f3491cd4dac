"""Curvature kernels on validated arrays: backpropagation and every Hessian route of PRML 5.4.

The public, validating functions are in :mod:`laplacenet.core.routes`; nothing here imports it, the objective
or the finite-difference checks.
"""
