"""The extrapolation error (bayes_scaling.discrepancy) and the calibration maths (fast tier)."""

import numpy as np
import pandas as pd
import pytest

from bayes_scaling import Fit, load_spec
from bayes_scaling.calibrate import (
    _Residuals,
    coverage_with_rate,
    default_cutoffs,
    fit_rate,
    ladder_term,
)
from bayes_scaling.data.simulate import simulate_chinchilla
from bayes_scaling.priors import SpecError
from bayes_scaling.report import describe_predictions
from bayes_scaling.validate import coverage_table, covered

RATE = {"dist": "LogNormal", "mu": np.log(0.05), "sigma": 0.3}


def with_rate(fit: Fit, rate, power: float = 1.0) -> Fit:
    spec = fit.spec.updated({"extrapolation": {"rate": rate, "power": power}})
    return Fit(spec, fit.data, fit.tree, fit.seed)


def grid_at(fit: Fit, decades: list[float]) -> pd.DataFrame:
    """Points on the c4 ladder at M = 20, ``decades`` of N beyond the largest fitted run."""
    n = fit.model.max_params * 10 ** np.asarray(decades) / 10  # first point inside the range
    return pd.DataFrame({"dataset": "c4", "params": n, "tokens": 20 * n})


def test_term_is_zero_in_range_and_widens_with_distance(tiny_loss_fit):
    off = with_rate(tiny_loss_fit, 0)
    on = with_rate(tiny_loss_fit, RATE)
    grid = grid_at(tiny_loss_fit, [0.0, 1.5, 2.0, 3.0, 4.0])
    t_off, t_on = off.predict(grid).table(), on.predict(grid).table()
    assert t_on["distance"].iloc[0] == 0.0
    assert np.all(np.diff(t_on["distance"]) > 0)
    # inside the fitted range: the same draws, the same interval
    for col in ("median", "lower", "upper"):
        assert t_on[col].iloc[0] == t_off[col].iloc[0]
    assert t_on["share_extrapolation"].iloc[0] == 0.0
    width_on = np.log(t_on["upper"] / t_on["lower"]).to_numpy()
    width_off = np.log(t_off["upper"] / t_off["lower"]).to_numpy()
    assert np.all(width_on[1:] > width_off[1:])
    assert np.all(np.diff(width_on[1:]) > 0)
    assert np.all(np.diff(t_on["share_extrapolation"].to_numpy()[1:]) > 0)
    parts = t_on[["share_parameter", "share_noise", "share_extrapolation"]].sum(axis=1)
    np.testing.assert_allclose(parts, 1.0)


def test_term_is_shared_across_points_of_a_prediction(tiny_loss_fit):
    on = with_rate(tiny_loss_fit, RATE)
    delta = on.predict(grid_at(tiny_loss_fit, [1.5, 2.5])).draws["discrepancy"].to_numpy()
    ratio = delta[:, 1] / delta[:, 0]  # one z per draw: δ ∝ distance (power 1)
    d = on.model.distances(grid_at(tiny_loss_fit, [1.5, 2.5]))["distance"].to_numpy()
    np.testing.assert_allclose(ratio, d[1] / d[0])


def test_reports_warn_beyond_the_checked_distance(tiny_loss_fit):
    spec = tiny_loss_fit.spec.updated({"extrapolation": {"rate": RATE, "checked": 1.8}})
    fit = Fit(spec, tiny_loss_fit.data, tiny_loss_fit.tree, tiny_loss_fit.seed)
    table = fit.predict(grid_at(tiny_loss_fit, [1.5, 3.0])).table()  # 0.5 and 2 decades out
    assert table.attrs["checked"] == 1.8
    near, far = describe_predictions(table)
    assert "Warning" not in near
    assert "beyond the 1.8 decades at which the extrapolation error was checked" in far
    with pytest.raises(SpecError, match=r"checked: must be a positive number"):
        load_spec("loss_chinchilla").updated({"extrapolation": {"checked": -1}})


@pytest.mark.parametrize("power", [1.0, 1.5])
def test_term_spread_matches_its_prior(tiny_loss_fit, power):
    on = with_rate(tiny_loss_fit, RATE, power)
    grid = grid_at(tiny_loss_fit, [2.5])
    delta = on.predict(grid).draws["discrepancy"].to_numpy()[:, 0]
    d = on.model.distances(grid)["distance"].iloc[0]
    # sd of τ·z with log τ ~ N(m, s): exp(m + s²)
    expected = d**power * np.exp(RATE["mu"] + RATE["sigma"] ** 2)
    assert abs(delta.std() / expected - 1) < 0.2


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ({"rate": 0.1}, "must be 0"),
        ({"rate": {"dist": "LogNormal", "mu": -3.0}, "scale": 1.0}, "unknown key.*scale"),
        ({"rate": {"dist": "Nope"}}, "unknown PyMC distribution"),
    ],
)
def test_bad_extrapolation_tables_name_the_key(table, match):
    with pytest.raises(SpecError, match=match):
        load_spec("loss_chinchilla").updated({"extrapolation": table})


def test_shipped_specs_carry_the_learned_rate():
    for name in (
        "loss_chinchilla",
        "loss_overtraining",
        "task_dynamics",
        "accuracy_sigmoid",
        "error_sigmoid",
        "error_from_loss",
    ):
        rate = load_spec(name).extrapolation_error.rate
        assert rate is not None and rate.dist == "LogNormal"


def test_coverage_table_counts_pits_by_distance():
    points = pd.DataFrame(
        {"distance": [0.0, 0.1, 0.6, 0.7, 3.0], "pit": [0.5, 0.99, 0.3, 0.96, 0.5]}
    )
    table = coverage_table(points, levels=(0.5, 0.9))
    assert list(table["distance"]) == ["[0, 0.25)", "[0.5, 1)", "[2, inf)", "all"]
    assert list(table["n"]) == [2, 2, 1, 5]
    assert list(table["coverage_0.9"]) == [0.5, 0.5, 1.0, 0.6]
    assert list(table["coverage_0.5"]) == [0.5, 0.5, 1.0, 0.6]
    assert covered(np.array([0.05, 0.0499]), 0.9).tolist() == [True, False]


def _simulated_points(
    tau: float, *, seed: int, ladders: int = 3, backtests: int = 10
) -> pd.DataFrame:
    """Residuals drawn from the model fit_rate assumes: parametric sd plus τ·d·z."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(ladders):
        for b in range(backtests):
            d = rng.uniform(0.0, 2.0, 6)
            scale = rng.uniform(0.005, 0.02, 6)
            z = rng.standard_normal()
            loc = rng.normal(1.0, 0.1, 6)
            truth = loc + scale * rng.standard_normal(6) + tau * d * z
            rows.append(
                pd.DataFrame(
                    {
                        "ladder": f"l{k}",
                        "backtest": f"l{k}:b{b}",
                        "distance": d,
                        "link_loc": loc,
                        "link_scale": scale,
                        "link_truth": truth,
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def test_fit_rate_recovers_a_simulated_rate_and_calibrates_held_out_points():
    tau = 0.05
    train = _simulated_points(tau, seed=1, ladders=4)
    term = fit_rate(train, dataset="ladder", group="backtest").predictive()
    assert abs(term["rate"]["mu"] - np.log(tau)) < 0.5
    assert 0.6 < term["power"] < 1.6  # simulated linear growth
    test = _simulated_points(tau, seed=2, ladders=6)
    far = test["distance"].to_numpy() > 0.5
    pit_on = coverage_with_rate(test, term, group="backtest")
    pit_off = coverage_with_rate(test, None, group="backtest")
    assert covered(pit_on[far], 0.9).mean() > 0.75
    assert covered(pit_off[far], 0.9).mean() < 0.5


PRIOR = {"rate": {"dist": "LogNormal", "mu": float(np.log(0.02)), "sigma": 0.6}, "power": 1.0}


def test_ladder_term_moves_the_population_term_towards_the_ladders_own_rate():
    # no rung-out of its own (or none beyond its fit): the population's term, unchanged
    same = ladder_term(pd.DataFrame(), PRIOR)
    assert abs(same["rate"]["mu"] - PRIOR["rate"]["mu"]) < 1e-3
    assert abs(same["rate"]["sigma"] - 0.6) < 1e-3 and same["power"] == 1.0
    inside = _simulated_points(0.3, seed=4, ladders=1).assign(distance=0.05)
    assert abs(ladder_term(inside, PRIOR, group="backtest")["rate"]["mu"] - np.log(0.02)) < 1e-3
    # misses far beyond their parametric spread, 0.05 decades out: counted only when asked
    moved = ladder_term(inside, PRIOR, group="backtest", min_distance=0.0)
    assert moved["rate"]["mu"] > np.log(0.02) + 1.0
    # a ladder whose own smaller rungs miss by τ = 0.2 (ten times the population's) gets a
    # larger τ, and narrower uncertainty; one that extrapolates as the population stays put
    bad = ladder_term(_simulated_points(0.2, seed=5, ladders=1), PRIOR, group="backtest")
    assert np.log(0.08) < bad["rate"]["mu"] < np.log(0.3) and bad["rate"]["sigma"] < 0.6
    usual = ladder_term(_simulated_points(0.02, seed=6, ladders=1), PRIOR, group="backtest")
    assert abs(usual["rate"]["mu"] - np.log(0.02)) < 0.6
    # and the held-out points of that bad ladder are covered with its own term, not without
    test = _simulated_points(0.2, seed=7, ladders=1, backtests=30)
    far = test["distance"].to_numpy() > 0.5
    assert covered(coverage_with_rate(test, bad, group="backtest")[far], 0.9).mean() > 0.8
    assert covered(coverage_with_rate(test, PRIOR, group="backtest")[far], 0.9).mean() < 0.6
    with pytest.raises(ValueError, match="LogNormal"):
        ladder_term(pd.DataFrame(), {"rate": {"dist": "HalfNormal", "sigma": 0.1}})


def test_residual_density_is_the_multivariate_normal_it_stands_for():
    from scipy import stats

    points = _simulated_points(0.1, seed=8, ladders=1, backtests=2)
    res = _Residuals.of(points, ["backtest"])
    tau, power = 0.07, 1.3
    want = 0.0
    for _, g in points.groupby("backtest"):
        v = g["distance"].to_numpy() ** power
        cov = np.diag(g["link_scale"].to_numpy() ** 2) + tau**2 * np.outer(v, v)
        resid = (g["link_truth"] - g["link_loc"]).to_numpy()
        want += stats.multivariate_normal(np.zeros(len(g)), cov).logpdf(resid)
    assert np.isclose(res.log_density(np.array([tau]), power)[0], want)


def test_default_cutoffs_leave_rungs_to_fit_and_to_predict():
    obs = simulate_chinchilla(n_runs=30, seed=3).observations
    spec = load_spec("loss_chinchilla")
    cuts = default_cutoffs(spec, obs, by="flops")
    flops = 6 * obs.frame["params"] * obs.frame["tokens"]
    assert len(cuts) == 4 and min(cuts) >= flops.median() * 0.999 and max(cuts) < flops.max()
    with pytest.raises(ValueError, match="--by must be one of"):
        default_cutoffs(spec, obs, by="steps")
