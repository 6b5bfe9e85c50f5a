"""One self-describing netCDF file per fit, written atomically.

The file is the fit's ``DataTree`` (posterior, sample_stats, observed_data …) plus a
``fit_data`` group holding the observation table the fit used. Root attributes carry the spec
(canonical JSON), seed, package and library versions and a hash of (spec, data, seed) that
:func:`read` checks.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling.atomic import atomic_path
from bayes_scaling.errors import FitFileError

FORMAT_VERSION = 1
_LIBRARIES = ("bayes-scaling", "pymc", "pytensor", "arviz", "nutpie", "numpy", "xarray", "pandas")


def versions() -> dict[str, str]:
    out = {}
    for lib in _LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = "not installed"
    return out


def frame_to_dataset(frame: pd.DataFrame) -> xr.Dataset:
    """A table as a Dataset over ``row``; dtypes that netCDF lacks are recorded in attrs."""
    df = frame.reset_index(drop=True)
    variables = {}
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_bool_dtype(s):
            arr, kind = s.fillna(False).astype("int8").to_numpy(), "bool"
        elif pd.api.types.is_integer_dtype(s):
            arr, kind = s.astype("float64").to_numpy(), "Int64"
        elif pd.api.types.is_numeric_dtype(s):
            arr, kind = s.to_numpy(dtype="float64"), "float64"
        else:
            arr = np.array([("" if pd.isna(v) else str(v)) for v in s], dtype=object)
            kind = "string"
        variables[col] = xr.Variable(("row",), arr, attrs={"pandas_dtype": kind})
    return xr.Dataset(variables)


def dataset_to_frame(ds: xr.Dataset) -> pd.DataFrame:
    """Inverse of :func:`frame_to_dataset`."""
    cols = {}
    for col, var in ds.data_vars.items():
        kind = var.attrs.get("pandas_dtype", "float64")
        values = var.to_numpy()
        if kind == "bool":
            cols[col] = pd.Series(values.astype(bool))
        elif kind == "Int64":
            cols[col] = pd.Series(values).round().astype("Int64")
        elif kind == "string":
            s = pd.Series([str(v) for v in values], dtype="string")
            cols[col] = s.mask(s == "")
        else:
            cols[col] = pd.Series(values.astype("float64"))
    return pd.DataFrame(cols)


def write(tree: xr.DataTree, path: str | Path, attrs: dict[str, Any]) -> Path:
    """Write ``tree`` with root ``attrs`` to ``path`` atomically (temporary name, then rename).

    A crash or interruption leaves either the previous file or none, never a partial one.
    """
    out = tree.copy()
    out.attrs = {**tree.attrs, **{k: _attr(v) for k, v in attrs.items()}}
    with atomic_path(path) as tmp:
        out.to_netcdf(tmp, engine="h5netcdf", invalid_netcdf=True)
    return Path(path)


def _attr(value: Any) -> Any:
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, sort_keys=True)
    return value


def read(path: str | Path) -> xr.DataTree:
    """Open a fit file fully into memory (the file is closed on return)."""
    path = Path(path)
    if not path.is_file():
        raise FitFileError(f"{path}: no such fit file")
    try:
        with xr.open_datatree(path, engine="h5netcdf") as tree:
            loaded = tree.load()
    except Exception as exc:  # h5py/h5netcdf raise several kinds for a damaged file
        raise FitFileError(f"{path}: not a readable netCDF fit file ({exc})") from exc
    if loaded.attrs.get("bayes_scaling_format") is None:
        raise FitFileError(f"{path}: not a bayes_scaling fit file (no bayes_scaling_format)")
    return loaded
