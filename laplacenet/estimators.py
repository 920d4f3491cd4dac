"""Estimators in scikit-learn's conventions: a Bayesian MLP fitted by the evidence framework (PRML 5.7).

The constructor only stores its parameters; ``fit`` sets the fitted attributes, whose names end in ``_``.
With scikit-learn installed (``laplacenet[sklearn]``) the estimators are scikit-learn estimators - its
``BaseEstimator`` and regressor / classifier mixins, checked by its ``check_estimator`` - and work in its
pipelines, searches and meta-estimators; without it they keep the same parameters protocol and ``score`` (see
:mod:`laplacenet._sklearn`). ``fit`` takes no ``sample_weight``: there is no weighted likelihood.

By default (``standardize=True``) the network is fitted to standardised inputs and regression targets (see
:mod:`laplacenet.core._scaling`): ``fit`` on raw data gives the predictions it gives on standardised data. What the
estimator reports - predictions, standard deviations, ``beta_`` and ``log_evidence_`` - is in the user's units;
``net_``, ``w_``, ``alpha_`` and ``posterior_`` describe the network on the standardised scale (feed
``posterior_`` the inputs ``(X - x_mean_) / x_scale_``; its regression outputs are ``(y - y_mean_) / y_scale_``).

``X`` and ``y`` may be dask arrays (``laplacenet[dask]``): fitting then reads them partition by partition on
the active dask scheduler (a classifier computes the distinct labels of ``y`` first, by
``dask.array.unique``), and ``predict`` returns lazy dask arrays, as :meth:`LaplacePosterior.predict` does.
"""
import inspect
import numbers
from dataclasses import replace

import numpy as np

from .core._chunks import is_dask_array
from .core._fingerprint import fingerprint
from ._labels import class_labels, class_targets, label_indices, take_labels
from .core._scaling import Scaling, fit_scaling, identity_scaling
from ._sklearn import (BaseEstimator, ClassifierMixin, NotFittedError, RegressorMixin, accuracy_score, r2_score,
                       validate_X)
from .core._threads import one_blas_thread
from .core._validation import (AUTO_HIDDEN, check_callback, check_data, check_finite_result, check_flag,
                               check_hidden, check_positive_int, check_X, restart_seeds)
from .bayes.comparison import compare_estimators
from .bayes.evidence_terms import posterior_evidence_terms
from .bayes.reestimation import effective_parameters
from .bayes.hyper import evidence_fit, starting_alpha, starting_beta
from .bayes.hyper_types import EvidenceCycle, EvidenceResult, evidence_options
from .bayes.laplace import build_posterior, validate_bayesian
from .bayes.predictive import two_class_probabilities
from .bayes.options import Curvature
from .core.network import MLP
from .io import register_estimator, save
from .bayes.symmetry import posterior_symmetry
from .core.training import train

__all__ = ["BayesianMLPRegressor", "BayesianMLPClassifier"]

def fixed_hyperparameter_run(net, X, T, alpha, beta, curvature, w0, train_kwargs, restart=0, callback=None):
    """MAP training and the Laplace posterior at given alpha, beta, as an :class:`EvidenceResult` (no history).

    ``curvature`` is a :class:`~laplacenet.Curvature` (or a ``hessian`` string). ``callback``, when given, is
    called once, with the run as an :class:`EvidenceCycle` (cycle 0 of restart ``restart``).
    """
    w, report = train(net, X, T, alpha, beta, w0=w0, **train_kwargs)
    posterior = build_posterior(net, w, X, T, alpha, beta, curvature)
    evidence = posterior_evidence_terms(net, w, X, T, alpha, beta, posterior, False, posterior.chunk_size).total
    gamma = effective_parameters(posterior)
    if callback is not None:
        callback(EvidenceCycle(restart, 0, alpha, beta, gamma, evidence, report.error, report.converged))
    return EvidenceResult(w, alpha, beta, gamma, evidence, [], report.converged, posterior)


def _with_symmetry(run):
    """An :class:`EvidenceResult` whose log evidence has the symmetry term of its posterior's distinguishable
    hidden units added (as :func:`laplacenet.log_evidence` adds it by default); its history is left as it was."""
    return replace(run, log_evidence=run.log_evidence + posterior_symmetry(run.posterior)[0])


def _as_array(y):
    """``y`` as an array: a dask array as it is (read later, per partition), anything else by ``np.asarray``."""
    return y if is_dask_array(y) else np.asarray(y)


def _fit_doc(what, y_shape, y_kind):
    """The docstring of an estimator's ``fit`` to ``what``, a ``y`` of shape ``y_shape`` holding ``y_kind``."""
    return f"""Fit to inputs ``X`` (N, D) and {what}; returns ``self``.

        Parameters
        ----------
        X : (N, D) array
            Numpy or dask.
        y : {y_shape} array
            {y_kind}, numpy or dask (row chunks need not match X's).
        callback : callable, optional
            Progress: called with an :class:`~laplacenet.bayes.hyper.EvidenceCycle` (restart, cycle,
            hyperparameters, gamma, log evidence, training error) after every evidence cycle of every restart,
            as by :func:`laplacenet.fit_evidence`; without ``reestimate``, once per restart (as cycle 0). With
            ``hidden='auto'``, a :class:`~laplacenet.ComparisonCycle`, which adds the candidate's ``hidden``.
        **fit_params
            None is accepted: ``sample_weight`` and any other keyword raise a TypeError saying so (there is no
            weighted likelihood).

        Returns
        -------
        self
        """


class _BayesianMLP(BaseEstimator):
    """Shared machinery; subclasses set the likelihood and the encoding of the targets."""

    @classmethod
    def _param_names(cls):
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def _store_params(self, arguments):
        """Keep every constructor argument as an attribute of the same name (the sklearn convention)."""
        for name in self._param_names():
            setattr(self, name, arguments[name])

    def fit(self, X, y, callback=None, **fit_params):
        """Check ``X`` and ``y``, then fit every architecture of ``hidden='auto'`` or the one of ``hidden``."""
        X, y = self._check_fit_data(X, y, fit_params)
        if check_hidden(self.hidden, auto=True) == "auto":
            return self._fit_auto(X, y, callback)
        self._fit_targets(X, y, callback)  # the subclass's likelihood and targets, then the fit
        return self

    def _network(self, n_inputs, n_outputs, likelihood):
        return MLP([n_inputs, *check_hidden(self.hidden), n_outputs], self.activation, likelihood)

    def _fit_network(self, net, X, T, scaling, callback):
        """Fit ``net`` to ``X``, ``T`` on the scale of ``scaling`` by the evidence framework (or at fixed
        hyperparameters); set the fitted attributes, in the user's units where they have units."""
        restarts = check_positive_int(self.restarts, "restarts")
        reestimate = check_flag(self.reestimate, "reestimate")
        check_callback(callback)
        self._data_fingerprint = fingerprint(X, T)  # for the ArviZ export's warning on other data
        X, T = scaling.inputs(X), T if scaling.y_scale is None else scaling.targets(T)
        N = X.shape[0]
        reported = None if callback is None else (lambda cycle: callback(scaling.cycle(cycle, N)))
        beta = getattr(self, "beta", None)
        rank = self.rank
        if getattr(self, "_cap_rank", False) and isinstance(rank, numbers.Integral) and rank > net.n_params:
            rank = net.n_params  # a candidate of hidden='auto' smaller than the rank: its whole spectrum
        curvature = Curvature(self.hessian, self.jitter, None, self.subset, rank, self.lowrank_hessian,
                              self.lowrank_diag)
        with one_blas_thread():
            if reestimate:
                result = evidence_fit(net, X, T, self.alpha, beta, curvature,
                                      evidence_options(self.evidence, cycles=self.cycles, tol=self.tol),
                                      restarts=restarts, seed=self.seed, train_kwargs=self.train_kwargs,
                                      callback=reported)
                runs = result.restarts
            else:
                runs = self._fixed_runs(net, X, T, beta, restarts, curvature, reported)
            # the loop leaves the symmetry term out (piecewise constant in alpha, beta); the reported figure has it
            runs = [_with_symmetry(scaling.run(run, N)) for run in runs]
        best = int(np.argmax([run.log_evidence for run in runs]))
        self._set_fitted(net, runs, best, (scaling.x_shift, scaling.x_scale))
        return runs[best]

    def _set_fitted(self, net, runs, best, x_scaling, hidden_table=None):
        """The fitted attributes both estimators have, from the restarts ``runs`` of ``net`` of which ``best`` is
        kept and the inputs' ``(shift, scale)``: by ``fit``, and by :func:`laplacenet.load`."""
        kept = runs[best]
        self.net_, self.w_, self.posterior_ = net, kept.w, kept.posterior
        self.alpha_, self.gamma_, self.log_evidence_ = kept.alpha, kept.gamma, kept.log_evidence
        self.history_, self.converged_, self.restarts_, self.best_restart_ = kept.history, kept.converged, runs, best
        self.x_mean_, self.x_scale_ = x_scaling
        self.hidden_, self.hidden_table_ = tuple(net.sizes[1:-1]), hidden_table

    def _fit_auto(self, X, y, callback):
        """``hidden='auto'``: fit every architecture of :data:`AUTO_HIDDEN` with the other parameters as they are
        and keep the fit of highest ``log_evidence_`` (MacKay 1992), with the table it was chosen from."""
        fits, table = compare_estimators(self, X, y, AUTO_HIDDEN, callback, cap_rank=True)
        chosen = fits[int(np.argmax([row.log_evidence for row in table.rows]))]  # the first of equals, as best()
        # the chosen fit's state; every constructor parameter (hidden='auto' among them) stays as it is
        vars(self).update({name: value for name, value in vars(chosen).items()
                           if name not in self._param_names() and name != "_cap_rank"})
        self.hidden_table_ = table
        return self

    def _fixed_runs(self, net, X, T, beta, restarts, curvature, callback):
        """``reestimate=False``: one MAP training and posterior per restart at the given (or starting) alpha, beta."""
        alpha = starting_alpha(net, self.alpha)
        beta = starting_beta(net, T, beta) if isinstance(beta, str) else beta
        _, X, T, alpha, beta = validate_bayesian(net, np.zeros(net.n_params), X, T, alpha, beta)
        curvature = curvature.within(net.n_params)
        return [fixed_hyperparameter_run(net, X, T, alpha, beta, curvature, net.init(s),
                                         dict(self.train_kwargs or {}), restart=r, callback=callback)
                for r, s in enumerate(restart_seeds(self.seed, restarts))]  # as fit_evidence seeds its restarts

    def _scaling(self, X, T=None):
        """The standardisation ``fit`` learns from validated ``X`` (and regression targets ``T``)."""
        if check_flag(self.standardize, "standardize"):
            return fit_scaling(X, T)
        return identity_scaling(X.shape[1], None if T is None else T.shape[1])

    @property
    def scaling_(self):
        """The fitted standardisation (:class:`laplacenet.core._scaling.Scaling`): how ``posterior_`` sees the data."""
        self._check_fitted()
        return Scaling(self.x_mean_, self.x_scale_, getattr(self, "y_mean_", None), getattr(self, "y_scale_", None),
                       rounded=bool(self.standardize))

    def posterior_data(self, X, y, name_y="y"):
        """``X`` and targets ``y`` in the user's units, as ``posterior_`` sees them: validated, standardised, class
        labels encoded. ``(X (N, D), T (N, K))``, for the functions that take a posterior and its data. ``X`` is
        checked as ``predict`` checks it: a DataFrame's columns must be the fitted ones, in the fitted order."""
        return self._on_fitted_scale(*self._user_data(X, y, name_y))

    def _on_fitted_scale(self, X, T):
        """Validated ``X``, ``T`` in the user's units (:meth:`_user_data`) as ``posterior_`` sees them."""
        scaling = self.scaling_
        return scaling.inputs(X), T if scaling.y_scale is None else scaling.targets(T)

    def _user_data(self, X, y, name_y="y"):
        """:meth:`posterior_data` before the standardisation: validated, in the user's units, labels encoded."""
        self._check_fitted()
        X = validate_X(self, X, reset=False)  # plots and diagnose took reversed columns without a word
        return check_data(self.net_, X, self._encoded_targets(y, name_y), "X", name_y)

    def _encoded_targets(self, y, name="y"):
        return y

    def _check_fitted(self):
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X, y) first")

    def __sklearn_is_fitted__(self):
        """Whether ``fit`` has run (scikit-learn's ``check_is_fitted`` asks)."""
        return hasattr(self, "posterior_")

    def save(self, path, *, extra=None):
        """Write the fitted estimator to ``path`` atomically (NPZ + JSON metadata); see :func:`laplacenet.save`."""
        save(self, path, extra=extra)

    def to_arviz(self, X, y, draws=1000, chains=4, seed=None, *, method="linear_mc", feature_names=None):
        """The posterior, predictive and diagnostics as ArviZ data; see :func:`laplacenet.to_inference_data`."""
        from .arviz import to_inference_data  # the ArviZ layer sits above the estimators
        return to_inference_data(self, X, y, draws, chains, seed, method=method, feature_names=feature_names)

    def _check_X(self, X):
        """``X`` validated, its features checked against those of ``fit``, on the fitted scale, ready for
        ``posterior_``."""
        self._check_fitted()
        return self.scaling_.inputs(check_X(validate_X(self, X, reset=False)))

    def _check_fit_data(self, X, y, fit_params):
        """``X`` and ``y`` at ``fit``'s boundary: no other argument, a ``y``, ``X`` validated (``n_features_in_``
        and ``feature_names_in_`` set)."""
        if fit_params:
            unsupported = sorted(fit_params)
            why = (" There is no weighted likelihood: the error, its curvature and the evidence count every row "
                   "once. For integer weights, repeat each row that many times (np.repeat), which gives the "
                   "weighted likelihood." if "sample_weight" in unsupported else "")
            raise TypeError(f"{type(self).__name__}.fit() takes X, y and callback; got the unsupported keyword "
                            f"argument(s) {unsupported}.{why}")
        if y is None:
            raise ValueError(f"This {type(self).__name__} estimator requires y to be passed, but the target y is "
                             f"None")
        return check_X(validate_X(self, X, reset=True)), y


@register_estimator
class BayesianMLPRegressor(RegressorMixin, _BayesianMLP):
    """A Bayesian MLP for regression: Gaussian noise, Laplace posterior, evidence-tuned alpha and beta.

    A scikit-learn regressor (see :ref:`howto-sklearn`): ``score`` is the R^2 of ``predict`` averaged over the
    outputs, as scikit-learn's; ``fit`` takes no ``sample_weight``.

    Parameters
    ----------
    hidden : int, tuple of int or 'auto'
        Hidden-layer widths; ``()`` for none (Bayesian linear regression). ``'auto'``: choose by the evidence -
        ``fit`` fits every architecture of :data:`AUTO_HIDDEN` (none, then one layer of 1, 2, 4, 8 or 16 units)
        with the other parameters as given and keeps the one of highest ``log_evidence_``; the fitted estimator
        is then the fit of that architecture (``hidden_``), and ``hidden_table_`` holds what it was chosen from.
        Every other parameter must suit every candidate (e.g. ``alpha`` a scalar, ``'auto'`` or ``'layers'``;
        ``rank`` no more than the weights of the network without hidden layer).
    activation : str
        Hidden-unit activation (see :data:`laplacenet.ACTIVATIONS`).
    hessian : {'outer', 'exact', 'diag', 'fd', 'kron', 'lowrank'}
        Curvature of the posterior and the evidence. The default is ``'outer'``, not ``'exact'``: the exact
        Hessian is often not positive definite where training stops, or has eigenvalues in (-alpha, 0) at
        pruned or still symmetric hidden units that make gamma negative, or cancel part of it (an eigenvalue below
        -alpha/3): the fit then stops with an error, or ends with ``converged_`` False and an
        ``EvidenceConvergenceWarning`` that says why. ``'kron'`` and
        ``'lowrank'`` never form a W x W matrix (see :func:`laplacenet.laplace`).
    alpha : float, array, 'auto' or 'layers'
        Prior precision on the standardised scale (the starting value when ``reestimate``); one per prior group
        allowed. ``'auto'`` (one alpha) and ``'layers'`` (one per layer's weights and biases) are set from the
        scale of the initial weights (:func:`laplacenet.bayes.hyper.starting_alpha`).
    beta : float, array or 'auto'
        Noise precision on the standardised scale (the starting value when ``reestimate``); one per output
        allowed. ``'auto'``: one over the variance of the (standardised) targets.
    reestimate : bool
        Tune alpha and beta by :func:`laplacenet.fit_evidence`; otherwise keep them fixed.
    restarts : int
        Initialisations tried; the one of highest evidence (symmetry term included) is kept, all are in
        ``restarts_``.
    seed : int, optional
        Seed of the initial weights (restart r uses ``seed + r``; None is 0): every fit is reproducible. It
        plays the part of scikit-learn's ``random_state``, which the estimators do not take.
    cycles, tol
        Evidence-loop limits, as for :func:`laplacenet.fit_evidence` (None: those of ``evidence``).
    train_kwargs : dict, optional
        Passed to :func:`laplacenet.train`.
    subset, rank, lowrank_hessian, lowrank_diag
        Structure options, as for :func:`laplacenet.laplace`: ``subset='last_layer'`` for a posterior over the
        output layer alone; ``rank`` (required), ``lowrank_hessian`` and ``lowrank_diag`` with
        ``hessian='lowrank'`` (with ``hidden='auto'``, a candidate with fewer weights than ``rank`` takes its
        whole spectrum). With ``subset='last_layer'`` and ``reestimate`` the hidden layers are trained
        once, at the starting ``alpha``, and held while the output layer's alpha (and beta) are re-estimated
        (``docs/structures.md``): the starting ``alpha`` is the features' prior.
    standardize : bool
        Fit to inputs and targets standardised by their training means and standard deviations (the default);
        every result is reported in the user's units (see the module documentation).
    evidence : EvidenceOptions or dict, optional
        How the evidence is maximised (method, tolerance, patience, ...): see
        :class:`laplacenet.EvidenceOptions`.
    jitter : float
        Added to the diagonal of every posterior precision (on the standardised scale), as for
        :func:`laplacenet.laplace`: the remedy a :class:`~laplacenet.NotPositiveDefiniteError` names.

    Attributes
    ----------
    net_ : MLP
    w_ : (W,) array
    alpha_, beta_, gamma_, log_evidence_
        The hyperparameters, the well-determined parameters and the log evidence of the kept restart. ``alpha_``
        is the prior precision of the weights on the standardised scale; ``beta_`` and ``log_evidence_`` are in
        the user's units (the log evidence of the raw targets, Jacobian of the standardisation included).
        ``log_evidence_`` includes the symmetry term of the hidden units ``posterior_`` tells from zero, as
        :func:`laplacenet.log_evidence` and :func:`laplacenet.compare_models` do by default: it equals
        ``posterior_.log_evidence(*posterior_data(X, y))`` plus the Jacobian ``-N sum_k ln y_scale_k``.
    posterior_ : LaplacePosterior
        On the standardised scale.
    hidden_ : tuple of int
        The hidden-layer widths fitted: those of ``hidden``, or those ``hidden='auto'`` chose.
    hidden_table_ : ModelComparison or None
        With ``hidden='auto'``, the candidates it chose from, one :class:`~laplacenet.ComparisonRow` each (the
        kept restart's log evidence, gamma, alpha, beta and training error, as ``log_evidence_`` and the others
        report them); None otherwise.
    history_ : list of EvidenceCycle
        The evidence loop of the kept restart (empty without ``reestimate``), beta and the log evidence in the
        user's units; the log evidence of the cycles is the loop's objective, WITHOUT the symmetry term (which is
        piecewise constant in alpha and beta).
    converged_ : bool
        The evidence loop converged and so did the MAP training of the returned state.
    restarts_ : list of EvidenceResult
        Every restart, its ``log_evidence`` with the symmetry term (its ``history`` without).
    best_restart_ : int
        The restart of highest ``log_evidence``, the symmetry term included.
    n_features_in_, n_outputs_ : int
    feature_names_in_ : (D,) array of str
        The column names of ``X`` when it was a DataFrame with string column names (absent otherwise);
        ``predict`` then checks the columns it is given against them, as scikit-learn's estimators do.
    x_mean_, x_scale_ : (D,) arrays
        The standardisation of the inputs (0 and 1 with ``standardize=False``).
    y_mean_, y_scale_ : (K,) arrays
        The standardisation of the targets.
    """

    def __init__(self, hidden=(10,), activation="tanh", hessian="outer", alpha="auto", beta="auto", reestimate=True,
                 restarts=1, seed=None, cycles=None, tol=None, train_kwargs=None, subset=None, rank=None,
                 lowrank_hessian="outer", lowrank_diag=False, standardize=True, evidence=None, jitter=0.0):
        self._store_params(locals())

    def fit(self, X, y, callback=None, **fit_params):
        return super().fit(X, y, callback, **fit_params)

    fit.__doc__ = _fit_doc("targets ``y`` (N,) or (N, K)", "(N,) or (N, K)", "Targets")

    def _fit_targets(self, X, y, callback):
        """A Gaussian output per column of ``y``: fit, and set the regression's own fitted attributes."""
        y_array = _as_array(y)
        n_outputs = 1 if y_array.ndim == 1 else (y_array.shape[1] if y_array.ndim == 2 else 0)
        if n_outputs == 0:
            raise ValueError(f"y must have shape (N,) or (N, K); got shape {y_array.shape}")
        net = self._network(X.shape[1], n_outputs, "gaussian")
        X, T = check_data(net, X, y_array, "X", "y")
        scaling = self._scaling(X, T)
        kept = self._fit_network(net, X, T, scaling, callback)
        self.beta_, self.n_outputs_, self._y_ndim = kept.beta, n_outputs, y_array.ndim
        self.y_mean_, self.y_scale_ = scaling.y_shift, scaling.y_scale

    def predict(self, X, return_std=False):
        """Predictive mean ``(N,)`` or ``(N, K)``, and with ``return_std`` its standard deviation (5.173),
        noise included; lazy dask arrays for a dask ``X`` (``dask.compute(mean, std)`` computes both at once)."""
        scaling = self.scaling_
        with one_blas_thread():
            mean, variance = self.posterior_.predict(self._check_X(X))
        with np.errstate(over="ignore"):
            mean, variance = scaling.means(mean), scaling.variances(variance)
        if not is_dask_array(mean):  # finite on the fitted scale; in y's units, beyond float64 at inputs far out
            remedy = "Give X on the scale of the inputs of fit, or fit to y in larger units (y divided by 10^k)."
            check_finite_result(mean, "the predictive mean in the units of y", remedy)
            check_finite_result(variance, "the predictive variance in the units of y", remedy)
        if self._y_ndim == 1:
            mean, variance = mean[:, 0], variance[:, 0]
        return (mean, np.sqrt(variance)) if return_std else mean

    def score(self, X, y, sample_weight=None):
        """R^2 of :meth:`predict` for ``y``, averaged over the outputs, as scikit-learn's ``r2_score``: 1 for a
        constant ``y`` predicted exactly, 0 for one missed; finite for any finite ``y`` (no square overflows)."""
        return r2_score(y, self.predict(X), sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y of shape (N, K): one Gaussian output per column
        return tags


@register_estimator
class BayesianMLPClassifier(ClassifierMixin, _BayesianMLP):
    """A Bayesian MLP classifier: logistic (two classes) or softmax output, moderated probabilities (5.7.3).

    Parameters are those of :class:`BayesianMLPRegressor` without ``beta``; alpha alone is re-estimated, and
    ``standardize`` standardises the inputs only. A scikit-learn classifier (see :ref:`howto-sklearn`): ``score``
    is the accuracy of ``predict``; ``fit`` takes no ``sample_weight``. Class labels may be of any one sortable
    type (numbers, strings, booleans); missing labels (NaN, None, NA) and non-integer numbers (a regression
    target) are refused.

    Attributes
    ----------
    classes_ : (C,) array
        The class labels seen in ``fit``, sorted; ``predict_proba`` columns follow them.
    net_, w_, alpha_, gamma_, log_evidence_, posterior_, hidden_, hidden_table_, history_, converged_, restarts_,
    best_restart_, n_features_in_, feature_names_in_, x_mean_, x_scale_
        As for :class:`BayesianMLPRegressor` (the training error of ``hidden_table_`` is the error rate).
    """

    def __init__(self, hidden=(10,), activation="tanh", hessian="outer", alpha="auto", reestimate=True, restarts=1,
                 seed=None, cycles=None, tol=None, train_kwargs=None, subset=None, rank=None, lowrank_hessian="outer",
                 lowrank_diag=False, standardize=True, evidence=None, jitter=0.0):
        self._store_params(locals())

    def fit(self, X, y, callback=None, **fit_params):
        return super().fit(X, y, callback, **fit_params)

    fit.__doc__ = _fit_doc("class labels ``y`` (N,) of any sortable type", "(N,)", "Class labels")

    def _fit_targets(self, X, y, callback):
        """A logistic (two classes) or softmax output over the labels of ``y``: fit, and set ``classes_``."""
        classes, labels = class_labels(y, X.shape[0])
        binary = classes.size == 2
        net = self._network(X.shape[1], 1 if binary else classes.size, "bernoulli" if binary else "categorical")
        X, T = check_data(net, X, class_targets(labels, classes.size), "X", "y")
        self._fit_network(net, X, T, self._scaling(X), callback)
        self.classes_ = classes

    def _encoded_targets(self, y, name="y"):
        """Labels as indices into ``classes_`` (0/1 floats for two classes); unknown labels are an error."""
        return class_targets(label_indices(y, self.classes_, name, "the classes seen in fit"), self.classes_.size)

    def predict_proba(self, X, *, method="bridge"):
        """Class probabilities ``(N, C)``; a lazy dask array for a dask ``X``.

        ``method`` is that of :func:`laplacenet.bayes.predictive.predict`: ``'bridge'`` (default) the Laplace bridge's
        Dirichlet mean, ``'linear'`` the moderated output (PRML 5.190; the generalised probit on the centred
        covariance for several classes), ``'linear_mc'`` / ``'mc'`` Monte Carlo (1000 draws, seed 0, shared by
        all rows). The default is the one of best test NLL and ECE on ``benchmarks/real_data.py`` (see
        :ref:`concepts-predictives`); for two classes its probabilities are the MAP network's.
        """
        X = self._check_X(X)
        with one_blas_thread():
            if self.classes_.size == 2:  # each class from its own activation, not 1 - p (0.0 above a = 37)
                return two_class_probabilities(self.posterior_, X, method, seed=0)
            return self.posterior_.predict(X, method, seed=0)[0]

    def predict(self, X):
        """The most probable class of each row of ``X`` under :meth:`predict_proba` (lazy for a dask ``X``)."""
        prob = self.predict_proba(X)  # before classes_: unfitted, this says so
        return take_labels(self.classes_, np.argmax(prob, axis=1))

    def score(self, X, y, sample_weight=None):
        """The accuracy of :meth:`predict` for the labels ``y``, as scikit-learn's ``accuracy_score``; a label of
        any type, missing or of a class not seen in fit, counts as a wrong prediction."""
        return accuracy_score(y, np.asarray(self.predict(X)), sample_weight)
