"""Model families, by the name a spec's ``family`` key uses (:data:`FAMILIES`)."""

from __future__ import annotations

from bayes_scaling.models.base import (
    FAMILIES,
    Fit,
    Prediction,
    ScalingModel,
    model_class,
    model_for,
)

__all__ = ["FAMILIES", "Fit", "Prediction", "ScalingModel", "model_class", "model_for"]
