"""Figures of checkpoint trajectories: bands per domain, onset ordering, domain correlations,
and the cross-domain predictive gain. Each ``plot_*`` has a ``get_*_data`` twin returning the
table it draws."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from bayes_scaling.constants import CI_PROB
from bayes_scaling.data.schema import DataError, Observations
from bayes_scaling.models.base import Fit
from bayes_scaling.plots.common import band
from bayes_scaling.report import interval_label
from bayes_scaling.transfer import domain_correlation, onset_table

#: a figure whose posterior sd is above this share of its prior's shows mostly the prior
PRIOR_SHARE = 0.8


def get_trajectory_data(
    *,
    fit: Fit,
    runs: Sequence[str] | None = None,
    data: Observations | None = None,
    tokens: Sequence[float] | None = None,
    ci: float = CI_PROB,
    seed: int = 0,
) -> pd.DataFrame:
    """Posterior trajectories of every fitted task for ``runs`` (default: the largest run).

    One row per (run, task, tokens) on a log grid over the fitted checkpoints (or ``tokens``):
    the prediction table's columns (``mean, median, lower, upper, mean_lower, mean_upper``,
    ``distance`` …) plus ``observed``, the value at that checkpoint (NaN between
    checkpoints). Observed values come from ``data`` when given — e.g. held-out runs not in
    the fit, whose N is then read from ``data`` — else from the fitted data.
    """
    model = fit.model
    if runs is None:
        runs = [max(model.run_params, key=model.run_params.get)]
    source = model.table if data is None else model.points(data)
    observed = source[source["run"].isin(runs) & source["task"].isin(model.tasks)]
    params = {**observed.groupby("run")["params"].first().to_dict(), **model.run_params}
    unknown = [r for r in runs if r not in params]
    if unknown:
        raise DataError(f"runs {unknown} are neither in the fit nor in the given data")
    if tokens is None:
        t = pd.concat([model.table["tokens"], observed["tokens"]])
        tokens = np.geomspace(t.min(), t.max(), 40)
    tokens = np.union1d(np.asarray(tokens, dtype=float), observed["tokens"].unique())
    grid = pd.DataFrame(
        [(r, params[r], d, k) for r in runs for k in model.tasks for d in tokens],
        columns=["run", "params", "tokens", "task"],
    )
    table = fit.predict(grid, seed=seed).table(ci=ci)
    obs = observed.drop_duplicates(["run", "task", "tokens"])
    obs = obs.set_index(["run", "task", "tokens"])["truth"]
    key = pd.MultiIndex.from_frame(table[["run", "task", "tokens"]])
    table["observed"] = obs.reindex(key).to_numpy()
    return table


def plot_trajectories(
    *,
    fit: Fit,
    runs: Sequence[str] | None = None,
    data: Observations | None = None,
    ci: float = CI_PROB,
    seed: int = 0,
) -> Figure:
    """One panel per domain: each task's expected accuracy under the law (posterior mean, and
    its band at ``ci``: line and band are the same quantity) and the observed checkpoints,
    for ``runs`` (default: the largest fitted run; runs absent from the fit are predicted
    from their N in ``data``, see :func:`get_trajectory_data`); line style = model size."""
    table = get_trajectory_data(fit=fit, runs=runs, data=data, ci=ci, seed=seed)
    domains = list(dict.fromkeys(table["domain"]))
    cols = min(3, len(domains))
    rows = int(np.ceil(len(domains) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), squeeze=False)
    for ax in axes.ravel()[len(domains) :]:
        ax.set_visible(False)
    styles = ["-", "--", ":", "-."]
    for ax, dom in zip(axes.ravel(), domains, strict=False):
        sub = table[table["domain"] == dom]
        for i, (task, tt) in enumerate(sub.groupby("task", sort=True)):
            color = f"C{i % 10}"
            for j, (_run, rr) in enumerate(tt.groupby("run", sort=False)):
                rr = rr.sort_values("tokens")
                ls = styles[j % len(styles)]
                band(ax, rr["tokens"], rr["mean_lower"], rr["mean_upper"], color=color, alpha=0.2)
                label = task if j == 0 else None
                ax.plot(rr["tokens"], rr["mean"], ls, color=color, lw=1.2, label=label)
                ax.plot(rr["tokens"], rr["observed"], "o", color=color, ms=3)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap over 1-2 decades
        ax.set_title(dom)
        ax.set_xlabel("tokens seen")
        ax.set_ylabel("accuracy")
        runs = list(dict.fromkeys(sub["run"]))
        for j, run in enumerate(runs):  # line style = model size
            n = float(sub.loc[sub["run"] == run, "params"].iloc[0])
            ax.plot([], [], styles[j % len(styles)], color="0.3", label=f"{run} (N = {n:.3g})")
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(
        f"Trajectories of {', '.join(dict.fromkeys(table['run']))}: expected accuracy and its "
        f"{interval_label(ci=ci)}; line style = model size, dots observed",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def get_onset_data(
    *, fit: Fit, params: float | None = None, kind: str = "tasks", ci: float = CI_PROB
) -> pd.DataFrame:
    """The onset table drawn by :func:`plot_onsets` (:func:`bayes_scaling.transfer.onset_table`)."""
    return onset_table(fit, params=params, kind=kind, ci=ci)


def plot_onsets(
    *,
    fit: Fit,
    params: float | None = None,
    kind: str = "tasks",
    ci: float = CI_PROB,
    ax: Axes | None = None,
) -> Figure:
    """Each domain's onset (tokens at half its gain) with its interval, earliest at the top;
    ``kind`` as in :func:`bayes_scaling.transfer.onset_draws`."""
    data = get_onset_data(fit=fit, params=params, kind=kind, ci=ci)
    fig, ax = _figure(ax, (5.5, 0.5 * len(data) + 1.2))
    y = np.arange(len(data))[::-1]
    err = np.vstack(
        [data["onset_median"] - data["onset_lower"], data["onset_upper"] - data["onset_median"]]
    )
    ax.errorbar(data["onset_median"], y, xerr=err, fmt="o", color="C0", capsize=3)
    ax.set_yticks(y, data["domain"])
    ax.set_xscale("log")
    ax.set_xlabel(f"tokens at half the gain above chance (N = {data.attrs['params']:.3g})")
    ax.set_title(f"Domain onsets, median and {interval_label(ci=ci)}", fontsize=10)
    fig.tight_layout()
    return fig


def get_correlation_data(*, fit: Fit, ci: float = CI_PROB) -> pd.DataFrame:
    """Pairwise posterior correlations of run × domain offsets
    (:func:`bayes_scaling.transfer.domain_correlation`); ``attrs["matrix"]`` the mean matrix."""
    return domain_correlation(fit, ci=ci)


def plot_correlation(*, fit: Fit, ci: float = CI_PROB, ax: Axes | None = None) -> Figure:
    """Heat map of the posterior-mean correlation of run × domain offsets, each cell annotated
    with its mean and interval at ``ci``. When the posterior is barely narrower than the LKJ
    prior (median sd above :data:`PRIOR_SHARE` of the prior's, e.g. with a handful of runs),
    the figure says in red that it shows mostly the prior."""
    data = get_correlation_data(fit=fit, ci=ci)
    matrix = data.attrs["matrix"]
    n = len(matrix)
    fig, ax = _figure(ax, (1.1 * n + 2.5, 1.0 * n + 1.5))
    im = ax.imshow(matrix.to_numpy(), vmin=-1, vmax=1, cmap="RdBu_r")
    names = list(matrix.index)
    ax.set_xticks(range(n), names, rotation=45, ha="right")
    ax.set_yticks(range(n), names)
    for row in data.itertuples(index=False):
        i, j = names.index(row.domain_a), names.index(row.domain_b)
        text = f"{row.mean:.2f}\n[{row.lower:.2f}, {row.upper:.2f}]"
        for a, b in ((i, j), (j, i)):
            ax.text(b, a, text, ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, shrink=0.8, label="correlation")
    ax.set_title(f"Run × domain offsets: correlation, mean [{interval_label(ci=ci)}]", fontsize=10)
    share = data.attrs["prior_share"]
    if share > PRIOR_SHARE:
        ax.set_xlabel(
            f"MOSTLY THE PRIOR: the posterior sd is {share:.0%} of the LKJ prior's\n"
            f"({data.attrs['runs']} runs inform these correlations)",
            color="C3",
            fontsize=8,
        )
    fig.tight_layout()
    return fig


def get_predictive_gain_data(*, table: pd.DataFrame, ci: float = CI_PROB) -> pd.DataFrame:
    """The gain table of :func:`bayes_scaling.transfer.predictive_gain` with interval bounds
    ``lower, upper = delta ∓ z·se`` at ``ci``."""
    from scipy.stats import norm

    z = norm.ppf((1 + ci) / 2)
    out = table.copy()
    out["lower"] = out["delta"] - z * out["se"]
    out["upper"] = out["delta"] + z * out["se"]
    return out


def plot_predictive_gain(
    *, table: pd.DataFrame, ci: float = CI_PROB, ax: Axes | None = None
) -> Figure:
    """Held-out log-score gain for each (source → target) pair, with its interval."""
    data = get_predictive_gain_data(table=table, ci=ci)
    fig, ax = _figure(ax, (5.5, 0.45 * len(data) + 1.3))
    y = np.arange(len(data))[::-1]
    err = np.vstack([data["delta"] - data["lower"], data["upper"] - data["delta"]])
    ax.errorbar(data["delta"], y, xerr=err, fmt="o", color="C1", capsize=3)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(y, [f"{s} → {t}" for s, t in zip(data["source"], data["target"], strict=True)])
    ax.set_xlabel(f"Δ held-out log score ({interval_label(ci=ci)})")
    ax.set_title("Predictive gain from another domain's data", fontsize=10)
    fig.tight_layout()
    return fig


def _figure(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is None:
        fig, ax = plt.subplots(figsize=size)
        return fig, ax
    return ax.figure, ax
