"""Shared fixtures: the real-data folder (loud when missing) and a simulated testbed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bayes_scaling.data.paths import ENV_VAR, shared_data_dir

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real public data (``../shared/data`` or ``$BAYES_SCALING_DATA``).

    A missing folder fails the test with the path tried; set
    ``BAYES_SCALING_ALLOW_MISSING_DATA=1`` to turn that into a visible skip instead.
    """
    try:
        return shared_data_dir()
    except FileNotFoundError as exc:
        if os.environ.get("BAYES_SCALING_ALLOW_MISSING_DATA") == "1":
            pytest.skip(f"REAL DATA MISSING: {exc}")
        pytest.fail(f"{exc} (or set BAYES_SCALING_ALLOW_MISSING_DATA=1 to skip; ${ENV_VAR})")
