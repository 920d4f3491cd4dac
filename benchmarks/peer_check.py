"""laplacenet's ``'kron'`` and last-layer log evidence beside laplace-torch 0.3's log marginal likelihood.

Runs in a venv with torch and laplace-torch (and laplacenet installed); it is not a test requirement.
The same network is built in torch (``nn.Sequential`` of ``Linear`` + ``Tanh``, float64, ``W_l`` ->
``Linear.weight``, ``b_l`` -> ``Linear.bias``) and fitted with ``laplace.Laplace(model, 'regression' |
'classification', subset_of_weights='all' | 'last_layer', hessian_structure='kron' | 'full',
prior_precision=alpha, sigma_noise=1/sqrt(beta))`` on the same data at the same (MAP) weights.

Run:  /work/peer-venv/bin/python benchmarks/peer_check.py [--time] [--repeat R]
"""
import argparse

import numpy as np

from laplacenet.core.curvature.last_layer import last_layer_slice
from laplacenet.bayes.evidence import log_evidence
from laplacenet.core.priors import alpha_per_param
from _common import best_time, laplace_torch, teacher_problem, torch_mlp

N = 1000
#: name: (sizes, likelihood, alpha, beta); alpha as laplace-torch takes it: one value, or one per parameter
#: tensor (W_1, b_1, W_2, b_2, ...), which are laplacenet's prior groups.
PROBLEMS = {
    "[10,50,3] categorical": ([10, 50, 3], "categorical", 1.0, None),
    "[8,40,40,1] gaussian": ([8, 40, 40, 1], "gaussian", 1.0, 25.0),
    "[5,20,3] gaussian, grouped alpha": ([5, 20, 3], "gaussian", np.array([0.5, 2.0, 1.5, 3.0]), 16.0),
    "[6,12,10,4] categorical, grouped": ([6, 12, 10, 4], "categorical", np.array([0.3, 1.0, 0.7, 2.0, 1.2, 0.4]),
                                          None),
}


def torch_log_marginal_likelihood(net, w, X, T, alpha, beta, subset, structure):
    """laplace-torch's fit and log marginal likelihood; ``subset`` 'all' or 'last_layer'."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    Laplace = laplace_torch().Laplace

    regression = net.likelihood.name == "gaussian"
    targets = torch.from_numpy(np.asarray(T, dtype=float if regression else np.int64))
    loader = DataLoader(TensorDataset(torch.from_numpy(X), targets), batch_size=X.shape[0])
    prior = torch.as_tensor(alpha, dtype=torch.float64)
    if subset == "last_layer" and prior.ndim == 1:  # its last-layer Laplace takes one alpha per parameter
        prior = torch.from_numpy(alpha_per_param(net, alpha)[last_layer_slice(net)])
    la = Laplace(torch_mlp(net, w), "regression" if regression else "classification", subset_of_weights=subset,
                 hessian_structure=structure, prior_precision=prior,
                 sigma_noise=1 / np.sqrt(beta) if regression else 1.0)
    la.fit(loader)
    return la.log_marginal_likelihood().item()


def ours(net, w, X, T, alpha, beta, subset):
    # laplace-torch's log marginal likelihood has no hidden-unit symmetry term
    if subset == "all":
        return log_evidence(net, w, X, T, alpha, beta, hessian="kron", symmetry=False)
    return log_evidence(net, w, X, T, alpha, beta, hessian="outer", subset="last_layer", symmetry=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time", action="store_true", help="also time both fits (best of --repeat)")
    parser.add_argument("--repeat", type=int, default=5)
    opts = parser.parse_args()
    import torch
    torch.set_num_threads(2)
    # laplace-torch's 'full' Hessian is ``linop @ torch.eye(P)``: under the float32 default dtype the identity,
    # and with it H, is float32 (relative error ~3e-8 in H, ~1e-8 in ln Z). float64 everywhere:
    torch.set_default_dtype(torch.float64)
    header = f"{'problem':>34} {'W':>5} {'structure':>10} {'ln Z laplacenet':>17} {'ln Z laplace-torch':>19} {'rel diff':>9}"
    if opts.time:
        header += f" {'ours s':>8} {'torch s':>8}"
    print(header)
    for name, (sizes, likelihood, alpha, beta) in PROBLEMS.items():
        net, w, X, T, _ = teacher_problem(sizes, likelihood, alpha, beta, N)
        for subset, structure in (("all", "kron"), ("last_layer", "full")):
            mine = ours(net, w, X, T, alpha, beta, subset)
            theirs = torch_log_marginal_likelihood(net, w, X, T, alpha, beta, subset, structure)
            label = "kron" if subset == "all" else "last layer"
            line = (f"{name:>34} {net.n_params:>5} {label:>10} {mine:>17.10f} {theirs:>19.10f} "
                    f"{abs(mine - theirs) / abs(theirs):>9.1e}")
            if opts.time:
                t_ours = best_time(lambda: ours(net, w, X, T, alpha, beta, subset), opts.repeat)
                t_torch = best_time(lambda: torch_log_marginal_likelihood(net, w, X, T, alpha, beta, subset,
                                                                          structure), opts.repeat)
                line += f" {t_ours:>8.3f} {t_torch:>8.3f}"
            print(line)


if __name__ == "__main__":
    main()
