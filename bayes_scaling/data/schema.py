"""The tidy observation table every loader returns, and its validation.

One row per run × checkpoint × task × metric. Required columns are ``run``, ``params``
(N), ``tokens`` (D seen at this checkpoint), ``task``, ``metric`` and ``value``; the optional
ones are listed in :data:`OPTIONAL`. ``flops = 6·N·D`` and ``multiplier = D/N`` are derived on
demand (in float64) and never stored.

Errors name the source file, the row (the line of a CSV file, or the row label a loader
chose) and the column, so a user can go straight to the offending cell.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_scaling.errors import DataError
from bayes_scaling.hashing import frame_hash

REQUIRED: tuple[str, ...] = ("run", "params", "tokens", "task", "metric", "value")
OPTIONAL: tuple[str, ...] = (
    "dataset",
    "family",
    "step",
    "domain",
    "n_items",
    "chance",
    "stderr",
)
METRICS: tuple[str, ...] = ("loss", "bpb", "accuracy", "error", "perplexity")
_STRING_COLUMNS = ("run", "task", "metric", "dataset", "family", "domain")
_FLOAT_COLUMNS = ("params", "tokens", "value", "chance", "stderr")
_KEY = ("run", "tokens", "task", "metric")


def _where(source: str, label: object = None, column: str | None = None) -> str:
    parts = [source]
    if label is not None:
        parts.append(f"row {label}")
    if column is not None:
        parts.append(f"column {column!r}")
    return ", ".join(parts)


def _first_bad(frame: pd.DataFrame, mask: pd.Series) -> tuple[object, pd.Series]:
    label = mask[mask].index[0]
    return label, frame.loc[label]


def validate(frame: pd.DataFrame, *, source: str = "<table>") -> pd.DataFrame:
    """Check and normalise a tidy observation table.

    Parameters
    ----------
    frame
        The table. Its index labels are used as row names in error messages (the CSV loader
        sets them to line numbers).
    source
        Name of the file (or other origin) for error messages.

    Returns
    -------
    pandas.DataFrame
        A copy with canonical dtypes: strings for categorical columns, float64 for ``params``,
        ``tokens`` and ``value``, nullable integers for ``step`` and ``n_items``.

    Raises
    ------
    DataError
        On a missing column, non-positive N or D, NaN/inf values, accuracy or error outside
        [0, 1], an unknown metric, or conflicting duplicate rows.
    """
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise DataError(
            f"{source}: missing required column(s) {missing}; "
            f"a tidy table needs {list(REQUIRED)} (found {list(frame.columns)})"
        )
    df = frame.copy()
    if len(df) == 0:
        raise DataError(f"{source}: the table has no rows")

    for col in _STRING_COLUMNS:
        if col in df.columns:
            empty = df[col].isna() | (df[col].astype(str).str.strip() == "")
            if col in REQUIRED and empty.any():
                label, _ = _first_bad(df, empty)
                raise DataError(f"{_where(source, label, col)}: empty value")
            df[col] = df[col].astype("string").str.strip()

    for col in _FLOAT_COLUMNS:
        if col not in df.columns:
            continue
        numeric = pd.to_numeric(df[col], errors="coerce")
        bad_text = numeric.isna() & df[col].notna()
        if bad_text.any():
            label, row = _first_bad(df, bad_text)
            raise DataError(f"{_where(source, label, col)}: not a number: {row[col]!r}")
        df[col] = numeric.astype("float64")
        values = df[col].to_numpy()
        nonfinite = ~np.isfinite(values)
        if col not in REQUIRED:
            nonfinite &= df[col].notna().to_numpy()
        if nonfinite.any():
            label = df.index[np.flatnonzero(nonfinite)[0]]
            raise DataError(
                f"{_where(source, label, col)}: value is {df.at[label, col]!r}; "
                "NaN and infinite values are not allowed"
            )

    for col in ("params", "tokens"):
        bad = df[col] <= 0
        if bad.any():
            label, row = _first_bad(df, bad)
            what = "N (parameters)" if col == "params" else "D (tokens)"
            raise DataError(f"{_where(source, label, col)}: {what} must be > 0, got {row[col]!r}")

    unknown = ~df["metric"].isin(METRICS)
    if unknown.any():
        label, row = _first_bad(df, unknown)
        raise DataError(
            f"{_where(source, label, 'metric')}: unknown metric {row['metric']!r}; "
            f"expected one of {list(METRICS)}"
        )
    bounded = df["metric"].isin(("accuracy", "error"))
    out = bounded & ((df["value"] < 0) | (df["value"] > 1))
    if out.any():
        label, row = _first_bad(df, out)
        raise DataError(
            f"{_where(source, label, 'value')}: {row['metric']} must lie in [0, 1], "
            f"got {row['value']!r} (is it in percent?)"
        )
    positive = df["metric"].isin(("loss", "bpb", "perplexity")) & (df["value"] <= 0)
    if positive.any():
        label, row = _first_bad(df, positive)
        raise DataError(f"{_where(source, label, 'value')}: {row['metric']} must be > 0")

    for col in ("step", "n_items"):
        if col in df.columns:
            numeric = pd.to_numeric(df[col], errors="coerce")
            bad = (numeric.isna() & df[col].notna()) | (
                numeric.notna() & ((numeric < 0) | (numeric % 1 != 0))
            )
            if bad.any():
                label, row = _first_bad(df, bad.fillna(False))
                raise DataError(
                    f"{_where(source, label, col)}: must be a non-negative integer, "
                    f"got {row[col]!r}"
                )
            df[col] = numeric.astype("Int64")
    if "chance" in df.columns:
        bad = (df["chance"] < 0) | (df["chance"] >= 1)
        if bad.any():
            label, row = _first_bad(df, bad)
            raise DataError(f"{_where(source, label, 'chance')}: must lie in [0, 1)")

    key = list(_KEY)
    dup = df.duplicated(key, keep=False)
    if dup.any():
        groups = df[dup].groupby(key, sort=False)["value"]
        spread = groups.transform(lambda v: v.max() - v.min())
        conflicting = spread > 1e-12 * groups.transform(lambda v: v.abs().max()).clip(lower=1)
        if conflicting.any():
            first = conflicting[conflicting].index[0]
            row = df.loc[first]
            same = (df[key] == row[key]).all(axis=1)
            labels = [lab for lab in df.index[same.to_numpy()] if lab != first][:1]
            other = labels[0]
            raise DataError(
                f"{source}: rows {first} and {other} are duplicates "
                f"(run={row['run']!r}, tokens={row['tokens']:.6g}, task={row['task']!r}, "
                f"metric={row['metric']!r}) with conflicting values "
                f"{float(df.at[first, 'value'])!r} and {float(df.at[other, 'value'])!r}"
            )
        df = df[~df.duplicated(key, keep="first")]
    return df


@dataclass(frozen=True)
class Observations:
    """A validated tidy observation table with the file it came from.

    Use :meth:`from_frame` to build one; the constructor trusts its input.
    """

    frame: pd.DataFrame
    source: str = "<table>"

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, source: str = "<table>") -> Observations:
        """Validate ``frame`` and wrap it (see :func:`validate`)."""
        return cls(validate(frame, source=source), source)

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        f = self.frame
        return (
            f"Observations({len(f)} rows, {f['run'].nunique()} runs, "
            f"{f['task'].nunique()} tasks, source={self.source!r})"
        )

    @property
    def columns(self) -> list[str]:
        return list(self.frame.columns)

    def with_derived(self) -> pd.DataFrame:
        """The table plus ``flops = 6·N·D`` and ``multiplier = D/N`` (float64)."""
        df = self.frame.copy()
        n = df["params"].to_numpy(dtype="float64")
        d = df["tokens"].to_numpy(dtype="float64")
        df["flops"] = 6.0 * n * d
        df["multiplier"] = d / n
        return df

    def select(self, query: str | None) -> Observations:
        """Rows matching a pandas query; derived columns may be used (``flops < 1e20``).

        Raises
        ------
        DataError
            If the query is not valid for this table or selects nothing.
        """
        if not query:
            return self
        df = self.with_derived()
        try:
            mask = df.eval(query)
        except Exception as exc:  # pandas raises many types here
            raise DataError(
                f"{self.source}: cannot evaluate selection {query!r}: {exc}. "
                f"Columns: {list(df.columns)}"
            ) from exc
        if isinstance(mask, pd.Series) and pd.api.types.is_bool_dtype(mask.dtype):
            mask = mask.fillna(False).astype(bool)
        if not isinstance(mask, pd.Series) or mask.dtype != bool:
            raise DataError(f"{self.source}: selection {query!r} is not a true/false condition")
        if not mask.any():
            raise DataError(f"{self.source}: selection {query!r} matches no rows")
        return Observations(self.frame[mask.to_numpy()], f"{self.source} [{query}]")

    def where(self, **equal: str | Iterable[str]) -> Observations:
        """Rows whose columns equal (or are in) the given values."""
        mask = np.ones(len(self.frame), dtype=bool)
        for col, want in equal.items():
            if col not in self.frame.columns:
                raise DataError(f"{self.source}: no column {col!r} to select on")
            values = [want] if isinstance(want, str) else list(want)
            mask &= self.frame[col].isin(values).to_numpy()
        return Observations(self.frame[mask], self.source)

    def fingerprint(self) -> str:
        """A hash of the table's content (order-independent), for fit ids."""
        return frame_hash(self.frame)
