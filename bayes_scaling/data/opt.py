"""Loader for the OPT validation-perplexity trajectories copied by the Hitchhiker's guide
(Choshen et al.; IBM/ColPret): ``opt_trajectories.csv``, 142 checkpoints of six OPT models
(125M-175B parameters, Zhang et al. 2022), one shared recipe across sizes.

- ``run`` is ``OPT-<model_size>`` (e.g. ``OPT-1.3b``); N is the nominal size of
  ``model_size`` (``125m`` → 1.25e8, ``1.3b`` → 1.3e9); D is ``10**num_token`` (the source
  writes tokens and FLOPs as log10); ``step`` is ``steps``.
- task ``opt_valid``, metric ``loss``: the natural log of ``ppl``, dataset ``opt``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling.data.schema import DataError, Observations
from bayes_scaling.data.tidy import DomainSpec, finalize, numeric_column, source_csv

FILE_NAME = "opt_trajectories.csv"
COLUMNS = ("model_size", "steps", "num_token", "ppl")
_UNITS = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}


def nominal_size(text: str) -> float | None:
    """``"125m"`` → 1.25e8, ``"1.3B"`` → 1.3e9; None when ``text`` is not such a size."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmbt])\s*", str(text), flags=re.IGNORECASE)
    return float(match[1]) * _UNITS[match[2].lower()] if match else None


def load_opt(path: str | Path, *, domains: DomainSpec = None) -> Observations:
    """Load ``opt_trajectories.csv`` (or the folder holding it).

    Raises
    ------
    DataError
        If the file is missing, lacks a column, or holds a bad value (naming the line and
        column): a size that is not like ``125m``/``1.3b``, a non-numeric cell, a log10 token
        count outside 3-16, or a perplexity not above 1.
    """
    raw, source = source_csv(path, FILE_NAME, COLUMNS, what="OPT perplexity trajectories")
    sizes = raw["model_size"].map(nominal_size)
    if sizes.isna().any():
        line = sizes.index[sizes.isna()][0]
        raise DataError(
            f"{source}, line {line}, column 'model_size': {raw.at[line, 'model_size']!r} is "
            "not a model size like '125m' or '1.3b'"
        )
    log_tokens = numeric_column(raw, "num_token", source)
    ppl = numeric_column(raw, "ppl", source)
    for col, values, ok, want in (
        ("num_token", log_tokens, log_tokens.between(3, 16), "a log10 token count (3-16)"),
        ("ppl", ppl, ppl > 1, "a perplexity above 1"),
    ):
        if not ok.all():
            line = values.index[~ok.to_numpy()][0]
            raise DataError(f"{source}, line {line}, column {col!r}: {values[line]} is not {want}")
    out = pd.DataFrame(
        {
            "run": "OPT-" + raw["model_size"].astype(str).str.strip(),
            "params": sizes.astype("float64"),
            "tokens": 10.0**log_tokens,
            "task": "opt_valid",
            "metric": "loss",
            "value": np.log(ppl),
            "dataset": "opt",
            "family": "opt",
            "step": numeric_column(raw, "steps", source),
        },
        index=raw.index,
    )
    return finalize(out, source=source, domains=domains)
