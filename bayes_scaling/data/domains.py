"""Task → domain map: the shipped default (``domains.toml``) plus optional user overrides.

A domain groups tasks that are expected to scale alike (commonsense, science, the MMLU subject
groups …); hierarchical models pool task parameters within a domain. The default map covers
every task of the bundled loaders. A user file extends or overrides it:

- TOML: a ``[domains]`` table (or top-level ``task = "domain"`` pairs);
- CSV: columns ``task`` and ``domain``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType

import pandas as pd

from bayes_scaling.data.schema import DataError

UNKNOWN_DOMAIN = "other"
LOSS_DOMAIN = "language_modeling"
_LM_METRICS = ("loss", "perplexity")
_PACKAGE = "bayes_scaling.data"
_DEFAULT_FILE = "domains.toml"


def _parse_toml(data: dict, source: str) -> dict[str, str]:
    table = data.get("domains", data)
    if not isinstance(table, dict):
        raise DataError(f'{source}: [domains] must be a table of task = "domain" pairs')
    mapping: dict[str, str] = {}
    for task, domain in table.items():
        if not isinstance(domain, str) or not domain.strip():
            raise DataError(
                f"{source}: task {task!r} must map to a non-empty domain string, got {domain!r}"
            )
        mapping[str(task).strip()] = domain.strip()
    return mapping


@lru_cache(maxsize=1)
def _default_map() -> Mapping[str, str]:
    text = resources.files(_PACKAGE).joinpath(_DEFAULT_FILE).read_text(encoding="utf-8")
    return MappingProxyType(_parse_toml(tomllib.loads(text), f"{_PACKAGE}/{_DEFAULT_FILE}"))


def _read_user_map(path: Path) -> dict[str, str]:
    source = str(path)
    if not path.is_file():
        raise DataError(f"{source}: domain map file not found")
    if path.suffix.lower() == ".toml":
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise DataError(f"{source}: cannot read the domain map as TOML: {exc}") from exc
        return _parse_toml(data, source)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{source}: cannot read the domain map as CSV: {exc}") from exc
    missing = [c for c in ("task", "domain") if c not in frame.columns]
    if missing:
        raise DataError(
            f"{source}: a CSV domain map needs columns 'task' and 'domain' "
            f"(missing {missing}; found {list(frame.columns)})"
        )
    mapping: dict[str, str] = {}
    for line, (task, domain) in enumerate(zip(frame["task"], frame["domain"], strict=True), 2):
        if not task.strip() or not domain.strip():
            raise DataError(f"{source}, row {line}: empty task or domain")
        mapping[task.strip()] = domain.strip()
    return mapping


def load_domain_map(path: str | Path | None = None) -> dict[str, str]:
    """The task → domain map.

    Parameters
    ----------
    path
        Optional user file (TOML or CSV, see the module docstring); its entries override and
        extend the shipped default.

    Returns
    -------
    dict[str, str]
        A fresh dictionary (safe to modify).

    Raises
    ------
    DataError
        If the user file is missing or malformed.
    """
    mapping = dict(_default_map())
    if path is not None:
        mapping.update(_read_user_map(Path(path).expanduser()))
    return mapping


def domain_of(task: str, mapping: Mapping[str, str] | None = None) -> str:
    """The domain of ``task``, or ``"other"`` when the map does not know it."""
    table = _default_map() if mapping is None else mapping
    return table.get(task, UNKNOWN_DOMAIN)


def assign_domains(frame: pd.DataFrame, mapping: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Fill the ``domain`` column of a tidy table from the map.

    Existing non-empty ``domain`` values are kept. Tasks the map does not know become
    ``"language_modeling"`` for loss and perplexity rows (validation sets of raw text) and
    ``"other"`` otherwise.

    Parameters
    ----------
    frame
        A table with at least ``task`` (and usually ``metric``) columns.
    mapping
        Task → domain; the default map when omitted.

    Returns
    -------
    pandas.DataFrame
        A copy with a filled ``domain`` column.
    """
    table = dict(_default_map() if mapping is None else mapping)
    df = frame.copy()
    mapped = df["task"].map(table)
    if "metric" in df.columns:
        is_lm = df["metric"].isin(_LM_METRICS)
        mapped = mapped.where(mapped.notna() | ~is_lm, LOSS_DOMAIN)
    mapped = mapped.fillna(UNKNOWN_DOMAIN)
    if "domain" in df.columns:
        current = df["domain"]
        blank = current.isna() | (current.astype(str).str.strip() == "")
        df["domain"] = current.where(~blank, mapped)
    else:
        df["domain"] = mapped
    return df
