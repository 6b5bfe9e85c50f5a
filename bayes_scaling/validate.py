"""Backtests: fit on a training selection, predict the held-out points, score both the
posterior and the point-fit baselines on the same split."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_scaling import fitfile
from bayes_scaling.constants import CI_PROB
from bayes_scaling.data.schema import DataError, Observations
from bayes_scaling.models.base import Fit, model_for
from bayes_scaling.spec import ModelSpec, load_spec

METRICS_ATTR = "bayes_scaling_backtest_metrics"


@dataclass
class Backtest:
    """A fit on ``train`` and its scored predictions for the held-out points.

    ``table`` has one row per held-out point: the family's point columns, ``truth``,
    ``mean, median, lower, upper`` (new-run interval), ``mean_lower, mean_upper``,
    ``extrapolation``, ``abs_error``, ``rel_error``, ``covered`` and, per baseline,
    ``baseline_<name>`` with its ``baseline_<name>_rel_error``.
    """

    fit: Fit
    table: pd.DataFrame
    train: str
    test: str
    ci: float = CI_PROB

    @property
    def metrics(self) -> dict[str, Any]:
        return backtest_metrics(self.table)

    def save(self, path: str | Path) -> Path:
        """The fit file plus a ``backtest`` group and the metrics as a JSON attribute."""
        attrs = {
            METRICS_ATTR: json.dumps({**self.metrics, "ci": self.ci}),
            "bayes_scaling_backtest_train": self.train,
            "bayes_scaling_backtest_test": self.test,
        }
        groups = {"backtest": fitfile.frame_to_dataset(self.table)}
        return self.fit.save(path, groups=groups, attrs=attrs)

    @classmethod
    def load(cls, path: str | Path) -> Backtest:
        tree = fitfile.read(path)
        if "backtest" not in tree.children:
            raise fitfile.FitFileError(f"{path}: a fit file without a backtest group")
        table = fitfile.dataset_to_frame(tree["backtest"].to_dataset())
        a = tree.attrs
        ci = json.loads(a[METRICS_ATTR]).get("ci", CI_PROB)
        fit = Fit.from_tree(tree, source=str(path))
        return cls(
            fit, table, a["bayes_scaling_backtest_train"], a["bayes_scaling_backtest_test"], ci
        )


def backtest_metrics(table: pd.DataFrame) -> dict[str, Any]:
    """Coverage and errors of the posterior and of each baseline."""
    out: dict[str, Any] = {
        "n_test": len(table),
        "coverage": float(table["covered"].mean()),
        "median_rel_error": float(table["rel_error"].median()),
        "mean_rel_error": float(table["rel_error"].mean()),
        "mean_abs_error": float(table["abs_error"].mean()),
        "max_extrapolation": float(table["extrapolation"].max()),
    }
    for col in table.columns:
        if col.startswith("baseline_") and col.endswith("_rel_error"):
            name = col.removesuffix("_rel_error")
            out[f"{name}_median_rel_error"] = float(table[col].median())
            out[f"{name}_mean_abs_error"] = float((table[name] - table["truth"]).abs().mean())
    return out


def backtest(
    spec: ModelSpec | str | Path,
    data: Observations,
    *,
    train: str,
    test: str | None = None,
    seed: int = 0,
    baselines: bool = True,
    ci: float = CI_PROB,
    **sampler: Any,
) -> Backtest:
    """Fit on the rows matching ``train``; predict and score the rows matching ``test``.

    Parameters
    ----------
    spec
        A spec, a spec file or a shipped spec's name.
    data
        All observations; ``train`` and ``test`` are pandas queries on them (``flops`` and
        ``multiplier`` may be used). ``test`` defaults to ``not (train)``.
    baselines
        Also fit the family's point-fit baselines on the same training rows.
    sampler
        Overrides of the spec's ``[sampler]`` (``draws``, ``tune``, ``chains`` …).
    """
    spec = load_spec(spec)
    test = test or f"not ({train})"
    train_obs = data.select(train)
    test_obs = data.select(test)
    model = model_for(spec, train_obs)
    points = model.points(test_obs)
    if points.empty:
        raise DataError(f"{data.source}: the test selection {test!r} has no response rows")
    fit = model.fit(seed=seed, **sampler)
    grid = points.drop(columns=["truth"])
    pred = fit.predict(grid).table(ci=ci)
    table = points.copy()
    for col in pred.columns.difference(points.columns, sort=False):
        table[col] = pred[col].to_numpy()
    table["abs_error"] = (table["median"] - table["truth"]).abs()
    table["rel_error"] = table["abs_error"] / table["truth"].abs()
    table["covered"] = (table["lower"] <= table["truth"]) & (table["truth"] <= table["upper"])
    if baselines:
        for name, values in model.baseline_predictions(train_obs, grid).items():
            table[f"baseline_{name}"] = values
            table[f"baseline_{name}_rel_error"] = (
                np.abs(values - table["truth"]) / table["truth"].abs()
            )
    return Backtest(fit, table, train, test, ci)
