"""Credible-interval tables and one-sentence summaries (reports never sample)."""

from __future__ import annotations

import re
from pathlib import Path

import arviz_stats as azs
import pandas as pd
import xarray as xr

from bayes_scaling.constants import CALIBRATED_DISTANCE, CI_PROB


def interval_label(*, ci: float = CI_PROB) -> str:
    """``"90% interval"`` for ``ci = 0.9``."""
    return f"{100 * ci:g}% interval"


def summarize(posterior: xr.Dataset, var_names: list[str], *, ci: float = CI_PROB) -> pd.DataFrame:
    """Parameter table over ``var_names``, computed by :func:`arviz_stats.summary`.

    Rows are ``name`` or ``name[label, ...]``; columns ``mean, sd, median, lower, upper``
    (equal-tailed interval at ``ci``), ``ess_bulk, ess_tail, r_hat, mcse_mean, mcse_sd``.
    ``attrs["ci_prob"]`` records ``ci``; written or shown, the interval columns are named by
    it (``eti90_lb``, ``eti90_ub``: :func:`labelled`).
    """
    post = posterior[[v for v in var_names if v in posterior]]
    stats = azs.summary(post, kind="all", ci_prob=ci, ci_kind="eti", round_to="none")
    median = azs.summary(post, kind="stats_median", ci_prob=ci, round_to="none")["median"]
    lb, ub = interval_columns(ci=ci)
    table = stats.rename(columns={lb: "lower", ub: "upper"})
    table.insert(2, "median", median)
    table.index.name = "parameter"
    table.attrs["ci_prob"] = ci
    return table


def interval_columns(*, ci: float = CI_PROB) -> tuple[str, str]:
    """The names of an equal-tailed interval's bounds at ``ci``, as ArviZ writes them
    (``("eti90_lb", "eti90_ub")`` for ``ci = 0.9``)."""
    return f"eti{100 * ci:g}_lb", f"eti{100 * ci:g}_ub"


def _interval_names(ci: float) -> dict[str, str]:
    """Each in-memory interval column → its written name at ``ci``."""
    lb, ub = interval_columns(ci=ci)
    return {"lower": lb, "upper": ub, "mean_lower": f"mean_{lb}", "mean_upper": f"mean_{ub}"}


def labelled(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its interval columns named by their probability (``attrs["ci_prob"]``,
    which every interval table carries; the package default without it):
    ``lower, upper`` → ``eti90_lb, eti90_ub`` and ``mean_lower, mean_upper`` →
    ``mean_eti90_lb, mean_eti90_ub``. Every table the package writes or shows (text, CSV,
    JSON, HTML) goes through here, so a file always says which interval it holds."""
    out = table.rename(columns=_interval_names(table.attrs.get("ci_prob", CI_PROB)))
    out.attrs = dict(table.attrs)
    return out


def unlabelled(table: pd.DataFrame, *, source: str = "<table>") -> pd.DataFrame:
    """The inverse of :func:`labelled`: ``eti90_lb, eti90_ub`` (…) named back to ``lower,
    upper`` (``mean_lower, mean_upper``), ``attrs["ci_prob"]`` set from them. A table without
    such columns is returned as it is; one with several probabilities is an error."""
    found = [re.fullmatch(r"eti([0-9.]+)_lb", str(c)) for c in table.columns]
    probs = {float(m.group(1)) / 100 for m in found if m}
    if len(probs) > 1:
        raise ValueError(f"{source}: interval columns of several probabilities {sorted(probs)}")
    if not probs:
        return table
    ci = probs.pop()
    out = table.rename(columns={v: k for k, v in _interval_names(ci).items()})
    out.attrs = {**table.attrs, "ci_prob": ci}
    return out


def read_labelled(path: str | Path) -> pd.DataFrame:
    """A CSV table written through :func:`labelled`, read back through :func:`unlabelled`."""
    return unlabelled(pd.read_csv(path), source=str(path))


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def sentences(table: pd.DataFrame) -> list[str]:
    """One sentence per row of a :func:`summarize` table (interval as in its ``attrs``)."""
    ci = table.attrs.get("ci_prob", CI_PROB)
    return [
        f"{name} = {_fmt(r['median'])} ({interval_label(ci=ci)} {_fmt(r['lower'])} to "
        f"{_fmt(r['upper'])})."
        for name, r in table.iterrows()
    ]


def describe_predictions(table: pd.DataFrame, *, what: str = "value") -> list[str]:
    """One sentence per row of a prediction table (:meth:`Prediction.table`)."""
    ci = table.attrs.get("ci_prob", CI_PROB)
    checked = table.attrs.get("checked", CALIBRATED_DISTANCE)
    keys = [c for c in ("dataset", "run", "task") if c in table.columns]
    out = []
    for _, r in table.iterrows():
        where = ", ".join(f"{k}={r[k]}" for k in keys)
        if "params" in table.columns and "tokens" in table.columns:
            where += f"{', ' if where else ''}N={r['params']:.3g}, D={r['tokens']:.3g}"
        distance = r.get("distance", 0.0)
        extra = f" ({distance:.2f} decades beyond the fitted runs)" if distance > 0 else ""
        sentence = (
            f"{where}{extra}: {what} {_fmt(r['median'])}, {interval_label(ci=ci)} "
            f"{_fmt(r['lower'])} to {_fmt(r['upper'])} for a new run "
            f"(expected value: {_fmt(r['mean_lower'])} to {_fmt(r['mean_upper'])})"
        )
        if r.get("share_extrapolation", 0.0) > 0:
            sentence += (
                f"; {r['share_extrapolation']:.0%} of its variance is extrapolation error, "
                f"{r['share_parameter']:.0%} parameter uncertainty, {r['share_noise']:.0%} noise"
            )
        if distance > checked:
            sentence += (
                f". Warning: {distance:.1f} decades is beyond the {checked:g} "
                "decades at which the extrapolation error was checked on held-out runs; treat "
                "the interval as a floor"
            )
        out.append(sentence + ".")
    return out


def format_table(table: pd.DataFrame, *, fmt: str = "table", index: bool = True) -> str:
    """A table as aligned text, CSV or JSON records (``fmt``: table | csv | json), its
    interval columns named (:func:`labelled`)."""
    table = labelled(table)
    if fmt == "csv":
        return table.to_csv(index=index)
    if fmt == "json":
        return (table.reset_index() if index else table).to_json(orient="records", indent=1)
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}; use table, csv or json")
    with pd.option_context("display.width", 200, "display.max_columns", 50):
        return table.to_string(index=index, float_format=lambda x: f"{x:.4g}")
