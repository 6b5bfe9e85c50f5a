"""Backtests and the point-fit baselines."""

import numpy as np
import pytest

from bayes_scaling.baselines import fit_loss_curve_fit, fit_loss_huber, loss_law
from bayes_scaling.data.simulate import EPOCH_CHINCHILLA, simulate_chinchilla
from bayes_scaling.validate import Backtest, backtest


@pytest.fixture(scope="module")
def small_backtest(small_testbed):
    return backtest(
        "loss_overtraining",
        small_testbed.observations,
        train="params < 4e8",
        draws=100,
        tune=100,
        chains=2,
        progressbar=False,
    )


def test_backtest_table_and_metrics(small_backtest):
    t = small_backtest.table
    assert len(t) == 12  # the 411M runs: 3 datasets × 4 multipliers
    for col in (
        "run",
        "truth",
        "median",
        "lower",
        "upper",
        "rel_error",
        "covered",
        "extrapolation",
        "baseline_curve_fit",
        "baseline_huber",
    ):
        assert col in t
    assert t["covered"].dtype == bool
    m = small_backtest.metrics
    assert m["n_test"] == 12
    assert 0.0 <= m["coverage"] <= 1.0
    assert m["median_rel_error"] < 0.05  # simulated from the model: predictions are close
    assert m["baseline_curve_fit_median_rel_error"] < 0.05
    assert np.isclose(m["coverage"], t["covered"].mean())


def test_backtest_round_trips(small_backtest, tmp_path):
    path = small_backtest.save(tmp_path / "bt.nc")
    loaded = Backtest.load(path)
    assert loaded.metrics == small_backtest.metrics
    assert loaded.train == "params < 4e8"
    assert loaded.test == "not (params < 4e8)"
    assert loaded.fit.hash == small_backtest.fit.hash


@pytest.mark.parametrize("fitter", [fit_loss_curve_fit, fit_loss_huber])
def test_point_baselines_recover_noiseless_chinchilla(fitter):
    frame = simulate_chinchilla(sigma=1e-9, nu=None, seed=4).observations.frame
    n, d, y = frame["params"].to_numpy(), frame["tokens"].to_numpy(), frame["value"].to_numpy()
    p = fitter("chinchilla", n, d, y)
    for key in ("E", "alpha", "beta"):
        assert np.isclose(p[key], EPOCH_CHINCHILLA[key], rtol=0.02), key
    np.testing.assert_allclose(loss_law("chinchilla", n, d, p), y, rtol=1e-3)
