"""Downstream plots: error (or accuracy) against loss per task, faceted by domain, and a forest
plot of the domain-level parameters. Each ``plot`` has a ``get_*_data`` twin returning the
DataFrame it draws."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.special import expit

from bayes_scaling.constants import CI_PROB
from bayes_scaling.models.base import Fit
from bayes_scaling.models.downstream import DownstreamModel
from bayes_scaling.models.task_sets import resolve_tasks
from bayes_scaling.plots.common import band
from bayes_scaling.report import interval_label


def _model(fit: Fit) -> DownstreamModel:
    model = fit.model
    if not isinstance(model, DownstreamModel):
        raise TypeError(f"a downstream fit is needed, got family {fit.spec.family!r}")
    return model


def get_error_vs_loss_data(
    *,
    fit: Fit,
    tasks: str | Sequence[str] | None = None,
    dataset: str | None = None,
    n_points: int = 40,
    margin: float = 0.25,
    ci: float = CI_PROB,
) -> pd.DataFrame:
    """Curves per task over the fitted loss range (widened by ``margin`` of it each side).

    Returns one row per task × loss: ``task, domain, loss, mean, lower, upper`` (the law's
    posterior mean and interval) and ``kind = "curve"``, followed by the
    fitted observations as rows with ``kind = "observed"`` and ``truth``. When the fit shifts
    the input loss by pretraining set (``[input] shift_by``), the curves and points are those
    of ``dataset`` (default: the first of the fit's sets).
    """
    model = _model(fit)
    names = model.tasks if tasks is None else resolve_tasks(tasks, model.tasks)
    span = model.loss_range * margin
    losses = np.linspace(model.loss_min - span, model.table["loss"].max() + span, n_points)
    grid = pd.DataFrame({"loss": losses})
    obs = model.table[model.table["task"].isin(names)]
    if model.shift_labels:
        dataset = dataset or model.shift_labels[0]
        grid[model.shift_by] = dataset
        obs = obs[obs[model.shift_by].astype(str) == dataset]
    table = fit.predict(grid, tasks=list(names)).table(ci=ci)
    curves = table[["task", "domain", "loss", "mean", "mean_lower", "mean_upper"]].rename(
        columns={"mean_lower": "lower", "mean_upper": "upper"}
    )
    curves["kind"] = "curve"
    observed = obs[["task", "domain", "loss", "truth"]].assign(kind="observed")
    out = pd.concat([curves, observed], ignore_index=True)
    out.attrs["ci_prob"] = ci
    out.attrs["report"] = model.report
    out.attrs["dataset"] = dataset
    return out


def error_vs_loss(
    *,
    fit: Fit,
    tasks: str | Sequence[str] | None = None,
    dataset: str | None = None,
    ncols: int = 4,
    ci: float = CI_PROB,
) -> Figure:
    """One panel per domain: every task's curve with its band and its observed points
    (see :func:`get_error_vs_loss_data` for ``dataset``)."""
    data = get_error_vs_loss_data(fit=fit, tasks=tasks, dataset=dataset, ci=ci)
    domains = sorted(data["domain"].unique())
    ncols = min(ncols, len(domains))
    nrows = int(np.ceil(len(domains) / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.6 * ncols, 3.0 * nrows), squeeze=False, sharex=True
    )
    for ax, domain in zip(axes.ravel(), domains, strict=False):
        part = data[data["domain"] == domain]
        for i, (task, rows) in enumerate(part.groupby("task")):
            color = f"C{i % 10}"
            curve = rows[rows["kind"] == "curve"]
            obs = rows[rows["kind"] == "observed"]
            band(ax, curve["loss"], curve["lower"], curve["upper"], color=color, alpha=0.2)
            ax.plot(curve["loss"], curve["mean"], color=color, lw=1.2, label=task)
            ax.scatter(obs["loss"], obs["truth"], color=color, s=6, alpha=0.6)
        ax.set_title(domain, fontsize=9)
        ax.legend(fontsize=6, loc="best")
    for ax in axes.ravel()[len(domains) :]:
        ax.set_visible(False)
    where = f" ({data.attrs['dataset']})" if data.attrs["dataset"] else ""
    fig.supxlabel(f"input loss{where}")
    fig.supylabel(f"{data.attrs['report']} (law, {interval_label(ci=ci)})")
    fig.tight_layout()
    return fig


def get_domain_forest_data(*, fit: Fit, ci: float = CI_PROB) -> pd.DataFrame:
    """Domain-level values of each law parameter with intervals, and the global population
    (``domain = "(global)"``, the inverse link of ``<param>_mu``)."""
    model = _model(fit)
    post = fit.posterior
    lo, hi = (1 - ci) / 2, (1 + ci) / 2
    rows = []
    for name, p in model.params.items():
        if p.pooling != "partial":
            continue
        mu = post[f"{name}_mu"].to_numpy().ravel()
        if p.link == "log":
            mu = np.exp(mu)
        elif p.link == "logit":
            mu = expit(mu)
        entries = [("(global)", mu)]
        if model.domains:
            x = post[f"{name}_domain"]
            entries += [(d, x.sel(domain=d).to_numpy().ravel()) for d in model.domains]
        for domain, v in entries:
            rows.append(
                {
                    "parameter": name,
                    "domain": domain,
                    "median": float(np.median(v)),
                    "lower": float(np.quantile(v, lo)),
                    "upper": float(np.quantile(v, hi)),
                }
            )
    out = pd.DataFrame(rows)
    out.attrs["ci_prob"] = ci
    return out


def domain_forest(*, fit: Fit, ci: float = CI_PROB) -> Figure:
    """Forest plot: one panel per law parameter, one line per domain, global on top."""
    data = get_domain_forest_data(fit=fit, ci=ci)
    params = list(dict.fromkeys(data["parameter"]))
    fig, axes = plt.subplots(
        1, len(params), figsize=(3.2 * len(params), 0.35 * data["domain"].nunique() + 1.5)
    )
    axes = np.atleast_1d(axes)
    for ax, name in zip(axes, params, strict=True):
        part = data[data["parameter"] == name].reset_index(drop=True)
        y = np.arange(len(part))[::-1]
        colors = ["k" if d == "(global)" else "C0" for d in part["domain"]]
        ax.hlines(y, part["lower"], part["upper"], colors=colors, lw=2)
        ax.scatter(part["median"], y, c=colors, s=16, zorder=3)
        ax.set_yticks(y, part["domain"] if ax is axes[0] else [""] * len(y), fontsize=8)
        ax.set_title(name, fontsize=9)
    fig.suptitle(f"Domain-level parameters (median, {interval_label(ci=ci)})", fontsize=10)
    fig.tight_layout()
    return fig
