"""Loader for the T5-on-the-Pile training logs copied by the Hitchhiker's guide (Choshen et al.;
IBM/ColPret): ``t5_pile.csv``, t5x metrics of four encoder-decoder T5 v1.1 models (base, large,
xl, xxl) trained on the Pile with span corruption (``pile_r_denoiser``), logged every 10,000
steps to 2M steps, one recipe across sizes.

The file has no parameter or token counts; both come from the gin configuration the source logs
in its ``config`` column (on the first row of each restart; a model's rows share it):

- N: the weights of ``network.T5Config``, ``V·d`` embeddings (twice when
  ``logits_via_embedding`` is false), per encoder layer ``4·d·h·k`` attention and ``(g+1)·d·f``
  MLP weights, per decoder layer twice the attention (self and cross) and the same MLP (``d``
  ``emb_dim``, ``h·k`` ``num_heads·head_dim``, ``f`` ``mlp_dim``, ``g`` the number of
  ``mlp_activations``); layer norms and relative position biases (under 0.1%) are left out.
  This gives T5 v1.1's published sizes (base 248M, xxl 11.1B against 11.3B).
- D: ``steps × BATCH_SIZE × TASK_FEATURE_LENGTHS['inputs']``, encoder input tokens seen (the
  T5 papers' own count: 2^35 tokens = 2^19 steps × 128 × 512).
- ``run`` is ``T5-<model_name>``; task ``t5_pile_valid``, metric ``loss``: the natural log of
  ``val_perplexity``, dataset ``pile``. Step 0 (before training) is dropped. The source's
  training ``loss`` columns are not used: t5x logs them summed over the batch, with z-loss.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling.data.schema import DataError, Observations
from bayes_scaling.data.tidy import DomainSpec, finalize, numeric_column, source_csv

FILE_NAME = "t5_pile.csv"
COLUMNS = ("model_name", "steps", "val_perplexity", "config")
#: gin bindings read from ``config``: name → pattern of its value.
_GIN = {
    "BATCH_SIZE": r"^\s*BATCH_SIZE\s*=\s*(\d+)",
    "TASK_FEATURE_LENGTHS": r"^\s*TASK_FEATURE_LENGTHS\s*=\s*(\{[^}]*\})",
    **{
        key: rf"^\s*network\.T5Config\.{key}\s*=\s*(.+?)\s*$"
        for key in (
            "emb_dim",
            "num_heads",
            "head_dim",
            "mlp_dim",
            "num_encoder_layers",
            "num_decoder_layers",
            "vocab_size",
            "logits_via_embedding",
            "mlp_activations",
        )
    },
}


def _settings(config: str, where: str) -> dict[str, object]:
    """The gin bindings of :data:`_GIN` in one ``config`` cell, as Python values (the source
    writes the cell's line breaks as the two characters ``\\n``)."""
    config = config.replace("\\n", "\n")
    out: dict[str, object] = {}
    for key, pattern in _GIN.items():
        match = re.search(pattern, config, flags=re.MULTILINE)
        if match is None:
            raise DataError(f"{where}: the gin config has no {key} binding")
        try:
            out[key] = ast.literal_eval(match[1])
        except (ValueError, SyntaxError) as exc:
            raise DataError(f"{where}: cannot read {key} = {match[1]!r} in the gin config") from exc
    lengths = out["TASK_FEATURE_LENGTHS"]
    if not isinstance(lengths, dict) or not isinstance(lengths.get("inputs"), int):
        raise DataError(f"{where}: TASK_FEATURE_LENGTHS has no integer 'inputs' length")
    return out


def t5_params(settings: dict[str, object]) -> float:
    """Weights of an encoder-decoder ``network.T5Config`` (see the module docstring)."""
    d, f, vocab = (int(settings[k]) for k in ("emb_dim", "mlp_dim", "vocab_size"))  # type: ignore[call-overload]
    inner = int(settings["num_heads"]) * int(settings["head_dim"])  # type: ignore[call-overload]
    mlp = (len(settings["mlp_activations"]) + 1) * d * f  # type: ignore[arg-type]
    attention = 4 * d * inner
    embeddings = vocab * d * (1 if settings["logits_via_embedding"] else 2)
    encoder = int(settings["num_encoder_layers"]) * (attention + mlp)  # type: ignore[call-overload]
    decoder = int(settings["num_decoder_layers"]) * (2 * attention + mlp)  # type: ignore[call-overload]
    return float(embeddings + encoder + decoder)


def _model_settings(raw: pd.DataFrame, source: str) -> dict[str, dict[str, object]]:
    """Each model's gin settings; its restarts must agree on everything but the step budget."""
    out: dict[str, dict[str, object]] = {}
    logged = raw.loc[raw["config"].notna(), ["model_name", "config"]]
    for line, model, config in logged.itertuples():
        settings = _settings(str(config), f"{source}, line {line}, column 'config'")
        first = out.setdefault(model, settings)
        if settings != first:
            changed = sorted(k for k in settings if settings[k] != first[k])
            raise DataError(
                f"{source}, line {line}, column 'config': model {model!r} changes {changed} "
                "from its first logged config"
            )
    missing = sorted(set(raw["model_name"]) - set(out))
    if missing:
        raise DataError(f"{source}: no row of model(s) {missing} holds a gin config")
    return out


def load_t5_pile(path: str | Path, *, domains: DomainSpec = None) -> Observations:
    """Load ``t5_pile.csv`` (or the folder holding it).

    Raises
    ------
    DataError
        If the file is missing, lacks a column, holds a non-numeric step or perplexity, a
        perplexity not above 1 (naming the line and column), or a model whose gin config is
        missing, unreadable or changes between restarts.
    """
    raw, source = source_csv(path, FILE_NAME, COLUMNS, what="T5-Pile training logs")
    raw["model_name"] = raw["model_name"].astype(str).str.strip()
    steps = numeric_column(raw, "steps", source)
    ppl = numeric_column(raw, "val_perplexity", source)
    bad = ~(ppl > 1)
    if bad.any():
        line = ppl.index[bad.to_numpy()][0]
        raise DataError(
            f"{source}, line {line}, column 'val_perplexity': {ppl[line]} is not a perplexity "
            "above 1"
        )
    settings = _model_settings(raw, source)
    per_model = pd.DataFrame(
        {
            "params": {m: t5_params(s) for m, s in settings.items()},
            "per_step": {
                m: float(s["BATCH_SIZE"]) * s["TASK_FEATURE_LENGTHS"]["inputs"]  # type: ignore[index]
                for m, s in settings.items()
            },
        }
    )
    model = raw["model_name"]
    out = pd.DataFrame(
        {
            "run": "T5-" + model,
            "params": model.map(per_model["params"]),
            "tokens": steps * model.map(per_model["per_step"]),
            "task": "t5_pile_valid",
            "metric": "loss",
            "value": np.log(ppl),
            "dataset": "pile",
            "family": "t5",
            "step": steps,
        },
        index=raw.index,
    )
    return finalize(out[steps > 0], source=source, domains=domains)
