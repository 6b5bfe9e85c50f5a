"""What the package knows about lm-evaluation-harness tasks: chance accuracy and item counts.

Used wherever a data set leaves them out (harness result folders, tidy tables), so a team's own
table does not have to repeat that ARC-Challenge is 4-way. Item counts are the size of the split
the harness evaluates by default; a result on a subset should give its own ``n_items``.
"""

from __future__ import annotations

import numpy as np

_MMLU_OLD_PREFIX = "hendrycksTest-"

#: Chance accuracy (1 / answer options) of common harness tasks; MMLU subjects are 4-way.
CHANCE: dict[str, float] = {
    "arc_easy": 0.25,
    "arc_challenge": 0.25,
    "logiqa": 0.25,
    "sciq": 0.25,
    "hellaswag": 0.25,
    "openbookqa": 0.25,
    "mmlu": 0.25,
    "piqa": 0.5,
    "winogrande": 0.5,
    "wsc": 0.5,
    "wsc273": 0.5,
    "boolq": 0.5,
    "copa": 0.5,
    "rte": 0.5,
    "lambada_openai": 0.0,
    "lambada_standard": 0.0,
}

#: Items in the split the harness evaluates by default (test, else validation).
N_ITEMS: dict[str, int] = {
    "arc_easy": 2376,
    "arc_challenge": 1172,
    "logiqa": 651,
    "sciq": 1000,
    "hellaswag": 10042,
    "openbookqa": 500,
    "piqa": 1838,
    "winogrande": 1267,
    "wsc273": 273,
    "boolq": 3270,
    "copa": 100,
    "rte": 277,
    "lambada_openai": 5153,
    "lambada_standard": 5153,
}


def canonical_task(name: str) -> str:
    """Harness task name → task id: ``hendrycksTest-anatomy`` → ``mmlu_anatomy``."""
    if name.startswith(_MMLU_OLD_PREFIX):
        return "mmlu_" + name.removeprefix(_MMLU_OLD_PREFIX)
    return name


def chance_of(task: str) -> float:
    """Chance accuracy of a (canonical) harness task; NaN when unknown."""
    if task.startswith("mmlu"):
        return 0.25
    return CHANCE.get(task, np.nan)


def n_items_of(task: str) -> float:
    """Items of a (canonical) harness task's default split; NaN when unknown."""
    return float(N_ITEMS.get(task, np.nan))


def estimate_n_items(value: np.ndarray | float, stderr: np.ndarray | float) -> np.ndarray:
    """Number of items implied by the harness standard error of an accuracy.

    The harness reports the sample standard error ``se = sqrt(p (1 - p) / (n - 1))``, so
    ``n = p (1 - p) / se² + 1``. NaN where it cannot be inverted (p ∈ {0, 1} or se = 0).
    """
    p = np.asarray(value, dtype="float64")
    se = np.asarray(stderr, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        n = p * (1.0 - p) / se**2 + 1.0
    ok = (p > 0) & (p < 1) & (se > 0) & np.isfinite(n)
    return np.where(ok, n, np.nan)
