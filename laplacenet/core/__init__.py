"""The numerical core: pure functions over ``(network spec, flat w, X, T)``, on numpy and scipy alone.

It imports nothing from :mod:`laplacenet.bayes` or the user shell above it (``DEVELOPERS.md``, "Layers").
"""
