"""Slow tier: parameter recovery on the simulated testbed and real Pythia / OLMo-ladder fits."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bayes_scaling import transfer
from bayes_scaling.data.olmo_ladder import load_olmo_ladder
from bayes_scaling.data.pythia import README_OVERRIDES, load_pythia
from bayes_scaling.data.simulate import simulate_trajectories
from bayes_scaling.models.dynamics import DynamicsModel
from bayes_scaling.spec import load_spec

pytestmark = pytest.mark.slow
SPEC = load_spec("task_dynamics")
SAMPLER = dict(draws=300, tune=300, chains=2, seed=1)


def test_recovers_domain_parameters_and_onset_order():
    sim = simulate_trajectories(seed=11)
    fit = DynamicsModel(SPEC.updated({"data": {"min_tokens": 0.0}}), sim.observations).fit(
        **SAMPLER
    )
    post = fit.posterior.stack(sample=("chain", "draw"))
    truth = sim.truth["domains"]
    hits, total = 0, 0
    for name in (
        "onset_domain",
        "rate_domain",
        "ceiling_domain",
        "onset_size_domain",
        "ceiling_size_domain",
    ):
        key = name.removesuffix("_domain")
        for d, p in truth.items():
            draws = post[name].sel(domain=d).to_numpy()
            lo, hi = np.quantile(draws, [0.05, 0.95])
            hits += lo <= p[key] <= hi
            total += 1
    assert hits / total >= 0.8, f"{hits}/{total} true domain parameters inside 90% intervals"
    # basic before advanced: each consecutive pair of the true onset order, with high probability
    prec = transfer.onset_precedence(fit)
    order = sim.truth["onset_order"]
    for a, b in itertools.pairwise(order):
        assert prec.loc[a, b] > 0.9, f"P(onset {a} < onset {b}) = {prec.loc[a, b]:.2f}"
    sd = post["run_task_sd"].to_numpy()
    assert np.quantile(sd, 0.02) <= sim.truth["run_task_sd"] <= np.quantile(sd, 0.98)


@pytest.fixture(scope="module")
def pythia(data_dir):
    data = load_pythia(data_dir / "trajectories" / "pythia", overrides=README_OVERRIDES)
    return data.where(metric="accuracy", task=["lambada_openai", "piqa", "arc_easy", "sciq"])


def test_pythia_predicts_the_largest_size(pythia):
    """Fit 70M–2.8B (8 log-spaced checkpoints per run), predict 6.9B's final checkpoints."""
    spec = SPEC.updated({"data": {"max_checkpoints": 8}})
    train, test = pythia.select("params < 5e9"), pythia.select("params > 5e9")
    model = DynamicsModel(spec, train)
    fit = model.fit(**SAMPLER)
    # 2 × 300 draws of this posterior are not converged (R-hat 1.6-2.2) and its divergence count
    # is not stable at a seed: 1, 4 and 67 at seeds 3, 2, 1 in one session, 83 at seed 1 in
    # another. The claims tested are the prediction's (coverage 0.97-0.98, error 2.4 points at
    # those seeds); the bound only catches a sampler that falls apart.
    assert fit.diagnostics().divergences <= 150
    pts = model.points(test)
    final = pts[pts["tokens"] == pts["tokens"].max()].reset_index(drop=True)
    table = fit.predict(final.drop(columns=["truth"])).table()
    assert (table["params_decades"] > 0.4).all() and table["new_run"].all()
    covered = (final["truth"] >= table["lower"]) & (final["truth"] <= table["upper"])
    error = 100 * (table["median"] - final["truth"]).abs()
    assert covered.mean() >= 0.75, table.assign(truth=final["truth"])
    assert error.mean() < 6.0, error


def test_olmo_ladder_task_dynamic_prediction(data_dir):
    """Hold out ARC-Challenge; predict it from the other science tasks better than the
    population-mean curve of the same run."""
    data = load_olmo_ladder(data_dir / "olmo-ladder")
    data = data.where(metric="accuracy", task=["arc_easy", "arc_challenge", "openbookqa"])
    data = data.select("run.str.endswith('-1xC') or run.str.endswith('-5xC')")
    spec = SPEC.updated({"data": {"min_tokens": 0.0, "drop_first_fraction": 0.1}})
    spec = spec.updated({"data": {"max_checkpoints": 6}})
    table = transfer.task_holdout(spec, data, tasks=["arc_challenge"], **SAMPLER)
    m = transfer.holdout_metrics(table).iloc[0]
    # Measured (seed 1): MAE 9.5 points against 12.7 for the population-mean curve; coverage
    # 0.65 at 90% nominal — held-out-task intervals are too narrow with two known tasks.
    assert m["domain_mae"] < m["baseline_population_mean_mae"]
    assert m["domain_coverage"] >= 0.5
