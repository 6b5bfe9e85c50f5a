"""Named task sets and averages over tasks of a downstream prediction, draw by draw."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bayes_scaling import laws
from bayes_scaling.data.gadre import TASKS_17, TASKS_46
from bayes_scaling.data.schema import DataError, Observations
from bayes_scaling.models.prediction import Prediction

#: Named task sets (``tasks = "avg17"``).
TASK_SETS: dict[str, tuple[str, ...]] = {"avg17": TASKS_17, "avg46": TASKS_46}
#: Columns that belong to one task of a grid point (dropped when averaging over tasks).
PER_TASK_COLUMNS: tuple[str, ...] = (
    "task",
    "domain",
    "chance",
    "n_items",
    "new_task",
    "new_domain",
    "truth",
    "loss",
    "loss_below_fit",
    "compute_decades",
    "params_decades",
    "distance",
)


def resolve_tasks(tasks: str | Sequence[str], available: Sequence[str] = ()) -> tuple[str, ...]:
    """Task names from a preset (``"avg17"``, ``"avg46"``), ``"all"`` (= ``available``), a
    comma-separated string or a list."""
    if isinstance(tasks, str):
        if tasks in TASK_SETS:
            return TASK_SETS[tasks]
        if tasks == "all":
            if not available:
                raise DataError("tasks='all' needs the fitted tasks, and there are none")
            return tuple(available)
        names = tuple(t.strip() for t in tasks.split(",") if t.strip())
    else:
        names = tuple(str(t) for t in tasks)
    if not names:
        raise DataError(f"no task names in {tasks!r}")
    return names


def aggregate_tasks(
    prediction: Prediction,
    *,
    tasks: str | Sequence[str] | None = None,
    name: str | None = None,
) -> Prediction:
    """Average a per-task prediction over tasks, draw by draw.

    Points that differ only in their task are averaged (the other grid columns identify an
    aggregate point; with none, the ``loss``). Every aggregate point must have every task of
    the set, so averages are always over the same tasks.

    Parameters
    ----------
    prediction
        A downstream :class:`~bayes_scaling.models.prediction.Prediction` with a ``task``
        coordinate.
    tasks
        The task set (a preset such as ``"avg17"``, a list, or ``None`` for all tasks present).
    name
        The ``task`` label of the aggregate (default: the preset name, or ``"avg<n>"``).

    Returns
    -------
    Prediction
        ``mean`` and ``new`` averaged; ``task = name``, ``n_tasks``, ``truth`` (mean over tasks
        when every task has one), ``extrapolation``, ``loss_below_fit`` and the distance columns
        (largest over tasks),
        ``loss`` (mean over tasks).
    """
    grid = prediction.grid
    if "task" not in grid.columns:
        raise DataError("aggregate_tasks needs a prediction with a 'task' column")
    present = tuple(dict.fromkeys(grid["task"]))
    names = present if tasks is None else resolve_tasks(tasks, present)
    label = name or (tasks if isinstance(tasks, str) and tasks in TASK_SETS else f"avg{len(names)}")
    keep = grid["task"].isin(names).to_numpy()
    sub = grid[keep].reset_index(drop=True)
    keys = [c for c in sub.columns if c not in PER_TASK_COLUMNS]
    if not keys:
        keys = ["loss"]
    codes, groups = pd.factorize(pd.MultiIndex.from_frame(sub[keys].astype(object)))
    counts = sub.groupby(codes)["task"].nunique().to_numpy()
    if not np.all(counts == len(names)):
        g = int(np.flatnonzero(counts != len(names))[0])
        raise DataError(
            f"aggregate point {dict(zip(keys, groups[g], strict=True))} has {counts[g]} of the "
            f"{len(names)} tasks; every point must have all of them"
        )
    draws = {}
    for var in ("law", "mean", "new"):
        x = prediction.draws[var].to_numpy()[:, keep]
        draws[var] = np.stack([x[:, codes == g].mean(axis=1) for g in range(len(groups))], 1)
    table = pd.DataFrame(list(groups), columns=keys)
    by = sub.groupby(codes)
    table["task"] = label
    table["n_tasks"] = len(names)
    largest = ("loss_below_fit", "compute_decades", "params_decades", "distance")
    for col, how in [*((c, "max") for c in largest), ("loss", "mean")]:
        if col in sub.columns and col not in keys:
            table[col] = by[col].agg(how).to_numpy()
    if "truth" in sub.columns:
        table["truth"] = by["truth"].agg(lambda s: s.mean() if s.notna().all() else np.nan)
    kind = prediction.draws.attrs.get("response_link", "identity")
    delta = laws.link(kind, draws["mean"]) - laws.link(kind, draws["law"])
    return Prediction.assemble(table, law=draws["law"], new=draws["new"], delta=delta, link=kind)


def average_tasks(
    data: Observations, tasks: str | Sequence[str], *, name: str, by: str | None = None
) -> Observations:
    """The data with each run's accuracy averaged over a task set, as one task per checkpoint.

    Gadre et al. fit their error law to the 17-task average against loss, once per pretraining
    set; with ``by = "dataset"`` each set's average is its own task (``name[set]``), so a
    downstream spec pools the sets' laws like any tasks. The average's ``chance`` is the mean
    of its tasks' and it has no item count (fit it with ``kind = "beta"``); rows of other
    metrics (the input losses) are kept as they are.

    Raises
    ------
    DataError
        If a (run, tokens) checkpoint lacks one of the set's accuracies (an average over
        different tasks would not be the set's average).
    """
    names = resolve_tasks(tasks)
    f = data.frame
    acc = f[(f["metric"] == "accuracy") & f["task"].isin(names)]
    keys = ["run", "tokens"]
    counts = acc.groupby(keys)["task"].nunique()
    short = counts[counts < len(names)]
    if len(short):
        run, tokens = short.index[0]
        have = set(acc[(acc["run"] == run) & (acc["tokens"] == tokens)]["task"])
        raise DataError(
            f"{data.source}: run {run!r} at {tokens:g} tokens lacks {sorted(set(names) - have)[:5]}"
            f" of the task set; its average would be over other tasks"
        )
    agg = acc.groupby(keys, sort=False).agg(value=("value", "mean"), chance=("chance", "mean"))
    first = acc.groupby(keys, sort=False).first()
    rows = first.drop(columns=["value", "chance", "n_items"], errors="ignore").join(agg)
    rows = rows.reset_index()
    rows["task"] = name if by is None else [f"{name}[{g}]" for g in rows[by]]
    rows["domain"] = name
    rows["n_items"] = np.nan
    return Observations(
        pd.concat([f[f["metric"] != "accuracy"], rows[f.columns.union(rows.columns, sort=False)]]),
        f"{data.source} ({name} average{'' if by is None else ' per ' + by})",
    )
