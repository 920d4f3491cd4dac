"""Pieces shared by the benchmark scripts (imported as ``_common``: scripts run from their own folder)."""
import time

import numpy as np

import laplacenet as ln


def best_time(fn, repeat):
    """Best wall time in seconds of ``repeat`` calls of ``fn()``."""
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def teacher_problem(sizes, likelihood, alpha, beta, n, n_test=0, seed=0, maxiter=300):
    """A tanh network, its MAP weights on data from a random teacher network of the same shape, and the data.

    Returns ``net, w, X, T, X_test`` (``X_test`` has ``n_test`` rows, drawn after ``X`` from the same stream,
    so that the training data do not depend on ``n_test``).
    """
    rng = np.random.default_rng(seed)
    net = ln.MLP(sizes, "tanh", likelihood)
    X, X_test = rng.normal(size=(n, sizes[0])), rng.normal(size=(n_test, sizes[0]))
    a = ln.MLP(sizes, "tanh", "gaussian").forward(net.init(seed + 7) * 1.5, X)
    T = a + 0.2 * rng.normal(size=a.shape) if likelihood == "gaussian" else np.argmax(a + rng.gumbel(size=a.shape), 1)
    w, _ = ln.train(net, X, T, alpha, beta, seed=seed, maxiter=maxiter, warn=False)
    return net, w, X, T, X_test


def torch_mlp(net, w):
    """The same tanh network as a float64 ``torch.nn.Sequential`` (for the laplace-torch comparisons)."""
    import torch
    modules = []
    for l, (W, b) in enumerate(net.unpack(w)):
        linear = torch.nn.Linear(W.shape[1], W.shape[0], dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W))
            linear.bias.copy_(torch.from_numpy(b))
        modules.append(linear)
        if l < net.n_layers - 1:
            modules.append(torch.nn.Tanh())
    return torch.nn.Sequential(*modules)
