"""Loader for a folder of lm-evaluation-harness result files, one JSON per checkpoint.

Both harness layouts are read:

- old (≤ 0.3): ``results: {task: {"acc": …, "acc_stderr": …, "acc_norm": …}}``, with
  ``config.model_args`` (``"pretrained=…,revision=step1000"``) and ``config.num_fewshot``;
- new (≥ 0.4): ``results: {task: {"acc,none": …, "acc_stderr,none": …}}``, ``n-samples``,
  ``n-shot``, ``configs`` and ``config.model_args`` (a string or a mapping).

Run, N and D per file come from a manifest CSV with columns ``file,run,params,tokens[,step]``
(``file`` relative to the folder, or a bare file name; ``manifest.csv`` inside the folder is
used when no other is given), else from the file: run = last part of ``pretrained``, step from
``revision=stepN``, D = step × ``tokens_per_step``, N from ``params`` (a run → N mapping) or
lm-eval 0.4's ``config.model_num_parameters``. JSON files that are not harness results (a
model's ``config.json``, say) are skipped with a logged note.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling.data.harness import canonical_task, chance_of, estimate_n_items, n_items_of
from bayes_scaling.data.schema import DataError, Observations
from bayes_scaling.data.tidy import DomainSpec, finalize, read_table

ACCURACY_VARIANTS: tuple[str, ...] = ("acc", "acc_norm")
MANIFEST_NAME = "manifest.csv"
_PERPLEXITY_KEYS = ("ppl", "perplexity")
_FALLBACK_ACCURACY = ("acc", "acc_norm", "exact_match")
_MANIFEST_COLUMNS = ("file", "run", "params", "tokens")
_STEP_RE = re.compile(r"step[_-]?(\d+)")
log = logging.getLogger(__name__)


def _option(key: str, example: str) -> str:
    """How to set loader option ``key``, for Python and for the shell."""
    return (
        f"set {key} (Python: load(..., {key}={example}); shell: --data-option "
        f"'{key}={example}' or a data.toml beside the data)"
    )


_MANIFEST_HELP = (
    f"or put a {MANIFEST_NAME} in the folder (columns file,run,params,tokens[,step], one row "
    "per result file)"
)


def _parse_model_args(model_args: object) -> dict[str, str]:
    if isinstance(model_args, Mapping):
        return {str(k): str(v) for k, v in model_args.items()}
    if not isinstance(model_args, str):
        return {}
    pairs = (part.split("=", 1) for part in model_args.split(",") if "=" in part)
    return {k.strip(): v.strip() for k, v in pairs}


def _metric_values(entry: Mapping) -> dict[str, float]:
    """``{"acc,none": x}`` or ``{"acc": x}`` → ``{"acc": x}`` (filter ``none`` preferred)."""
    values: dict[str, float] = {}
    preferred: set[str] = set()
    for key, raw in entry.items():
        name, _, filt = str(key).partition(",")
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            continue
        if name in preferred:
            continue
        if not filt or filt == "none":
            preferred.add(name)
            values[name] = float(raw)
        else:
            values.setdefault(name, float(raw))
    return values


def is_harness_result(data: object) -> bool:
    """Whether parsed JSON is an lm-evaluation-harness results file (a ``results`` table)."""
    return isinstance(data, dict) and isinstance(data.get("results"), dict)


def _file_rows(
    path: Path, accuracy: str, overrides: Mapping[str, str]
) -> tuple[list[dict], dict[str, object]] | None:
    """The rows and run metadata of one result file; None for a JSON that is not one."""
    source = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{source}: cannot read JSON: {exc}") from exc
    if not is_harness_result(data):
        return None
    results = data["results"]
    config = data.get("config") or {}
    args = _parse_model_args(config.get("model_args"))
    step_match = _STEP_RE.search(args.get("revision", ""))
    pretrained = args.get("pretrained", "").rstrip("/")
    n_params = config.get("model_num_parameters")  # lm-eval ≥ 0.4 writes it
    meta: dict[str, object] = {
        "run": pretrained.rsplit("/", 1)[-1] or None,
        "step": int(step_match.group(1)) if step_match else None,
        "params": float(n_params) if isinstance(n_params, int | float) and n_params > 0 else None,
    }
    groups = set(data.get("groups") or {})
    groups |= {k for k, v in (data.get("group_subtasks") or {}).items() if v}
    n_samples = data.get("n-samples") or {}
    n_shot = data.get("n-shot") or {}
    configs = data.get("configs") or {}
    rows = []
    for harness_task, entry in results.items():
        if harness_task in groups or not isinstance(entry, Mapping):
            continue
        task = canonical_task(harness_task)
        values = _metric_values(entry)
        shots = n_shot.get(harness_task)
        if shots is None:
            shots = (configs.get(harness_task) or {}).get("num_fewshot", config.get("num_fewshot"))
        samples = n_samples.get(harness_task) or {}
        n_items = samples.get("effective", samples.get("original"))
        common = {"task": task, "num_fewshot": shots, "n_items": n_items}
        wanted = overrides.get(task, accuracy)
        variant = next((v for v in (wanted, *_FALLBACK_ACCURACY) if v in values), None)
        if variant is not None:
            stderr = values.get(f"{variant}_stderr", np.nan)
            if n_items is None:
                estimate = estimate_n_items(values[variant], stderr)
                if np.isnan(estimate):
                    estimate = n_items_of(task)
                common["n_items"] = None if np.isnan(estimate) else round(float(estimate))
            rows.append(
                common
                | {
                    "metric": "accuracy",
                    "value": values[variant],
                    "stderr": stderr,
                    "variant": variant,
                    "chance": chance_of(task),
                }
            )
        for key in _PERPLEXITY_KEYS:
            if key in values:
                rows.append(
                    common
                    | {
                        "metric": "perplexity",
                        "value": values[key],
                        "stderr": values.get(f"{key}_stderr", np.nan),
                        "variant": key,
                        "chance": np.nan,
                    }
                )
                break
    if not rows:
        raise DataError(f"{source}: no accuracy or perplexity results found")
    return rows, meta


def _read_manifest(manifest: str | Path) -> pd.DataFrame:
    frame = read_table(manifest)
    missing = [c for c in _MANIFEST_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(
            f"{manifest}: manifest is missing column(s) {missing}; "
            f"expected {list(_MANIFEST_COLUMNS)} and optionally 'step'"
        )
    frame["file"] = frame["file"].astype(str).str.strip()
    return frame


def _manifest_row(manifest: pd.DataFrame, name: str, source: Path, where: str) -> pd.Series:
    hits = manifest[(manifest["file"] == name) | (manifest["file"] == source.name)]
    if len(hits) != 1:
        what = "is not listed" if hits.empty else "is listed more than once"
        raise DataError(f"{source}: {what} in the manifest {where} (column 'file' = {name!r})")
    return hits.iloc[0]


def load_lm_eval(
    directory: str | Path,
    manifest: str | Path | None = None,
    params: Mapping[str, float] | None = None,
    *,
    tokens_per_step: float | None = None,
    num_fewshot: int | None = None,
    accuracy: str = "acc",
    overrides: Mapping[str, str] | None = None,
    domains: DomainSpec = None,
) -> Observations:
    """Load a folder of lm-evaluation-harness result files (one per checkpoint).

    Parameters
    ----------
    directory
        Folder searched recursively for ``*.json`` result files.
    manifest
        CSV with columns ``file,run,params,tokens[,step]``; it takes precedence over what the
        files say. Default: ``manifest.csv`` in the folder, if there is one.
    params
        N per run name (a mapping), for runs whose files do not give
        ``config.model_num_parameters``. A single number is refused: it would give every run
        the same N.
    tokens_per_step
        Tokens per optimizer step, so D = step × tokens_per_step (step from ``revision=stepN``
        in ``config.model_args``) when there is no manifest.
    num_fewshot
        Keep only results with this shot count (required if the folder mixes several).
    accuracy
        ``"acc"`` or ``"acc_norm"``: which accuracy to report (falls back to the other, then
        ``exact_match``, when a task lacks it).
    overrides
        Per-task accuracy variant (task id → ``"acc"``/``"acc_norm"``).
    domains
        Extra task → domain entries on top of the default map.

    Returns
    -------
    Observations
        Accuracy (and perplexity) rows with ``step``, ``stderr``, ``n_items`` (from
        ``n-samples``, else estimated from the standard error, else the harness split size of
        :data:`bayes_scaling.data.harness.N_ITEMS`), ``chance`` for known tasks and extra
        columns ``num_fewshot``, ``variant`` and ``file``. Checkpoints with D = 0 (step 0, the
        initialisation) are dropped.

    Raises
    ------
    DataError
        If a result file is unreadable, no file is a harness result, or run, N or D cannot be
        determined for a file (the message names the file, what is missing and how to supply
        it, from Python and from the shell).
    """
    if accuracy not in ACCURACY_VARIANTS:
        raise DataError(f"accuracy must be one of {list(ACCURACY_VARIANTS)}, got {accuracy!r}")
    if params is not None and not isinstance(params, Mapping):
        raise DataError(
            f"params must map each run name to its N (e.g. {{'my-run': 1.2e8}}), got {params!r}: "
            "one number for every run would silently give all sizes the same N"
        )
    folder = Path(directory).expanduser()
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder of lm-evaluation-harness result files")
    files = sorted(folder.rglob("*.json"))
    if not files:
        raise DataError(f"{folder}: no *.json result files found")
    if manifest is None and (folder / MANIFEST_NAME).is_file():
        manifest = folder / MANIFEST_NAME
    table = _read_manifest(manifest) if manifest is not None else None
    frames = []
    for path in files:
        name = path.relative_to(folder).as_posix()
        parsed = _file_rows(path, accuracy, overrides or {})
        if parsed is None:
            log.warning("%s: skipped (a JSON file that is not a harness result)", path)
            continue
        rows, meta = parsed
        if table is not None:
            entry = _manifest_row(table, name, path, str(manifest))
            run, n, d = entry["run"], entry["params"], entry["tokens"]
            step = entry["step"] if "step" in table.columns else meta["step"]
        else:
            run, step = meta["run"], meta["step"]
            if run is None:
                raise DataError(
                    f"{path}: no run name (config.model_args has no 'pretrained=...'); "
                    f"{_MANIFEST_HELP}"
                )
            if step is None:
                raise DataError(
                    f"{path}: no step (config.model_args has no 'revision=stepN'); {_MANIFEST_HELP}"
                )
            if tokens_per_step is None:
                raise DataError(
                    f"{path}: no token count; {_option('tokens_per_step', '2097152')} so "
                    f"D = step × it, {_MANIFEST_HELP}"
                )
            d = float(step) * float(tokens_per_step)
            n = (params or {}).get(str(run), meta["params"])
            if n is None:
                raise DataError(
                    f"{path}: no parameter count N for run {run!r} (the file has no "
                    f"config.model_num_parameters); {_option('params', f'{{"{run}"=1.2e8}}')}, "
                    f"{_MANIFEST_HELP}"
                )
        frame = pd.DataFrame(rows)
        frame["run"], frame["params"], frame["tokens"] = str(run), n, d
        frame["step"] = step
        frame["file"] = name
        frames.append(frame)
    if not frames:
        raise DataError(f"{folder}: none of its {len(files)} JSON files is a harness result")
    frame = pd.concat(frames, ignore_index=True)
    shots = frame["num_fewshot"].dropna().unique()
    if num_fewshot is not None:
        frame = frame[frame["num_fewshot"] == num_fewshot]
        if frame.empty:
            raise DataError(f"{folder}: no results with num_fewshot={num_fewshot} (found {shots})")
    elif len(shots) > 1:
        raise DataError(
            f"{folder}: the files mix num_fewshot values {sorted(shots.tolist())}; "
            f"{_option('num_fewshot', '0')} to pick one"
        )
    tokens = pd.to_numeric(frame["tokens"], errors="coerce")
    frame = frame[~(tokens == 0)].reset_index(drop=True)
    for col in ("step", "n_items", "num_fewshot"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("Int64")
    return finalize(frame, source=str(folder), domains=domains)
