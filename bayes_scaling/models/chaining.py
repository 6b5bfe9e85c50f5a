"""Chaining a downstream fit to loss fits: ``(N, D) → loss → error``, the uncertainty carried.

A chained grid gives ``params, tokens`` (and the loss fit's group column) instead of ``loss``.
:func:`chain`, the stage between the two fits, predicts the loss at those points with the
loss-family fit(s) — one per input task when each task has its own loss (``[input]
per_task``) — and returns their draws (:class:`ChainedLoss`), which the downstream prediction
takes as its input, pairing each posterior draw of the downstream law with one draw of the
loss. The grid it returns also has the loss fit's distance from its data
(``compute_decades``, ``params_decades``, ``distance``). Fits come in as objects: reading fit
files (one, or a folder of ``<task>.nc``) is the caller's (the CLI's ``--loss-fit``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_scaling.data.schema import DataError
from bayes_scaling.models.base import Fit
from bayes_scaling.spec import SpecError


@dataclass(eq=False)
class ChainedLoss:
    """Loss draws of a chained grid, ``(n_loss_samples, n_points)`` each."""

    mean: np.ndarray
    new: np.ndarray


def _by_task(fit: Fit) -> dict[str, Fit]:
    if fit.spec.family != "loss":
        raise SpecError(f"{fit.spec.source}: a loss fit is needed, not a {fit.spec.family!r} fit")
    return dict.fromkeys(fit.model.tasks, fit)


def loss_fits(loss_fit: Fit | Mapping[str, Fit]) -> dict[str, Fit]:
    """``{input task: Fit}`` from a loss Fit (of several tasks: each of its tasks) or a
    mapping input task → Fit."""
    if isinstance(loss_fit, Fit):
        return _by_task(loss_fit)
    if isinstance(loss_fit, Mapping):
        for k, f in loss_fit.items():
            if not isinstance(f, Fit):
                raise DataError(
                    f"loss_fit[{k!r}] is a {type(f).__name__}, not a Fit (read fit files with "
                    "bayes_scaling.load)"
                )
        return {str(k): f for k, f in loss_fit.items()}
    raise DataError(
        f"loss_fit must be a loss-family Fit or a mapping task → Fit, got "
        f"{type(loss_fit).__name__} (read fit files with bayes_scaling.load; the CLI's "
        "--loss-fit takes a fit file or a folder of <task>.nc)"
    )


def chain(
    grid: pd.DataFrame,
    loss_fit: Fit | Mapping[str, Fit],
    *,
    source: str,
    metric: str,
    task: str | None,
) -> tuple[pd.DataFrame, ChainedLoss]:
    """The loss fit(s)' draws at ``grid``'s ``params, tokens``, and the grid with ``loss``
    (their median) and the loss fit's distance columns. ``metric`` and ``task`` are the
    downstream fit's input loss (``task`` ``None``: each task's own loss, one loss fit per
    task)."""
    fits = loss_fits(loss_fit)
    out = grid.copy()
    if task is None:
        need = sorted(set(out["task"]))
        lacking = [t for t in need if t not in fits]
        if lacking:
            raise DataError(
                f"{source}: per-task input losses need a loss fit for every task; none for "
                f"{lacking[:5]} (have {sorted(fits)[:8]})"
            )
        which = out["task"].to_numpy()
    else:
        if len(set(map(id, fits.values()))) != 1:
            raise DataError(f"{source}: the input loss {task!r} needs one loss fit")
        fits = {task: next(iter(fits.values()))}
        which = np.full(len(out), task, dtype=object)
    n_samples = min(f.posterior.sizes["chain"] * f.posterior.sizes["draw"] for f in fits.values())
    mean = np.empty((n_samples, len(out)))
    new = np.empty_like(mean)
    out["compute_decades"] = 0.0
    out["params_decades"] = 0.0
    out["distance"] = 0.0
    for name in sorted(set(which)):
        fit = fits[name]
        if fit.spec.family != "loss":
            raise SpecError(f"{source}: loss_fit for {name!r} is a {fit.spec.family!r} fit")
        resp_task, resp_metric = fit.model.tasks, fit.model.option("response.metric")
        if resp_metric != metric or name not in resp_task:
            raise DataError(
                f"{source}: the loss fit models task={list(resp_task)}, metric={resp_metric!r}, "
                f"but this downstream fit's input is task={name!r}, metric={metric!r}"
            )
        rows = np.flatnonzero(which == name)
        group = fit.model.group_col
        keys = ["params", "tokens"] + ([group] if group in out.columns else [])
        sub = out.iloc[rows][keys]
        uniq = sub.drop_duplicates().reset_index(drop=True)
        pred = fit.predict(uniq)
        pos = sub.merge(uniq.reset_index(), on=keys, how="left")["index"].to_numpy()
        mean[:, rows] = pred.draws["mean"].to_numpy()[:n_samples, pos]
        new[:, rows] = pred.draws["new"].to_numpy()[:n_samples, pos]
        extra = pred.grid
        out.loc[rows, "compute_decades"] = extra["compute_decades"].to_numpy()[pos]
        out.loc[rows, "params_decades"] = extra["params_decades"].to_numpy()[pos]
        out.loc[rows, "distance"] = extra["distance"].to_numpy()[pos]
    out["loss"] = np.median(mean, axis=0)
    return out, ChainedLoss(mean, new)
