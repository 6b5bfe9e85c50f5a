"""Loader for the Gemstones suite (McLeish et al. 2025): checkpoint evaluations and loss curves.

Folder ``trajectories/gemstones/`` with ``gemstones_evals_long.csv`` (19 models × 35
checkpoints × 9 tasks, zero-shot accuracies with ``stderr`` and ``chance``) and
``gemstones_train_loss.csv`` (training loss every 477 steps). Choices:

- ``run`` is the model name (``Gemstone-<width>x<depth>``); N is the source's ``params``
  (active parameters, embeddings included); D is ``tokens`` (step × 4,194,304); ``width`` and
  ``depth`` are kept as extra columns; dataset ``dolma``, family ``gemstones``.
- Accuracies become metric ``accuracy`` with ``n_items`` from lighteval's ``max_samples``:
  1,000 per task, OpenBookQA 500 (:data:`N_ITEMS`); ``mmlu`` is a mean over 57 subjects and
  gets none (its standard error is not one item pool's).
- The training loss becomes task ``train_loss``, metric ``loss``. The runs are "hot"
  checkpoints at a constant learning rate (no cool-down), so every checkpoint is a snapshot of
  a run still training.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling.data.schema import DataError, Observations
from bayes_scaling.data.tidy import DomainSpec, finalize, read_source_csv

EVALS_FILE = "gemstones_evals_long.csv"
LOSS_FILE = "gemstones_train_loss.csv"
EVAL_COLUMNS = ("model", "width", "depth", "params", "step", "tokens", "task", "value", "stderr")
LOSS_COLUMNS = ("model", "width", "depth", "params", "step", "tokens", "train_loss")
#: Items per task (lighteval ``max_samples=1000``; OpenBookQA has 500 test items).
N_ITEMS: dict[str, int] = {
    "arc_challenge": 1000,
    "arc_easy": 1000,
    "commonsense_qa": 1000,
    "hellaswag": 1000,
    "openbookqa": 500,
    "piqa": 1000,
    "social_iqa": 1000,
    "winogrande": 1000,
}


def is_gemstones_dir(path: Path) -> bool:
    return (path / EVALS_FILE).is_file() or (path / LOSS_FILE).is_file()


def load_gemstones(path: str | Path, *, domains: DomainSpec = None) -> Observations:
    """Load the Gemstones evaluations and training-loss curves.

    Parameters
    ----------
    path
        The ``gemstones`` folder (either file may be absent, not both), or one of its files.
    domains
        Extra task → domain entries on top of the default map.

    Returns
    -------
    Observations
        Accuracy rows (``stderr``, ``chance``, ``n_items``) and ``train_loss`` rows.

    Raises
    ------
    DataError
        If neither file is there or a file is malformed.
    """
    path = Path(path).expanduser()
    folder = path if path.is_dir() else path.parent
    files = [folder / EVALS_FILE, folder / LOSS_FILE]
    if path.is_file():
        files = [path]
    frames = []
    for file in files:
        if not file.is_file():
            continue
        if file.name == LOSS_FILE or "train_loss" in pd.read_csv(file, nrows=0).columns:
            raw = read_source_csv(file, LOSS_COLUMNS, what="Gemstones")
            rows = raw.assign(task="train_loss", metric="loss", value=raw["train_loss"])
            rows = rows.assign(stderr=np.nan, chance=np.nan, n_items=pd.NA)
        else:
            raw = read_source_csv(file, EVAL_COLUMNS, what="Gemstones")
            rows = raw.assign(metric="accuracy", n_items=raw["task"].map(N_ITEMS))
        rows.index = [f"{file.name}:{i}" for i in rows.index]
        frames.append(rows)
    if not frames:
        raise DataError(f"{path}: no {EVALS_FILE} or {LOSS_FILE} there")
    raw = pd.concat(frames)
    out = pd.DataFrame(
        {
            "run": raw["model"].astype(str),
            "params": raw["params"].astype("float64"),
            "tokens": raw["tokens"].astype("float64"),
            "step": raw["step"].astype("Int64"),
            "task": raw["task"].astype(str),
            "metric": raw["metric"],
            "value": raw["value"].astype("float64"),
            "stderr": raw["stderr"].astype("float64"),
            "chance": raw.get("chance", pd.Series(np.nan, index=raw.index)).astype("float64"),
            "n_items": raw["n_items"].astype("Int64"),
            "dataset": "dolma",
            "family": "gemstones",
            "width": raw["width"].astype("int64"),
            "depth": raw["depth"].astype("int64"),
        },
        index=raw.index,
    )
    return finalize(out, source=str(path), domains=domains)
