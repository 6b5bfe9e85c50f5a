"""Loader for the OLMo model-ladder runs (Bhagia et al., arXiv 2412.04403).

One CSV per training run (``<size>-<k>xC[-rerun].csv``), one row per evaluated checkpoint
(``_step``). Emitted rows:

- validation cross-entropy, ``eval/<domain>-validation/CrossEntropyLoss`` → task ``<domain>``,
  metric ``loss``;
- task loss, ``eval/downstream_bpb/<task>_<split>_rc_5shot_bpb`` → metric ``bpb``;
- task accuracy, ``eval/downstream/<task>_<split>_rc_5shot_<variant>`` → metric ``accuracy``.

Split choice (``split="paper"``, the default): the paper's main task set uses the test split
where the ladder has one (ARC-Easy, ARC-Challenge, OpenBookQA, the four MMLU groups) and the
validation split otherwise (HellaSwag, BoolQ, CSQA, PIQA, Social IQa, WinoGrande); see
``v2_core_small_names`` / ``v2_mmlu_test_names`` in ``src/scaling/utils.py`` of
allenai/OLMo-ladder. Each task then appears once under its bare name (``arc_easy``) and the
extra column ``split`` says which split it is. ``split="val"`` or ``"test"`` keeps only that
split; ``split="both"`` keeps both, naming tasks ``<task>_<split>``.

Accuracy variant: the one the ladder code predicts (``task_accuracy_key`` of
``v2_core_5shot_tasks`` in the same file): ``acc`` for BoolQ, length-normalised accuracy
(``len_norm``) for every other task. The ``soft`` / ``soft_log`` columns are not loaded.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling.data.domains import assign_domains
from bayes_scaling.data.schema import DataError, Observations
from bayes_scaling.data.tidy import DomainSpec, domain_map, finalize, numeric_column

#: Parameter counts by size label. 190M-1B (and 7B/13B) are the ``n`` values the paper's
#: configs use (src/scripts/paper/configs/final.json, also listed in the data README). The 3B
#: count is ``MODEL_PARAMS["3B"]`` in ``src/ladder/ladder.py`` of allenai/OLMo-ladder (commit
#: 8aba264e7edf77a52ba36e373e984724e7142b7b, "updated with actual Peteish count"), which also
#: gives 3B-1xC = 20 x 3,169,537,280 = 63.39e9 tokens, matching the file's final
#: ``throughput/total_tokens`` (63.42e9).
PARAMS: dict[str, int] = {
    "190M": 190_354_176,
    "370M": 371_262_464,
    "760M": 758_220_288,
    "1B": 1_279_395_840,
    "3B": 3_169_537_280,
    "7B": 6_887_575_552,
    "13B": 13_202_396_160,
}

#: Chance accuracy per task (answer options), as ``minimums_rc`` in the ladder code: 4-way
#: multiple choice unless listed.
CHANCE: dict[str, float] = {
    "piqa": 0.5,
    "boolq": 0.5,
    "winogrande": 0.5,
    "socialiqa": 1 / 3,
    "csqa": 0.2,
}
DEFAULT_CHANCE = 0.25
#: Accuracy variant per task (``len_norm`` unless listed).
ACCURACY_VARIANT: dict[str, str] = {"boolq": "acc"}
SPLITS: tuple[str, ...] = ("paper", "val", "test", "both")

_RUN_RE = re.compile(r"^(?P<size>[0-9.]+[MB])-(?P<mult>[0-9.]+xC)(?:-(?P<suffix>.+))?$")
_LOSS_RE = re.compile(r"^eval/(?P<domain>.+)-validation/CrossEntropyLoss$")
_BPB_RE = re.compile(r"^eval/downstream_bpb/(?P<task>.+)_(?P<split>val|test)_rc_5shot_bpb$")
_ACC_RE = re.compile(
    r"^eval/downstream/(?P<task>.+)_(?P<split>val|test)_rc_5shot_(?P<variant>len_norm|acc)$"
)
_STEP = "_step"
_TOTAL = "throughput/total_tokens"
_BATCH = "batch_size_in_tokens"


def parse_run_name(stem: str) -> tuple[str, str]:
    """``"760M-5xC"`` → ``("760M", "5xC")``; raises :class:`DataError` for other names."""
    match = _RUN_RE.match(stem)
    if match is None or match["size"] not in PARAMS:
        raise DataError(
            f"{stem}: not an OLMo ladder run name <size>-<k>xC[-suffix] with size in {list(PARAMS)}"
        )
    return match["size"], match["mult"]


def _columns(header: list[str], split: str) -> list[tuple[str, str, str, str]]:
    """(column, task, metric, split label) for every eval column to load."""
    chosen: list[tuple[str, str, str, str]] = []
    for col in header:
        if (m := _LOSS_RE.match(col)) is not None:
            chosen.append((col, m["domain"], "loss", ""))
    bpb: dict[tuple[str, str], str] = {}
    acc: dict[tuple[str, str], dict[str, str]] = {}
    for col in header:
        if (m := _BPB_RE.match(col)) is not None:
            bpb[(m["task"], m["split"])] = col
        elif (m := _ACC_RE.match(col)) is not None:
            acc.setdefault((m["task"], m["split"]), {})[m["variant"]] = col
    tasks = sorted({t for t, _ in bpb} | {t for t, _ in acc})
    for task in tasks:
        available = [s for s in ("val", "test") if (task, s) in bpb or (task, s) in acc]
        if split == "paper":
            keep = ["test"] if "test" in available else available[:1]
        elif split == "both":
            keep = available
        else:
            keep = [split] if split in available else []
        for s in keep:
            name = f"{task}_{s}" if split == "both" else task
            if (task, s) in bpb:
                chosen.append((bpb[(task, s)], name, "bpb", s))
            variants = acc.get((task, s), {})
            preferred = ACCURACY_VARIANT.get(task, "len_norm")
            col = variants.get(preferred) or next(iter(variants.values()), None)
            if col is not None:
                chosen.append((col, name, "accuracy", s))
    return chosen


def _read_run(path: Path, split: str) -> pd.DataFrame:
    source = str(path)
    try:
        size, mult = parse_run_name(path.stem)
    except DataError as exc:
        raise DataError(f"{source}: {exc}") from exc
    try:
        raw = pd.read_csv(path)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{source}: the file is empty") from exc
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"{source}: cannot read as CSV: {exc}") from exc
    raw.index = pd.RangeIndex(2, len(raw) + 2)
    if _STEP not in raw.columns:
        raise DataError(f"{source}: missing column {_STEP!r}; not an OLMo ladder run file")
    if _TOTAL not in raw.columns and _BATCH not in raw.columns:
        raise DataError(
            f"{source}: need {_TOTAL!r} or {_BATCH!r} to compute tokens; neither is present"
        )
    chosen = _columns(list(raw.columns), split)
    if not chosen:
        raise DataError(f"{source}: no eval/... loss, bpb or accuracy columns found")
    if raw.empty:
        raise DataError(f"{source}: the file has no rows")
    step = numeric_column(raw, _STEP, source)
    if step.isna().any():
        line = step[step.isna()].index[0]
        raise DataError(f"{source}, row {line}, column {_STEP!r}: empty step")
    tokens = pd.Series(np.nan, index=raw.index)
    if _TOTAL in raw.columns:
        tokens = numeric_column(raw, _TOTAL, source)
    if _BATCH in raw.columns:
        tokens = tokens.fillna(step * numeric_column(raw, _BATCH, source))
    # Rows without a token count (or at step 0) cannot be placed on the D axis: dropped.
    keep = (tokens.notna() & (tokens > 0)).to_numpy()
    cols = [c for c, _, _, _ in chosen]
    block = raw[cols]
    for col in cols:
        if not pd.api.types.is_numeric_dtype(block[col]):
            numeric_column(raw, col, source)  # raises, naming the first bad cell
    values = block.to_numpy(dtype="float64")
    # Missing evaluations at some checkpoints are skipped (NaN); inf is left for the schema.
    rows, which = np.nonzero(~np.isnan(values) & keep[:, None])
    tasks = np.array([t for _, t, _, _ in chosen], dtype=object)
    metrics = np.array([m for _, _, m, _ in chosen], dtype=object)
    splits = np.array([s or None for _, _, _, s in chosen], dtype=object)
    chance = np.array([_chance(t) if m == "accuracy" else np.nan for _, t, m, _ in chosen])
    frame = pd.DataFrame(
        {
            "task": tasks[which],
            "metric": metrics[which],
            "value": values[rows, which],
            "tokens": tokens.to_numpy()[rows],
            "step": step.to_numpy()[rows],
            "split": splits[which],
            "chance": chance[which],
        }
    )
    frame["run"] = path.stem
    frame["params"] = float(PARAMS[size])
    frame["size"] = size
    frame["multiplier_label"] = mult
    return frame


def _chance(task: str) -> float:
    base = task.removesuffix("_val").removesuffix("_test")
    return CHANCE.get(base, DEFAULT_CHANCE)


def load_olmo_ladder(
    path: str | Path, *, split: str = "paper", domains: DomainSpec = None
) -> Observations:
    """Load OLMo ladder runs.

    Parameters
    ----------
    path
        A folder of ladder CSVs (``ladder-runs``; the ``olmo-ladder`` folder above it works too)
        or one CSV. Run name = file stem (``760M-5xC``, ``1B-1xC-rerun``).
    split
        ``"paper"`` (default), ``"val"``, ``"test"`` or ``"both"``; see the module docstring.
    domains
        Extra task → domain entries on top of the default map.

    Returns
    -------
    Observations
        Loss, bpb and accuracy rows per checkpoint with ``step``, dataset ``olmo-mix``, family
        ``olmo-ladder``, ``chance`` for accuracies, and extra columns ``size``,
        ``multiplier_label`` (e.g. ``5xC``) and ``split``. D is ``throughput/total_tokens``,
        else ``_step × batch_size_in_tokens``. Missing evaluations at some checkpoints are
        skipped; a non-numeric cell is an error.

    Raises
    ------
    DataError
        For an unknown run name, a malformed file or an empty folder.
    """
    if split not in SPLITS:
        raise DataError(f"split must be one of {list(SPLITS)}, got {split!r}")
    path = Path(path).expanduser()
    if path.is_dir():
        folder = path / "ladder-runs" if (path / "ladder-runs").is_dir() else path
        files = sorted(folder.glob("*.csv"))
        if not files:
            raise DataError(f"{folder}: no ladder CSV files")
        source = str(folder)
    elif path.is_file():
        files, source = [path], str(path)
    else:
        raise DataError(f"{path}: no such file or folder")
    frames = [_read_run(f, split) for f in files]
    frame = pd.concat(frames, ignore_index=True)
    frame["dataset"] = "olmo-mix"
    frame["family"] = "olmo-ladder"
    frame["step"] = frame["step"].astype("int64").astype("Int64")
    frame["chance"] = frame["chance"].astype("float64")
    frame["split"] = frame["split"].astype("string")
    if split == "both":  # domains by the task without its split suffix
        base = frame["task"].str.replace(r"_(val|test)$", "", regex=True)
        frame["domain"] = assign_domains(frame.assign(task=base), domain_map(domains))["domain"]
    return finalize(frame, source=source, domains=domains)
