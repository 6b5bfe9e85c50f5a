"""Plot pieces every family uses: interval bands, predicted-vs-true, atomic saving."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bayes_scaling.atomic import atomic_path
from bayes_scaling.constants import CI_PROB
from bayes_scaling.report import interval_label


def band(ax: Axes, x, lower, upper, *, color=None, alpha: float = 0.25, label=None) -> None:
    """Shade the interval between ``lower`` and ``upper`` along ``x`` (sorted by ``x``)."""
    order = np.argsort(np.asarray(x))
    ax.fill_between(
        np.asarray(x)[order],
        np.asarray(lower)[order],
        np.asarray(upper)[order],
        color=color,
        alpha=alpha,
        linewidth=0,
        label=label,
    )


def get_predicted_vs_true_data(*, table: pd.DataFrame) -> pd.DataFrame:
    """The columns :func:`predicted_vs_true` draws from a backtest table."""
    cols = ["truth", "median", "lower", "upper", "covered"]
    cols += [c for c in table.columns if c.startswith("baseline_") and not c.endswith("_error")]
    label = [c for c in ("run", "task", "dataset") if c in table.columns]
    return table[label + cols].copy()


def predicted_vs_true(
    *, table: pd.DataFrame, ax: Axes | None = None, ci: float = CI_PROB, title: str | None = None
) -> Figure:
    """Posterior medians with intervals against the held-out truth, baselines as crosses.

    ``table`` is a backtest table (:attr:`bayes_scaling.validate.Backtest.table`); its
    intervals were computed at ``ci``, which labels the legend.
    """
    data = get_predicted_vs_true_data(table=table)
    fig, ax = _figure(ax, (5.0, 5.0))
    err = np.vstack([data["median"] - data["lower"], data["upper"] - data["median"]])
    colors = np.where(data["covered"], "C0", "C3")
    ax.errorbar(data["truth"], data["median"], yerr=err, fmt="none", ecolor=colors, alpha=0.6, lw=1)
    inside = data["covered"].to_numpy(dtype=bool)
    for mask, color, what in ((inside, "C0", "covers"), (~inside, "C3", "misses")):
        if mask.any():
            ax.scatter(
                data["truth"][mask],
                data["median"][mask],
                c=color,
                s=14,
                zorder=3,
                label=f"posterior median; {interval_label(ci=ci)} {what} the truth",
            )
    for i, col in enumerate(c for c in data.columns if c.startswith("baseline_")):
        ax.scatter(
            data["truth"],
            data[col],
            marker="x",
            s=18,
            color=f"C{i + 4}",
            label=col.removeprefix("baseline_"),
        )
    lo = float(np.nanmin(data[["truth", "lower"]].to_numpy()))
    hi = float(np.nanmax(data[["truth", "upper"]].to_numpy()))
    ax.plot([lo, hi], [lo, hi], color="0.5", lw=0.8, ls="--")
    ax.set_xlabel("held-out truth")
    ax.set_ylabel("predicted")
    coverage = float(np.mean(data["covered"]))
    ax.set_title(
        title or f"Backtest: {coverage:.0%} of {len(data)} inside the {interval_label(ci=ci)}"
    )
    ax.legend(fontsize=8)
    return fig


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 150) -> Path:
    """Save ``fig`` atomically (temporary name, then rename) and close it."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=Path(path).suffix[1:] or "png")
    finally:
        plt.close(fig)
    return Path(path)


def _figure(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    fig, ax = plt.subplots(figsize=size)
    return fig, ax
