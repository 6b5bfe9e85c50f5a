"""Loader for the OLMo checkpoint trajectories of "A Hitchhiker's Guide to Scaling Law Estimation"
(Choshen, Zhang & Andreas; IBM/ColPret), file ``olmo.csv``.

Runs: OLMo-1B, OLMo-7B and OLMo-7B-Twin-2T (the source writes ``"OLMo-1B "`` with a trailing
space; it is stripped). Rows emitted per checkpoint:

- downstream accuracies ``downstream/<task>_{acc,len_norm}`` → task ``<task>``, metric
  ``accuracy`` (``downstream/mrpc_f1`` is an F1 score, not an accuracy, and is skipped);
- validation losses ``<set>-validation/CrossEntropyLoss`` → task ``<set>`` (e.g. ``c4_en``,
  ``v3-small-c4_en``), metric ``loss``. Where a model logged only ``<set>-validation/Perplexity``
  the loss is its logarithm (the two agree to 1e-7 where both exist). The bare
  ``pile/CrossEntropyLoss`` of OLMo-1B (evaluator ``pile``, not ``pile-validation``) becomes
  task ``pile_eval`` so it is not mixed up with the 7B models' ``pile`` validation set.

Eleven OLMo-7B-Twin-2T checkpoints (steps 158,000-168,000) hold every value doubled
(accuracies up to 1.57, c4_en perplexity 24.8 between neighbours at 12.4; apparently two log
entries summed upstream). They are dropped (:data:`CORRUPT_STEPS`).

The ``checkpoint`` column is not used: its OLMo-1B revision names are those of OLMo-7B (they
imply 4,423,680 tokens per step and stop at step 557,000, where the 7B list stops).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling.data.schema import DataError, Observations
from bayes_scaling.data.tidy import DomainSpec, finalize, numeric_column

FILE_NAME = "olmo.csv"

#: Tokens per optimizer step. OLMo-1B: global batch 2048 sequences × 2048 tokens
#: (allenai/OLMo configs/official/OLMo-1B.yaml), consistent with its Hugging Face revision
#: ``step738000-tokens3095B`` (3095e9 / 738000 = 4.19e6) and its 3T-token budget. OLMo-7B and
#: OLMo-7B-Twin-2T: 2160 × 2048 (the OLMo paper's 7B batch of ~4M tokens), consistent with the
#: revisions ``step556000-tokens2460B`` and ``step452000-tokens2000B`` named on the OLMo-7B model
#: card and with the revision names in ``olmo.csv``.
TOKENS_PER_STEP: dict[str, int] = {
    "OLMo-1B": 2048 * 2048,
    "OLMo-7B": 2160 * 2048,
    "OLMo-7B-Twin-2T": 2160 * 2048,
}

#: Total parameter counts, computed from the official configs (d_model, n_layers, SwiGLU MLP,
#: no biases or affine norms, vocabulary padded to 50,304): OLMo-1B 16 × 2048² × 16 + 50,304 ×
#: 2048 (tied embeddings); OLMo-7B 32 × (4·4096² + 3·4096·11,008) + 2 × 50,304 × 4096.
PARAMS: dict[str, int] = {
    "OLMo-1B": 1_176_764_416,
    "OLMo-7B": 6_888_095_744,
    "OLMo-7B-Twin-2T": 6_888_095_744,
}
PARAMS_NONEMBEDDING: dict[str, int] = {
    "OLMo-1B": 1_073_741_824,
    "OLMo-7B": 6_476_005_376,
    "OLMo-7B-Twin-2T": 6_476_005_376,
}

#: Chance accuracy per downstream task (number of answer options).
CHANCE: dict[str, float] = {
    "piqa": 0.5,
    "arc_easy": 0.25,
    "hellaswag": 0.25,
    "copa": 0.5,
    "sst2": 0.5,
    "commitment_bank": 1 / 3,
    "openbook_qa": 0.25,
    "rte": 0.5,
    "winogrande": 0.5,
    "sciq": 0.25,
}

#: Checkpoints whose values are doubled in the source (see the module docstring): dropped.
CORRUPT_STEPS: dict[str, tuple[int, ...]] = {
    "OLMo-7B-Twin-2T": tuple(range(158_000, 169_000, 1_000)),
}

_ACC_RE = re.compile(r"^downstream/(?P<task>.+)_(?:acc|len_norm)$")
_CE_RE = re.compile(r"^(?P<set>.+?)(?:-validation)?/CrossEntropyLoss$")
_PPL_RE = re.compile(r"^(?P<set>.+)-validation/Perplexity$")
_RENAME = {"pile/CrossEntropyLoss": "pile_eval"}


def _resolve(path: Path) -> Path:
    if path.is_dir():
        path = path / FILE_NAME
    if not path.is_file():
        raise DataError(f"{path}: hitchhiker olmo.csv not found")
    return path


def load_hitchhiker_olmo(path: str | Path, *, domains: DomainSpec = None) -> Observations:
    """Load OLMo-1B/7B/7B-Twin-2T checkpoint trajectories from the Hitchhiker ``olmo.csv``.

    Parameters
    ----------
    path
        ``olmo.csv`` or its folder.
    domains
        Extra task → domain entries on top of the default map.

    Returns
    -------
    Observations
        Accuracy and loss rows per checkpoint with ``step`` (``Step``), tokens = step × tokens
        per step (:data:`TOKENS_PER_STEP`), params = total parameters (:data:`PARAMS`),
        ``chance`` for accuracies, dataset ``dolma``, family ``olmo`` and extra column
        ``params_nonembedding``. Missing evaluations and :data:`CORRUPT_STEPS` are skipped.

    Raises
    ------
    DataError
        If the file is missing, lacks ``Step``/``model_name`` or names an unknown model.
    """
    path = _resolve(Path(path).expanduser())
    source = str(path)
    try:
        raw = pd.read_csv(path)
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{source}: cannot read as CSV: {exc}") from exc
    raw.index = pd.RangeIndex(2, len(raw) + 2)
    missing = [c for c in ("Step", "model_name") if c not in raw.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {missing}")
    model = raw["model_name"].astype("string").str.strip()
    unknown = ~model.isin(list(PARAMS))
    if unknown.any():
        line = unknown[unknown].index[0]
        raise DataError(
            f"{source}, row {line}, column 'model_name': unknown model {model[line]!r}; "
            f"expected one of {list(PARAMS)}"
        )
    step = numeric_column(raw, "Step", source)
    if step.isna().any():
        line = step[step.isna()].index[0]
        raise DataError(f"{source}, row {line}, column 'Step': not a number")
    corrupt = pd.Series(False, index=raw.index)
    for name, steps in CORRUPT_STEPS.items():
        corrupt |= (model == name) & step.isin(steps)
    raw, model, step = raw[~corrupt], model[~corrupt], step[~corrupt]
    columns = [str(c) for c in raw.columns]
    ppl = {m["set"]: c for c in columns if (m := _PPL_RE.match(c)) is not None}
    parts = []
    for col in columns:
        if (m := _ACC_RE.match(col)) is not None:
            task, metric, values = m["task"], "accuracy", numeric_column(raw, col, source)
        elif (m := _CE_RE.match(col)) is not None:
            task, metric = _RENAME.get(col, m["set"]), "loss"
            values = numeric_column(raw, col, source)
            if col.endswith("-validation/CrossEntropyLoss") and m["set"] in ppl:
                values = values.fillna(np.log(numeric_column(raw, ppl.pop(m["set"]), source)))
        else:
            continue
        ok = values.notna()
        parts.append(
            pd.DataFrame(
                {
                    "run": model[ok],
                    "step": step[ok],
                    "task": task,
                    "metric": metric,
                    "value": values[ok],
                    "chance": CHANCE.get(task, np.nan) if metric == "accuracy" else np.nan,
                }
            )
        )
    for set_name, col in ppl.items():  # perplexity-only validation sets
        values = np.log(numeric_column(raw, col, source))
        ok = values.notna()
        parts.append(
            pd.DataFrame(
                {
                    "run": model[ok],
                    "step": step[ok],
                    "task": set_name,
                    "metric": "loss",
                    "value": values[ok],
                    "chance": np.nan,
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    frame["params"] = frame["run"].map(PARAMS).astype("float64")
    frame["params_nonembedding"] = frame["run"].map(PARAMS_NONEMBEDDING).astype("float64")
    frame["tokens"] = frame["step"] * frame["run"].map(TOKENS_PER_STEP).astype("float64")
    frame["step"] = frame["step"].astype("int64").astype("Int64")
    frame["dataset"] = "dolma"
    frame["family"] = "olmo"
    frame = frame[frame["tokens"] > 0].reset_index(drop=True)
    return finalize(frame, source=source, domains=domains)
