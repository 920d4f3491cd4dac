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


def laplace_torch():
    """The ``laplace`` package of laplace-torch, even from this folder, whose ``laplace.py`` would shadow it."""
    import importlib
    import os
    import sys
    here = os.path.dirname(os.path.abspath(__file__))
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    try:
        module = sys.modules.get("laplace")
        if module is not None and not hasattr(module, "Laplace"):
            del sys.modules["laplace"]
        return importlib.import_module("laplace")
    finally:
        sys.path[:] = saved


def write_json_atomically(path, obj):
    """Write ``obj`` as JSON to ``path`` through a temporary file in the same folder and ``os.replace``.

    numpy scalars and arrays are written as Python numbers and lists.
    """
    import json
    import os
    import tempfile

    def plain(value):
        if isinstance(value, (np.generic, np.ndarray)):
            return value.tolist()
        raise TypeError(f"cannot write {type(value).__name__} as JSON")

    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(obj, handle, indent=1, default=plain)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def minimise_torch(model, objective, gtol=1e-6, maxiter=20000, polish_iter=200):
    """Minimise ``objective()`` (a scalar torch tensor) over ``model``'s parameters, in place, as ``ln.train`` does.

    scipy's L-BFGS-B on the objective and its torch gradient (``maxiter`` iterations at most; stops at
    ||grad|| <= ``gtol`` or when the objective stalls), then, while ||grad|| > ``gtol``, scipy's trust-krylov
    with torch Hessian-vector products (double backward; ``polish_iter`` iterations at most). Returns
    ``{"iters", "hvps", "grad_norm", "converged"}`` at the weights left in ``model``.
    """
    import torch
    from scipy.optimize import minimize
    params = list(model.parameters())

    def flat(tensors):
        return torch.cat([t.reshape(-1) for t in tensors]).detach().numpy().copy()

    def value_and_gradient(w):
        torch.nn.utils.vector_to_parameters(torch.from_numpy(w), params)
        value = objective()
        return value.item(), flat(torch.autograd.grad(value, params))

    def hessp(w, v):
        torch.nn.utils.vector_to_parameters(torch.from_numpy(w), params)
        grads = torch.autograd.grad(objective(), params, create_graph=True)
        return flat(torch.autograd.grad(torch.cat([g.reshape(-1) for g in grads]) @ torch.from_numpy(v), params))

    w = flat(params)
    result = minimize(value_and_gradient, w, jac=True, method="L-BFGS-B",
                      options={"maxiter": maxiter, "maxfun": 2 * maxiter, "gtol": gtol / np.sqrt(w.size)})
    iters, hvps = result.nit, 0
    if np.linalg.norm(result.jac) > gtol:
        result = minimize(value_and_gradient, result.x, jac=True, hessp=hessp, method="trust-krylov",
                          options={"gtol": gtol, "maxiter": polish_iter})
        iters, hvps = iters + result.nit, result.nhev
    grad_norm = float(np.linalg.norm(value_and_gradient(result.x)[1]))  # also leaves the model at result.x
    return {"iters": iters, "hvps": hvps, "grad_norm": grad_norm, "converged": grad_norm <= gtol}
