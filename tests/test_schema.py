"""Every bad tidy input gets a clear error naming the file, the CSV line and the column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_scaling.data import DataError, Observations, load, load_tidy

HEADER = "run,params,tokens,task,metric,value"
GOOD = [
    "r1,1e8,2e9,c4_val,loss,3.5",
    "r1,1e8,4e9,c4_val,loss,3.3",
    "r1,1e8,4e9,piqa,accuracy,0.61",
    "r2,4e8,8e9,piqa,accuracy,0.66",
]


def write(tmp_path: Path, lines: list[str], name: str = "obs.csv", header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def bad_row(lines: list[str], index: int, row: str) -> list[str]:
    """``lines`` with data row ``index`` (CSV line ``index + 2``) replaced."""
    out = list(lines)
    out[index] = row
    return out


def expect_error(path: Path, *parts: str) -> str:
    for loader in (load_tidy, load):
        with pytest.raises(DataError) as info:
            loader(path)
        message = str(info.value)
        assert str(path) in message
        for part in parts:
            assert part in message, f"{part!r} not in {message!r}"
    return message


def test_good_table_loads_with_line_numbers_and_domains(tmp_path: Path) -> None:
    obs = load_tidy(write(tmp_path, GOOD))
    assert isinstance(obs, Observations)
    assert len(obs) == 4
    assert list(obs.frame.index) == [2, 3, 4, 5]
    assert obs.frame["params"].dtype == np.float64
    assert dict(zip(obs.frame["task"], obs.frame["domain"], strict=True)) == {
        "c4_val": "language_modeling",
        "piqa": "commonsense",
    }
    assert len(load(write(tmp_path, GOOD, name="again.csv"))) == 4


def test_missing_column(tmp_path: Path) -> None:
    header = "run,params,tokens,task,value"
    lines = [",".join(r.split(",")[:4] + r.split(",")[5:]) for r in GOOD]
    path = write(tmp_path, lines, header=header)
    expect_error(path, "missing required column", "'metric'")


@pytest.mark.parametrize(
    ("row", "column", "what"),
    [
        ("r1,0,4e9,piqa,accuracy,0.61", "params", "N (parameters) must be > 0"),
        ("r1,-1e8,4e9,piqa,accuracy,0.61", "params", "N (parameters) must be > 0"),
        ("r1,1e8,0,piqa,accuracy,0.61", "tokens", "D (tokens) must be > 0"),
        ("r1,1e8,-5,piqa,accuracy,0.61", "tokens", "D (tokens) must be > 0"),
    ],
)
def test_non_positive_n_and_d(tmp_path: Path, row: str, column: str, what: str) -> None:
    path = write(tmp_path, bad_row(GOOD, 2, row))
    expect_error(path, "row 4", f"column '{column}'", what)


@pytest.mark.parametrize(
    ("row", "column"),
    [
        ("r1,1e8,4e9,piqa,accuracy,", "value"),
        ("r1,1e8,4e9,piqa,accuracy,nan", "value"),
        ("r1,1e8,4e9,piqa,accuracy,inf", "value"),
        ("r1,1e8,inf,piqa,accuracy,0.6", "tokens"),
        ("r1,,4e9,piqa,accuracy,0.6", "params"),
    ],
)
def test_nan_and_inf(tmp_path: Path, row: str, column: str) -> None:
    path = write(tmp_path, bad_row(GOOD, 1, row))
    expect_error(path, "row 3", f"column '{column}'", "NaN and infinite values are not allowed")


def test_text_in_numeric_column(tmp_path: Path) -> None:
    path = write(tmp_path, bad_row(GOOD, 3, "r2,big,8e9,piqa,accuracy,0.66"))
    expect_error(path, "row 5", "column 'params'", "not a number", "'big'")


@pytest.mark.parametrize("value", ["1.5", "-0.1", "61"])
def test_accuracy_outside_unit_interval(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, bad_row(GOOD, 2, f"r1,1e8,4e9,piqa,accuracy,{value}"))
    expect_error(path, "row 4", "column 'value'", "accuracy must lie in [0, 1]")


def test_error_metric_outside_unit_interval(tmp_path: Path) -> None:
    path = write(tmp_path, bad_row(GOOD, 2, "r1,1e8,4e9,piqa,error,1.2"))
    expect_error(path, "row 4", "column 'value'", "error must lie in [0, 1]")


def test_non_positive_loss(tmp_path: Path) -> None:
    path = write(tmp_path, bad_row(GOOD, 0, "r1,1e8,2e9,c4_val,loss,0"))
    expect_error(path, "row 2", "column 'value'", "loss must be > 0")


def test_unknown_metric(tmp_path: Path) -> None:
    path = write(tmp_path, bad_row(GOOD, 2, "r1,1e8,4e9,piqa,acc_norm,0.6"))
    expect_error(path, "row 4", "column 'metric'", "unknown metric 'acc_norm'", "accuracy")


def test_empty_run_name(tmp_path: Path) -> None:
    path = write(tmp_path, bad_row(GOOD, 1, ",1e8,4e9,c4_val,loss,3.3"))
    expect_error(path, "row 3", "column 'run'", "empty value")


def test_conflicting_duplicates(tmp_path: Path) -> None:
    lines = [*GOOD, "r1,1e8,4e9,piqa,accuracy,0.65"]
    path = write(tmp_path, lines)
    expect_error(path, "rows 4 and 6", "duplicates", "run='r1'", "task='piqa'", "conflicting")


def test_exact_duplicates_collapse(tmp_path: Path) -> None:
    lines = [*GOOD, GOOD[2], GOOD[0]]
    obs = load_tidy(write(tmp_path, lines))
    assert len(obs) == len(GOOD)
    assert list(obs.frame.index) == [2, 3, 4, 5]


def test_optional_columns_checked(tmp_path: Path) -> None:
    header = HEADER + ",chance,step,n_items"
    lines = [r + ",0.5,100,1838" for r in GOOD]
    assert len(load_tidy(write(tmp_path, lines, header=header))) == 4

    path = write(tmp_path, bad_row(lines, 1, GOOD[1] + ",1.0,100,1838"), "c.csv", header)
    expect_error(path, "row 3", "column 'chance'", "[0, 1)")
    path = write(tmp_path, bad_row(lines, 2, GOOD[2] + ",0.5,12.5,1838"), "s.csv", header)
    expect_error(path, "row 4", "column 'step'", "non-negative integer")
    path = write(tmp_path, bad_row(lines, 3, GOOD[3] + ",0.5,100,-3"), "n.csv", header)
    expect_error(path, "row 5", "column 'n_items'", "non-negative integer")


def test_blank_optional_integers_mean_missing(tmp_path: Path) -> None:
    header = HEADER + ",step,n_items"
    lines = [GOOD[0] + ",100,", GOOD[1] + ",200,", GOOD[2] + ",200,1838", GOOD[3] + ",,1838"]
    obs = load_tidy(write(tmp_path, lines, header=header))
    assert str(obs.frame["n_items"].dtype) == "Int64"
    assert obs.frame["n_items"].isna().sum() == 2
    assert obs.frame["step"].isna().sum() == 1


def test_line_numbers_survive_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text("\n".join([HEADER, GOOD[0], "", GOOD[1], "r2,1e8,4e9,piqa,accuracy,7"]))
    expect_error(path, "row 5", "column 'value'")


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(DataError, match=r"nope\.csv: file not found"):
        load_tidy(missing)
    with pytest.raises(DataError, match=r"nope\.csv: no such file or folder"):
        load(missing)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match=r"empty\.csv: the file is empty"):
        load_tidy(empty)
    header_only = write(tmp_path, [], name="header.csv")
    with pytest.raises(DataError, match=r"header\.csv: the table has no rows"):
        load_tidy(header_only)
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match=r"garbage\.parquet: cannot read as Parquet"):
        load_tidy(garbage)


def test_unrecognised_file(tmp_path: Path) -> None:
    path = write(tmp_path, ["1,2"], name="other.csv", header="a,b")
    with pytest.raises(DataError) as info:
        load(path)
    assert str(path) in str(info.value)
    assert "formats tried" in str(info.value)
    assert "tidy CSV" in str(info.value)


def test_tsv_and_parquet(tmp_path: Path) -> None:
    tsv = tmp_path / "obs.tsv"
    tsv.write_text("\n".join(line.replace(",", "\t") for line in [HEADER, *GOOD]) + "\n")
    assert len(load(tsv)) == 4

    frame = pd.read_csv(write(tmp_path, GOOD))
    parquet = tmp_path / "obs.parquet"
    frame.to_parquet(parquet)
    obs = load(parquet)
    assert len(obs) == 4
    bad = frame.copy()
    bad.loc[1, "tokens"] = -1.0
    bad.to_parquet(parquet)
    with pytest.raises(DataError, match=r"obs\.parquet, row 1, column 'tokens'"):
        load_tidy(parquet)


def test_bad_selection_query(tmp_path: Path) -> None:
    obs = load_tidy(write(tmp_path, GOOD))
    assert len(obs.select("flops < 1e20 and task == 'piqa'")) == 2
    with pytest.raises(DataError, match="cannot evaluate selection 'no_such_column > 1'"):
        obs.select("no_such_column > 1")
    with pytest.raises(DataError, match="cannot evaluate selection"):
        obs.select("params >")
    with pytest.raises(DataError, match="is not a true/false condition"):
        obs.select("params + 1")
    with pytest.raises(DataError, match="matches no rows"):
        obs.select("params > 1e30")
    with pytest.raises(DataError, match="no column 'arch'"):
        obs.where(arch="x")
