"""Loader options from outside Python: a ``data.toml`` beside the data and ``KEY=VALUE`` text.

A data folder may hold a ``data.toml`` whose keys are the keyword arguments of the folder's
loader, e.g. for a folder of lm-evaluation-harness results::

    tokens_per_step = 2097152
    num_fewshot = 0
    accuracy = "acc_norm"

    [params]            # N per run, where the result files do not say
    "pythia-70m" = 18915328
    "pythia-160m" = 85056000

Relative paths (``manifest``, ``domains``) are read relative to the ``data.toml``. On the
command line ``--data-option KEY=VALUE`` sets one key (the value is read as TOML, so
``params={a=1e8,b=3e8}`` is a mapping; bare text is a string) and wins over the file. Unknown
keys are errors naming the key, the loader and the keys it accepts.
"""

from __future__ import annotations

import inspect
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from bayes_scaling.errors import DataError, did_you_mean

FILE_NAME = "data.toml"
_PATH_KEYS = ("manifest", "domains")


def options_file(path: str | Path) -> Path | None:
    """The ``data.toml`` inside data folder ``path``, if there is one."""
    path = Path(path).expanduser()
    candidate = path / FILE_NAME
    return candidate if path.is_dir() and candidate.is_file() else None


def read_options(path: str | Path) -> dict[str, Any]:
    """The options of a ``data.toml``, with relative paths resolved against its folder.

    Raises
    ------
    DataError
        Naming the file when it is not valid TOML.
    """
    path = Path(path)
    try:
        options = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DataError(f"{path}: cannot read the loader options: {exc}") from exc
    for key in _PATH_KEYS:
        value = options.get(key)
        if isinstance(value, str) and not Path(value).expanduser().is_absolute():
            options[key] = str(path.parent / value)
    return options


def parse_pairs(pairs: Iterable[str], *, flag: str = "--data-option") -> dict[str, Any]:
    """``["tokens_per_step=2097152", "accuracy=acc_norm"]`` → options (values read as TOML).

    Raises
    ------
    DataError
        For an item without ``=``, naming the command-line ``flag`` it came from.
    """
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise DataError(f"{flag} {pair!r}: expected KEY=VALUE (e.g. num_fewshot=0)")
        try:
            options[key] = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            options[key] = text.strip()
    return options


def accepted(loader: Callable[..., Any]) -> list[str]:
    """The option names ``loader`` takes (its parameters after the path)."""
    names = list(inspect.signature(loader).parameters)
    return names[1:]


def check_options(loader: Callable[..., Any], options: Mapping[str, Any], *, where: str) -> None:
    """Raise naming ``where`` and the key when ``options`` has a key ``loader`` does not take.

    Raises
    ------
    DataError
        With a "did you mean" when a known key is close.
    """
    known = accepted(loader)
    for key in options:
        if key not in known:
            hint = did_you_mean(key, known)
            raise DataError(
                f"{where}: unknown loader option {key!r} for {loader.__name__}{hint} "
                f"(it takes {known})"
            )
