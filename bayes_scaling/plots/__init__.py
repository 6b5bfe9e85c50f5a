"""Figures. Every public function is keyword-only, takes ``ci`` (default
:data:`bayes_scaling.CI_PROB`), returns a matplotlib Figure and has a ``get_*_data`` twin
returning the table it draws."""

from bayes_scaling.plots.common import (
    band,
    get_predicted_vs_true_data,
    predicted_vs_true,
    save_figure,
)
from bayes_scaling.plots.loss import get_loss_curves_data, get_loss_points_data, loss_curves

__all__ = [
    "band",
    "get_loss_curves_data",
    "get_loss_points_data",
    "get_predicted_vs_true_data",
    "loss_curves",
    "predicted_vs_true",
    "save_figure",
]
