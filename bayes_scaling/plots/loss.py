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
    draws): columns ``dataset, multiplier, compute, params, tokens``, the prediction table's
    ``mean, median, lower, upper, mean_lower, mean_upper`` and its distances
    (``compute_decades, params_decades, tokens_decades, distance``)."""
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
    cols = ["mean", "median", "lower", "upper", "mean_lower", "mean_upper"]
    cols += ["compute_decades", "params_decades", "tokens_decades", "distance"]
    return pd.concat([grid, pred[cols]], axis=1)


def get_loss_points_data(
    *, fit: Fit, held_out: Observations | None = None, ci: float = CI_PROB
) -> pd.DataFrame:
    """The observed runs :func:`loss_curves` marks: the fitted ones (``held_out = False``) and
    those of ``held_out``, each with its compute, multiplier, observed loss (``truth``) and the
    law's ``mean, mean_lower, mean_upper`` at its own N and D (the residual panel's)."""
    model = fit.model
    parts = [model.table.assign(held_out=False)]
    if held_out is not None:
        parts.append(model.points(held_out).assign(held_out=True))
    cols = [model.group_col, "params", "tokens", "truth", "held_out"]
    obs = pd.concat([p[cols] for p in parts], ignore_index=True)
    pred = fit.predict(obs[[model.group_col, "params", "tokens"]]).table(ci=ci)
    obs["compute"] = 6 * obs["params"] * obs["tokens"]
    obs["multiplier"] = obs["tokens"] / obs["params"]
    return pd.concat([obs, pred[["mean", "mean_lower", "mean_upper", "distance"]]], axis=1)


def loss_curves(
    *,
    fit: Fit,
    ci: float = CI_PROB,
    held_out: Observations | None = None,
    multipliers: tuple[float, ...] | None = None,
    compute: tuple[float, float] | None = None,
) -> Figure:
    """Loss against compute, one column per dataset, one colour per multiplier.

    Top row: lines are the law's expected loss (posterior mean), bands its ``ci`` interval;
    dots are the fitted runs, open diamonds the ``held_out`` runs, each in its multiplier's
    colour. Bottom row: the same against the law, ``observed − law`` in nats, where the
    bands (now visible) show how the interval widens away from the data. Grey is beyond the
    largest fitted compute; a line turns dashed where it lies beyond the fitted N or D.
    """
    data = get_loss_curves_data(fit=fit, ci=ci, multipliers=multipliers, compute=compute)
    obs = get_loss_points_data(fit=fit, held_out=held_out, ci=ci)
    model = fit.model
    group = model.group_col
    mults = sorted(data["multiplier"].unique())
    cmap = plt.get_cmap("viridis", len(mults))
    nearest = lambda m: cmap(int(np.argmin(np.abs(np.asarray(mults) - m))))  # noqa: E731
    ncols = len(model.labels)
    fig, axes = plt.subplots(
        2,
        ncols,
        figsize=(4.2 * ncols, 5.6),
        sharex=True,
        sharey="row",
        squeeze=False,
        gridspec_kw={"height_ratios": [2, 1]},
    )
    for top, bottom, g in zip(axes[0], axes[1], model.labels, strict=True):
        for i, m in enumerate(mults):
            d = data[(data[group] == g) & (data["multiplier"] == m)]
            inside = ((d["params_decades"] == 0) & (d["tokens_decades"] == 0)).to_numpy()
            band(top, d["compute"], d["mean_lower"], d["mean_upper"], color=cmap(i), alpha=0.2)
            band(
                bottom,
                d["compute"],
                d["mean_lower"] - d["mean"],
                d["mean_upper"] - d["mean"],
                color=cmap(i),
                alpha=0.25,
            )
            for ax, y in ((top, d["mean"]), (bottom, 0 * d["mean"])):
                ax.plot(d["compute"].where(inside), y.where(inside), color=cmap(i), lw=1)
                beyond = ~inside | np.r_[~inside[1:], False]  # joined to the solid part
                ax.plot(d["compute"].where(beyond), y.where(beyond), "--", color=cmap(i), lw=1)
            top.plot([], [], color=cmap(i), lw=1, label=f"M = D/N = {m:g}")
        for held, marker in ((False, "o"), (True, "D")):
            o = obs[(obs[group] == g) & (obs["held_out"] == held)]
            if o.empty:
                continue
            colors = [nearest(m) for m in o["multiplier"]]
            style = {"facecolors": "none", "edgecolors": colors} if held else {"c": colors}
            for ax, y in ((top, o["truth"]), (bottom, o["truth"] - o["mean"])):
                ax.scatter(o["compute"], y, marker=marker, s=22 if held else 12, zorder=3, **style)
        for ax in (top, bottom):
            ax.axvspan(model.max_compute, data["compute"].max(), color="0.92", zorder=0)
            ax.set_xscale("log")
        bottom.axhline(0, color="0.4", lw=0.6)
        top.set_title(str(g))
        bottom.set_xlabel("training compute C = 6ND (FLOPs)")
    y = obs["truth"]
    axes[0][0].set_ylim(0.97 * min(y.min(), data["mean_lower"].min()), 1.03 * y.max())
    resid = pd.concat([obs["truth"] - obs["mean"], data["mean_upper"] - data["mean"]])
    span = 1.15 * float(np.nanmax(np.abs(resid)))
    axes[1][0].set_ylim(-span, span)
    axes[0][0].set_ylabel(f"{', '.join(model.tasks)} loss")
    axes[1][0].set_ylabel("observed − law")
    _legend_marks(axes[0][-1], held_out=held_out is not None)
    axes[0][-1].legend(fontsize=7, ncol=2, title=f"law, {interval_label(ci=ci)}", title_fontsize=7)
    fig.suptitle(
        f"{fit.spec.name}: the law's expected loss and its {interval_label(ci=ci)}; grey: beyond "
        "the fitted compute, dashed: beyond the fitted N or D",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def _legend_marks(ax, *, held_out: bool) -> None:
    """Legend entries for the marks whose colour is their multiplier's."""
    ax.scatter([], [], c="0.4", s=12, label="fitted run")
    if held_out:
        ax.scatter([], [], marker="D", facecolors="none", edgecolors="0.4", s=22, label="held out")
    ax.plot([], [], "--", color="0.4", lw=1, label="beyond fitted N or D")
