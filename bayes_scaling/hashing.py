"""Canonical JSON and content hashes: the ids of specs, data and fits."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import pandas as pd


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: equal objects give equal strings."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_default)


def _default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def digest(*parts: str, length: int = 16) -> str:
    """First ``length`` hex characters of the sha256 of the joined parts."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\x00")
    return h.hexdigest()[:length]


def frame_hash(frame: pd.DataFrame) -> str:
    """Order-independent hash of a table's content (columns sorted, rows sorted)."""
    df = frame.reset_index(drop=True)
    df = df[sorted(df.columns)]
    df = df.sort_values(list(df.columns), kind="mergesort").reset_index(drop=True)
    rows = pd.util.hash_pandas_object(df.astype("string").fillna("<NA>"), index=False)
    return digest(rows.to_numpy().tobytes().hex())


def arrays_digest(arrays: dict[str, Any]) -> str:
    """Hash of named numeric arrays (names sorted; values as float64 bytes with shapes)."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        values = np.ascontiguousarray(np.asarray(arrays[name], dtype="float64"))
        h.update(f"{name}:{values.shape}".encode())
        h.update(values.tobytes())
    return h.hexdigest()[:16]
