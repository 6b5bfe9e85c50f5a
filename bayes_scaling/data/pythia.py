"""Loader for the Pythia checkpoint evaluations (``pythia_evals_long.csv``, lm-eval-harness).

One row per model × checkpoint × shot setting × task × metric in the source. Choices:

- N is ``params_nonembedding`` (``params_total`` kept as an extra column); D is ``tokens``
  (step × 2,097,152).
- Step 0 (the random initialisation, D = 0) is dropped: it has no place on a D axis.
- ``accuracy`` picks ``acc`` or ``acc_norm`` for every task, ``overrides`` per task; tasks that
  only have ``acc`` (LAMBADA, WinoGrande, WSC) use it whatever is asked. LAMBADA's ``ppl``
  becomes a ``perplexity`` row.
- ``n_items`` per task is estimated from the harness standard errors
  (``se = sqrt(p (1 - p) / (n - 1))``, median over all rows, rounded); it recovers the known
  sizes exactly (SciQ 1,000, PIQA 1,838, ARC-Easy 2,376, ARC-Challenge 1,172, WinoGrande 1,267,
  LAMBADA 5,153, the 57 MMLU subjects summing to 14,042).
- MMLU subjects ``hendrycksTest-<subject>`` become tasks ``mmlu_<subject>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling.data.harness import canonical_task, chance_of, estimate_n_items
from bayes_scaling.data.lm_eval import ACCURACY_VARIANTS
from bayes_scaling.data.schema import DataError, Observations
from bayes_scaling.data.tidy import DomainSpec, finalize, numeric_column

FILE_NAME = "pythia_evals_long.csv"
DTYPES: dict[str, str] = {
    "model": "string",
    "size": "string",
    "data": "string",
    "params_nonembedding": "int64",
    "params_total": "int64",
    "step": "int64",
    "tokens": "int64",
    "num_fewshot": "int64",
    "benchmark": "string",
    "task": "string",
    "metric": "string",
    "value": "float64",
    "stderr": "float64",
}
DATASETS: dict[str, str] = {"standard": "pile", "deduped": "pile-deduped"}
#: The per-task accuracy variants of the README's sanity table (ARC-Challenge uses acc_norm).
README_OVERRIDES: dict[str, str] = {"arc_challenge": "acc_norm"}


def _resolve(path: Path) -> Path:
    if path.is_dir():
        path = path / FILE_NAME
    if not path.is_file():
        raise DataError(f"{path}: Pythia evaluation table not found")
    return path


def n_items_by_task(frame: pd.DataFrame) -> dict[str, int]:
    """Items per task estimated from accuracy standard errors (median over rows, rounded).

    Parameters
    ----------
    frame
        Rows with ``task``, ``metric`` (``acc``/``acc_norm`` rows are used), ``value`` and
        ``stderr``.
    """
    acc = frame[frame["metric"].isin(ACCURACY_VARIANTS)]
    n = pd.Series(estimate_n_items(acc["value"], acc["stderr"]), index=acc.index)
    medians = n.groupby(acc["task"]).median().dropna()
    return {str(task): round(float(v)) for task, v in medians.items()}


def load_pythia(
    path: str | Path,
    num_fewshot: int = 0,
    accuracy: str = "acc",
    *,
    overrides: Mapping[str, str] | None = None,
    domains: DomainSpec = None,
) -> Observations:
    """Load the Pythia checkpoint evaluations.

    Parameters
    ----------
    path
        ``pythia_evals_long.csv`` or its folder.
    num_fewshot
        0 (27 checkpoints per model) or 5 (15 checkpoints).
    accuracy
        ``"acc"`` or ``"acc_norm"`` for every task that has both.
    overrides
        Per-task variant, keyed by task id (``arc_challenge``, ``mmlu_anatomy`` …), e.g.
        :data:`README_OVERRIDES`.
    domains
        Extra task → domain entries on top of the default map.

    Returns
    -------
    Observations
        Accuracy rows (and LAMBADA perplexity) with ``step``, ``stderr``, ``n_items``,
        ``chance``, dataset ``pile``/``pile-deduped``, family ``pythia`` and extra columns
        ``params_total``, ``num_fewshot`` and ``variant`` (the harness metric used).

    Raises
    ------
    DataError
        If the file is missing or malformed, or the options select nothing.
    """
    if accuracy not in ACCURACY_VARIANTS:
        raise DataError(f"accuracy must be one of {list(ACCURACY_VARIANTS)}, got {accuracy!r}")
    bad = {t: v for t, v in (overrides or {}).items() if v not in ACCURACY_VARIANTS}
    if bad:
        raise DataError(f"overrides must map tasks to {list(ACCURACY_VARIANTS)}, got {bad}")
    path = _resolve(Path(path).expanduser())
    source = str(path)
    try:
        raw = pd.read_csv(path, dtype="string", usecols=list(DTYPES))
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(f"{source}: cannot read the Pythia table: {exc}") from exc
    raw.index = pd.RangeIndex(2, len(raw) + 2)
    for col, dtype in DTYPES.items():  # each bad cell named by its row and column
        if dtype == "string":
            continue
        values = numeric_column(raw, col, source)
        if dtype == "int64":
            bad = values.isna() | (values != values.round())
            if bad.any():
                line = bad.index[bad][0]
                raise DataError(
                    f"{source}, row {line}, column {col!r}: expected a whole number, got "
                    f"{raw.at[line, col]!r}"
                )
        raw[col] = values.astype(dtype)
    raw["task"] = raw["task"].map(canonical_task).astype("string")
    n_items = n_items_by_task(raw)

    shots = raw[raw["num_fewshot"] == num_fewshot]
    if shots.empty:
        found = sorted(raw["num_fewshot"].unique().tolist())
        raise DataError(f"{source}: no rows with num_fewshot={num_fewshot} (found {found})")
    shots = shots[shots["step"] > 0]

    available = shots.groupby("task")["metric"].agg(set)
    wanted = {
        task: (overrides or {}).get(task, accuracy)
        if (overrides or {}).get(task, accuracy) in metrics
        else "acc"
        for task, metrics in available.items()
    }
    chosen = shots["metric"].to_numpy() == shots["task"].map(wanted).to_numpy()
    frame = shots[chosen | (shots["metric"] == "ppl").to_numpy()].copy()
    unknown_data = ~frame["data"].isin(list(DATASETS))
    if unknown_data.any():
        line = unknown_data[unknown_data].index[0]
        raise DataError(
            f"{source}, row {line}, column 'data': expected one of {list(DATASETS)}, "
            f"got {frame.at[line, 'data']!r}"
        )
    is_ppl = frame["metric"] == "ppl"
    out = pd.DataFrame(
        {
            "run": frame["model"],
            "params": frame["params_nonembedding"].astype("float64"),
            "tokens": frame["tokens"].astype("float64"),
            "step": frame["step"].astype("Int64"),
            "task": frame["task"],
            "metric": np.where(is_ppl, "perplexity", "accuracy"),
            "value": frame["value"],
            "stderr": frame["stderr"],
            "dataset": frame["data"].map(DATASETS),
            "family": "pythia",
            "chance": frame["task"].map(chance_of).where(~is_ppl, np.nan).astype("float64"),
            "n_items": frame["task"].map(n_items).astype("Int64"),
            "params_total": frame["params_total"].astype("float64"),
            "num_fewshot": frame["num_fewshot"],
            "variant": frame["metric"],
        },
        index=frame.index,
    )
    return finalize(out, source=source, domains=domains)
