"""Loader for the over-training testbed of Gadre et al. (2024), from its raw JSON files.

The folder ``exp_data`` holds ``models/<run>.json`` (hyperparameters and 8 validation losses),
``evals/evaluation_<run>_heavy.json`` (46 LLM-foundry downstream accuracies) and
``eval_metadata.csv`` (task category, number of items, chance accuracy in percent).
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import pandas as pd

from bayes_scaling.data.schema import DataError, Observations
from bayes_scaling.data.tidy import DomainSpec, finalize, numeric_column

#: The 17 tasks on which at least one 0.154B model is 10 points above chance (the paper's subset).
#: The four runs withheld from the shared copy of the testbed (its README's HOLDOUT table), the
#: paper's extrapolation targets, as a prediction grid: ``run, dataset, params, tokens``.
HOLDOUT = pd.DataFrame(
    {
        "run": [
            "rpj-open_lm_1b-32.0",
            "rpj-open_lm_7b-1.0",
            "c4_original-open_lm_7b-1.0",
            "rw_original-open_lm_7b-1.0",
        ],
        "dataset": ["redpajama", "redpajama", "c4", "refinedweb"],
        "params": [1_439_795_200.0, 6.89e9, 6.89e9, 6.89e9],
        "tokens": [921.5e9, 137.8e9, 137.8e9, 137.8e9],
    }
)
TASKS_17: tuple[str, ...] = (
    "arc_easy",
    "bigbench_cs_algorithms",
    "bigbench_dyck_languages",
    "bigbench_novel_concepts",
    "bigbench_operators",
    "bigbench_qa_wikidata",
    "boolq",
    "commonsense_qa",
    "copa",
    "coqa",
    "hellaswag",
    "hellaswag_zeroshot",
    "lambada_openai",
    "piqa",
    "pubmed_qa_labeled",
    "squad",
    "winograd",
)

#: All 46 downstream tasks evaluated on every testbed model.
TASKS_46: tuple[str, ...] = (
    "agi_eval_lsat_ar",
    "agi_eval_lsat_lr",
    "agi_eval_lsat_rc",
    "agi_eval_sat_en",
    "arc_challenge",
    "arc_easy",
    "bbq",
    "bigbench_conceptual_combinations",
    "bigbench_conlang_translation",
    "bigbench_cs_algorithms",
    "bigbench_dyck_languages",
    "bigbench_elementary_math_qa",
    "bigbench_language_identification",
    "bigbench_logical_deduction",
    "bigbench_misconceptions",
    "bigbench_novel_concepts",
    "bigbench_operators",
    "bigbench_qa_wikidata",
    "bigbench_repeat_copy_logic",
    "bigbench_strange_stories",
    "bigbench_strategy_qa",
    "bigbench_understanding_fables",
    "boolq",
    "commonsense_qa",
    "copa",
    "coqa",
    "enterprise_pii_classification",
    "hellaswag",
    "hellaswag_zeroshot",
    "jeopardy",
    "lambada_openai",
    "logi_qa",
    "math_qa",
    "mmlu",
    "mmlu_zeroshot",
    "openbook_qa",
    "piqa",
    "pubmed_qa_labeled",
    "simple_arithmetic_nospaces",
    "simple_arithmetic_withspaces",
    "siqa",
    "squad",
    "winogender_mc_female",
    "winogender_mc_male",
    "winograd",
    "winogrande",
)

DATASETS: dict[str, str] = {"c4_original": "c4", "rpj": "redpajama", "rw_original": "refinedweb"}
SMALL_ARCHS: tuple[str, ...] = (
    "d=96_l=8_h=4",
    "d=512_l=8_h=4",
    "d=576_l=24_h=8",
    "d=1024_l=24_h=8",
)
# eval_metadata.csv repeats ARC-Easy's item count (2,376) on the ARC-Challenge row (a quirk the
# data README lists); the ARC-Challenge test set has 1,172 questions.
_N_ITEMS_FIX: dict[str, int] = {"arc_challenge": 1172}


def _exp_data_dir(path: Path) -> Path:
    for candidate in (path, path / "exp_data", path / "raw" / "exp_data"):
        if (candidate / "models").is_dir() and (candidate / "evals").is_dir():
            return candidate
    raise DataError(
        f"{path}: not a Gadre et al. testbed folder (expected models/ and evals/ in it, "
        "or in exp_data/ or raw/exp_data/ below it)"
    )


def is_gadre_dir(path: str | Path) -> bool:
    """Whether ``path`` looks like the testbed folder (or one of its parents)."""
    try:
        _exp_data_dir(Path(path))
    except DataError:
        return False
    return True


def loss_set_id(val_data: list[str] | str) -> str:
    """The evaluation-set id of a ``val_data`` entry, as ``overtraining_long.csv`` names it.

    The folder name identifies the set (``.../c4_val/shard-{...}.tar`` → ``c4_val``,
    ``.../paloma_ptb/00000001.tar`` → ``paloma_ptb``) unless the file itself is named
    (``.../de-en/val_de-en_100.tar`` → ``val_de-en_100``).
    """
    first = val_data[0] if isinstance(val_data, list) else val_data
    pure = PurePosixPath(first)
    stem = pure.name.split(".")[0]
    if stem.isdigit() or stem.startswith("shard"):
        return pure.parent.name
    return stem


def _split_run(run: str, source: str) -> tuple[str, str]:
    prefix, _, rest = run.partition("-")
    arch, _, _mult = rest.rpartition("-")
    if prefix not in DATASETS or not arch:
        raise DataError(
            f"{source}: run name {run!r} does not follow <train_set>-<arch>-<multiplier> "
            f"with train_set in {sorted(DATASETS)}"
        )
    return prefix, arch


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot read JSON: {exc}") from exc


def _metadata(exp: Path) -> pd.DataFrame:
    path = exp / "eval_metadata.csv"
    try:
        meta = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read task metadata: {exc}") from exc
    needed = ["Eval Task", "#datapoints", "Random baseline"]
    missing = [c for c in needed if c not in meta.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}")
    meta.index = pd.RangeIndex(2, len(meta) + 2)  # file lines, for errors
    items = numeric_column(meta, "#datapoints", str(path))
    baseline = numeric_column(meta, "Random baseline", str(path))
    for col, values in (("#datapoints", items), ("Random baseline", baseline)):
        if values.isna().any():
            line = values.index[values.isna()][0]
            raise DataError(f"{path}, row {line}, column {col!r}: empty")
    tasks = meta["Eval Task"]
    n_items = dict(zip(tasks, items.astype("int64").tolist(), strict=True)) | _N_ITEMS_FIX
    chance = dict(zip(tasks, (baseline / 100.0).tolist(), strict=True))
    return pd.DataFrame({"n_items": n_items, "chance": chance})


def _run_rows(model_file: Path, exp: Path, meta: pd.DataFrame) -> list[dict]:
    data = _read_json(model_file)
    source = str(model_file)
    try:
        run = str(data["name"])
        hyper = data["hyperparameters"]
        params = float(hyper["params"])
        tokens = float(hyper["tokens"])
        mult = float(hyper["chinchilla_multiplier"])
        results = data["results"]
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{source}: missing or invalid field {exc}") from exc
    if run != model_file.stem:
        raise DataError(f"{source}: run name {run!r} does not match the file name")
    prefix, arch = _split_run(run, source)
    fit_loss = (arch in SMALL_ARCHS and mult == 1.0) or (arch == "d=96_l=8_h=4" and mult == 16.0)
    fit_error = fit_loss or (arch == "open_lm_1b" and mult == 1.0)
    common = {
        "run": run,
        "params": params,
        "tokens": tokens,
        "dataset": DATASETS[prefix],
        "family": "open_lm",
        "arch": arch,
        "paper_fit_loss": fit_loss,
        "paper_fit_error": fit_error,
    }
    rows = []
    for entry in results:
        try:
            task, value = loss_set_id(entry["val_data"]), float(entry["loss"])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise DataError(f"{source}: malformed results entry ({exc})") from exc
        rows.append(common | {"task": task, "metric": "loss", "value": value, "task_in_17": False})

    eval_file = exp / "evals" / f"evaluation_{run}_heavy.json"
    if not eval_file.is_file():
        raise DataError(f"{source}: no downstream evaluation file {eval_file}")
    evals = _read_json(eval_file)
    try:
        icl = evals["eval_metrics"]["icl"]
    except (KeyError, TypeError) as exc:
        raise DataError(f"{eval_file}: no eval_metrics.icl table") from exc
    for task, value in icl.items():
        if task not in meta.index:
            raise DataError(f"{eval_file}: task {task!r} is not in eval_metadata.csv")
        rows.append(
            common
            | {
                "task": task,
                "metric": "accuracy",
                "value": float(value),
                "n_items": int(meta.at[task, "n_items"]),
                "chance": float(meta.at[task, "chance"]),
                "task_in_17": task in TASKS_17,
            }
        )
    return rows


def load_gadre(path: str | Path, *, domains: DomainSpec = None) -> Observations:
    """Load the Gadre et al. over-training testbed.

    Parameters
    ----------
    path
        The ``exp_data`` folder, or its parent ``raw/`` or grand-parent ``overtraining/``.
    domains
        Extra task → domain entries on top of the default map.

    Returns
    -------
    Observations
        One row per run × loss set (metric ``loss``, task = set id such as ``c4_val``) and per
        run × downstream task (metric ``accuracy``, with ``chance`` and ``n_items``). Extra
        columns: ``arch``, ``paper_fit_loss``, ``paper_fit_error`` (the runs the paper fits its
        loss and loss→error laws on), ``task_in_17`` (task in :data:`TASKS_17`).

    Raises
    ------
    DataError
        If the folder is not the testbed or a file is malformed.
    """
    exp = _exp_data_dir(Path(path).expanduser())
    meta = _metadata(exp)
    model_files = sorted((exp / "models").glob("*.json"))
    if not model_files:
        raise DataError(f"{exp / 'models'}: no model JSON files")
    known = {f.stem for f in model_files}
    orphans = [
        f.name
        for f in sorted((exp / "evals").glob("evaluation_*_heavy.json"))
        if f.name.removeprefix("evaluation_").removesuffix("_heavy.json") not in known
    ]
    if orphans:
        raise DataError(
            f"{exp / 'evals'}: evaluation file(s) without a model file (N and D unknown): "
            f"{orphans[:3]}"
        )
    rows = [row for f in model_files for row in _run_rows(f, exp, meta)]
    frame = pd.DataFrame(rows)
    frame["n_items"] = frame["n_items"].astype("Int64")
    return finalize(frame, source=str(exp), domains=domains)
