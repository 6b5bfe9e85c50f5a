"""Fast tests of the cross-domain transfer tables and the trajectory plots."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from bayes_scaling import transfer
from bayes_scaling.data.schema import Observations
from bayes_scaling.data.simulate import simulate_trajectories
from bayes_scaling.models.dynamics import DynamicsModel
from bayes_scaling.plots import dynamics as plots
from bayes_scaling.spec import load_spec

SPEC = load_spec("task_dynamics").updated({"data": {"min_tokens": 0.0}})
TINY = dict(draws=30, tune=30, chains=2)


@pytest.fixture(scope="module")
def sim():
    return simulate_trajectories(
        tasks_per_domain=2,
        sizes=(2e7, 1e8, 4e8, 1.5e9),
        tokens=tuple(np.geomspace(2e9, 3e11, 5)),
        seed=4,
    )


@pytest.fixture(scope="module")
def fit(sim):
    return DynamicsModel(SPEC, sim.observations).fit(seed=2, draws=50, tune=50, chains=2)


def test_onset_table_and_precedence(fit):
    table = transfer.onset_table(fit, ci=0.8)
    assert list(table.columns[:4]) == ["domain", "onset_median", "onset_lower", "onset_upper"]
    assert (table["onset_lower"] <= table["onset_median"]).all()
    assert table["onset_median"].is_monotonic_increasing
    assert table["summary"].str.contains("80% interval").all()
    prec = transfer.onset_precedence(fit)
    np.testing.assert_allclose(np.diag(prec), 0.0)
    off = prec.to_numpy() + prec.to_numpy().T
    np.testing.assert_allclose(off[~np.eye(len(prec), dtype=bool)], 1.0)
    # at a larger size every onset comes earlier (onset_size > 0 in the prior mass here)
    small = transfer.onset_draws(fit, params=1e7).median()
    large = transfer.onset_draws(fit, params=1e10).median()
    assert (large < small).all()


def test_domain_correlation(fit):
    table = transfer.domain_correlation(fit)
    n = fit.model.domains
    assert len(table) == len(n) * (len(n) - 1) // 2
    assert ((table["lower"] >= -1) & (table["upper"] <= 1)).all()
    matrix = table.attrs["matrix"]
    np.testing.assert_allclose(np.diag(matrix), 1.0)


def test_log_predictive_density_prefers_truth(fit, sim):
    frame = sim.observations.frame
    rows = Observations(frame[frame["run"] == "sim-100M"], "t")
    good = transfer.log_predictive_density(fit, rows)
    shifted = Observations(rows.frame.assign(value=(rows.frame["value"] + 0.2).clip(0, 1)), "t")
    bad = transfer.log_predictive_density(fit, shifted)
    assert np.isfinite(good["lpd"]).all()
    assert good["lpd"].sum() > bad["lpd"].sum()


def test_predictive_gain_and_task_holdout(sim):
    frame = sim.observations.frame
    small = Observations(frame[frame["domain"].isin(["language", "science"])], "sim")
    gain = transfer.predictive_gain(
        SPEC, small, target="science", sources=["language"], heldout="params > 1e9", **TINY
    )
    assert list(gain["source"]) == ["language"]
    assert gain.loc[0, "n_trajectories"] == 2 and gain.loc[0, "n_heldout"] == 10
    assert np.isfinite(gain.loc[0, "delta"])
    hold = transfer.task_holdout(SPEC, small, tasks=["science_0"], **TINY)
    assert set(hold["task"]) == {"science_0"}
    metrics = transfer.holdout_metrics(hold)
    for col in ("domain_coverage", "no_domain_coverage", "baseline_population_mean_mae"):
        assert col in metrics.columns
    by_domain = metrics.loc[0, "domain_elpd"] - metrics.loc[0, "no_domain_elpd"]
    assert metrics.loc[0, "domain_gain_elpd"] == pytest.approx(by_domain)
    assert np.isfinite(metrics.loc[0, "domain_gain_se"]) and metrics.loc[0, "domain_gain_se"] > 0
    assert 0 <= metrics.loc[0, "domain_coverage"] <= 1
    assert hold["checkpoint"].min() == 1
    assert (hold["distance"] == 0).all()  # every run of the unseen task is fitted: in range
    assert hold["domain_pit"].between(0, 1).all() and np.isfinite(hold["link_truth"]).all()
    early = transfer.task_holdout(SPEC, small, tasks=["science_0"], first_checkpoints=3, **TINY)
    assert early["checkpoint"].min() == 4
    assert len(early) == len(hold[hold["checkpoint"] > 3])
    assert "updated_coverage" in transfer.holdout_metrics(early).columns
    assert "no_domain_median" not in early.columns
    # the updated task extrapolates from its own first checkpoints, not from its run's last
    assert (early["distance"] > 0).all() and (early["updated_link_scale"] > 0).all()
    with pytest.raises(ValueError, match="first_checkpoints"):
        transfer.task_holdout(SPEC, small, tasks=["science_0"], first_checkpoints=-1)
    fig = plots.plot_predictive_gain(table=gain)
    assert isinstance(fig, Figure)


def test_plots(fit):
    data = plots.get_trajectory_data(fit=fit, runs=["sim-20M", "sim-1500M"])
    assert {"observed", "median", "mean_lower", "mean_upper"} <= set(data.columns)
    assert data["observed"].notna().sum() == 2 * 8 * 5
    for fig in (
        plots.plot_trajectories(fit=fit),
        plots.plot_onsets(fit=fit, ci=0.5),
        plots.plot_correlation(fit=fit),
    ):
        assert isinstance(fig, Figure)
    assert isinstance(plots.get_onset_data(fit=fit), pd.DataFrame)
    corr = plots.get_correlation_data(fit=fit)
    assert "matrix" in corr.attrs and corr.attrs["runs"] == len(fit.model.run_params)
    # the figure says when it shows mostly the prior, and only then
    label = plots.plot_correlation(fit=fit).axes[0].get_xlabel()
    assert ("MOSTLY THE PRIOR" in label) == (corr.attrs["prior_share"] > plots.PRIOR_SHARE)


def test_lkj_prior_sd_of_one_correlation_matches_draws():
    """``1/sqrt(2η + d − 1)``, the sd domain_correlation compares the posterior with."""
    import pymc as pm

    for eta, d in ((2.0, 3), (1.0, 5)):
        _, corr, _ = pm.LKJCholeskyCov.dist(
            n=d, eta=eta, sd_dist=pm.Exponential.dist(1.0, size=d), compute_corr=True
        )
        draws = pm.draw(corr, draws=4000, random_seed=1)[:, 0, 1]
        assert draws.std() == pytest.approx(1 / np.sqrt(2 * eta + d - 1), rel=0.05)
