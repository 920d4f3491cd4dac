"""Real data, end to end (issues 10 and 11): fit + predict on real tables, laplacenet beside its MAP network,
linear baselines and laplace-torch, with accuracy, calibration, coverage and laplacenet's own diagnostics.

Data: scikit-learn's bundled diabetes (regression), breast_cancer, wine, iris and digits, laplacenet's
penguins (classification) and motorcycle (regression, one input); nothing is downloaded. Splits 80/20
(stratified for classification), seeds 0 .. S-1; one tanh hidden layer of each ``--hidden`` width.

Variants: ``standardized`` - the harness centres and scales the inputs by the training mean and sd (a column of
sd 0 is centred only) and standardises regression targets, for every method; ``raw`` - the data as loaded,
laplacenet (and its MAP output) only. Regression metrics are always in standardised target units (training
mean and sd), so that variants and methods compare.

Methods: ``laplacenet`` (the estimator's defaults but hidden and ``seed=split``, with ``--ln-kwargs``; one set
of rows per ``--config``; for classification also ``laplacenet/linear``, ``/bridge`` and ``/linear_mc``, the
other predictives of the same fit), ``map`` (the same fit's MAP network, :func:`map_prediction`), ``linear``
(``BayesianRidge`` / ``LogisticRegression(max_iter=5000)``), ``lt-full`` and ``lt-last`` (laplace-torch 0.3,
when torch and laplace-torch import: :func:`torch_map`, :func:`laplace_torch_method`). BLAS, OpenMP and torch
run single-threaded unless ``--threads`` says otherwise.

Run:  python benchmarks/real_data.py [--splits 5] [--hidden 20 50] [--datasets ...] [--variant ...]
          [--methods ...] [--config NAME='{"alpha": "layers"}' ...] [--threads 1|N|default] [--out results.json]
      /path/to/peer-venv/bin/python benchmarks/real_data.py ...       (adds lt-full and lt-last)
      python benchmarks/real_data.py --summarize results.json [more.json ...]   (tables of saved runs)
"""
import os
import sys


def _threads_option(argv):
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return "1"


# BLAS threads are fixed when numpy loads: set them before anything imports it
THREADS = _threads_option(sys.argv[1:])
if THREADS != "default":
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = THREADS

import argparse  # noqa: E402
import copy  # noqa: E402
import functools  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections import defaultdict  # noqa: E402

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

import laplacenet as ln  # noqa: E402
from _common import laplace_torch, minimise_torch, write_json_atomically  # noqa: E402

LEVELS = (50, 90, 95)                 # central predictive intervals (%) whose coverage is reported
LT_GTOL, LT_MAXITER = 1e-6, 20000     # torch MAP: ||grad E|| bound and L-BFGS-B iterations (laplacenet's train)
PREDICTIVES = ("linear", "bridge", "linear_mc")  # classification rows laplacenet/<method> beside the default
LT_STRUCTURES = {"lt-full": {"subset_of_weights": "all", "hessian_structure": "full"}, "lt-last": {}}


def _sklearn_table(name):
    def load():
        import sklearn.datasets
        return getattr(sklearn.datasets, f"load_{name}")(return_X_y=True)
    return load


def _motorcycle():
    X, T = ln.datasets.load_motorcycle()
    return X, T[:, 0]


DATASETS = {  # name: (task, loader -> (X (N, D), y (N,)))
    "diabetes": ("regression", _sklearn_table("diabetes")),
    "motorcycle": ("regression", _motorcycle),
    "breast_cancer": ("classification", _sklearn_table("breast_cancer")),
    "wine": ("classification", _sklearn_table("wine")),
    "iris": ("classification", _sklearn_table("iris")),
    "digits": ("classification", _sklearn_table("digits")),
    "penguins": ("classification", lambda: tuple(ln.datasets.load_penguins()[:2])),
}


# ---------------------------------------------------------------- data and metrics
def split_data(X, y, task, variant, seed):
    """``X_train, y_train, X_test, y_test, (loc, scale)``: training data and test inputs in the variant's units.

    Test targets are standardised (regression) or labels; ``(pred - loc) / scale`` takes a regression
    prediction from the variant's units to standardised ones.
    """
    from sklearn.model_selection import train_test_split
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=seed, stratify=y if task == "classification" else None)
    y_loc, y_scale = (y_train.mean(), y_train.std()) if task == "regression" else (0.0, 1.0)
    y_test = (y_test - y_loc) / y_scale if task == "regression" else y_test
    if variant == "raw":
        return X_train, y_train, X_test, y_test, (y_loc, y_scale)
    x_loc, x_scale = X_train.mean(axis=0), X_train.std(axis=0)
    x_scale = np.where(x_scale > 0, x_scale, 1.0)
    y_train = (y_train - y_loc) / y_scale if task == "regression" else y_train
    return (X_train - x_loc) / x_scale, y_train, (X_test - x_loc) / x_scale, y_test, (0.0, 1.0)


def regression_metrics(y, mean, sd):
    """NLL per point, RMSE, central-interval coverage and PIT of a Gaussian predictive, all (N,) arrays."""
    z = (y - mean) / sd
    pit = stats.norm.cdf(z)
    u, n = np.sort(pit), pit.size
    metrics = {"nll": float(np.mean(0.5 * np.log(2 * np.pi) + np.log(sd) + 0.5 * z ** 2)),
               "rmse": float(np.sqrt(np.mean((y - mean) ** 2))),
               # Kolmogorov-Smirnov distance sup |ECDF - uniform| of the PIT values, and their histogram
               "pit_ks": float(max(np.max(np.arange(1, n + 1) / n - u), np.max(u - np.arange(n) / n))),
               "pit_hist": (np.histogram(pit, bins=10, range=(0, 1))[0] / n).tolist()}
    for level in LEVELS:
        metrics[f"cov{level}"] = float(np.mean(np.abs(z) <= stats.norm.ppf(0.5 + level / 200)))
    return metrics


def classification_metrics(y, proba, bins=10):
    """NLL per point, accuracy, ECE (equal-width bins of the top-class confidence) and Brier score."""
    rows = np.arange(y.size)
    predicted = np.argmax(proba, axis=1)
    confidence, correct = proba[rows, predicted], predicted == y
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    gaps = np.bincount(which, weights=correct - confidence, minlength=bins)
    return {"nll": float(-np.mean(np.log(np.clip(proba[rows, y], 1e-300, None)))),
            "accuracy": float(np.mean(correct)), "ece": float(np.sum(np.abs(gaps)) / y.size),
            "brier": float(np.mean(np.sum((proba - np.eye(proba.shape[1])[y]) ** 2, axis=1)))}


# ---------------------------------------------------------------- laplacenet, its MAP network, linear models
def map_prediction(est, X, task):
    """The MAP network's prediction in the user's units: ``(mean, sd)`` or class probabilities ``(N, C)``.

    The one place to update when the estimators change. An estimator offering ``predict_map`` (regression,
    with ``return_std=True``) or ``predict_map_proba`` is asked. Otherwise the fitted network is run on ``X``
    standardised by the documented ``x_mean_``, ``x_scale_`` (when present) and its regression output mapped
    back by ``y_mean_``, ``y_scale_``; the noise sd is 1 / sqrt(``beta_``), ``beta_`` being in the user's units.
    """
    if task == "regression" and hasattr(est, "predict_map"):
        return est.predict_map(X, return_std=True)
    if task == "classification" and hasattr(est, "predict_map_proba"):
        return est.predict_map_proba(X)
    if est.get_params().get("standardize") and not hasattr(est, "x_mean_"):
        raise RuntimeError("the estimator standardises internally but offers neither a MAP prediction nor "
                           "x_mean_ / x_scale_: update map_prediction")
    if hasattr(est, "x_mean_"):
        X = (X - est.x_mean_) / est.x_scale_
    out = est.net_.forward(est.w_, X)
    if task == "regression":
        y_mean, y_scale = np.ravel(getattr(est, "y_mean_", 0.0))[0], np.ravel(getattr(est, "y_scale_", 1.0))[0]
        return y_mean + y_scale * out[:, 0], np.full(out.shape[0], 1 / np.sqrt(np.ravel(est.beta_)[0]))
    return np.hstack([1 - out, out]) if out.shape[1] == 1 else out


def laplacenet_method(X_train, y_train, X_test, task, hidden, seed, kwargs):
    """The estimator's fit + predict, and the same network's MAP output: ``{"laplacenet": .., "map": ..}``."""
    est_class = ln.BayesianMLPRegressor if task == "regression" else ln.BayesianMLPClassifier
    est = est_class(**{**kwargs, "hidden": hidden, "seed": seed})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start, start_cpu = time.perf_counter(), time.process_time()
        est.fit(X_train, y_train)
        pred = est.predict(X_test, return_std=True) if task == "regression" else est.predict_proba(X_test)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    evidence = sum(issubclass(w.category, ln.EvidenceConvergenceWarning) for w in caught)
    training = sum(issubclass(w.category, ln.ConvergenceWarning) for w in caught) - evidence
    alpha = np.ravel(est.alpha_).astype(float)
    info = {"time": elapsed, "cpu_time": cpu, "gamma": float(est.gamma_), "alpha_min": alpha.min(),
            "alpha_max": alpha.max(), "log_evidence": float(est.log_evidence_), "cycles": len(est.history_),
            "converged": bool(est.converged_),
            "train_converged": bool(est.restarts_[est.best_restart_].train_converged),  # the returned state's
            "warnings_training": training, "warnings_evidence": evidence,
            "warnings_other": len(caught) - training - evidence,
            "warning_messages": sorted({str(w.message)[:200] for w in caught})[:5], "W": est.net_.n_params,
            "hidden_chosen": list(getattr(est, "hidden_", est.net_.sizes[1:-1]))}
    map_info = {"W": est.net_.n_params}
    if task == "regression":
        info["beta"] = np.ravel(est.beta_).tolist()
        map_info["noise_sd_units"] = info["noise_sd_units"] = float(1 / np.sqrt(np.ravel(est.beta_)[0]))
    try:
        map_result = (map_prediction(est, X_test, task), map_info)
    except RuntimeError as error:
        map_result = error
    results = {"laplacenet": (pred, info), "map": map_result}
    if task == "classification":  # the other predictives of the same fit (not timed: they reuse it)
        for method in PREDICTIVES:
            try:
                results[f"laplacenet/{method}"] = (est.predict_proba(X_test, method=method), map_info)
            except TypeError as error:  # an estimator without predict_proba(method=)
                results[f"laplacenet/{method}"] = error
    return results


def linear_method(X_train, y_train, X_test, task, hidden, seed):
    """``BayesianRidge`` (predictive sd with the noise) or ``LogisticRegression(max_iter=5000)``."""
    from sklearn.linear_model import BayesianRidge, LogisticRegression
    start, start_cpu = time.perf_counter(), time.process_time()
    if task == "regression":
        model = BayesianRidge().fit(X_train, y_train)
        pred = model.predict(X_test, return_std=True)
        info = {"alpha_min": model.lambda_, "alpha_max": model.lambda_, "noise_sd_units": 1 / np.sqrt(model.alpha_)}
    else:
        model = LogisticRegression(max_iter=5000).fit(X_train, y_train)
        pred = model.predict_proba(X_test)
        info = {"n_iter": int(np.max(model.n_iter_))}
    info.update(time=time.perf_counter() - start, cpu_time=time.process_time() - start_cpu)
    return {"linear": (pred, info)}


# ---------------------------------------------------------------- laplace-torch
def _torch_data(X, y, task):
    import torch
    X = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float64))
    return X, (torch.from_numpy(np.asarray(y, dtype=np.float64))[:, None] if task == "regression"
               else torch.from_numpy(np.asarray(y, dtype=np.int64)))


def _map_objective(model, X, y, task):
    """E(w) = sum_n nll_n + ||w||^2 / 2: noise variance 1 and prior precision 1 (laplacenet's E at those)."""
    import torch
    out = model(X)
    nll = (0.5 * torch.sum((out - y) ** 2) if task == "regression"
           else torch.nn.functional.cross_entropy(out, y, reduction="sum"))
    return nll + 0.5 * sum(torch.sum(p ** 2) for p in model.parameters())


_MAP_CACHE = {}


def torch_map(X, y, task, hidden, seed):
    """The torch MAP network that lt-full and lt-last share, trained once per data, shape and seed.

    float64 ``nn.Sequential`` of ``Linear`` + ``Tanh`` per hidden layer and a ``Linear`` output (K units; 2 for
    two classes, laplace-torch's classification being softmax), torch's default initialisation after
    ``torch.manual_seed(seed)``. E(w) of :func:`_map_objective` is minimised by ``_common.minimise_torch`` the
    way laplacenet's ``train`` does it: L-BFGS-B (up to 20 000 iterations), then trust-krylov on torch
    Hessian-vector products, to ||grad E|| <= 1e-6. (``torch.optim.LBFGS`` alone stalled at ||grad E|| ~ 5e-4
    after 25 000 iterations on diabetes.) Returns the model and ``{"map_time", "map_iters", "map_hvps",
    "map_grad_norm", "map_converged"}``.
    """
    key = (np.asarray(X).tobytes(), np.asarray(y).tobytes(), task, hidden, seed)
    if key not in _MAP_CACHE:
        _MAP_CACHE.clear()
        _MAP_CACHE[key] = _train_torch_map(X, y, task, hidden, seed)
    return _MAP_CACHE[key]


def _train_torch_map(X, y, task, hidden, seed):
    import torch
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(seed)
    widths = [X.shape[1], *hidden, 1 if task == "regression" else int(np.max(y)) + 1]
    layers = [m for a, b in zip(widths[:-1], widths[1:]) for m in (torch.nn.Linear(a, b), torch.nn.Tanh())]
    model = torch.nn.Sequential(*layers[:-1])
    X_t, y_t = _torch_data(X, y, task)
    start, start_cpu = time.perf_counter(), time.process_time()
    report = minimise_torch(model, lambda: _map_objective(model, X_t, y_t, task), LT_GTOL, LT_MAXITER)
    return model, {"map_time": time.perf_counter() - start, "map_cpu_time": time.process_time() - start_cpu,
                   **{f"map_{k}": v for k, v in report.items()}}


def laplace_torch_method(X_train, y_train, X_test, task, hidden, seed, structure, steps, lr):
    """laplace-torch 0.3 as its README shows it, on the shared torch MAP network (:func:`torch_map`).

    ``Laplace(model, likelihood, **structure)``, ``la.fit`` on one full batch, ``steps`` Adam steps of rate
    ``lr`` on -``la.log_marginal_likelihood(exp(log_prior), exp(log_sigma))`` from log values 1 (the README's
    loop; sigma for regression only), then ``la(X_test, pred_type="glm", link_approx="probit")``; for
    regression the predictive sd is sqrt(f_var + sigma^2). Time: the Laplace part plus the MAP training.
    """
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    model, map_info = torch_map(X_train, y_train, task, hidden, seed)
    X_t, y_t = _torch_data(X_train, y_train, task)
    start, start_cpu = time.perf_counter(), time.process_time()
    la = laplace_torch().Laplace(copy.deepcopy(model), task, **structure)
    la.fit(DataLoader(TensorDataset(X_t, y_t), batch_size=X_t.shape[0]))
    hyper = [torch.ones(1, requires_grad=True) for _ in range(2 if task == "regression" else 1)]
    optimiser = torch.optim.Adam(hyper, lr=lr)
    neg_marglik, hyper_grad = None, None
    for _ in range(steps):
        optimiser.zero_grad()
        neg_marglik = -la.log_marginal_likelihood(*(h.exp() for h in hyper))
        neg_marglik.backward()
        hyper_grad = float(torch.sqrt(sum(torch.sum(h.grad ** 2) for h in hyper)))
        optimiser.step()
    la.prior_precision = hyper[0].detach().exp()
    if task == "regression":
        la.sigma_noise = hyper[1].detach().exp()
    with torch.no_grad():
        out = la(torch.from_numpy(np.ascontiguousarray(X_test)), pred_type="glm", link_approx="probit")
    sigma = float(la.sigma_noise)
    pred = ((out[0][:, 0].numpy(), np.sqrt(out[1][:, 0, 0].numpy() + sigma ** 2)) if task == "regression"
            else out.numpy())
    laplace_time, laplace_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    prior = float(la.prior_precision.reshape(-1)[0])
    info = {**map_info, "laplace_time": laplace_time, "time": map_info["map_time"] + laplace_time,
            "cpu_time": map_info["map_cpu_time"] + laplace_cpu,
            "alpha_min": prior, "alpha_max": prior, "hyper_grad_norm": hyper_grad, "W": la.n_params,
            "log_marglik": None if neg_marglik is None else -neg_marglik.item()}
    if task == "regression":
        info["noise_sd_units"] = sigma
    return pred, info


def laplace_torch_family(X_train, y_train, X_test, task, hidden, seed, steps, lr, wanted):
    """``{name: (pred, info) or the exception it raised}`` for the wanted structures of :data:`LT_STRUCTURES`."""
    results = {}
    for name in wanted:
        try:
            results[name] = laplace_torch_method(X_train, y_train, X_test, task, hidden, seed,
                                                 LT_STRUCTURES[name], steps, lr)
        except Exception as error:  # one structure failing leaves the other's result
            results[name] = error
    return results


def torch_available():
    try:
        import torch  # noqa: F401
        laplace_torch()
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------- the run
def families(opts):
    """``(function, {its result key: row label}, runs on raw data)`` per selected method family."""
    out = []
    for name, kwargs in opts.configs:
        kinds = ("laplacenet", "map", *(f"laplacenet/{m}" for m in PREDICTIVES))
        names = {m: f"{m}[{name}]" if name else m for m in kinds if m.split("/")[0] in opts.methods}
        if names:
            out.append((functools.partial(laplacenet_method, kwargs=kwargs), names, True))
    if "linear" in opts.methods:
        out.append((linear_method, {"linear": "linear"}, False))
    wanted = tuple(m for m in LT_STRUCTURES if m in opts.methods)
    if wanted:
        fn = functools.partial(laplace_torch_family, steps=opts.lt_steps, lr=opts.lt_lr, wanted=wanted)
        out.append((fn, {m: m for m in wanted}, False))
    return out


def _error_row(base, label, error):
    return {**base, "method": label, "error": f"{type(error).__name__}: {error}"[:500]}


def run_one(fn, names, data, task, hidden, base):
    """Rows of one method family on one split; an exception becomes an ``error`` row."""
    X_train, y_train, X_test, y_test, (loc, scale) = data
    try:
        results = fn(X_train, y_train, X_test, task, hidden, base["split"])
    except Exception as error:  # a failing method is a result to report, not the end of the run
        return [_error_row(base, label, error) for label in names.values()]
    rows = []
    for key, label in names.items():
        if key not in results:  # e.g. the classification-only predictives on a regression table
            continue
        if isinstance(results[key], Exception):
            rows.append(_error_row(base, label, results[key]))
            continue
        pred, info = results[key]
        if task == "regression":
            metrics = regression_metrics(y_test, (pred[0] - loc) / scale, pred[1] / scale)
            if "noise_sd_units" in info:
                info = {**info, "noise_sd": info["noise_sd_units"] / scale}
        else:
            metrics = classification_metrics(y_test, pred)
        rows.append({**base, "method": label, **metrics, **info})
    return rows


def run(opts):
    """Every selected (data set, hidden, variant, split, method); the rows, also in ``opts.out`` as they come."""
    from threadpoolctl import threadpool_info  # a scikit-learn dependency
    meta = {"argv": sys.argv, "threads": THREADS, "numpy": np.__version__, "laplacenet": ln.__version__,
            "started": time.strftime("%Y-%m-%d %H:%M:%S"), "cpus": os.cpu_count(), "configs": opts.configs,
            "blas": [{k: p.get(k) for k in ("internal_api", "num_threads", "version")} for p in threadpool_info()]}
    if opts.methods & set(LT_STRUCTURES):
        import torch
        if THREADS != "default":
            torch.set_num_threads(int(THREADS))
        warnings.filterwarnings("ignore", "Converting a tensor with requires_grad", UserWarning)  # laplace-torch's KFAC
        meta.update(torch=torch.__version__, torch_threads=torch.get_num_threads(), lt_steps=opts.lt_steps,
                    lt_lr=opts.lt_lr)
    rows = []
    for dataset in opts.datasets:
        task, load = DATASETS[dataset]
        X, y = load()
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float) if task == "regression" else np.unique(y, return_inverse=True)[1]
        for hidden, variant, split in itertools.product(opts.hidden, opts.variant, range(opts.splits)):
            data = split_data(X, y, task, variant, split)
            base = {"dataset": dataset, "task": task, "hidden": [hidden], "variant": variant, "split": split,
                    "N": data[0].shape[0], "N_test": data[2].shape[0], "D": X.shape[1]}
            for fn, names, on_raw in families(opts):
                if on_raw or variant != "raw":
                    if hidden == "auto" and fn is not linear_method and not names.get("laplacenet"):
                        continue  # laplace-torch needs widths
                    widths = hidden if hidden == "auto" else ((hidden,) if hidden else ())
                    new = run_one(fn, names, data, task, widths, {**base, "load": os.getloadavg()[0]})
                    rows += new
                    write_json_atomically(opts.out, {"meta": meta, "rows": rows})
                    for row in new:
                        note = row.get("error") or (f"{row['time']:.2f} s" if "time" in row else "")
                        print(f"  {dataset} ({hidden},) {variant} split {split} {row['method']}: {note}",
                              file=sys.stderr, flush=True)
    return rows


# ---------------------------------------------------------------- tables
def _mean_se(values, digits=3):
    values = np.array([v for v in values if v is not None], dtype=float)
    if values.size < 2:
        return f"{values[0]:.{digits}g}" if values.size else ""
    return f"{values.mean():.{digits}g} ± {values.std(ddof=1) / np.sqrt(values.size):.2g}"


def _fraction(values):
    values = [v for v in values if v is not None]
    return f"{sum(values)}/{len(values)}" if values else ""


def _range(lows, highs):
    lows, highs = [v for v in lows if v is not None], [v for v in highs if v is not None]
    if not lows:
        return ""
    low, high = f"{min(lows):.3g}", f"{max(highs):.3g}"
    return low if low == high else f"{low}–{high}"


def _mean(key, digits=3):
    return lambda rows: _mean_se((r.get(key) for r in rows), digits)


COLUMNS = {  # task: [(heading, function of one method's rows)]
    "regression": [("NLL", _mean("nll")), ("RMSE", _mean("rmse")),
                   ("cov 50/90/95", lambda rows: "/".join(f"{np.mean([r[f'cov{p}'] for r in rows]):.2f}"
                                                          for p in LEVELS)),
                   ("PIT KS", _mean("pit_ks", 2)), ("noise sd", _mean("noise_sd"))],
    "classification": [("NLL", _mean("nll")), ("accuracy", _mean("accuracy")), ("ECE", _mean("ece")),
                       ("Brier", _mean("brier"))],
}
DIAGNOSTICS = [
    ("time s", _mean("time", 2)),
    ("CPU s", _mean("cpu_time", 2)),
    ("γ/N", lambda rows: _mean_se((r["gamma"] / r["N"] if "gamma" in r else None for r in rows), 2)),
    ("α", lambda rows: _range([r.get("alpha_min") for r in rows], [r.get("alpha_max") for r in rows])),
    ("cycles", _mean("cycles", 2)),
    ("converged", lambda rows: _fraction(r.get("converged") for r in rows)),
    ("train conv.", lambda rows: _fraction(r.get("train_converged") for r in rows)),
    ("warnings tr/ev", lambda rows: "" if "warnings_training" not in rows[0] else
     f"{np.mean([r['warnings_training'] for r in rows]):.2g}/{np.mean([r['warnings_evidence'] for r in rows]):.2g}"),
    ("torch MAP s", _mean("map_time", 2)),
    ("MAP ‖∇E‖", lambda rows: _range(*[[r.get("map_grad_norm") for r in rows]] * 2)),
    ("W", lambda rows: str(rows[0].get("W", ""))),
]


def _method_rank(method):
    kind = method.split("[")[0].split("/")[0]
    return ["laplacenet", "map", "linear", *LT_STRUCTURES, kind].index(kind), method


def print_tables(rows):
    """One Markdown table per (data set, hidden): a row per method and variant, mean ± standard error."""
    groups = defaultdict(list)
    for row in rows:
        groups[row["dataset"], tuple(row["hidden"])].append(row)
    order = list(DATASETS)
    def rank(key):  # data set order, then widths ('auto' last)
        return order.index(key[0]) if key[0] in order else len(order), [(isinstance(h, str), str(h).zfill(6))
                                                                         for h in key[1]]
    for dataset, hidden in sorted(groups, key=rank):
        group = groups[dataset, hidden]
        first, columns = group[0], COLUMNS[group[0]["task"]] + DIAGNOSTICS
        print(f"\n### {dataset}, hidden {hidden} ({first['task']}, N = {first['N']} train / {first['N_test']} "
              f"test, D = {first['D']})\n")
        print("| method | variant | splits | " + " | ".join(h for h, _ in columns) + " |")
        print("| --- | --- | --- |" + " ---: |" * len(columns))
        by_method = defaultdict(list)
        for row in group:
            by_method[row["method"], row["variant"]].append(row)
        for method, variant in sorted(by_method, key=lambda k: (_method_rank(k[0]), k[1] != "standardized")):
            ok = [r for r in by_method[method, variant] if "error" not in r]
            cells = [fn(ok) if ok else "" for _, fn in columns]
            print(f"| {method} | {variant} | {len(ok)}/{len(by_method[method, variant])} | {' | '.join(cells)} |")
        for row in (r for r in group if "error" in r):
            print(f"\n{row['method']} ({row['variant']}, split {row['split']}) failed: {row['error']}")
    totals = defaultdict(float)
    for row in rows:
        totals[row["method"]] += row.get("time") or 0.0
    print("\nTotal wall time by method (s; map reuses the laplacenet fit): "
          + ", ".join(f"{m} {t:.1f}" for m, t in sorted(totals.items(), key=lambda kv: _method_rank(kv[0]))))


def print_auto_agreement(rows):
    """``hidden='auto'`` against the held-out NLL of the candidates it chose from (rows of hidden 0, 1, 2, ...)."""
    auto = [r for r in rows if r["hidden"] == ["auto"] and r["method"] == "laplacenet" and "error" not in r]
    if not auto:
        return
    print("\n### hidden='auto' against the held-out test NLL of its candidates\n")
    print("| data | splits | auto NLL | best candidate (by mean test NLL) | its NLL | within 1 SE | chosen = the "
          "split's best | chosen widths |")
    print("| --- | ---: | ---: | --- | ---: | --- | ---: | --- |")
    for dataset in [d for d in DATASETS if any(r["dataset"] == d for r in auto)]:
        mine = {r["split"]: r for r in auto if r["dataset"] == dataset and r["variant"] == "standardized"}
        candidates = defaultdict(dict)
        for r in rows:
            if (r["dataset"] == dataset and r["method"] == "laplacenet" and r["variant"] == "standardized"
                    and r["hidden"] != ["auto"] and "error" not in r and r["split"] in mine):
                candidates[r["hidden"][0]][r["split"]] = r["nll"]
        complete = {h: v for h, v in candidates.items() if set(v) == set(mine)}
        if not complete or not mine:
            continue
        splits = sorted(mine)
        best_h = min(complete, key=lambda h: np.mean(list(complete[h].values())))
        auto_nll = np.array([mine[s]["nll"] for s in splits])
        best_nll = np.array([complete[best_h][s] for s in splits])
        diff = auto_nll - best_nll
        se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else 0.0
        agree = sum(_widths(mine[s]["hidden_chosen"]) == min(complete, key=lambda h: complete[h][s]) for s in splits)
        chosen = ", ".join(sorted({str(_widths(mine[s]["hidden_chosen"])) for s in splits}))
        print(f"| {dataset} | {len(splits)} | {_mean_se(auto_nll)} | {best_h} | {_mean_se(best_nll)} | "
              f"{'yes' if diff.mean() <= se else 'no'} (Δ {diff.mean():.3g} ± {se:.2g}) | {agree}/{len(splits)} | "
              f"{chosen} |")


def _widths(hidden):
    """A chosen architecture as the harness's ``--hidden`` value: 0 for none, the width of one layer."""
    return hidden[0] if len(hidden) == 1 else (0 if not hidden else tuple(hidden))


def load_rows(paths):
    """The rows of saved runs; a later file's row replaces an earlier one with the same key."""
    rows = {}
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for row in json.load(handle)["rows"]:
                rows[row["dataset"], tuple(row["hidden"]), row["variant"], row["split"], row["method"]] = row
    return list(rows.values())


# ---------------------------------------------------------------- command line
def _hidden_option(text):
    if text == "auto":
        return text
    try:
        width = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a width (0 for none) or 'auto'; got {text!r}") from None
    if width < 0:
        raise argparse.ArgumentTypeError(f"a width (0 for none) or 'auto'; got {text!r}")
    return width


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=5, help="random 80/20 splits, seeds 0 .. S-1")
    parser.add_argument("--hidden", type=_hidden_option, nargs="+", default=[20, 50],
                        help="widths of the one hidden layer (0: none), or 'auto' (the estimators' choice by the "
                             "evidence; run beside 0 1 2 4 8 16 for the agreement table)")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--variant", nargs="+", default=["standardized", "raw"], choices=["standardized", "raw"])
    parser.add_argument("--methods", nargs="+", choices=["laplacenet", "map", "linear", *LT_STRUCTURES],
                        help="default: all available (lt-* when torch and laplace-torch import)")
    parser.add_argument("--ln-kwargs", type=json.loads, default={}, help="JSON merged into every laplacenet config")
    parser.add_argument("--config", action="append", default=[], metavar="NAME=JSON",
                        help="a labelled laplacenet configuration (repeatable): rows laplacenet[NAME], map[NAME]")
    parser.add_argument("--lt-steps", type=int, default=100, help="Adam steps on laplace-torch's log marginal "
                                                                   "likelihood")
    parser.add_argument("--lt-lr", type=float, default=0.1, help="their learning rate")
    parser.add_argument("--threads", default="1", help="BLAS, OpenMP and torch threads: a number, or 'default' "
                                                       "to leave them alone")
    parser.add_argument("--out", default="results.json", help="JSON of every row, rewritten after each method")
    parser.add_argument("--summarize", nargs="+", metavar="JSON", help="print the tables of saved runs and exit")
    opts = parser.parse_args(argv)
    if opts.threads != "default" and not (opts.threads.isdigit() and int(opts.threads) > 0):
        parser.error(f"--threads must be a positive number or 'default'; got {opts.threads!r}")
    configs = []
    for item in opts.config:
        name, sep, text = item.partition("=")
        if not (sep and name):
            parser.error(f"--config must be NAME=JSON; got {item!r}")
        configs.append((name, {**opts.ln_kwargs, **json.loads(text)}))
    opts.configs = configs or [("", dict(opts.ln_kwargs))]
    if opts.summarize:
        return opts
    have_torch = torch_available()
    if opts.methods is None:
        opts.methods = ["laplacenet", "map", "linear", *(LT_STRUCTURES if have_torch else ())]
        if not have_torch:
            print("torch or laplace-torch does not import: lt-full and lt-last left out", file=sys.stderr)
    elif set(LT_STRUCTURES) & set(opts.methods) and not have_torch:
        parser.error("lt-full and lt-last need torch and laplace-torch (run under the peer venv)")
    opts.methods = set(opts.methods)
    return opts


def main():
    opts = parse()
    if opts.summarize:
        rows = load_rows(opts.summarize)
        print_tables(rows)
        print_auto_agreement(rows)
        return
    start = time.perf_counter()
    rows = run(opts)
    print_tables(rows)
    print_auto_agreement(rows)
    print(f"\n{len(rows)} rows in {opts.out}; wall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
