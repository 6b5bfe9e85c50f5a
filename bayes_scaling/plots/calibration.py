"""Rung-out calibration figures: coverage against nominal level, width against distance."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bayes_scaling.constants import CI_PROB
from bayes_scaling.report import interval_label
from bayes_scaling.validate import DISTANCE_BINS, LEVELS, coverage_table, covered


def get_calibration_data(
    *, points: pd.DataFrame, levels: Sequence[float] = LEVELS, pit: str = "pit"
) -> pd.DataFrame:
    """The coverage table :func:`plot_calibration` draws (bins with any points)."""
    return coverage_table(points, levels=levels, bins=DISTANCE_BINS, pit=pit)


def plot_calibration(
    *,
    points: pd.DataFrame,
    levels: Sequence[float] = LEVELS,
    pit: str = "pit",
    ci: float = CI_PROB,
    title: str | None = None,
) -> Figure:
    """Left: empirical against nominal coverage, one line per distance bin (the diagonal is
    calibration). Right: each held-out point's interval width (``lower, upper`` at ``ci``,
    relative to its median) against its distance, filled where the interval covered the
    truth."""
    table = get_calibration_data(points=points, levels=levels, pit=pit)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 4.2))
    nominal = np.asarray(levels)
    for i, row in table.iterrows():
        values = [row[f"coverage_{lv:g}"] for lv in levels]
        style = {"color": "k", "lw": 2.0} if row["distance"] == "all" else {"color": f"C{i}"}
        left.plot(nominal, values, marker="o", label=f"{row['distance']} (n={row['n']})", **style)
    left.plot([0, 1], [0, 1], color="0.5", ls="--", lw=0.8, label="calibrated")
    left.set(xlim=(0.4, 1.0), ylim=(0.0, 1.02), xlabel="nominal interval probability")
    left.set_ylabel("held-out truths inside")
    left.legend(title="decades beyond the fit", fontsize=7, title_fontsize=8)
    width = (points["upper"] - points["lower"]) / points["median"].abs()
    inside = covered(points[pit], ci)
    right.scatter(points["distance"][inside], width[inside], s=12, color="C0", label="covered")
    right.scatter(
        points["distance"][~inside],
        width[~inside],
        s=14,
        facecolors="none",
        edgecolors="C3",
        label="missed",
    )
    right.set(xlabel="distance from the fit (decades)", ylabel=f"{interval_label(ci=ci)} / median")
    right.legend(fontsize=8)
    fig.suptitle(title or "Rung-out calibration")
    fig.tight_layout()
    return fig
