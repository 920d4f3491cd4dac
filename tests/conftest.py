"""Fixtures shared by the tests in every folder; the small problems they build are in ``tests/problems.py``."""
import warnings

import pytest

from laplacenet.core.exceptions import ConvergenceWarning


@pytest.fixture
def quiet_evidence_dips():
    """Silence the ConvergenceWarning of evidence loops stopped after a few cycles."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield
