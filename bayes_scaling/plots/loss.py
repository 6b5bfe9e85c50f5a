"""Loss-family figures: loss against compute per token multiplier, with bands."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bayes_scaling.constants import CI_PROB
from bayes_scaling.data.schema import Observations
from bayes_scaling.models.base import Fit
from bayes_scaling.plots.common import band
from bayes_scaling.report import interval_label


def get_loss_curves_data(
    *,
    fit: Fit,
    ci: float = CI_PROB,
    multipliers: tuple[float, ...] | None = None,
    compute: tuple[float, float] | None = None,
    points: int = 40,
) -> pd.DataFrame:
    """Predicted loss along compute for each dataset × multiplier (what :func:`loss_curves`
    draws): columns ``dataset, multiplier, compute, params, tokens`` and the prediction
    table's ``mean, median, lower, upper, mean_lower, mean_upper, extrapolation``."""
    model = fit.model
    table = model.table
    group = model.group_col
    mults = multipliers or tuple(sorted(np.unique(np.round(table["tokens"] / table["params"]))))
    c_obs = 6 * table["params"] * table["tokens"]
    lo, hi = compute or (float(c_obs.min()), float(c_obs.max()) * 100)
    c = np.geomspace(lo, hi, points)
    rows = []
    for g in model.labels:
        for m in mults:
            n = np.sqrt(c / (6 * m))
            rows.append(
                pd.DataFrame(
                    {group: g, "multiplier": m, "compute": c, "params": n, "tokens": m * n}
                )
            )
    grid = pd.concat(rows, ignore_index=True)
    pred = fit.predict(grid[[group, "params", "tokens"]]).table(ci=ci)
    cols = ["mean", "median", "lower", "upper", "mean_lower", "mean_upper", "distance"]
    return pd.concat([grid, pred[cols]], axis=1)


def loss_curves(
    *,
    fit: Fit,
    ci: float = CI_PROB,
    held_out: Observations | None = None,
    multipliers: tuple[float, ...] | None = None,
    compute: tuple[float, float] | None = None,
) -> Figure:
    """Loss against compute, one panel per dataset, one colour per multiplier.

    Lines are posterior medians of the law, bands its ``ci`` interval; dots are the fitted
    runs, open diamonds the ``held_out`` runs; the shaded region is beyond the largest
    training compute.
    """
    data = get_loss_curves_data(fit=fit, ci=ci, multipliers=multipliers, compute=compute)
    model = fit.model
    group = model.group_col
    mults = sorted(data["multiplier"].unique())
    cmap = plt.get_cmap("viridis", len(mults))
    fig, axes = plt.subplots(
        1, len(model.labels), figsize=(4.2 * len(model.labels), 3.8), sharey=True, squeeze=False
    )
    test = model.points(held_out) if held_out is not None else None
    for ax, g in zip(axes[0], model.labels, strict=True):
        for i, m in enumerate(mults):
            d = data[(data[group] == g) & (data["multiplier"] == m)]
            band(ax, d["compute"], d["mean_lower"], d["mean_upper"], color=cmap(i), alpha=0.2)
            ax.plot(d["compute"], d["median"], color=cmap(i), lw=1, label=f"M={m:g}")
        obs = model.table[model.table[group] == g]
        m_obs = obs["tokens"] / obs["params"]
        colors = [cmap(int(np.argmin(np.abs(np.asarray(mults) - m)))) for m in m_obs]
        ax.scatter(6 * obs["params"] * obs["tokens"], obs["truth"], c=colors, s=12, zorder=3)
        if test is not None:
            t = test[test[group] == g]
            ax.scatter(
                6 * t["params"] * t["tokens"],
                t["truth"],
                facecolors="none",
                edgecolors="k",
                marker="D",
                s=22,
                zorder=4,
                label="held out",
            )
        ax.axvspan(model.max_compute, data["compute"].max(), color="0.92", zorder=0)
        ax.set_xscale("log")
        ax.set_title(str(g))
        ax.set_xlabel("training compute C = 6ND (FLOPs)")
    shown = [model.table["truth"]] + ([test["truth"]] if test is not None else [])
    y = pd.concat(shown)
    axes[0][0].set_ylim(0.97 * min(y.min(), data["lower"].min()), 1.03 * y.max())
    axes[0][0].set_ylabel(f"{', '.join(fit.model.tasks)} loss")
    axes[0][-1].legend(fontsize=7, ncol=2, title=interval_label(ci=ci), title_fontsize=7)
    fig.suptitle(f"{fit.spec.name}: law median and {interval_label(ci=ci)} (grey: extrapolation)")
    fig.tight_layout()
    return fig
