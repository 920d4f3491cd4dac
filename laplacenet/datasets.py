"""Small data sets for the examples, the tests and ``laplacenet demo``.

Two synthetic generators, in the manner of PRML's figures, and two small real data sets shipped as CSV files
in ``laplacenet/data`` (sources and licences in ``laplacenet/data/README.md``). Nothing is downloaded.
"""
import csv
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .core._validation import check_number, check_positive_int, check_random_seed

__all__ = ["make_sinusoid", "make_two_class_2d", "load_motorcycle", "load_penguins", "Penguins"]

DATA_DIR = Path(__file__).resolve().parent / "data"

# Centres of the two Gaussian components of each class of make_two_class_2d: class 0 lies above a curved
# boundary, class 1 below it, and neighbouring components of different classes overlap.
_CLASS_CENTRES = np.array([[[-1.0, 0.7], [0.6, 1.0]],
                           [[-0.6, -0.6], [1.0, -0.2]]])


def make_sinusoid(n=100, noise=0.1, seed=None, x_range=(0.0, 1.0)):
    """Noisy samples of ``sin(2 pi x)``: the built-in data of ``laplacenet demo`` (cf. PRML Figure 5.3).

    Parameters
    ----------
    n : int
        Number of points, drawn uniformly in ``x_range``.
    noise : float
        Standard deviation of the Gaussian noise added to the targets (the noise precision is 1/noise^2).
    seed : int, optional
        Seed of ``numpy.random.default_rng``.
    x_range : (low, high)
        The interval the inputs are drawn from, ``low < high``.

    Returns
    -------
    X : (n, 1) array
    T : (n, 1) array
        ``sin(2 pi x) + noise * epsilon`` with epsilon standard normal.
    """
    n = check_positive_int(n, "n")
    noise = check_number(noise, "noise")
    low, high = _check_range(x_range)
    rng = np.random.default_rng(check_random_seed(seed))
    X = rng.uniform(low, high, size=(n, 1))
    return X, np.sin(2.0 * np.pi * X) + noise * rng.normal(size=X.shape)


def make_two_class_2d(n=200, spread=0.45, seed=None):
    """Synthetic two-class data in the plane, each class a mixture of two Gaussians (cf. PRML Figure 5.23).

    Class 0 has components centred at (-1, 0.7) and (0.6, 1); class 1 at (-0.6, -0.6) and (1, -0.2); every
    component is isotropic with standard deviation ``spread``. The best boundary is curved and the classes
    overlap, so that a network's outputs are uncertain near the boundary and far from the data.

    Parameters
    ----------
    n : int
        Number of points (at least 4): ``n // 2`` of class 0 and the rest of class 1, each split evenly
        between its two components; the rows are shuffled.
    spread : float
        Standard deviation of each component, > 0.
    seed : int, optional
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    X : (n, 2) array
    y : (n,) int array
        Class labels 0 or 1.
    """
    n = check_positive_int(n, "n", minimum=4)
    spread = check_number(spread, "spread", positive=True)
    rng = np.random.default_rng(check_random_seed(seed))
    y = np.repeat([0, 1], [n // 2, n - n // 2])
    component = np.concatenate([np.arange(n // 2) % 2, np.arange(n - n // 2) % 2])
    X = _CLASS_CENTRES[y, component] + spread * rng.standard_normal((n, 2))
    order = rng.permutation(n)
    return X[order], y[order]


def load_motorcycle():
    """The motorcycle-impact data: head acceleration against time after impact (Silverman 1985).

    133 measurements from a simulated motorcycle accident used to test crash helmets (Schmidt, Mattern and
    Schüler 1981), published by Silverman, B. W. (1985), "Some aspects of the spline smoothing approach to
    non-parametric regression curve fitting", J. R. Statist. Soc. B 47, 1-52, and distributed as ``mcycle``
    in the R package MASS (Venables and Ripley). The noise level varies strongly with time: nearly none
    before 15 ms, large after. Read from ``laplacenet/data/motorcycle.csv`` (no row had a missing value);
    see ``laplacenet/data/README.md`` for the source and licence.

    Returns
    -------
    X : (133, 1) array
        Time after impact, in milliseconds (sorted, with repeated values).
    T : (133, 1) array
        Head acceleration, in g.
    """
    columns, rows = _read_csv("motorcycle.csv")
    values = np.array(rows, dtype=float)
    return values[:, [columns.index("times")]], values[:, [columns.index("accel")]]


class Penguins(NamedTuple):
    """The Palmer penguins as :func:`load_penguins` returns them (unpacks as ``X, y, feature_names,
    class_names``)."""

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple
    class_names: tuple


def load_penguins():
    """The Palmer penguins: four body measurements of 342 penguins of three species (CC0).

    Data of Gorman, Williams and Fraser (2014), "Ecological sexual dimorphism and environmental variability
    within a community of Antarctic penguins (genus Pygoscelis)", PLoS ONE 9(3), e90081, Palmer Station
    Antarctica LTER, packaged as palmerpenguins by Horst, Hill and Gorman (2020); released under CC0 1.0.
    Read from ``laplacenet/data/penguins.csv``, which keeps the species and the four measurements; the 2 of
    the 344 penguins with no measurements were dropped. See ``laplacenet/data/README.md``.

    Returns
    -------
    Penguins
        A named tuple ``(X, y, feature_names, class_names)``:

        X : (342, 4) array
            Bill length (mm), bill depth (mm), flipper length (mm) and body mass (g), in the units recorded;
            standardise them before fitting a network.
        y : (342,) int array
            Species as 0, 1, 2, indexing ``class_names``.
        feature_names : tuple of str
            ``('bill_length_mm', 'bill_depth_mm', 'flipper_length_mm', 'body_mass_g')``.
        class_names : tuple of str
            ``('Adelie', 'Chinstrap', 'Gentoo')``.
    """
    columns, rows = _read_csv("penguins.csv")
    species = [row[columns.index("species")] for row in rows]
    class_names, y = np.unique(species, return_inverse=True)
    features = tuple(name for name in columns if name != "species")
    X = np.array([[row[columns.index(name)] for name in features] for row in rows], dtype=float)
    return Penguins(X, y.astype(np.int64), features, tuple(str(c) for c in class_names))


def _read_csv(name):
    """Header and rows (lists of strings) of a CSV file of ``laplacenet/data``."""
    with open(DATA_DIR / name, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        return next(reader), list(reader)


def _check_range(x_range):
    try:
        low, high = (float(v) for v in x_range)
        ok = np.isfinite(low) and np.isfinite(high) and low < high
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"x_range must be a pair (low, high) of finite numbers with low < high; got {x_range!r}")
    return low, high
