"""Estimators in scikit-learn's conventions: a Bayesian MLP fitted by the evidence framework (PRML 5.7).

The constructor only stores its parameters; ``fit`` sets the fitted attributes, whose names end in ``_``.
scikit-learn is not needed (``get_params`` / ``set_params`` are provided so that its tools work).

``X`` and ``y`` may be dask arrays (``laplacenet[dask]``): fitting then reads them partition by partition on
the active dask scheduler (a classifier computes the distinct labels of ``y`` first, by
``dask.array.unique``), and ``predict`` returns lazy dask arrays, as :meth:`LaplacePosterior.predict` does.
"""
import functools
import inspect
import numbers

import numpy as np

from ._chunks import is_dask_array
from ._validation import check_data, check_positive_int, check_X
from .evidence import EvidenceCycle, EvidenceResult, fit_evidence, posterior_evidence_terms
from .exceptions import NotFittedError
from .laplace import build_posterior, check_options, validate_bayesian
from .network import MLP
from .priors import alpha_per_param
from .training import train

__all__ = ["BayesianMLPRegressor", "BayesianMLPClassifier", "check_hidden", "fixed_hyperparameter_run"]


def check_hidden(hidden):
    """Hidden-layer widths as a tuple of positive ints: an int is one layer, () or 0 none."""
    if isinstance(hidden, numbers.Integral) and not isinstance(hidden, (bool, np.bool_)):
        hidden = () if hidden == 0 else (hidden,)
    try:
        widths = tuple(hidden)
        ok = all(isinstance(m, numbers.Integral) and not isinstance(m, (bool, np.bool_)) and m >= 1 for m in widths)
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"hidden must be a positive int or a sequence of them (hidden-layer widths); got {hidden!r}")
    return tuple(int(m) for m in widths)


def fixed_hyperparameter_run(net, X, T, alpha, beta, hessian, w0, train_kwargs, jitter=0.0, chunk_size=None,
                             restart=0, callback=None):
    """MAP training and the Laplace posterior at given alpha, beta, as an :class:`EvidenceResult` (no history).

    ``hessian`` is a string or a :class:`~laplacenet.laplace.Structure`. ``callback``, when given, is called
    once, with the run as an :class:`EvidenceCycle` (cycle 0 of restart ``restart``).
    """
    w, report = train(net, X, T, alpha, beta, w0=w0, **train_kwargs)
    posterior = build_posterior(net, w, X, T, alpha, beta, hessian, jitter, chunk_size)
    evidence = posterior_evidence_terms(net, w, X, T, alpha, beta, posterior, False, chunk_size).total
    covered = posterior.subset_slice
    variances = posterior.variances()[covered]
    # W - sum_i alpha_i (A^-1)_ii over the weights the posterior covers
    gamma = float(variances.size - np.sum(alpha_per_param(net, alpha)[covered] * variances))
    if callback is not None:
        callback(EvidenceCycle(restart, 0, alpha, beta, gamma, evidence, report.error, report.converged))
    return EvidenceResult(w, alpha, beta, gamma, evidence, [], report.converged, posterior)


def _as_array(y):
    """``y`` as an array: a dask array as it is (read later, per partition), anything else by ``np.asarray``."""
    return y if is_dask_array(y) else np.asarray(y)


def _encode_labels(y):
    """The sorted distinct labels ``(C,)`` of ``y`` (N,) and the index of each row's label among them ``(N,)``.

    For a dask ``y`` the labels are computed now, in one pass (``dask.array.unique``: they fix the network's
    outputs), and the indices stay a lazy dask array, found per partition.
    """
    if not is_dask_array(y):
        return np.unique(y, return_inverse=True)
    import dask.array as da
    classes = da.unique(y).compute()
    return classes, y.map_blocks(functools.partial(np.searchsorted, classes), dtype=np.intp)


def _take(values, index):
    """``values[index]`` for an integer array ``index``; lazily, per partition, for a dask ``index``."""
    if is_dask_array(index):
        return index.map_blocks(functools.partial(np.take, values), dtype=values.dtype)
    return values[index]


class _BayesianMLP:
    """Shared machinery; subclasses set the likelihood and the encoding of the targets."""

    def get_params(self, deep=True):
        """The constructor parameters as a dict."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set constructor parameters; returns ``self``."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"{name!r} is not a parameter of {type(self).__name__}; valid: {valid}")
            setattr(self, name, value)
        return self

    @classmethod
    def _param_names(cls):
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def _store_params(self, arguments):
        """Keep every constructor argument as an attribute of the same name (the sklearn convention)."""
        for name in self._param_names():
            setattr(self, name, arguments[name])

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _network(self, n_inputs, n_outputs, likelihood):
        return MLP([n_inputs, *check_hidden(self.hidden), n_outputs], self.activation, likelihood)

    def _fit_network(self, net, X, T, beta, callback):
        """Fit ``net`` by the evidence framework (or at fixed hyperparameters); set the fitted attributes."""
        restarts = check_positive_int(self.restarts, "restarts")
        if callback is not None and not callable(callback):
            raise ValueError(f"callback must be callable or None; got {callback!r}")
        train_kwargs = dict(self.train_kwargs or {})
        structure = dict(subset=self.subset, rank=self.rank, lowrank_hessian=self.lowrank_hessian,
                         lowrank_diag=self.lowrank_diag)
        if self.reestimate:
            result = fit_evidence(net, X, T, self.alpha, beta, self.hessian, cycles=self.cycles, tol=self.tol,
                                  restarts=restarts, seed=self.seed, train_kwargs=train_kwargs, callback=callback,
                                  **structure)
            runs, best = result.restarts, result.best_restart
        else:
            _, X, T, alpha, beta = validate_bayesian(net, np.zeros(net.n_params), X, T, self.alpha, beta)
            hessian = check_options(self.hessian, 0.0, None, **structure, n_params=net.n_params)[0]
            base = 0 if self.seed is None else self.seed
            runs = [fixed_hyperparameter_run(net, X, T, alpha, beta, hessian, net.init(base + r), train_kwargs,
                                             restart=r, callback=callback)
                    for r in range(restarts)]
            best = int(np.argmax([run.log_evidence for run in runs]))
        kept = runs[best]
        self.net_, self.w_, self.posterior_ = net, kept.w, kept.posterior
        self.alpha_, self.gamma_, self.log_evidence_ = kept.alpha, kept.gamma, kept.log_evidence
        self.history_, self.converged_, self.restarts_, self.best_restart_ = kept.history, kept.converged, runs, best
        self.n_features_in_ = X.shape[1]
        return kept

    def _check_fitted(self):
        if not hasattr(self, "posterior_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X, y) first")

    def save(self, path, *, extra=None):
        """Write the fitted estimator to ``path`` atomically (NPZ + JSON metadata); see :func:`laplacenet.save`."""
        from .io import save  # io imports this module
        save(self, path, extra=extra)

    def to_arviz(self, X, y, draws=1000, chains=4, seed=None, *, method="linear_mc"):
        """The posterior, predictive and diagnostics as ArviZ data; see :func:`laplacenet.to_inference_data`."""
        from .arviz import to_inference_data  # the ArviZ layer sits above the estimators
        return to_inference_data(self, X, y, draws, chains, seed, method=method)

    def _check_X(self, X):
        self._check_fitted()
        X = check_X(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} was fitted with "
                             f"{self.n_features_in_}")
        return X


class BayesianMLPRegressor(_BayesianMLP):
    """A Bayesian MLP for regression: Gaussian noise, Laplace posterior, evidence-tuned alpha and beta.

    Parameters
    ----------
    hidden : int or tuple of int
        Hidden-layer widths; ``()`` for none (Bayesian linear regression).
    activation : str
        Hidden-unit activation (see :data:`laplacenet.ACTIVATIONS`).
    hessian : {'outer', 'exact', 'diag', 'fd', 'kron', 'lowrank'}
        Curvature of the posterior and the evidence. The default is ``'outer'``, not ``'exact'``: the exact
        Hessian is often not positive definite where training stops, or has eigenvalues in (-alpha, 0) at
        pruned hidden units that make gamma negative, and either stops the fit with an error. ``'kron'`` and
        ``'lowrank'`` never form a W x W matrix (see :func:`laplacenet.laplace`).
    alpha : float or array
        Prior precision (the starting value when ``reestimate``); one per prior group allowed.
    beta : float or array
        Noise precision (the starting value when ``reestimate``); one per output allowed.
    reestimate : bool
        Tune alpha and beta by :func:`laplacenet.fit_evidence`; otherwise keep them fixed.
    restarts : int
        Initialisations tried; the one of highest evidence is kept, all are in ``restarts_``.
    seed : int, optional
        Seed of the initial weights (restart r uses ``seed + r``).
    cycles, tol
        Evidence-loop limits, as for :func:`laplacenet.fit_evidence`.
    train_kwargs : dict, optional
        Passed to :func:`laplacenet.train`.
    subset, rank, lowrank_hessian, lowrank_diag
        Structure options, as for :func:`laplacenet.laplace`: ``subset='last_layer'`` for a posterior over the
        output layer alone; ``rank`` (required), ``lowrank_hessian`` and ``lowrank_diag`` with
        ``hessian='lowrank'``.

    Attributes
    ----------
    net_ : MLP
    w_ : (W,) array
    alpha_, beta_, gamma_, log_evidence_
        The hyperparameters, the well-determined parameters and the log evidence of the kept restart.
    posterior_ : LaplacePosterior
    history_ : list of EvidenceCycle
        The evidence loop of the kept restart (empty without ``reestimate``).
    converged_ : bool
    restarts_ : list of EvidenceResult
    best_restart_ : int
    n_features_in_, n_outputs_ : int
    """

    def __init__(self, hidden=(10,), activation="tanh", hessian="outer", alpha=0.01, beta=1.0, reestimate=True,
                 restarts=1, seed=None, cycles=50, tol=1e-6, train_kwargs=None, subset=None, rank=None,
                 lowrank_hessian="outer", lowrank_diag=False):
        self._store_params(locals())

    def fit(self, X, y, callback=None):
        """Fit to inputs ``X`` (N, D) and targets ``y`` (N,) or (N, K); returns ``self``.

        Parameters
        ----------
        X : (N, D) array
            Numpy or dask.
        y : (N,) or (N, K) array
            Targets, numpy or dask (row chunks need not match X's).
        callback : callable, optional
            Progress: called with an :class:`~laplacenet.evidence.EvidenceCycle` (restart, cycle,
            hyperparameters, gamma, log evidence, training error) after every evidence cycle of every restart,
            as by :func:`laplacenet.fit_evidence`; without ``reestimate``, once per restart (as cycle 0).

        Returns
        -------
        self
        """
        X = check_X(X)
        y_array = _as_array(y)
        n_outputs = 1 if y_array.ndim == 1 else (y_array.shape[1] if y_array.ndim == 2 else 0)
        if n_outputs == 0:
            raise ValueError(f"y must have shape (N,) or (N, K); got shape {y_array.shape}")
        net = self._network(X.shape[1], n_outputs, "gaussian")
        X, T = check_data(net, X, y_array, "X", "y")
        kept = self._fit_network(net, X, T, self.beta, callback)
        self.beta_, self.n_outputs_, self._y_ndim = kept.beta, n_outputs, y_array.ndim
        return self

    def predict(self, X, return_std=False):
        """Predictive mean ``(N,)`` or ``(N, K)``, and with ``return_std`` its standard deviation (5.173),
        noise included; lazy dask arrays for a dask ``X`` (``dask.compute(mean, std)`` computes both at once)."""
        X = self._check_X(X)
        mean, variance = self.posterior_.predict(X)
        if self._y_ndim == 1:
            mean, variance = mean[:, 0], variance[:, 0]
        return (mean, np.sqrt(variance)) if return_std else mean

    def score(self, X, y):
        """Coefficient of determination R^2 of :meth:`predict`, averaged over the outputs."""
        mean = self.predict(X)
        y = _as_array(y).astype(float).reshape(mean.shape)
        residual = np.sum((y - mean) ** 2, axis=0)
        total = np.sum((y - y.mean(axis=0)) ** 2, axis=0)
        return float(np.mean(1.0 - residual / total))


class BayesianMLPClassifier(_BayesianMLP):
    """A Bayesian MLP classifier: logistic (two classes) or softmax output, moderated probabilities (5.7.3).

    Parameters are those of :class:`BayesianMLPRegressor` without ``beta``; alpha alone is re-estimated.

    Attributes
    ----------
    classes_ : (C,) array
        The class labels seen in ``fit``, sorted; ``predict_proba`` columns follow them.
    net_, w_, alpha_, gamma_, log_evidence_, posterior_, history_, converged_, restarts_, best_restart_,
    n_features_in_
        As for :class:`BayesianMLPRegressor`.
    """

    def __init__(self, hidden=(10,), activation="tanh", hessian="outer", alpha=0.01, reestimate=True, restarts=1,
                 seed=None, cycles=50, tol=1e-6, train_kwargs=None, subset=None, rank=None, lowrank_hessian="outer",
                 lowrank_diag=False):
        self._store_params(locals())

    def fit(self, X, y, callback=None):
        """Fit to inputs ``X`` (N, D) and class labels ``y`` (N,) of any sortable type; returns ``self``.

        Parameters
        ----------
        X : (N, D) array
            Numpy or dask.
        y : (N,) array
            Class labels, numpy or dask (row chunks need not match X's).
        callback : callable, optional
            Progress: called with an :class:`~laplacenet.evidence.EvidenceCycle` (restart, cycle,
            hyperparameters, gamma, log evidence, training error) after every evidence cycle of every restart,
            as by :func:`laplacenet.fit_evidence`; without ``reestimate``, once per restart (as cycle 0).

        Returns
        -------
        self
        """
        X = check_X(X)
        y = _as_array(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"y must be a vector of {X.shape[0]} class labels (one per row of X); got shape "
                             f"{y.shape}")
        classes, labels = _encode_labels(y)
        if classes.size < 2:
            raise ValueError(f"y must hold at least two classes; got only {classes.tolist()}")
        binary = classes.size == 2
        net = self._network(X.shape[1], 1 if binary else classes.size, "bernoulli" if binary else "categorical")
        self._fit_network(net, X, labels.astype(float) if binary else labels, None, callback)
        self.classes_ = classes
        return self

    def predict_proba(self, X):
        """Moderated class probabilities ``(N, C)`` (PRML 5.190; generalised probit for several classes); a lazy
        dask array for a dask ``X``."""
        X = self._check_X(X)
        prob, _ = self.posterior_.predict(X)
        return np.hstack([1.0 - prob, prob]) if self.classes_.size == 2 else prob

    def predict(self, X):
        """The most probable class of each row of ``X`` under the moderated probabilities (lazy for a dask ``X``)."""
        return _take(self.classes_, np.argmax(self.predict_proba(X), axis=1))

    def score(self, X, y):
        """Accuracy of :meth:`predict`."""
        return float(np.mean(self.predict(X) == _as_array(y).reshape(-1)))
