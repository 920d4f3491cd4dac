"""The multilayer perceptron: sizes, the flat weight layout, initialisation and the forward pass.

Layer l (1..L) has ``W_l`` of shape ``(d_l, d_{l-1})`` and ``b_l`` of shape ``(d_l,)``;
``a_l = W_l z_{l-1} + b_l`` (PRML 5.2), ``z_l = h(a_l)`` for hidden layers and ``y = f(a_L)`` at the
output. The flat vector ``w`` concatenates, from the input side, ``W_l.ravel()`` (C order) then ``b_l``,
layer by layer. Prior groups (PRML 5.5.1): group ``2(l-1)`` holds the weights of layer l and group
``2(l-1) + 1`` its biases.
"""
import numbers

import numpy as np

from ._chunks import map_rows
from ._validation import check_random_seed, check_w, check_X
from .activations import get_activation
from .curvature.backprop import forward_pass
from .likelihoods import get_likelihood

__all__ = ["MLP"]


class MLP:
    """A fully connected feed-forward network specification.

    Parameters
    ----------
    sizes : sequence of int
        ``[D, d_1, ..., d_{L-1}, K]``: inputs, hidden widths, outputs. ``[D, K]`` has no hidden layer
        (a linear or logistic model).
    activation : str
        Hidden-unit activation: ``'tanh'``, ``'logistic'``, ``'softplus'``, ``'relu'`` or ``'identity'``.
    likelihood : str
        ``'gaussian'`` (identity outputs), ``'bernoulli'`` (one logistic output) or ``'categorical'``
        (softmax over at least two outputs).
    """

    def __init__(self, sizes, activation="tanh", likelihood="gaussian"):
        sizes = _check_sizes(sizes)
        self.activation = get_activation(activation)
        self.likelihood = get_likelihood(likelihood)
        if self.likelihood.name == "bernoulli" and sizes[-1] != 1:
            raise ValueError(f"sizes must end in 1 output for a Bernoulli likelihood; got {sizes[-1]} outputs")
        if self.likelihood.name == "categorical" and sizes[-1] < 2:
            raise ValueError(f"sizes must end in at least 2 outputs for a categorical likelihood; got {sizes[-1]}")
        self.sizes = tuple(sizes)
        self._slices = []
        start = 0
        for d_in, d_out in zip(sizes[:-1], sizes[1:]):
            w_slice = slice(start, start + d_out * d_in)
            b_slice = slice(w_slice.stop, w_slice.stop + d_out)
            self._slices.append((w_slice, b_slice))
            start = b_slice.stop
        self.n_params = start

    # --- structure ---------------------------------------------------------------------------------
    @property
    def n_layers(self):
        """Number of weight layers L (hidden layers + 1)."""
        return len(self.sizes) - 1

    @property
    def n_inputs(self):
        return self.sizes[0]

    @property
    def n_outputs(self):
        return self.sizes[-1]

    @property
    def n_groups(self):
        """Number of prior groups: the weights and the biases of every layer (PRML 5.5.1)."""
        return 2 * self.n_layers

    @property
    def layer_slices(self):
        """List of ``(weight_slice, bias_slice)`` into the flat vector, input side first."""
        return list(self._slices)

    @property
    def group_index(self):
        """``(W,)`` int array: the prior group of every parameter."""
        idx = np.empty(self.n_params, dtype=np.int64)
        for l, (ws, bs) in enumerate(self._slices):
            idx[ws] = 2 * l
            idx[bs] = 2 * l + 1
        return idx

    @property
    def group_names(self):
        """Names of the prior groups, e.g. ``['W1', 'b1', 'W2', 'b2']``."""
        return [f"{kind}{l + 1}" for l in range(self.n_layers) for kind in ("W", "b")]

    @property
    def group_sizes(self):
        """``(n_groups,)`` number of parameters in each prior group."""
        return np.bincount(self.group_index, minlength=self.n_groups)

    # --- flat layout ---------------------------------------------------------------------------------
    def unpack(self, w):
        """Split the flat vector into ``[(W_1, b_1), ..., (W_L, b_L)]`` (views of ``w``)."""
        w = self._check_w(w)
        return [(w[ws].reshape(d_out, d_in), w[bs])
                for (ws, bs), d_in, d_out in zip(self._slices, self.sizes[:-1], self.sizes[1:])]

    def pack(self, layers):
        """Inverse of :meth:`unpack`: ``[(W_l, b_l), ...]`` to the flat vector ``(W,)``."""
        if len(layers) != self.n_layers:
            raise ValueError(f"layers must hold {self.n_layers} (W, b) pairs; got {len(layers)}")
        parts = []
        for l, ((W, b), d_in, d_out) in enumerate(zip(layers, self.sizes[:-1], self.sizes[1:]), start=1):
            W, b = np.asarray(W, dtype=float), np.asarray(b, dtype=float)
            if W.shape != (d_out, d_in) or b.shape != (d_out,):
                raise ValueError(f"layer {l} must have W of shape {(d_out, d_in)} and b of shape {(d_out,)}; "
                                 f"got {W.shape} and {b.shape}")
            parts += [W.ravel(), b]
        return np.concatenate(parts)

    def init(self, seed=None):
        """Random weights: Gaussian with standard deviation 1/sqrt(fan-in), zero biases."""
        rng = np.random.default_rng(check_random_seed(seed))
        return self.pack([(rng.standard_normal((d_out, d_in)) / np.sqrt(d_in), np.zeros(d_out))
                          for d_in, d_out in zip(self.sizes[:-1], self.sizes[1:])])

    def forward(self, w, X):
        """Output-unit values ``y(x, w)`` of shape ``(N, K)``: probabilities for classification.

        Computed chunk by chunk; a dask ``X`` gives a lazy dask array with ``X``'s row chunks.
        """
        X = check_X(X, self.n_inputs)
        layers = self.unpack(check_w(self, w))
        return map_rows(lambda Xc: forward_pass(self, layers, Xc).y, X)

    def _check_w(self, w):
        w = np.asarray(w, dtype=float)
        if w.shape != (self.n_params,):
            raise ValueError(f"w must be a vector of length {self.n_params} for sizes {list(self.sizes)}; "
                             f"got shape {w.shape}")
        return w

    def __repr__(self):
        return (f"MLP({list(self.sizes)}, activation={self.activation.name!r}, "
                f"likelihood={self.likelihood.name!r})")

    def __eq__(self, other):
        return (isinstance(other, MLP) and self.sizes == other.sizes
                and self.activation.name == other.activation.name
                and self.likelihood.name == other.likelihood.name)

    def __hash__(self):
        return hash((self.sizes, self.activation.name, self.likelihood.name))


def _check_sizes(sizes):
    """Layer widths as ints: integers only (the string '3' and the float 3.0 were taken as 3)."""
    try:
        values = list(sizes)
        ok = len(values) >= 2 and all(isinstance(s, numbers.Integral) and not isinstance(s, (bool, np.bool_))
                                      and s >= 1 for s in values)
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"sizes must be a sequence of at least two positive integers [D, ..., K]; got {sizes!r}")
    return [int(s) for s in values]
