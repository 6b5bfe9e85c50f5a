"""Loader for the language-modelling curves of Alabdulmohsin et al. 2022 ("Revisiting Neural
Scaling Laws in Language and Vision") as copied by the Hitchhiker's guide:
``revisiting_lang.csv``, rows with ``Domain == "LM"`` (the NMT and BIG-bench rows have no
model sizes in parameters and are not read).

- ``run`` is ``lm-<Model>`` (``Model`` is the parameter count, e.g. ``1.68e+07``), N that
  count, D ``Seen Examples`` (tokens seen), task ``val_loss``, metric ``loss``, dataset
  ``revisiting_lm``.
- The source clips each curve's first values at 0.999 (its loss is normalised, 0.85-1.0):
  those rows say only "at least 0.999" and are dropped. ``Training`` (1 on the first part of
  each curve, the paper's fitting split; 0 on the later part it extrapolates to) is kept as
  ``paper_split``. The source repeats most points up to four times, identically; the
  tidy table keeps one of each (:mod:`bayes_scaling.data.schema`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bayes_scaling.data.schema import DataError, Observations
from bayes_scaling.data.tidy import DomainSpec, finalize, numeric_column, source_csv

FILE_NAME = "revisiting_lang.csv"
COLUMNS = ("Domain", "Task", "Model", "Seen Examples", "Loss", "Training")
#: The source's clipped value: a curve's loss before it drops below this is not known.
CLIPPED = 0.999


def load_revisiting(path: str | Path, *, domains: DomainSpec = None) -> Observations:
    """Load the LM rows of ``revisiting_lang.csv`` (or the folder holding it).

    Raises
    ------
    DataError
        If the file is missing, lacks a column, has no LM rows, or holds a non-numeric
        ``Model``, ``Seen Examples``, ``Loss`` or ``Training`` cell (naming line and column).
    """
    raw, source = source_csv(path, FILE_NAME, COLUMNS, what="Revisiting-scaling-laws language")
    raw = raw[raw["Domain"].astype(str).str.strip() == "LM"]
    if raw.empty:
        raise DataError(f"{source}: no rows with Domain 'LM' (language modelling)")
    params = numeric_column(raw, "Model", source)
    loss = numeric_column(raw, "Loss", source)
    out = pd.DataFrame(
        {
            "run": "lm-" + raw["Model"].astype(str).str.strip(),
            "params": params,
            "tokens": numeric_column(raw, "Seen Examples", source),
            "task": raw["Task"].astype(str).str.strip(),
            "metric": "loss",
            "value": loss,
            "dataset": "revisiting_lm",
            "family": "revisiting",
            "paper_split": numeric_column(raw, "Training", source),
        },
        index=raw.index,
    )
    return finalize(out[loss < CLIPPED], source=source, domains=domains)
