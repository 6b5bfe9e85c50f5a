"""Downstream family on real data (slow tier): the Gadre et al. testbed and the OLMo ladder.

Small sampling budgets keep each test to a few minutes on 2 cores; the numbers for the closing
note come from the longer runs described in the family's report.
"""

from __future__ import annotations

import numpy as np
import pytest

from bayes_scaling.data.gadre import HOLDOUT, load_gadre
from bayes_scaling.data.olmo_ladder import load_olmo_ladder
from bayes_scaling.data.schema import Observations
from bayes_scaling.models import model_for
from bayes_scaling.models.task_sets import aggregate_tasks
from bayes_scaling.spec import load_spec

pytestmark = pytest.mark.slow
SAMPLING = {"draws": 300, "tune": 300, "chains": 2, "progressbar": False}
#: The four configurations withheld from the testbed (its README's HOLDOUT table).
GADRE_TARGETS = HOLDOUT.drop(columns="run")


@pytest.fixture(scope="module")
def gadre(data_dir):
    data = load_gadre(data_dir / "overtraining")
    return data.select("params < 1e9"), data.select("params >= 1e9")


@pytest.fixture(scope="module")
def gadre_fits(gadre):
    train, _ = gadre
    spec = load_spec("error_sigmoid").updated({"response": {"tasks": "avg17"}})
    fit = model_for(spec, train).fit(seed=0, **SAMPLING)
    loss_fit = model_for(load_spec("loss_overtraining"), train).fit(seed=0, **SAMPLING)
    return fit, loss_fit


def test_gadre_in_sample_calibration(gadre, gadre_fits):
    """The new-run intervals of the training points hold about their nominal share."""
    train, _ = gadre
    fit, _ = gadre_fits
    points = fit.model.points(train)
    table = fit.predict(points.drop(columns=["truth"])).table()
    covered = (table["lower"] <= points["truth"]) & (points["truth"] <= table["upper"])
    # Bounds from the measured spread (benchmarks/bench_seeds.py, seeds.json): over seeds 0-9
    # at these settings coverage was 0.931-0.937 and max R-hat 1.021-1.090 (seed 0: 1.0875
    # here, 1.100 on another machine: numba compiles for the host CPU, so a fixed seed is the
    # same chain on one machine but not across CPUs). A 2 × 300 smoke fit is not a converged
    # one; the R-hat bound only catches a broken fit.
    assert 0.90 <= covered.mean() <= 0.97
    assert fit.diagnostics().rhat_max < 1.15


def test_gadre_chained_average_widens_and_flags_extrapolation(gadre, gadre_fits):
    """avg17 of the 1.4B runs and the withheld configurations, chained from (N, D)."""
    _, test = gadre
    fit, loss_fit = gadre_fits
    points = fit.model.points(test)
    runs = points.groupby("run", as_index=False).first()[["run", "dataset", "params", "tokens"]]
    chained = aggregate_tasks(
        fit.predict(runs, loss_fit=loss_fit, tasks="avg17"), tasks="avg17"
    ).table()
    direct = aggregate_tasks(fit.predict(points.drop(columns=["truth"])), tasks="avg17").table()
    width = lambda t: (t["upper"] - t["lower"]).to_numpy()  # noqa: E731
    assert np.all(width(chained.sort_values("run")) > width(direct.sort_values("run")))
    truth = points.groupby("run")["truth"].mean()
    chained = chained.set_index("run").loc[truth.index]
    covered = (chained["lower"] <= truth) & (truth <= chained["upper"])
    rel_error = ((chained["median"] - truth).abs() / truth).median()
    # Measured (seed 0, 2 × 300): 5 of 5 covered, median relative error 4.3% (the
    # exponential form: 2 of 5, 15.9%; Gadre et al.'s point fit of the average: 2.8%).
    assert covered.sum() >= 4 and rel_error < 0.06
    targets = aggregate_tasks(
        fit.predict(GADRE_TARGETS, loss_fit=loss_fit, tasks="avg17"), tasks="avg17"
    ).table()
    assert (targets["compute_decades"] > 0.5).all()
    assert (targets["params_decades"].iloc[1:] > 1).all()
    # the 17 tasks' chance-level mean error is 0.809: bigger models must predict below it
    assert (targets["upper"] < 0.809).all() and (targets["lower"] > 0).all()


@pytest.fixture(scope="module")
def olmo(data_dir):
    mmlu = ("mmlu_stem", "mmlu_humanities", "mmlu_social_sciences", "mmlu_other")
    data = load_olmo_ladder(data_dir / "olmo-ladder", domains={t: "mmlu" for t in mmlu})
    f = data.frame
    rerun = f["run"].str.endswith("rerun")
    train = f[(f["params"] < 2e9) & ~rerun & (f["multiplier_label"] != "0.5xC")]
    test = f[(f["size"] == "3B") & ~rerun]
    return Observations(train, "ladder 190M-1B"), Observations(test, "ladder 3B")


def test_olmo_chained_3b_accuracy_and_two_step_baseline(olmo):
    """3B task accuracies from (N, D) alone, against the paper's two-step point method."""
    train, test = olmo
    tasks = ["hellaswag", "arc_easy", "piqa", "mmlu_stem"]
    spec = load_spec("accuracy_sigmoid").updated(
        {"data": {"max_checkpoints": 8}, "response": {"tasks": tasks}}
    )
    model = model_for(spec, train)
    loss_fits = {}
    for task in tasks:
        loss_spec = load_spec("loss_chinchilla").updated(
            {
                "response": {"task": task, "metric": "bpb"},
                "params": {"E": {"prior": {"dist": "Normal", "mu": -0.7, "sigma": 1.0}}},
            }
        )
        loss_fits[task] = model_for(loss_spec, train).fit(seed=0, **SAMPLING)
    fit = model.fit(seed=0, **SAMPLING)
    points = model.points(test)
    points = points[points["tokens"] == points.groupby("run")["tokens"].transform("max")]
    points = points.reset_index(drop=True)
    table = fit.predict(points[["run", "params", "tokens", "task"]], loss_fit=loss_fits).table()
    abs_err = (table["median"] - points["truth"]).abs()
    assert abs_err.mean() < 0.06  # within 6 accuracy points on average
    covered = (table["lower"] <= points["truth"]) & (points["truth"] <= table["upper"])
    assert covered.mean() >= 0.5
    base = model.baseline_predictions(train, points.drop(columns=["truth"]))
    assert np.isfinite(base["two_step"]).all() and np.isfinite(base["curve_fit"]).all()
