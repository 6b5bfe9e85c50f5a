"""Loader for Epoch AI's digitisation of the Chinchilla Approach-3 runs.

File ``svg_extracted_data.csv`` gives N (``Model Size``), C (``Training FLOP``) and the final
training loss per run; D = C / (6 N) as Epoch derived it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bayes_scaling.data.schema import DataError, Observations
from bayes_scaling.data.tidy import DomainSpec, finalize, numeric_column, read_table

FILE_NAME = "svg_extracted_data.csv"
COLUMNS: tuple[str, ...] = ("Model Size", "Training FLOP", "loss")
N_OUTLIERS = 5


def load_chinchilla(
    path: str | Path, drop_outliers: bool = True, *, domains: DomainSpec = None
) -> Observations:
    """Load Epoch's Chinchilla points.

    Parameters
    ----------
    path
        ``svg_extracted_data.csv`` (or the folder holding it).
    drop_outliers
        Drop the 5 highest-loss points as Epoch did (245 → 240 rows).
    domains
        Extra task → domain entries on top of the default map.

    Returns
    -------
    Observations
        One row per run: task ``train``, metric ``loss``, dataset ``massivetext``, family
        ``chinchilla``, run ``chinchilla-<i>`` with ``i`` the 0-based data row of the file
        (stable whether or not outliers are dropped). Rows are labelled by CSV line number.

    Raises
    ------
    DataError
        If the file is missing or lacks the expected columns.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / FILE_NAME
    source = str(path)
    raw = read_table(path)
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise DataError(
            f"{source}: missing column(s) {missing}; expected Epoch's svg_extracted_data.csv "
            f"with {list(COLUMNS)}"
        )
    n = numeric_column(raw, "Model Size", source)
    flops = numeric_column(raw, "Training FLOP", source)
    frame = pd.DataFrame(
        {
            "run": [f"chinchilla-{line - 2}" for line in raw.index],
            "params": n,
            "tokens": flops / (6.0 * n),
            "task": "train",
            "metric": "loss",
            "value": numeric_column(raw, "loss", source),
            "dataset": "massivetext",
            "family": "chinchilla",
        },
        index=raw.index,
    )
    if drop_outliers:
        frame = frame.drop(index=frame["value"].nlargest(N_OUTLIERS).index)
    return finalize(frame, source=source, domains=domains)
