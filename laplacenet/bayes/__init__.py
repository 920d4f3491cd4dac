"""The Bayesian layer (PRML 5.7): Laplace posteriors, predictives, the evidence and its loop, diagnostics.

It builds on :mod:`laplacenet.core` and imports nothing from the user shell above it (``DEVELOPERS.md``, "Layers").
"""
