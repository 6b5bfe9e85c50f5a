"""Partial pooling (``bayes_scaling.hierarchy``): centring per level and only-child groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytensor
import pytest

from bayes_scaling import hierarchy
from bayes_scaling.hierarchy import Level
from bayes_scaling.spec import SpecError, _param

LEVELS = [
    Level("domain", ("science", "commonsense")),
    Level("task", ("arc_easy", "arc_challenge", "piqa"), (0, 0, 1)),
]


def _spec(**extra):
    table = {
        "prior": {"dist": "Normal", "mu": 0.0, "sigma": 1.0},
        "link": "log",
        "pooling": "partial",
        "sd": {"domain": {"dist": "HalfNormal", "sigma": 1.0}, "task": {"dist": "HalfNormal"}},
        **extra,
    }
    return _param("rate", table, where="[params.rate]")


def _build(p):
    coords = {lv.name: list(lv.labels) for lv in LEVELS}
    with pm.Model(coords=coords) as model:
        hierarchy.build(p, LEVELS)
    return model


def _at_random_point(model, names, seed):
    """Values of ``names`` at a random point of the model's (transformed) value variables."""
    rng = np.random.default_rng(seed)
    point = {k: v + rng.normal(size=np.shape(v)) for k, v in model.initial_point().items()}
    outputs = model.replace_rvs_by_values([model[n] for n in names])
    fn = pytensor.function(model.value_vars, outputs, on_unused_input="ignore")
    return point, fn(**{v.name: point[v.name] for v in model.value_vars})


def test_centred_levels_are_chosen_per_level():
    model = _build(_spec(centered=["task"]))
    names = set(model.named_vars)
    assert {"rate_task_latent", "rate_z_domain"} <= names
    assert "rate_z_task" not in names and "rate_domain_latent" not in names
    assert _spec(centered=True).is_centered("domain")
    assert not _spec().is_centered("task")


@pytest.mark.parametrize("centered", [False, ["task"]])
def test_only_child_takes_its_parents_value(centered):
    """piqa is commonsense's only task: its value is the domain's, whatever its own offset."""
    model = _build(_spec(centered=centered))
    _, (rate, domain) = _at_random_point(model, ["rate", "rate_domain"], seed=0)
    assert rate[2] == pytest.approx(domain[1])
    assert rate[0] != pytest.approx(domain[0])  # arc_easy has a sibling: its own offset


def test_bad_centred_levels_are_named():
    with pytest.raises(SpecError, match=r"\[params.rate\].centered"):
        _spec(centered="task")
    with pytest.raises(ValueError, match="centered levels"):
        _build(_spec(centered=["run"]))


ROWS = Level("task", ("arc_easy", "arc_challenge", "piqa"), (0, 0, 1), rows=(30, 5, 40))


def _build_with_rows(p):
    levels = [LEVELS[0], ROWS]
    with pm.Model(coords={lv.name: list(lv.labels) for lv in levels}) as model:
        hierarchy.build(p, levels)
    return model


def test_auto_centres_the_tasks_the_data_pin_down():
    """``centered = "auto"``: tasks with ≥ AUTO_CENTER_ROWS rows centred, the rest and every
    coarser level non-centred; the value is assembled from both in label order."""
    model = _build_with_rows(_spec(centered="auto"))
    assert list(model.coords["task_pinned"]) == ["arc_easy", "piqa"]
    assert list(model.coords["task_loose"]) == ["arc_challenge"]
    assert {"rate_task_latent", "rate_z_task", "rate_z_domain"} <= set(model.named_vars)
    point, (rate, domain, sd) = _at_random_point(
        model, ["rate", "rate_domain", "rate_sd_task"], seed=1
    )
    assert rate[0] == pytest.approx(np.exp(point["rate_task_latent"][0]))
    loose = np.log(domain[0]) + sd * point["rate_z_task"][0]
    assert rate[1] == pytest.approx(np.exp(loose))
    assert rate[2] == pytest.approx(domain[1])  # piqa: commonsense's only task


def test_auto_is_the_same_prior_as_non_centred():
    draws = {
        c: pm.draw(_build_with_rows(_spec(centered=c))["rate"], draws=4000, random_seed=3)
        for c in ("auto", False)
    }
    logs = {c: np.log(d) for c, d in draws.items()}
    for stat in (np.mean, np.std):
        assert stat(logs["auto"], axis=0) == pytest.approx(stat(logs[False], axis=0), abs=0.08)


def test_rows_are_counted_per_label():
    table = pd.DataFrame(
        {"domain": ["science"] * 3 + ["commonsense"], "task": ["a", "a", "b", "c"]}
    )
    levels = hierarchy.with_rows(
        [Level("domain", ("commonsense", "science")), Level("task", ("a", "b", "c"), (1, 1, 0))],
        table,
    )
    assert levels[0].rows == (1, 3) and levels[1].rows == (2, 1, 1)
