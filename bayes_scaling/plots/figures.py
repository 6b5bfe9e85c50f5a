"""Every figure a fit or a backtest has, by name: what ``bayes-scaling plot`` and
:func:`bayes_scaling.plot` draw."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
from matplotlib.figure import Figure

from bayes_scaling.constants import CI_PROB
from bayes_scaling.data.schema import Observations
from bayes_scaling.errors import DataError, did_you_mean
from bayes_scaling.models.base import Fit
from bayes_scaling.plots.common import predicted_vs_true
from bayes_scaling.plots.diagnostics import plot_ranks
from bayes_scaling.plots.downstream import domain_forest, error_vs_loss
from bayes_scaling.plots.dynamics import plot_correlation, plot_onsets, plot_trajectories
from bayes_scaling.plots.loss import loss_curves

#: family → figure name → function; the first name is the family's main figure.
FIGURES: dict[str, dict[str, Callable[..., Figure]]] = {
    "loss": {"curves": loss_curves, "ranks": plot_ranks},
    "downstream": {"curves": error_vs_loss, "domains": domain_forest, "ranks": plot_ranks},
    "dynamics": {
        "trajectories": plot_trajectories,
        "onsets": plot_onsets,
        "correlation": plot_correlation,
        "ranks": plot_ranks,
    },
}
#: the keyword by which each figure takes held-out observations, where it takes them
HELD_OUT = {loss_curves: "held_out", plot_trajectories: "data"}


def plot(
    *,
    fit: Fit | None = None,
    kind: str | None = None,
    held_out: Observations | None = None,
    backtest: pd.DataFrame | None = None,
    ci: float = CI_PROB,
) -> Figure:
    """One figure of a fit (``kind``: a name in :data:`FIGURES` for its family, default the
    family's main figure), or of a ``backtest`` table (predicted against the held-out truth).

    Parameters
    ----------
    fit
        A fitted model.
    kind
        Which figure: ``curves`` (loss and downstream), ``domains`` (downstream),
        ``trajectories``, ``onsets`` or ``correlation`` (dynamics), ``ranks`` (every family:
        rank plots of the least-converged parameters, by arviz-plots).
    held_out
        Observations not in the fit, drawn beside it (loss curves: open diamonds;
        trajectories: their runs, predicted from their N).
    backtest
        A backtest table (:attr:`bayes_scaling.validate.Backtest.table`), instead of ``fit``.
    ci
        Interval probability of the bands.

    Raises
    ------
    DataError
        For an unknown ``kind``, or ``held_out`` given to a figure that does not draw it.
    """
    if (fit is None) == (backtest is None):
        raise DataError("plot takes a fit or a backtest table (one of them)")
    if backtest is not None:
        return predicted_vs_true(table=backtest, ci=backtest.attrs.get("ci_prob", ci))
    figures = FIGURES[fit.spec.family]
    name = kind or next(iter(figures))
    if name not in figures:
        raise DataError(
            f"no figure {name!r} for the {fit.spec.family} family; it has "
            f"{', '.join(figures)}{did_you_mean(name, figures)}"
        )
    draw = figures[name]
    options = {}
    if held_out is not None:
        if draw not in HELD_OUT:
            raise DataError(f"the {name!r} figure does not draw held-out observations")
        options[HELD_OUT[draw]] = held_out
    return draw(fit=fit, ci=ci, **options)
