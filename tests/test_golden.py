"""Golden outputs of every shipped spec: a re-layering must not change a number.

For each shipped spec, a small simulated data set, the PyMC model's log density at its initial
point, and a prediction table from a fixed "posterior" (seeded prior draws of the same model,
so no sampler is involved and the numbers are exact on any machine with the same libraries)
are compared with the tables in ``tests/fixtures/golden/``. After a deliberate change of
behaviour, rewrite them with ``BAYES_SCALING_REGOLDEN=1 pytest tests/test_golden.py`` and say
why in the commit.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm
import pytest
import xarray as xr

from bayes_scaling.data.schema import Observations
from bayes_scaling.data.simulate import (
    TRAJECTORY_DOMAINS,
    simulate_chinchilla,
    simulate_downstream,
    simulate_overtraining,
    simulate_trajectories,
)
from bayes_scaling.models.base import Fit, model_for
from bayes_scaling.spec import load_spec

GOLDEN = Path(__file__).parent / "fixtures" / "golden"
FLAT = {"centered": False}


def _loss_chinchilla():
    obs = simulate_chinchilla(n_runs=20, seed=4).observations
    grid = pd.DataFrame({"params": [1e8, 3e9, 7e10], "tokens": [2e9, 6e10, 1.4e12]})
    return load_spec("loss_chinchilla"), obs, grid, {}


def _loss_tasks():
    frames = []
    for seed, task in ((4, "piqa"), (5, "hellaswag")):
        f = simulate_chinchilla(n_runs=20, seed=seed).observations.frame
        frames.append(f.assign(task=task, metric="bpb", value=f["value"] / 3))
    obs = Observations(pd.concat(frames, ignore_index=True), "two simulated bpb")
    grid = pd.DataFrame(
        {"task": ["piqa", "hellaswag"], "params": [1e8, 7e10], "tokens": [2e9, 1.4e12]}
    )
    return load_spec("loss_tasks"), obs, grid, {}


def _loss_overtraining():
    obs = simulate_overtraining(seed=0, sigma=0.02).observations
    labels = sorted(obs.frame["dataset"].unique())
    grid = pd.DataFrame(
        {"params": [4e8, 6.9e9, 6.9e9], "tokens": [8e9, 1.4e11, 1.1e12], "dataset": labels[0]}
    )
    return load_spec("loss_overtraining"), obs, grid, {}


def _downstream(name: str, form: str, update: dict):
    sim = simulate_downstream(form=form, seed=3, likelihood="beta", domains={"a": 2, "b": 2})
    spec = load_spec(name).updated({"response": {"tasks": "all"}, "likelihood": {"kind": "beta"}})
    spec = spec.updated(update)
    grid = pd.DataFrame({"loss": [2.2, 3.0, 3.8], "params": [7e9, 1e9, 1e8], "tokens": 1.4e11})
    return spec, sim.observations, grid, {"tasks": "all"}


def _error_sigmoid():
    return _downstream("error_sigmoid", "sigmoid", {"input": {"shift_by": None}})


def _error_from_loss():
    return _downstream("error_from_loss", "exponential", {"input": {"shift_by": None}})


def _accuracy_sigmoid():
    update = {"input": {"per_task": False, "task": "c4_val", "metric": "loss"}}
    return _downstream("accuracy_sigmoid", "sigmoid", update | {"data": {"checkpoints": "final"}})


def _task_dynamics():
    names = list(TRAJECTORY_DOMAINS)  # the package's testbed: its first and last domain
    sim = simulate_trajectories(
        domains={d: TRAJECTORY_DOMAINS[d] for d in (names[0], names[-1])},
        tasks_per_domain=2,
        sizes=(2e7, 1e8, 4e8),
        tokens=tuple(np.geomspace(2e9, 3e11, 5)),
        seed=3,
    )
    spec = load_spec("task_dynamics").updated({"data": {"min_tokens": 0.0}})
    runs = sorted(sim.observations.frame["run"].unique())
    grid = pd.DataFrame(
        {"run": [runs[0], runs[-1], "new"], "params": [2e7, 4e8, 1.6e9], "tokens": 6e11}
    )
    tasks = pd.DataFrame({"task": sorted(sim.observations.frame["task"].unique())})
    return spec, sim.observations, grid.merge(tasks, how="cross"), {}


def _chained():
    """error_sigmoid chained through a loss_overtraining fit: ``(N, D) → loss → error``."""
    spec, obs, _, options = _error_sigmoid()
    loss = _loss_overtraining()
    _, loss_fit = _prior_fit(loss[0], loss[1])
    return spec, obs, loss[2], options | {"loss_fit": loss_fit}


CASES = {
    "loss_chinchilla": _loss_chinchilla,
    "loss_overtraining": _loss_overtraining,
    "loss_tasks": _loss_tasks,
    "error_sigmoid": _error_sigmoid,
    "error_from_loss": _error_from_loss,
    "accuracy_sigmoid": _accuracy_sigmoid,
    "task_dynamics": _task_dynamics,
    "chained_error_sigmoid": _chained,
}


def _prior_fit(spec, obs) -> tuple[float, Fit]:
    """The model's log density at its initial point, and a Fit whose "posterior" is 40 seeded
    prior draws."""
    pymc_model = model_for(spec, obs).build()
    logp = float(pymc_model.compile_logp()(pymc_model.initial_point()))
    prior = pm.sample_prior_predictive(draws=40, model=pymc_model, random_seed=7)["prior"]
    return logp, Fit(spec, obs, xr.DataTree.from_dict({"posterior": prior.to_dataset()}), seed=0)


def _outputs(name: str) -> tuple[float, pd.DataFrame]:
    spec, obs, grid, options = CASES[name]()
    logp, fit = _prior_fit(spec, obs)
    table = fit.predict(grid, seed=11, allow_similar=True, **options).table()
    return logp, table


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_outputs_are_unchanged(name):
    logp, table = _outputs(name)
    table = table.assign(logp=logp)
    path = GOLDEN / f"{name}.csv"
    if os.environ.get("BAYES_SCALING_REGOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(path, index=False, float_format="%.17g")
    golden = pd.read_csv(path)
    table = pd.read_csv(pd.io.common.StringIO(table.to_csv(index=False, float_format="%.17g")))
    assert list(table.columns) == list(golden.columns)
    pd.testing.assert_frame_equal(table, golden, check_exact=False, rtol=1e-9, atol=1e-12)
