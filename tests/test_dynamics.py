"""Fast tests of the checkpoint-trajectory family (tiny sampling, simulated data)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pymc as pm
import pytest

from bayes_scaling import laws
from bayes_scaling.data.schema import DataError, Observations
from bayes_scaling.data.simulate import simulate_trajectories
from bayes_scaling.models import model_for
from bayes_scaling.models.base import Fit
from bayes_scaling.models.dynamics import DynamicsModel
from bayes_scaling.priors import SpecError
from bayes_scaling.spec import load_spec

SPEC = load_spec("task_dynamics")
SMALL = dict(
    domains={
        "basic": {
            "onset": -1.0,
            "rate": 1.2,
            "ceiling": 0.5,
            "onset_size": 0.5,
            "ceiling_size": 0.3,
        },
        "advanced": {
            "onset": 1.0,
            "rate": 0.9,
            "ceiling": -0.5,
            "onset_size": 0.5,
            "ceiling_size": 0.5,
        },
    },
    tasks_per_domain=2,
    sizes=(2e7, 1e8, 4e8, 1.5e9),
    tokens=tuple(np.geomspace(2e9, 3e11, 6)),
)


@pytest.fixture(scope="module")
def sim():
    return simulate_trajectories(**SMALL, seed=3)


@pytest.fixture(scope="module")
def fit(sim) -> Fit:
    spec = SPEC.updated({"data": {"min_tokens": 0.0}})
    return DynamicsModel(spec, sim.observations).fit(draws=50, tune=50, chains=2, seed=1)


def test_law_numpy_and_pytensor_agree():
    import pytensor.tensor as pt

    args = (np.array([-1.0, 0.0, 2.0]), 0.5, 0.25, 0.3, 1.1, 0.2, 0.4, 0.3, 0.1)
    expected = laws.accuracy_trajectory(*args)
    symbolic = laws.accuracy_trajectory(pt.as_tensor(args[0]), *args[1:]).eval()
    np.testing.assert_allclose(symbolic, expected)
    # chance at -∞ tokens, c + (1 - c)·u(N) at +∞, half the gain at the onset
    lo, hi = laws.accuracy_trajectory(np.array([-50.0, 50.0]), 0.5, 0.25, 0.3, 1.1, 0.2, 0.4, 0.3)
    u = laws.trajectory_ceiling(0.2, 0.3, 0.5)
    assert lo == pytest.approx(0.25) and hi == pytest.approx(0.25 + 0.75 * u)
    mid = laws.trajectory_onset(0.3, 0.4, 0.5)
    assert laws.accuracy_trajectory(mid, 0.5, 0.25, 0.3, 1.1, 0.2, 0.4, 0.3) == pytest.approx(
        0.25 + 0.75 * u / 2
    )


def test_simulation_shape_and_truth(sim):
    f = sim.observations.frame
    assert f["run"].nunique() == 4 and f["task"].nunique() == 4
    assert f.groupby(["run", "task"]).size().eq(6).all()
    assert sim.truth["onset_order"] == ["basic", "advanced"]
    assert ((f["value"] >= 0) & (f["value"] <= 1)).all()


def test_warmup_selection_and_thinning(sim):
    spec = SPEC.updated({"data": {"min_tokens": 1e10, "max_checkpoints": 3}})
    m = DynamicsModel(spec, sim.observations)
    assert m.table["tokens"].min() >= 1e10
    assert m.table.groupby(["run", "task"]).size().max() <= 3
    spec = SPEC.updated({"data": {"min_tokens": 0.0, "drop_first_fraction": 0.5}})
    m = DynamicsModel(spec, sim.observations)
    assert m.table["tokens"].min() >= 0.5 * 3e11


def test_bad_spec_and_data_errors(sim):
    with pytest.raises(SpecError, match="drop_first_fraction"):
        DynamicsModel(SPEC.updated({"data": {"drop_first_fraction": 1.5}}), sim.observations)
    with pytest.raises(SpecError, match="onset_size"):
        DynamicsModel(
            SPEC.updated({"params": {"onset_size": {"pooling": ["task"]}}}), sim.observations
        )
    no_chance = sim.observations.frame.drop(columns=["chance"])
    with pytest.raises(DataError, match="chance"):
        DynamicsModel(SPEC, Observations.from_frame(no_chance, source="x.csv"))
    with pytest.raises(DataError, match=r"\[data\] tasks"):
        DynamicsModel(SPEC.updated({"data": {"tasks": ["nope"]}}), sim.observations)
    no_items = sim.observations.frame.drop(columns=["n_items"])
    spec = SPEC.updated({"likelihood": {"kind": "beta_binomial"}})
    with pytest.raises(DataError, match="n_items"):
        DynamicsModel(spec, Observations.from_frame(no_items))


def test_a_noisy_task_gets_a_lower_concentration(sim):
    """Each task has its own likelihood concentration: a task whose checkpoints swing ±8 points
    around its curve (BoolQ-like) is fitted a lower ``phi`` than every smooth task."""
    f = sim.observations.frame.copy()
    noisy = sorted(f["task"].unique())[0]
    rows = f.index[f["task"] == noisy]
    swing = np.where(np.arange(len(rows)) % 2 == 0, 0.08, -0.08)
    f.loc[rows, "value"] = np.clip(f.loc[rows, "value"] + swing, 0.01, 0.99)
    spec = SPEC.updated({"data": {"min_tokens": 0.0}})
    fit = DynamicsModel(spec, Observations.from_frame(f)).fit(
        draws=100, tune=150, chains=2, seed=2, progressbar=False
    )
    phi = fit.posterior["phi"].median(("chain", "draw")).to_series()
    assert phi[noisy] < phi.drop(noisy).min() / 3
    with pytest.raises(SpecError, match=r"\[params.phi\]"):
        DynamicsModel(SPEC.updated({"params": {"phi": {"pooling": "partial"}}}), sim.observations)


def test_likelihood_choice(sim):
    assert DynamicsModel(SPEC, sim.observations).likelihood == "beta_binomial"
    no_items = Observations.from_frame(sim.observations.frame.drop(columns=["n_items"]))
    m = DynamicsModel(SPEC.updated({"data": {"min_tokens": 0.0}}), no_items)
    assert m.likelihood == "beta"
    assert "y" in m.build().named_vars


def test_model_structure(sim):
    m = model_for(SPEC.updated({"data": {"min_tokens": 0.0}}), sim.observations)
    model = m.build()
    names = set(model.named_vars)
    assert {"onset_domain", "rate_domain", "ceiling_domain", "run_domain_corr"} <= names
    # size effects pooled domain → task (2 domains, 4 tasks); ["domain"] shares them per domain
    assert model.named_vars["onset_size_domain"].eval().shape == (2,)
    assert model.named_vars["onset_size"].eval().shape == (4,)
    shared = model_for(
        SPEC.updated(
            {
                "params": {
                    "onset_size": {
                        "pooling": ["domain"],
                        "sd": {"dist": "HalfNormal", "sigma": 0.3},
                    }
                }
            }
        ),
        sim.observations,
    )
    assert shared.build().named_vars["onset_size"].eval().shape == (2,)
    prior = m.prior_predictive(draws=20)
    assert prior["prior_predictive"]["y"].shape[-1] == len(m.table)


@pytest.mark.parametrize("centered", [False, True, ["task"]])
def test_run_offsets_centring_and_only_child(sim, centered):
    """Run offsets are centred as asked; a task alone in its domain has no run × task offset."""
    frame = sim.observations.frame
    alone = frame[frame["task"] != "advanced_1"]  # advanced_0 is now its domain's only task
    spec = SPEC.updated({"data": {"min_tokens": 0.0}, "groups": {"run": {"centered": centered}}})
    m = model_for(spec, Observations(alone, "sim"))
    assert m.only_child == {"advanced_0"}
    model = m.build()
    names = set(model.named_vars)
    task_centred = centered is True or centered == ["task"]
    assert ("run_task_latent" in names) == task_centred
    assert ("run_task_z" in names) == (not task_centred)
    assert ("run_domain_z" in names) == (centered is not True)
    e = pm.draw(model["run_task"], draws=3, random_seed=1)
    column = list(m.tasks).index("advanced_0")
    assert np.all(e[:, :, column] == 0) and np.all(np.delete(e, column, axis=2) != 0)


def test_run_offsets_spec_errors(sim):
    with pytest.raises(SpecError, match="centered"):
        model_for(SPEC.updated({"groups": {"run": {"centered": ["run"]}}}), sim.observations)
    with pytest.raises(SpecError, match=r"unknown key\(s\) \['centred'\]"):
        model_for(SPEC.updated({"groups": {"run": {"centred": True}}}), sim.observations)


def test_fit_predict_known_new_run_and_unseen_task(fit):
    grid = pd.DataFrame(
        {
            "run": ["sim-100M", None, None],
            "params": [np.nan, 6e9, 6e9],
            "tokens": [3e11, 3e11, 1e12],
            "task": ["basic_0", "basic_0", "advanced_new"],
            "chance": [np.nan, np.nan, 0.25],
            "domain": [None, None, "advanced"],
        }
    )
    pred = fit.predict(grid)
    table = pred.table()
    assert list(table["new_run"]) == [False, True, True]
    assert list(table["new_task"]) == [False, False, True]
    assert table.loc[0, "distance"] == pytest.approx(0.0)
    assert table.loc[1, "params_decades"] == pytest.approx(np.log10(6e9 / 1.5e9))
    assert table.loc[2, "tokens_decades"] == pytest.approx(np.log10(1e12 / 3e11))
    assert ((table["lower"] <= table["median"]) & (table["median"] <= table["upper"])).all()
    assert (table["lower"] >= 0).all() and (table["upper"] <= 1).all()
    # an unseen task is less certain than a fitted one of the same run and size
    width = table["mean_upper"] - table["mean_lower"]
    assert width[2] > width[1]


def test_grid_errors(fit):
    with pytest.raises(DataError, match="run or params"):
        fit.predict(pd.DataFrame({"tokens": [1e10], "task": ["basic_0"]}))
    with pytest.raises(DataError, match="positive N"):
        fit.predict(pd.DataFrame({"run": ["nope"], "tokens": [1e10], "task": ["basic_0"]}))
    with pytest.raises(DataError, match="chance"):
        fit.predict(pd.DataFrame({"run": ["sim-20M"], "tokens": [1e10], "task": ["new"]}))
    with pytest.raises(TypeError, match="options"):
        fit.predict(pd.DataFrame({"run": ["sim-20M"], "tokens": [1e10], "task": ["basic_0"]}), x=1)


def test_tasks_option_expands_grid(fit):
    grid = pd.DataFrame({"run": ["sim-20M", "sim-20M"], "tokens": [1e10, 1e11]})
    table = fit.predict(grid, tasks=["basic_0", "advanced_1"]).table()
    assert len(table) == 4 and set(table["task"]) == {"basic_0", "advanced_1"}


def test_save_load_round_trip(fit, tmp_path):
    path = fit.save(tmp_path / "dyn.nc")
    back = Fit.load(path)
    grid = pd.DataFrame({"run": ["sim-20M"], "tokens": [1e11], "task": ["basic_0"]})
    a = fit.predict(grid, seed=5).table()
    b = back.predict(grid, seed=5).table()
    np.testing.assert_allclose(a["median"], b["median"])
    assert "onset_domain[basic]" in back.summary().index


def test_baselines(sim):
    m = DynamicsModel(SPEC.updated({"data": {"min_tokens": 0.0}}), sim.observations)
    frame = sim.observations.frame
    train = Observations(frame[frame["task"] != "basic_1"], "t")
    pts = m.points(Observations(frame[frame["task"] == "basic_1"], "t"))
    base = m.baseline_predictions(train, pts)
    assert set(base) == {"population_mean", "domain_mean"}
    for values in base.values():
        assert values.shape == (len(pts),) and np.isfinite(values).all()
    # the domain mean of the other basic task is its own gain mapped to this chance level
    other = m.points(Observations(frame[frame["task"] == "basic_0"], "t"))
    gain = (other["truth"] - other["chance"]) / (1 - other["chance"])
    expected = pts["chance"].to_numpy() + (1 - pts["chance"].to_numpy()) * gain.to_numpy()
    np.testing.assert_allclose(base["domain_mean"], expected)
