"""Which checkpoints of each run a fit reads: the ``[data]`` keys of every family, one meaning.

- ``min_tokens``: drop checkpoints below this many tokens (warm-up);
- ``drop_first_fraction``: drop each run's checkpoints before this fraction of its final
  token count (the OLMo ladder's and the Hitchhiker's guide's "skip the first 10%");
- ``max_checkpoints``: keep at most this many per run (``0``: all), spread as
  ``checkpoint_spacing`` says: ``"log"``, the checkpoints nearest to evenly spaced log tokens
  (a trajectory's early rise keeps its points), or ``"even"``, evenly spaced in training order
  (a run whose checkpoints are equally spaced in steps keeps that spacing).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import pandas as pd

from bayes_scaling.errors import SpecError

SPACINGS = ("log", "even")
#: The ``[data]`` keys of this module and their defaults (every family that reads
#: intermediate checkpoints declares them from here).
CHECKPOINT_KEYS = {
    "min_tokens": 0.0,
    "drop_first_fraction": 0.0,
    "max_checkpoints": 0,
    "checkpoint_spacing": "log",
}


#: ``[data] checkpoints``: each run's last checkpoint, or those the keys above keep.
MODES = ("final", "all")


def checkpoint_mode(how: Any, *, where: str) -> str:
    """``[data] checkpoints``, checked: one of :data:`MODES` (with ``"final"`` the other keys
    have nothing to choose from and are not read).

    Raises
    ------
    SpecError
        Naming ``where`` when ``how`` is not one of :data:`MODES`.
    """
    if how not in MODES:
        raise SpecError(
            f"{where} checkpoints must be one of {MODES} (got {how!r}; drop_first_fraction "
            "drops each run's first checkpoints)"
        )
    return how


def select_checkpoints(
    rows: pd.DataFrame,
    *,
    min_tokens: float,
    drop_first_fraction: float,
    max_checkpoints: int,
    spacing: str,
    where: str,
) -> pd.DataFrame:
    """The rows of the checkpoints kept, each run on its own (module doc).

    Raises
    ------
    SpecError
        Naming ``where`` (the spec's ``[data]``) and the key whose value is out of range.
    """
    if not 0 <= drop_first_fraction < 1:
        raise SpecError(f"{where} drop_first_fraction must lie in [0, 1)")
    keep = max_checkpoints
    if not isinstance(keep, numbers.Integral) or isinstance(keep, bool) or keep < 0:
        raise SpecError(f"{where} max_checkpoints must be an integer ≥ 0 (0 = all), got {keep!r}")
    if spacing not in SPACINGS:
        raise SpecError(f"{where} checkpoint_spacing must be one of {SPACINGS}, got {spacing!r}")
    last = rows.groupby("run")["tokens"].transform("max")
    rows = rows[(rows["tokens"] >= min_tokens) & (rows["tokens"] >= drop_first_fraction * last)]
    if keep == 0:
        return rows
    chosen = []
    for _, g in rows.groupby("run", sort=False):
        tokens = np.unique(g["tokens"].to_numpy())
        if len(tokens) <= keep:
            chosen.append(g)
            continue
        if spacing == "log":
            targets = np.linspace(np.log(tokens[0]), np.log(tokens[-1]), keep)
            idx = np.abs(np.log(tokens)[None, :] - targets[:, None]).argmin(axis=1)
        else:
            idx = np.rint(np.linspace(0, len(tokens) - 1, keep)).astype(int)
        chosen.append(g[g["tokens"].isin(tokens[np.unique(idx)])])
    return pd.concat(chosen)
