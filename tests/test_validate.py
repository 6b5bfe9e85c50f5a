"""Backtests, the point-fit baselines and the SBC rank machinery (fast tier)."""

import numpy as np
import pytest
import xarray as xr

from bayes_scaling.baselines import fit_loss_curve_fit, fit_loss_huber, loss_law
from bayes_scaling.data.schema import DataError
from bayes_scaling.data.simulate import EPOCH_CHINCHILLA, simulate_chinchilla
from bayes_scaling.validate import Backtest, backtest, rank_uniformity, sbc, sbc_ranks


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
        "distance",
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


# --- simulation-based calibration: the rank machinery on an exact posterior ------------------
def _normal_sbc(replicates: int, *, shift: float = 0.0, scale: float = 1.0, seed: int = 0):
    """SBC of θ ~ N(0, 1), y_1..5 ~ N(θ, 1), whose posterior is exact:
    N(Σy / 6, 1/6). ``shift`` (in posterior sds) and ``scale`` miscalibrate it on purpose."""
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(replicates)
    y = theta[:, None] + rng.standard_normal((replicates, 5))
    mean, sd = y.sum(axis=1) / 6, np.sqrt(1 / 6)
    draws = mean[:, None] + sd * (shift + scale * rng.standard_normal((replicates, 99)))
    coords = {"parameter": ["theta"]}
    truth = xr.DataArray(theta[:, None], dims=("replicate", "parameter"), coords=coords)
    post = xr.DataArray(draws[..., None], dims=("replicate", "draw", "parameter"), coords=coords)
    return sbc_ranks(truth, post)


def test_sbc_ranks_are_tidy_and_counted_below_the_truth():
    truth = xr.DataArray(
        [[0.5, 10.0]], dims=("replicate", "parameter"), coords={"parameter": ["a", "b"]}
    )
    draws = xr.DataArray(
        np.array([[0.1, 20.0], [0.6, 5.0], [0.4, 30.0]])[None],
        dims=("replicate", "draw", "parameter"),
        coords={"parameter": ["a", "b"]},
    )
    ranks = sbc_ranks(truth, draws)
    assert list(ranks.columns) == ["replicate", "parameter", "rank", "L"]
    assert ranks.set_index("parameter")["rank"].to_dict() == {"a": 2, "b": 1}
    assert (ranks["L"] == 3).all()


def test_rank_uniformity_passes_an_exact_posterior_and_catches_miscalibration():
    # 40 replicates as in the slow SBC; per-test threshold 1e-3. Over 200 seeds (measured):
    # the exact posterior is flagged 0.5% of the time, a 1-sd shift 97%, a 0.5-sd shift 28%,
    # a posterior 2× too wide 60% — the test sees gross miscalibration only.
    def p_values(**kw):
        u = rank_uniformity(_normal_sbc(40, seed=3, **kw))
        assert u["bins"].item() == 5 and u["n"].item() == 40
        return u["chi2_p"].item(), u["ks_p"].item()

    assert min(p_values()) > 0.05
    assert p_values(shift=1.5)[1] < 1e-3  # biased: KS
    assert p_values(scale=0.25)[0] < 1e-3  # too narrow (U-shaped ranks): chi-square
    assert p_values(scale=3.0)[0] < 1e-3  # too wide (∩-shaped ranks): chi-square


def test_sbc_reports_rejected_prior_draws(small_testbed):
    calls = []

    def plausible(sim):  # rejects the first three simulated datasets
        calls.append(sim["y"].shape)
        return len(calls) > 3

    result = sbc(
        "loss_overtraining",
        small_testbed.observations,
        replicates=2,
        thin_to=9,
        plausible=plausible,
        draws=20,
        tune=20,
        chains=1,
        progressbar=False,
    )
    assert calls[0] == (36,)  # the likelihood's variable, one value per run
    assert result.rejected == 3
    assert result.replicates["prior_draw"].tolist() == [3, 4]
    ranks = result.ranks
    assert set(ranks["parameter"]) >= {"E_mu", "sigma", "E[c4]", "eta[refinedweb]", "M_star[c4]"}
    assert ranks["rank"].between(0, 9).all() and (ranks["L"] == 9).all()
    assert len(ranks) == 2 * ranks["parameter"].nunique()


def test_sbc_without_plausible_data_says_how_many_were_rejected(small_testbed):
    with pytest.raises(DataError, match=r"only 0 of 5 prior draws.*\(5 rejected\)"):
        sbc(
            "loss_overtraining",
            small_testbed.observations,
            replicates=2,
            max_prior_draws=5,
            plausible=lambda sim: False,
        )
