import numpy as np
import pytest

from laplacenet.core.activations import ACTIVATIONS


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_derivatives_match_finite_differences(name):
    act = ACTIVATIONS[name]
    a = np.linspace(-3, 3, 41) + 0.013  # avoid relu's kink at 0
    eps = 1e-6
    z = act.h(a)
    dh_fd = (act.h(a + eps) - act.h(a - eps)) / (2 * eps)
    d2h_fd = (act.dh(a + eps, act.h(a + eps)) - act.dh(a - eps, act.h(a - eps))) / (2 * eps)
    np.testing.assert_allclose(act.dh(a, z), dh_fd, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(act.d2h(a, z), d2h_fd, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_large_preactivations_stay_finite(name):
    act = ACTIVATIONS[name]
    a = np.array([-1e3, -50.0, 0.5, 50.0, 1e3])
    z = act.h(a)
    assert np.all(np.isfinite(z)) and np.all(np.isfinite(act.dh(a, z))) and np.all(np.isfinite(act.d2h(a, z)))
