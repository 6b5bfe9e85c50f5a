"""Shared fixtures: the real-data folder (loud when missing) and a simulated testbed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bayes_scaling.data.paths import ENV_VAR, shared_data_dir

REPO = Path(__file__).resolve().parents[1]


MISSING = "REAL DATA MISSING"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real public data (``../shared/data`` or ``$BAYES_SCALING_DATA``).

    A missing folder skips the real-data tests, loudly (a banner at the end of the run);
    ``BAYES_SCALING_REQUIRE_DATA=1`` (set by ``.ci/run``) makes it a failure instead.
    """
    try:
        return shared_data_dir()
    except FileNotFoundError as exc:
        if os.environ.get("BAYES_SCALING_REQUIRE_DATA") == "1":
            pytest.fail(f"{exc} (BAYES_SCALING_REQUIRE_DATA=1; ${ENV_VAR})")
        pytest.skip(f"{MISSING}: {exc}")


def pytest_terminal_summary(terminalreporter) -> None:
    """Say loudly how many tests did not run for want of the real data."""
    skipped = terminalreporter.stats.get("skipped", [])
    missing = [r for r in skipped if MISSING in str(getattr(r, "longrepr", ""))]
    if missing:
        terminalreporter.write_sep(
            "!",
            f"{MISSING}: {len(missing)} real-data tests NOT RUN (point ${ENV_VAR} at the "
            "folder holding overtraining/, olmo-ladder/, trajectories/ …)",
            red=True,
            bold=True,
        )


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
