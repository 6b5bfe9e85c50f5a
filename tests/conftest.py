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


@pytest.fixture(scope="session")
def small_testbed():
    """A small simulated over-training testbed (3 datasets × 3 sizes × 4 multipliers)."""
    from bayes_scaling.data.simulate import simulate_overtraining

    return simulate_overtraining(
        sizes=(10_569_312, 78_914_048, 411_616_256), multipliers=(5, 20, 80, 320), seed=11
    )


@pytest.fixture(scope="session")
def tiny_loss_fit(small_testbed):
    """One tiny real fit of the shipped over-training spec, shared by the fast tests."""
    from bayes_scaling import fit

    return fit(
        "loss_overtraining",
        small_testbed.observations,
        seed=5,
        draws=100,
        tune=100,
        chains=2,
        progressbar=False,
    )
