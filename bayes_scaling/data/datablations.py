"""Loader for the data-constrained scaling runs of Muennighoff et al. 2023 ("Scaling
Data-Constrained Language Models"), as copied by the Hitchhiker's guide:
``datablations_contour_losses.csv``, the final C4 validation loss of 229 runs (7M-8.7B
parameters, 1e8-9e11 tokens, 1-9,000 epochs over a unique-data budget).

- ``run`` is the source's model name (``model_args['name']``; a running index where it has
  none); N is ``num_params``, D ``token_num`` (tokens seen, repeats included); dataset ``c4``;
  task ``c4``, metric ``loss`` (``openLM_loss``).
- ``epochs`` is kept and ``unique_tokens = tokens / epochs`` derived (the model names encode
  N, tokens and unique tokens, e.g. ``421m3b93b9``; the source's ``tokens_per_epoch`` is
  1.5e9 on every row and is not used). The Chinchilla law holds for unique data: select
  ``epochs <= 4`` (where Muennighoff et al. find repeated tokens worth nearly as much as new
  ones) or ``epochs == 1`` for loss-law fits.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd

from bayes_scaling.data.schema import Observations
from bayes_scaling.data.tidy import DomainSpec, finalize, numeric_column, source_csv

FILE_NAME = "datablations_contour_losses.csv"
COLUMNS = ("data", "epochs", "token_num", "openLM_loss", "num_params")


def _name(args: object, row: int) -> str:
    try:
        value = ast.literal_eval(str(args))
    except (ValueError, SyntaxError):
        value = None
    name = value.get("name") if isinstance(value, dict) else None
    return str(name) if name else f"datablations-{row}"


def load_datablations(path: str | Path, *, domains: DomainSpec = None) -> Observations:
    """Load ``datablations_contour_losses.csv`` (or the folder holding it).

    Raises
    ------
    DataError
        If the file is missing, lacks a column, or holds a non-numeric value (naming the row
        and column).
    """
    raw, source = source_csv(path, FILE_NAME, COLUMNS, what="data-constrained runs")
    names = [_name(a, i) for i, a in zip(raw.index, raw.get("model_args", ""), strict=False)]
    runs = pd.Series(names, index=raw.index)
    dup = runs.duplicated(keep=False)
    runs[dup] = runs[dup] + "-" + raw.index[dup].astype(str)
    out = pd.DataFrame(
        {
            "run": runs,
            "params": numeric_column(raw, "num_params", source),
            "tokens": numeric_column(raw, "token_num", source),
            "task": raw["data"].astype(str),
            "metric": "loss",
            "value": numeric_column(raw, "openLM_loss", source),
            "dataset": raw["data"].astype(str),
            "family": "datablations",
            "epochs": numeric_column(raw, "epochs", source),
        },
        index=raw.index,
    )
    out["unique_tokens"] = out["tokens"] / out["epochs"]
    return finalize(out, source=source, domains=domains)
