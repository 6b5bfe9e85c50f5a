"""Read a tidy observation table from CSV or Parquet, and the shared last step of every loader.

CSV rows are labelled with their line numbers in the file (header = line 1, first data row =
line 2), so a validation error reads ``runs.csv, row 7, column 'params': ...``. Parquet rows are
labelled from 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling.data.domains import assign_domains, load_domain_map
from bayes_scaling.data.harness import chance_of
from bayes_scaling.data.schema import DataError, Observations

DomainSpec = Mapping[str, str] | str | Path | None
PARQUET_SUFFIXES = (".parquet", ".pq")
_INTEGER_COLUMNS = ("step", "n_items")


def domain_map(domains: DomainSpec) -> dict[str, str] | None:
    """The default map extended by ``domains`` (a mapping or a TOML/CSV file); None if none."""
    if domains is None:
        return None
    if isinstance(domains, str | Path):
        return load_domain_map(domains)
    return load_domain_map() | dict(domains)


def finalize(frame: pd.DataFrame, *, source: str, domains: DomainSpec = None) -> Observations:
    """Fill domains and validate a loader's table.

    Parameters
    ----------
    frame
        Tidy rows with unique index labels (used as row names in errors).
    source
        The file or folder the rows came from.
    domains
        Extra task → domain entries (a mapping, or a TOML/CSV file) on top of the default map.

    Returns
    -------
    Observations
        The validated table.
    """
    df = assign_domains(frame, domain_map(domains))
    return Observations.from_frame(df, source=source)


def numeric_column(frame: pd.DataFrame, col: str, source: str) -> pd.Series:
    """Column ``col`` as float64; blank cells become NaN, text raises.

    Raises
    ------
    DataError
        Naming the file, row label and column of the first non-numeric cell.
    """
    if pd.api.types.is_numeric_dtype(frame[col]):
        return frame[col].astype("float64")
    values = pd.to_numeric(frame[col], errors="coerce")
    bad = values.isna() & frame[col].notna()
    if bad.any():
        label = bad[bad].index[0]
        raise DataError(
            f"{source}, row {label}, column {col!r}: not a number: {frame.at[label, col]!r}"
        )
    return values.astype("float64")


def _as_integers(frame: pd.DataFrame) -> pd.DataFrame:
    # Integer columns with blank cells are read as float64 with NaN. Turn them into nullable
    # integers when every present value is integral, so blanks mean "not available"; anything
    # else is left for the schema to report with its row and column.
    for col in _INTEGER_COLUMNS:
        if col not in frame.columns:
            continue
        numeric = pd.to_numeric(frame[col], errors="coerce")
        present = numeric.notna()
        if not (present == frame[col].notna()).all():
            continue
        values = numeric[present].to_numpy(dtype="float64")
        if np.all(np.isfinite(values)) and np.all(values % 1 == 0) and np.all(values >= 0):
            frame[col] = numeric.astype("Int64")
    return frame


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV/TSV or Parquet file into a frame labelled by line number (CSV) or row (Parquet).

    Raises
    ------
    DataError
        If the file is missing, unreadable or empty.
    """
    path = Path(path).expanduser()
    source = str(path)
    if not path.exists():
        raise DataError(f"{source}: file not found")
    if not path.is_file():
        raise DataError(f"{source}: not a file")
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        try:
            frame = pd.read_parquet(path)
        except ImportError as exc:
            raise DataError(
                f"{source}: reading Parquet needs pyarrow (pip install 'bayes-scaling[parquet]')"
            ) from exc
        except Exception as exc:  # pyarrow raises its own error types
            raise DataError(f"{source}: cannot read as Parquet: {exc}") from exc
        return frame.reset_index(drop=True)
    sep = "\t" if suffix == ".tsv" else ","
    try:
        frame = pd.read_csv(path, sep=sep, skip_blank_lines=False)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{source}: the file is empty") from exc
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"{source}: cannot read as CSV: {exc}") from exc
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    return frame.dropna(how="all")


def load_tidy(path: str | Path, *, domains: DomainSpec = None) -> Observations:
    """Load a tidy observation table (CSV, TSV or Parquet).

    Parameters
    ----------
    path
        The file. Required columns: run, params, tokens, task, metric, value; optional: dataset,
        family, step, domain, n_items, chance, stderr (extra columns are kept).
    domains
        Extra task → domain entries for rows without a ``domain``.

    Returns
    -------
    Observations

    Raises
    ------
    DataError
        For a missing/unreadable file, or invalid content (message names file, line, column).
    """
    frame = _as_integers(read_table(path))
    if len(frame) and "task" in frame.columns:
        frame = assign_domains(frame, domain_map(domains))
        frame = _known_chance(frame)
    return Observations.from_frame(frame, source=str(Path(path).expanduser()))


def _known_chance(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill blank ``chance`` cells of accuracy rows whose task the harness table knows."""
    if "metric" not in frame.columns:
        return frame
    given = frame["chance"] if "chance" in frame.columns else pd.Series(np.nan, frame.index)
    known = frame["task"].astype(str).map(chance_of)
    fill = given.isna() & (frame["metric"] == "accuracy") & known.notna()
    if fill.any():
        frame = frame.assign(chance=given.astype(object).where(~fill, known))
    return frame


def source_csv(
    path: str | Path, file_name: str, columns: Sequence[str], *, what: str
) -> tuple[pd.DataFrame, str]:
    """A source's one CSV, given as the file or the folder holding it as ``file_name``: the
    table (:func:`read_source_csv`) and the file's name for errors.

    Raises
    ------
    DataError
        If there is no such file, or as :func:`read_source_csv`.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / file_name
    if not path.is_file():
        raise DataError(f"{path}: {what} table not found")
    return read_source_csv(path, columns, what=what), str(path)


def read_source_csv(path: Path, columns: Sequence[str], *, what: str) -> pd.DataFrame:
    """A source CSV whose index is its file line numbers (for errors), with ``columns``.

    Raises
    ------
    DataError
        Naming the file when it cannot be read or lacks one of ``columns`` (``what`` names
        the layout expected).
    """
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot read the {what} table: {exc}") from exc
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing} of the {what} layout")
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    return frame
