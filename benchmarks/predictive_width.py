"""Where the linearised predictive's width comes from (issue 11): by layer, and how test NLL moves with it.

For the default ``BayesianMLPClassifier`` on each split of ``benchmarks/real_data.py``'s tables, the linearised
activation covariance ``G A^-1 G^T`` (PRML 5.188) is split into the output layer's block and the rest, and the
test NLL of the moderated output (PRML 5.190; the generalised probit for several classes) and of the Laplace
bridge is measured with the covariance scaled by c (c = 0 is the MAP network). A diagnostic, not a remedy: a
scale fitted to test data is temperature scaling, which issue 11 rules out.

Run:  python benchmarks/predictive_width.py [--datasets breast_cancer wine iris penguins] [--hidden 20] [--splits 5]
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

import laplacenet as ln  # noqa: E402
from laplacenet.core.curvature.backprop import forward_pass  # noqa: E402
from laplacenet.core.curvature.jacobian import row_jacobians  # noqa: E402
from laplacenet.bayes.predictive import laplace_bridge, moderated_bernoulli, moderated_softmax  # noqa: E402
from real_data import DATASETS, classification_metrics, split_data  # noqa: E402

SCALES = (0.0, 0.01, 0.1, 0.3, 1.0)


def _nll(prob, labels):
    """Mean test NLL of class probabilities ``(N, C)``, or of p(class 1) ``(N, 1)`` for two classes."""
    if prob.shape[1] == 1:
        prob = np.hstack([1.0 - prob, prob])
    return classification_metrics(labels, prob)["nll"]


def _covariance(J, S):
    """``J S J^T`` per row: J (N, K, m), S (m, m) -> (N, K, K)."""
    return np.einsum("nki,ij,nlj->nkl", J, S, J, optimize=True)


def split_row(name, hidden, split):
    task, load = DATASETS[name]
    X, y = load()
    y = np.unique(y, return_inverse=True)[1]
    X_train, y_train, X_test, y_test, _ = split_data(X, y, task, "standardized", split)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ln.BayesianMLPClassifier(hidden=(hidden,), seed=split).fit(X_train, y_train)
    net, w, posterior = model.net_, model.w_, model.posterior_
    X_s, _ = model.posterior_data(X_test, y_test)
    layers = net.unpack(w)
    fw = forward_pass(net, layers, X_s)
    K = net.n_outputs
    J = row_jacobians(net, layers, fw, np.broadcast_to(np.eye(K), (X_s.shape[0], K, K)))  # (N, K, W) (5.73)
    a, S = fw.a[-1], posterior.covariance()
    out_ws, out_bs = net.layer_slices[-1]
    last = slice(out_ws.start, out_bs.stop)
    cov, cov_last = _covariance(J, S), _covariance(J[:, :, last], S[last, last])
    hidden_weights = slice(0, out_ws.start)
    prior_var = 1.0 / ln.core.priors.alpha_per_param(net, model.alpha_)[hidden_weights]
    moderated = (lambda c: moderated_bernoulli(a, c * cov[:, :, 0])) if K == 1 else \
        (lambda c: moderated_softmax(a, c * cov))
    row = {
        "data": name, "split": split, "alpha": float(np.max(model.alpha_)), "gamma": model.gamma_, "W": net.n_params,
        "var": float(np.median(np.trace(cov, axis1=1, axis2=2) / K)),
        "var_last": float(np.median(np.trace(cov_last, axis1=1, axis2=2) / K)),
        "hidden_ratio": float(np.median(np.diag(S)[hidden_weights] / prior_var)),
        "moderated": [_nll(moderated(c), y_test) for c in SCALES],
        "last_only": _nll(moderated_bernoulli(a, cov_last[:, :, 0]) if K == 1 else moderated_softmax(a, cov_last),
                          y_test),
    }
    if K > 1:
        row["bridge"] = [_nll(laplace_bridge(a, c * cov), y_test) for c in SCALES]
    return row


def _print(rows):
    scales = " / ".join(f"{c:g}" for c in SCALES)
    print(f"| data | split | α | γ / W | median logit var: all / output layer | hidden-layer var ÷ prior var | "
          f"moderated NLL at c = {scales} | output layer's block only | bridge NLL at c = {scales} |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |")
    for r in rows:
        bridge = " / ".join(f"{v:.4f}" for v in r["bridge"]) if "bridge" in r else "= MAP (two classes)"
        print(f"| {r['data']} | {r['split']} | {r['alpha']:.3g} | {r['gamma']:.1f} / {r['W']} | "
              f"{r['var']:.3g} / {r['var_last']:.3g} | {r['hidden_ratio']:.3f} | "
              f"{' / '.join(f'{v:.4f}' for v in r['moderated'])} | {r['last_only']:.4f} | {bridge} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["breast_cancer", "wine", "iris", "penguins"],
                        choices=[name for name, (task, _) in DATASETS.items() if task == "classification"])
    parser.add_argument("--hidden", type=int, default=20)
    parser.add_argument("--splits", type=int, default=5)
    args = parser.parse_args(argv)
    rows = [split_row(name, args.hidden, split) for name in args.datasets for split in range(args.splits)]
    _print(rows)


if __name__ == "__main__":
    main()
