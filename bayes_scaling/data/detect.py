"""``load(path)``: recognise a data set by its layout and call the matching loader.

Only folder listings, CSV headers and the first JSON file are inspected, so detection is cheap.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

from bayes_scaling.data.chinchilla import FILE_NAME as CHINCHILLA_FILE
from bayes_scaling.data.chinchilla import load_chinchilla
from bayes_scaling.data.datablations import FILE_NAME as DATABLATIONS_FILE
from bayes_scaling.data.datablations import load_datablations
from bayes_scaling.data.gadre import is_gadre_dir, load_gadre
from bayes_scaling.data.gemstones import EVALS_FILE as GEMSTONES_EVALS
from bayes_scaling.data.gemstones import LOSS_FILE as GEMSTONES_LOSS
from bayes_scaling.data.gemstones import is_gemstones_dir, load_gemstones
from bayes_scaling.data.hitchhiker import FILE_NAME as HITCHHIKER_FILE
from bayes_scaling.data.hitchhiker import load_hitchhiker_olmo
from bayes_scaling.data.lm_eval import is_harness_result, load_lm_eval
from bayes_scaling.data.olmo_ladder import load_olmo_ladder
from bayes_scaling.data.opt import FILE_NAME as OPT_FILE
from bayes_scaling.data.opt import load_opt
from bayes_scaling.data.options import check_options, options_file, read_options
from bayes_scaling.data.pythia import FILE_NAME as PYTHIA_FILE
from bayes_scaling.data.pythia import load_pythia
from bayes_scaling.data.revisiting import FILE_NAME as REVISITING_FILE
from bayes_scaling.data.revisiting import load_revisiting
from bayes_scaling.data.schema import REQUIRED, DataError, Observations
from bayes_scaling.data.t5_pile import FILE_NAME as T5_PILE_FILE
from bayes_scaling.data.t5_pile import load_t5_pile
from bayes_scaling.data.tidy import PARQUET_SUFFIXES, load_tidy

Loader = Callable[..., Observations]

FORMATS: tuple[str, ...] = (
    "Gadre et al. testbed folder (models/, evals/)",
    "Epoch Chinchilla CSV ('Model Size', 'Training FLOP')",
    "OLMo ladder CSV or folder ('_step', 'eval/...')",
    "Pythia long CSV (pythia_evals_long.csv)",
    "Gemstones folder or CSV (gemstones_evals_long.csv, gemstones_train_loss.csv)",
    "Hitchhiker olmo.csv ('Step', 'model_name', 'downstream/...')",
    "data-constrained runs (datablations_contour_losses.csv: 'openLM_loss', 'epochs')",
    "OPT perplexity trajectories (opt_trajectories.csv: 'model_size', 'num_token', 'ppl')",
    "Revisiting scaling laws, language (revisiting_lang.csv: 'Domain', 'Seen Examples')",
    "T5 on the Pile training logs (t5_pile.csv: 'model_name', 'val_perplexity', 'config')",
    "folder of lm-evaluation-harness JSON results",
    "tidy CSV/TSV/Parquet (run, params, tokens, task, metric, value)",
)
_TIDY_MIN_COLUMNS = 3
#: Files of the public data sets that are not what a loader reads, and what to load instead.
_INSTEAD = {
    "overtraining_long.csv": "this is the data set's own long table; load the testbed folder "
    "(overtraining/ or overtraining/raw/exp_data) with the Gadre loader instead",
}
_PYTHIA_COLUMNS = {"model", "params_nonembedding", "num_fewshot", "benchmark", "task", "metric"}


def _header(path: Path) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
            return [c.strip() for c in next(csv.reader(handle, delimiter=delimiter), [])]
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def _csv_kind(path: Path) -> Loader | None:
    if path.name in (GEMSTONES_EVALS, GEMSTONES_LOSS):
        return load_gemstones
    columns = set(_header(path))
    if {"Model Size", "Training FLOP"} <= columns:
        return load_chinchilla
    if "_step" in columns and any(c.startswith("eval/") for c in columns):
        return load_olmo_ladder
    if columns >= _PYTHIA_COLUMNS:
        return load_pythia
    if {"Step", "model_name"} <= columns and any(c.startswith("downstream/") for c in columns):
        return load_hitchhiker_olmo
    if {"openLM_loss", "epochs", "num_params"} <= columns:
        return load_datablations
    if {"model_size", "num_token", "ppl"} <= columns:
        return load_opt
    if {"Domain", "Task", "Model", "Seen Examples", "Loss"} <= columns:
        return load_revisiting
    if {"model_name", "steps", "val_perplexity", "config"} <= columns:
        return load_t5_pile
    return None


def _is_lm_eval_json(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return is_harness_result(data)


def _dir_kind(path: Path) -> Loader | None:
    if is_gadre_dir(path):
        return load_gadre
    if is_gemstones_dir(path):
        return load_gemstones
    named = (PYTHIA_FILE, HITCHHIKER_FILE, CHINCHILLA_FILE, DATABLATIONS_FILE, OPT_FILE)
    for name in (*named, REVISITING_FILE, T5_PILE_FILE):
        if (path / name).is_file() and (loader := _csv_kind(path / name)) is not None:
            return loader
    folder = path / "ladder-runs" if (path / "ladder-runs").is_dir() else path
    csvs = sorted(folder.glob("*.csv"))
    if csvs and _csv_kind(csvs[0]) is load_olmo_ladder:
        return load_olmo_ladder
    jsons = sorted(path.rglob("*.json"))
    if any(_is_lm_eval_json(j) for j in jsons[:20]):  # stray non-harness JSON files are skipped
        return load_lm_eval
    return None


def detect(path: str | Path) -> Loader:
    """The loader for ``path``.

    Raises
    ------
    DataError
        If the path does not exist or is an unrecognised folder (naming the formats tried).
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.name in _INSTEAD:
        raise DataError(f"{path}: {_INSTEAD[path.name]}")
    if path.is_dir():
        loader = _dir_kind(path)
        what = "data folder"
    elif path.suffix.lower() in PARQUET_SUFFIXES:
        return load_tidy
    else:
        loader = _csv_kind(path)
        header = _header(path)
        # Most tidy columns present: read as tidy so a missing one gets its precise error.
        if loader is None and sum(c in header for c in REQUIRED) >= _TIDY_MIN_COLUMNS:
            loader = load_tidy
        what = f"file (columns {header[:8]}{' ...' if len(header) > 8 else ''})"
    if loader is None:
        raise DataError(f"{path}: unrecognised {what}; formats tried: " + "; ".join(FORMATS))
    return loader


def load(path: str | Path, **kwargs: object) -> Observations:
    """Load any supported data set, recognising its format automatically.

    Parameters
    ----------
    path
        A file or folder in one of the formats of :data:`FORMATS`; a file that is none of the
        named formats is read as a tidy table.
    **kwargs
        Passed to the loader (e.g. ``num_fewshot=5`` for Pythia, ``tokens_per_step=...`` for
        lm-eval folders, ``domains=...`` for all). They win over the options of a
        ``data.toml`` inside a data folder (:mod:`bayes_scaling.data.options`).

    Returns
    -------
    Observations

    Raises
    ------
    DataError
        For an unrecognised path (naming the formats tried), an option the loader does not
        take (naming the option and where it was set), or invalid content.
    """
    loader = detect(path)
    options: dict[str, object] = {}
    if (found := options_file(path)) is not None:
        options = read_options(found)
        check_options(loader, options, where=str(found))
    check_options(loader, kwargs, where=f"options for {path}")
    return loader(path, **(options | kwargs))
