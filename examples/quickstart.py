"""
Quick start: MAP training on a noisy sinusoid
=============================================

Train a small Bayesian-ready network on a noisy sinusoid and report how well MAP training did.

Run:  python examples/quickstart.py
"""
import numpy as np

import laplacenet as ln


def main():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, size=(60, 1))
    noise_sd = 0.15
    t = np.sin(2 * np.pi * x) + noise_sd * rng.normal(size=x.shape)
    x_test = np.linspace(0.0, 1.0, 200)[:, None]
    t_test = np.sin(2 * np.pi * x_test)

    alpha, beta = 1e-2, 1.0 / noise_sd**2
    print(f"{'hidden':>6} {'E(w_MAP)':>10} {'|grad E|':>10} {'iters':>6} {'train RMSE':>11} {'test RMSE':>10}")
    for hidden in (1, 3, 8):
        net = ln.MLP([1, hidden, 1], activation="tanh")
        w, report = ln.train(net, x, t, alpha, beta, restarts=3, seed=1)
        train_rmse = np.sqrt(np.mean((net.forward(w, x) - t) ** 2))
        test_rmse = np.sqrt(np.mean((net.forward(w, x_test) - t_test) ** 2))
        print(f"{hidden:>6} {report.error:>10.3f} {report.grad_norm:>10.1e} {report.n_iter:>6} "
              f"{train_rmse:>11.4f} {test_rmse:>10.4f}")
    print(f"noise standard deviation used to make the data: {noise_sd}")


if __name__ == "__main__":
    main()
