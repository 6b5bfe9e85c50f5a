"""Partial pooling (``bayes_scaling.hierarchy``): centring per level and only-child groups."""

from __future__ import annotations

import numpy as np
import pymc as pm
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
    point = model.initial_point()
    rng = np.random.default_rng(0)
    point = {k: v + rng.normal(size=np.shape(v)) for k, v in point.items()}
    fn = model.compile_fn(
        [model["rate"], model["rate_domain"]], inputs=model.value_vars, on_unused_input="ignore"
    )
    rate, domain = fn(point)
    assert rate[2] == pytest.approx(domain[1])
    assert rate[0] != pytest.approx(domain[0])  # arc_easy has a sibling: its own offset


def test_bad_centred_levels_are_named():
    with pytest.raises(SpecError, match=r"\[params.rate\].centered"):
        _spec(centered="task")
    with pytest.raises(ValueError, match="centered levels"):
        _build(_spec(centered=["run"]))
