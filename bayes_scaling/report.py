"""Credible-interval tables and one-sentence summaries (reports never sample)."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling.constants import CALIBRATED_DISTANCE, CI_PROB


def interval_label(*, ci: float = CI_PROB) -> str:
    """``"90% interval"`` for ``ci = 0.9``."""
    return f"{100 * ci:g}% interval"


def summarize(posterior: xr.Dataset, var_names: list[str], *, ci: float = CI_PROB) -> pd.DataFrame:
    """Parameter table over ``var_names``.

    Rows are ``name`` or ``name[label, ...]``; columns ``mean, sd, median, lower, upper``
    (equal-tailed interval at ``ci``) and ``ess_bulk, ess_tail, r_hat``. ``attrs["ci_prob"]``
    records ``ci``.
    """
    post = posterior[[v for v in var_names if v in posterior]]
    lo, hi = (1 - ci) / 2, (1 + ci) / 2
    chains = post.sizes["chain"]
    ess_b = az.ess(post, method="bulk")
    ess_t = az.ess(post, method="tail")
    rhat = az.rhat(post) if chains > 1 else None
    rows = []
    for name, da in post.data_vars.items():
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        flat = (
            da.stack(_s=("chain", "draw")).transpose(*extra, "_s")
            if extra
            else da.stack(_s=("chain", "draw"))
        )
        values = flat.to_numpy().reshape(-1, flat.sizes["_s"])
        labels = _labels(da, extra)
        eb = np.asarray(ess_b[name]).ravel()
        et = np.asarray(ess_t[name]).ravel()
        rh = np.asarray(rhat[name]).ravel() if rhat is not None else np.full(len(labels), np.nan)
        for i, label in enumerate(labels):
            v = values[i]
            rows.append(
                {
                    "parameter": f"{name}{label}",
                    "mean": v.mean(),
                    "sd": v.std(ddof=1),
                    "median": np.median(v),
                    "lower": np.quantile(v, lo),
                    "upper": np.quantile(v, hi),
                    "ess_bulk": eb[i],
                    "ess_tail": et[i],
                    "r_hat": rh[i],
                }
            )
    table = pd.DataFrame(rows).set_index("parameter")
    table.attrs["ci_prob"] = ci
    return table


def _labels(da: xr.DataArray, dims: list[str]) -> list[str]:
    if not dims:
        return [""]
    idx = pd.MultiIndex.from_product([da[d].to_numpy() for d in dims])
    return [f"[{', '.join(str(x) for x in (t if isinstance(t, tuple) else (t,)))}]" for t in idx]


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
        distance = r.get("distance", r.get("extrapolation", 0.0))
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


def format_table(table: pd.DataFrame, *, fmt: str = "table") -> str:
    """A table as aligned text, CSV or JSON records (``fmt``: table | csv | json)."""
    if fmt == "csv":
        return table.to_csv()
    if fmt == "json":
        return table.reset_index().to_json(orient="records", indent=1)
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}; use table, csv or json")
    with pd.option_context("display.width", 200, "display.max_columns", 50):
        return table.to_string(float_format=lambda x: f"{x:.4g}")
