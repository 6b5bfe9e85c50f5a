"""A sweep's folder: one fit file per id, its record, the sweep's manifest, and the table of it
all (:func:`collect`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_scaling import atomic
from bayes_scaling.hashing import digest
from bayes_scaling.locks import FitLock
from bayes_scaling.sweep import FitTask, Sweep


def fit_path(out: str | Path, fit_id: str) -> Path:
    return Path(out) / f"{fit_id}.nc"


def is_done(path: str | Path) -> bool:
    """True when ``path`` is a complete fit file (it opens and carries its format marker)."""
    import h5py

    path = Path(path)
    if not path.is_file():
        return False
    try:
        with h5py.File(path, "r") as f:
            return "bayes_scaling_format" in f.attrs and "posterior" in f
    except OSError:
        return False


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_manifest(out: Path, sw: Sweep, tasks: Sequence[FitTask]) -> Path:
    ids = [t.id for t in tasks]
    path = out / f"sweep-{sw.name}-{digest(*ids)[:8]}.json"
    body = {
        "sweep": sw.name,
        "source": sw.source,
        "written": now(),
        "fits": [t.record() for t in tasks],
    }
    return atomic.write_text(path, json.dumps(body, indent=1, default=str))


COLLECT_COLUMNS = [
    "id",
    "status",
    "converged",
    "spec",
    "data",
    "selection",
    "kind",
    "train",
    "test",
    "seed",
    "replicate",
    "wall_time",
    "verdict",
    "rhat_max",
    "ess_bulk_min",
    "divergences",
    "n_test",
    "coverage",
    "median_rel_error",
    "mean_abs_error",
    "error",
    "file",
]


def collect(directory: str | Path, *, ids: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per fit in a sweep folder: what it is, whether it converged, how it scored.

    ``status`` is ``ok``, ``not converged``, ``failed`` (with ``error``), ``running`` (a live
    lock) or ``missing`` (listed in a sweep manifest, no result yet). Backtests add
    ``n_test, coverage, median_rel_error, mean_abs_error`` and each baseline's
    ``baseline_<name>_median_rel_error``. ``ids`` restricts (and orders) the rows.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no such sweep folder")
    rows: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("sweep-*.json")):
        for fit in json.loads(path.read_text()).get("fits", []):
            rows.setdefault(fit["id"], _row(fit, status="missing"))
    for path in sorted(directory.glob("*.error.json")):
        rec = json.loads(path.read_text())
        rows[rec["id"]] = _row(rec, status="failed", error=rec.get("error"))
    for path in sorted(directory.glob("*.lock")):
        fid = path.name.removesuffix(".lock")
        if fid in rows and rows[fid]["status"] == "missing" and not FitLock(path).is_stale():
            rows[fid]["status"] = "running"
    for path in sorted(directory.glob("*.nc")):
        fid = path.stem
        if not is_done(path):
            continue
        record_path = directory / f"{fid}.json"
        rec = json.loads(record_path.read_text()) if record_path.is_file() else _from_file(path)
        rows[fid] = _row(rec, status="ok")
    table = pd.DataFrame(list(rows.values()))
    if table.empty:
        table = pd.DataFrame(columns=COLLECT_COLUMNS)
    for col in COLLECT_COLUMNS:
        if col not in table:
            table[col] = np.nan
    extra = sorted(c for c in table.columns if c not in COLLECT_COLUMNS)
    table = table[COLLECT_COLUMNS + extra]
    if ids is not None:
        table = table.set_index("id").reindex(list(ids)).reset_index()
        table["status"] = table["status"].fillna("missing")
    return table.reset_index(drop=True)


def _row(rec: Mapping[str, Any], *, status: str, error: str | None = None) -> dict[str, Any]:
    diag = rec.get("diagnostics") or {}
    row = {
        "id": rec["id"],
        "status": status,
        "converged": diag.get("ok") if diag else None,
        "spec": rec.get("spec_name"),
        "data": rec.get("data"),
        "selection": rec.get("selection"),
        "kind": rec.get("kind"),
        "train": rec.get("train"),
        "test": rec.get("test"),
        "seed": rec.get("seed"),
        "replicate": rec.get("replicate"),
        "wall_time": rec.get("wall_time"),
        "verdict": diag.get("verdict"),
        "rhat_max": diag.get("rhat_max"),
        "ess_bulk_min": diag.get("ess_bulk_min"),
        "divergences": diag.get("divergences"),
        "error": error,
        "file": rec.get("file") if status == "ok" else None,
    }
    if status == "ok" and diag and not diag.get("ok"):
        row["status"] = "not converged"
    for key, value in (rec.get("metrics") or {}).items():
        if key in ("n_test", "coverage", "median_rel_error", "mean_abs_error") or (
            key.startswith("baseline_") and key.endswith("median_rel_error")
        ):
            row[key] = value
    return row


def _from_file(path: Path) -> dict[str, Any]:
    """A record from a fit file's attributes (when its ``.json`` record is missing)."""
    import h5py

    with h5py.File(path, "r") as f:
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    spec = json.loads(attrs.get("bayes_scaling_spec", "{}"))
    metrics = attrs.get("bayes_scaling_backtest_metrics")
    return {
        "id": path.stem,
        "spec_name": spec.get("name"),
        "data": attrs.get("bayes_scaling_data_source"),
        "seed": int(attrs.get("bayes_scaling_seed", -1)),
        "train": attrs.get("bayes_scaling_backtest_train"),
        "test": attrs.get("bayes_scaling_backtest_test"),
        "kind": "backtest" if metrics else "fit",
        "diagnostics": json.loads(attrs.get("bayes_scaling_diagnostics", "{}")),
        "metrics": json.loads(metrics) if metrics else None,
        "file": path.name,
    }
