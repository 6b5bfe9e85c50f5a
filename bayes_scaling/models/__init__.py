"""Model families, by the name a spec's ``family`` key uses."""

from __future__ import annotations

from importlib import import_module

from bayes_scaling.models.base import Fit, Prediction, ScalingModel, model_for
from bayes_scaling.priors import SpecError

FAMILIES: dict[str, str] = {
    "loss": "bayes_scaling.models.loss:LossModel",
    "downstream": "bayes_scaling.models.downstream:DownstreamModel",
    "dynamics": "bayes_scaling.models.dynamics:DynamicsModel",
}


def model_class(family: str) -> type[ScalingModel]:
    """The class implementing ``family`` (imported on first use)."""
    if family not in FAMILIES:
        raise SpecError(f"unknown model family {family!r}; known: {sorted(FAMILIES)}")
    module, name = FAMILIES[family].split(":")
    return getattr(import_module(module), name)


__all__ = ["FAMILIES", "Fit", "Prediction", "ScalingModel", "model_class", "model_for"]
