"""Slow tier for the loss family: real data (Gadre testbed, Epoch's Chinchilla points) and
parameter recovery on simulated testbeds."""

import numpy as np
import pytest

from bayes_scaling import fit
from bayes_scaling.data import load
from bayes_scaling.data.gadre import HOLDOUT
from bayes_scaling.data.simulate import GADRE_TABLE6, simulate_overtraining
from bayes_scaling.validate import backtest

pytestmark = pytest.mark.slow
SAMPLING = {"draws": 500, "tune": 500, "chains": 4, "progressbar": False}
ABSENT = HOLDOUT.drop(columns="run")


@pytest.fixture(scope="module")
def gadre(data_dir):
    return load(data_dir / "overtraining" / "raw" / "exp_data")


def test_gadre_small_runs_predict_the_1p4b_runs(gadre):
    bt = backtest("loss_overtraining", gadre, train="params < 1e9", seed=1, **SAMPLING)
    m = bt.metrics
    assert m["n_test"] == 5  # the 1.4B runs present: 3 × M=20, C4 M=80, RefinedWeb M=320
    assert bt.fit.diagnostics().divergences == 0
    assert m["coverage"] >= 0.8
    assert m["median_rel_error"] < 0.015
    # the posterior is at least as accurate as Gadre et al.'s curve_fit on the same split
    assert m["median_rel_error"] <= m["baseline_curve_fit_median_rel_error"]
    absent = bt.fit.predict(ABSENT).table()
    assert (absent["compute_decades"] > 0.9).all()
    assert (absent["lower"] < absent["median"]).all()
    assert (absent["median"] < absent["upper"]).all()
    assert absent["median"].between(2.0, 2.7).all()


def test_chinchilla_posterior_overlaps_epoch(data_dir):
    obs = load(data_dir / "chinchilla" / "svg_extracted_data.csv")
    # strongly correlated (E, B, β): the spec's default 1000 draws are needed to converge
    result = fit("loss_chinchilla", obs, seed=3, progressbar=False)
    table = result.summary(ci=0.95)
    epoch = {
        "E": (1.769, 1.871),
        "A": (285, 744),
        "B": (1042, 5810),
        "alpha": (0.317, 0.373),
        "beta": (0.331, 0.415),
    }
    for name, (lo, hi) in epoch.items():
        assert table.loc[name, "lower"] <= hi and lo <= table.loc[name, "upper"], name
    assert result.diagnostics().ok


SHARED_ETA = {d: {**p, "eta": 0.13} for d, p in GADRE_TABLE6.items()}


def _recover(multipliers, sizes, seed):
    sim = simulate_overtraining(truth=SHARED_ETA, multipliers=multipliers, sizes=sizes, seed=seed)
    return fit("loss_overtraining", sim.observations, seed=seed, **SAMPLING).summary()


def test_parameter_recovery_and_shrinking_intervals():
    full = _recover(
        (5, 10, 20, 40, 80, 160, 320, 640),
        (10_569_312, 78_914_048, 153_677_376, 411_616_256, 1_439_795_200),
        seed=21,
    )
    for d, p in SHARED_ETA.items():
        for name in ("eta", "E"):
            row = full.loc[f"{name}[{d}]"]
            assert row["lower"] <= p[name] <= row["upper"], (name, d, row.to_dict())
    few = _recover((10, 40, 160), (10_569_312, 78_914_048, 411_616_256), seed=21)
    width = lambda t, n: t.loc[n, "upper"] - t.loc[n, "lower"]  # noqa: E731
    for d in SHARED_ETA:
        assert width(full, f"eta[{d}]") < width(few, f"eta[{d}]")
        assert width(full, f"E[{d}]") < width(few, f"E[{d}]")
    assert np.isfinite(full["r_hat"]).all()
