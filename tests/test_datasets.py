"""The data sets: the synthetic generators against the distributions they are defined by, the shipped files
against published facts about them, and their sources and licences on record."""
import numpy as np
import pytest

from laplacenet import datasets
from laplacenet.datasets import DATA_DIR, load_motorcycle, load_penguins, make_sinusoid, make_two_class_2d


def test_sinusoid_without_noise_is_the_sine():
    X, T = make_sinusoid(50, noise=0.0, seed=1, x_range=(-1.0, 2.0))
    assert X.shape == T.shape == (50, 1)
    assert np.array_equal(T, np.sin(2 * np.pi * X))
    assert X.min() >= -1.0 and X.max() < 2.0


def test_sinusoid_noise_and_inputs_have_the_stated_distribution():
    X, T = make_sinusoid(40000, noise=0.3, seed=2)
    residual = (T - np.sin(2 * np.pi * X))[:, 0]
    # standard error of a sample sd ~ 0.3 / sqrt(2 N) = 0.001; of a uniform mean ~ 0.29 / sqrt(N) = 0.0015
    assert residual.std() == pytest.approx(0.3, abs=0.005)
    assert abs(residual.mean()) < 0.006
    assert X.mean() == pytest.approx(0.5, abs=0.008) and X.var() == pytest.approx(1 / 12, abs=0.002)


def test_sinusoid_is_reproducible_and_seeded():
    a, b, c = make_sinusoid(10, seed=4), make_sinusoid(10, seed=4), make_sinusoid(10, seed=5)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("kwargs, match", [
    ({"n": 0}, "n must be an integer >= 1"),
    ({"noise": -0.1}, "noise must be a non-negative finite number"),
    ({"x_range": (1.0, 0.0)}, r"x_range must be a pair \(low, high\)"),
    ({"x_range": (0.0, np.inf)}, "x_range must be a pair"),
    ({"x_range": (0.0, 1.0, 2.0)}, "x_range must be a pair"),
    ({"x_range": "ab"}, "x_range must be a pair"),
    ({"seed": -1}, "seed must be None or a non-negative integer; got -1"),  # NumPy's messages before
    ({"seed": 1.5}, "seed must be None or a non-negative integer; got 1.5"),
])
def test_sinusoid_bad_input_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_sinusoid(**kwargs)


def test_two_class_data_have_the_stated_mixture():
    n, spread = 40000, 0.45
    X, y = make_two_class_2d(n, spread=spread, seed=3)
    assert X.shape == (n, 2) and y.shape == (n,) and y.dtype.kind == "i"
    assert np.bincount(y).tolist() == [n // 2, n - n // 2]
    centres = {0: np.array([[-1.0, 0.7], [0.6, 1.0]]), 1: np.array([[-0.6, -0.6], [1.0, -0.2]])}
    for k, c in centres.items():
        # An equal mixture of N(c_j, spread^2 I): mean (c_1 + c_2)/2, covariance spread^2 I + (c_1 - c_2)(.)^T / 4.
        d = c[0] - c[1]
        expected_cov = spread ** 2 * np.eye(2) + np.outer(d, d) / 4
        assert np.allclose(X[y == k].mean(axis=0), c.mean(axis=0), atol=0.02)
        assert np.allclose(np.cov(X[y == k].T), expected_cov, atol=0.02)
    # The rows are shuffled: the labels are not sorted.
    assert not np.all(np.diff(y) >= 0)


def test_two_class_data_with_an_odd_count():
    X, y = make_two_class_2d(7, seed=0)
    assert np.bincount(y).tolist() == [3, 4]
    assert np.array_equal(make_two_class_2d(7, seed=0)[0], X)


@pytest.mark.parametrize("kwargs, match", [
    ({"n": 3}, "n must be an integer >= 4"),
    ({"spread": 0.0}, "spread must be a positive finite number"),
])
def test_two_class_bad_input_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_two_class_2d(**kwargs)


def test_motorcycle_data_are_silvermans():
    X, T = load_motorcycle()
    assert X.shape == T.shape == (133, 1) and X.dtype == T.dtype == np.float64
    # Published facts: times 2.4 to 57.6 ms, sorted, 94 distinct values (boot's `motor` drops the repeats);
    # acceleration from -134 to 75 g, the first readings (2.4 ms, 0 g) and (2.6 ms, -1.3 g).
    assert X[0, 0] == 2.4 and X[-1, 0] == 57.6 and np.all(np.diff(X[:, 0]) >= 0)
    assert np.unique(X).size == 94
    assert T.min() == -134.0 and T.max() == 75.0
    assert (X[1, 0], T[1, 0]) == (2.6, -1.3)
    # Before the impact (t < 14 ms) the head hardly moves: the spread varies strongly with time.
    early, middle = T[X[:, 0] < 14, 0], T[(X[:, 0] > 20) & (X[:, 0] < 35), 0]
    assert np.abs(early).max() < 6 and middle.std() > 10 * early.std()


def test_penguins_are_the_palmer_penguins():
    data = load_penguins()
    X, y, feature_names, class_names = data  # a named tuple unpacks
    assert X.shape == (342, 4) and y.shape == (342,) and y.dtype.kind == "i"
    assert np.all(np.isfinite(X))
    assert feature_names == ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")
    assert class_names == ("Adelie", "Chinstrap", "Gentoo") == data.class_names
    assert np.bincount(y).tolist() == [151, 68, 123]
    assert X[0].tolist() == [39.1, 18.7, 181.0, 3750.0] and class_names[y[0]] == "Adelie"
    # Gentoos are the heaviest and have the longest flippers; Adelies the shortest bills.
    means = np.array([X[y == k].mean(axis=0) for k in range(3)])
    assert np.argmax(means[:, 3]) == 2 and np.argmax(means[:, 2]) == 2 and np.argmin(means[:, 0]) == 0


def test_shipped_files_cite_their_sources_and_licences():
    readme = (DATA_DIR / "README.md").read_text(encoding="utf-8")
    assert sorted(p.name for p in DATA_DIR.glob("*.csv")) == ["motorcycle.csv", "penguins.csv"]
    for needle in ("motorcycle.csv", "penguins.csv", "Silverman", "MASS", "CC0", "Gorman", "doi:10.1371/"):
        assert needle in readme, needle
    assert "Silverman" in datasets.load_motorcycle.__doc__ and "MASS" in datasets.load_motorcycle.__doc__
    assert "CC0" in datasets.load_penguins.__doc__ and "Gorman" in datasets.load_penguins.__doc__
