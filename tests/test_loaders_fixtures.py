"""The five real-data loaders and ``load`` auto-detection on small synthetic fixtures (fast tier).

``tests/fixtures/formats/`` holds one folder per public data layout (Gadre et al. testbed,
Epoch's Chinchilla points, OLMo ladder runs, Pythia evaluations, Hitchhiker ``olmo.csv``), written
by ``tests/fixtures/make_formats.py`` with simulated values. These tests need no real data: the
expected counts follow from what the script writes (its docstring lists the runs and rows).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_scaling.data import (
    TASKS_17,
    DataError,
    load,
    load_chinchilla,
    load_gadre,
    load_hitchhiker_olmo,
    load_olmo_ladder,
    load_pythia,
)
from bayes_scaling.data.detect import detect
from bayes_scaling.data.hitchhiker import CORRUPT_STEPS
from bayes_scaling.data.pythia import README_OVERRIDES

FIXTURES = Path(__file__).parent / "fixtures"
FORMATS = FIXTURES / "formats"
EXP = FORMATS / "overtraining" / "raw" / "exp_data"
CHINCHILLA = FORMATS / "chinchilla" / "svg_extracted_data.csv"
LADDER = FORMATS / "olmo-ladder" / "ladder-runs"
PYTHIA = FORMATS / "pythia" / "pythia_evals_long.csv"
OLMO = FORMATS / "hitchhiker" / "olmo.csv"

GADRE_LOSS_SETS = {
    "c4_val",
    "openlm",
    "paloma_c4_en",
    "paloma_redpajama",
    "paloma_falcon-refinedweb",
    "paloma_dolma_100_programing_languages",
    "paloma_ptb",
    "val_de-en_100",
}
GADRE_TASKS = {"arc_easy", "arc_challenge", "piqa", "copa", "hellaswag", "jeopardy"}
GADRE_TASKS |= {"winogrande", "boolq"}
LADDER_LOSS = {"c4_en", "dolma_books", "dolma_common-crawl", "dolma_pes2o", "dolma_reddit"}
LADDER_LOSS |= {"dolma_stack", "dolma_wiki", "ice", "m2d2_s2orc", "pile", "wikitext_103"}
LADDER_DOWNSTREAM = {
    "hellaswag", "arc_easy", "arc_challenge", "boolq", "csqa", "openbookqa", "piqa",
    "socialiqa", "winogrande", "mmlu_stem", "mmlu_humanities", "mmlu_social_sciences",
    "mmlu_other",
}  # fmt: skip
#: Checkpoints per ladder file, and eval rows per checkpoint for each split option.
LADDER_CHECKPOINTS = {"190M-1xC": 4, "190M-1xC-rerun": 2, "190M-2xC": 3, "370M-1xC": 3}
LADDER_CHECKPOINTS["370M-2xC"] = 3
PER_CHECKPOINT = {"paper": 11 + 13 + 13, "val": 11 + 13 + 13, "test": 11 + 7 + 7}
PER_CHECKPOINT["both"] = 11 + 20 + 20
PYTHIA_ITEMS = {
    "arc_challenge": 1172,
    "arc_easy": 2376,
    "mmlu_abstract_algebra": 100,
    "mmlu_anatomy": 135,
    "lambada_openai": 5153,
    "piqa": 1838,
    "winogrande": 1267,
    "wsc": 104,
}


def _copy(tmp_path: Path, name: str) -> Path:
    """A writable copy of fixture folder ``name`` (to corrupt one file in)."""
    return Path(shutil.copytree(FORMATS / name, tmp_path / name))


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _edit_cell(path: Path, line: int, column: str, text: str) -> None:
    """Set ``column`` of CSV line ``line`` (header = 1) to ``text``, keeping line ends."""
    raw = path.read_bytes().decode("utf-8")
    newline = "\r\n" if "\r\n" in raw else "\n"
    rows = list(csv.reader(raw.splitlines()))
    rows[line - 1][rows[0].index(column)] = text
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator=newline).writerows(rows)


# --- the fixture files themselves ----------------------------------------------------------


def test_the_script_rewrites_the_fixtures_byte_for_byte(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_formats", FIXTURES / "make_formats.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    shipped = sorted(p.relative_to(FORMATS) for p in FORMATS.rglob("*") if p.is_file())
    assert written == shipped and len(shipped) == 22
    for rel in shipped:
        assert (tmp_path / rel).read_bytes() == (FORMATS / rel).read_bytes(), rel
    assert sum((FORMATS / rel).stat().st_size for rel in shipped) < 200_000


def test_the_fixtures_keep_the_upstream_quirks() -> None:
    assert PYTHIA.read_bytes().count(b"\r\n") == 169  # CRLF line ends, header + 168 rows
    meta = pd.read_csv(EXP / "eval_metadata.csv").set_index("Eval Task")
    assert meta.loc["arc_challenge", "#datapoints"] == meta.loc["arc_easy", "#datapoints"]
    olmo = pd.read_csv(OLMO)
    assert "OLMo-1B " in set(olmo["model_name"])  # trailing space
    doubled = olmo[olmo["Step"].isin(CORRUPT_STEPS["OLMo-7B-Twin-2T"])]
    assert len(doubled) == 2 and (doubled.filter(like="downstream/") > 1).any(axis=None)
    ladder = {f.stem: f.read_text().splitlines()[1].split(",")[-5] for f in LADDER.glob("*.csv")}
    assert ladder["190M-1xC"].endswith(".0") and "." not in ladder["370M-1xC"]


# --- Gadre et al. ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gadre() -> pd.DataFrame:
    return load_gadre(FORMATS / "overtraining").frame


def test_gadre_counts_and_columns(gadre: pd.DataFrame) -> None:
    assert len(gadre) == 6 * (8 + 8)
    assert list(gadre.columns) == [
        "run", "params", "tokens", "dataset", "family", "arch", "paper_fit_loss",
        "paper_fit_error", "task", "metric", "value", "task_in_17", "n_items", "chance", "domain",
    ]  # fmt: skip
    runs = gadre.drop_duplicates("run").set_index("run")
    assert runs["dataset"].value_counts().to_dict() == {"redpajama": 3, "c4": 2, "refinedweb": 1}
    assert set(gadre["family"]) == {"open_lm"}
    loss, acc = gadre[gadre["metric"] == "loss"], gadre[gadre["metric"] == "accuracy"]
    assert set(loss["task"]) == GADRE_LOSS_SETS and set(acc["task"]) == GADRE_TASKS
    assert "gsm8k" not in set(gadre["task"])  # listed in the metadata, never evaluated
    assert acc["n_items"].notna().all() and loss["n_items"].isna().all()
    assert set(gadre.loc[gadre["task"] == "arc_challenge", "n_items"]) == {1172}  # the fix
    assert set(gadre.loc[gadre["task"] == "arc_easy", "n_items"]) == {2376}
    assert set(gadre.loc[gadre["task"] == "copa", "n_items"]) == {100}
    chance = acc.drop_duplicates("task").set_index("task")["chance"]
    assert chance.to_dict() == {
        "arc_easy": 0.25, "hellaswag": 0.25, "copa": 0.5, "boolq": 0.5, "arc_challenge": 0.25,
        "jeopardy": 0.0, "piqa": 0.5, "winogrande": 0.5,
    }  # fmt: skip
    in_17 = set(acc.loc[acc["task_in_17"], "task"])
    assert (
        in_17 == {"arc_easy", "piqa", "copa", "hellaswag", "boolq"} == GADRE_TASKS & set(TASKS_17)
    )
    assert not loss["task_in_17"].any()
    assert sorted(runs.index[runs["paper_fit_loss"]]) == [
        "c4_original-d=512_l=8_h=4-1.0",
        "rpj-d=96_l=8_h=4-1.0",
        "rpj-d=96_l=8_h=4-16.0",
    ]
    assert sorted(runs.index[runs["paper_fit_error"]]) == [
        "c4_original-d=512_l=8_h=4-1.0",
        "rpj-d=96_l=8_h=4-1.0",
        "rpj-d=96_l=8_h=4-16.0",
        "rw_original-open_lm_1b-1.0",
    ]
    assert runs.loc["rw_original-open_lm_1b-1.0", "arch"] == "open_lm_1b"
    np.testing.assert_array_equal(runs["tokens"] / runs["params"] / 20, [1, 4, 0.25, 1, 16, 1])


def test_gadre_values_match_the_json_files(gadre: pd.DataFrame) -> None:
    run = "rpj-d=96_l=8_h=4-16.0"
    model = json.loads((EXP / "models" / f"{run}.json").read_text())
    evals = json.loads((EXP / "evals" / f"evaluation_{run}_heavy.json").read_text())
    mine = gadre[gadre["run"] == run].set_index("task")
    assert mine["params"].iloc[0] == model["hyperparameters"]["params"] == 10_569_312
    assert mine["tokens"].iloc[0] == model["hyperparameters"]["tokens"] == 20 * 16 * 10_569_312
    c4 = next(r for r in model["results"] if "/c4_val/" in r["val_data"][0])
    assert mine.loc["c4_val", "value"] == c4["loss"]
    de_en = next(r for r in model["results"] if r["val_data"][0].endswith("val_de-en_100.tar"))
    assert mine.loc["val_de-en_100", "value"] == de_en["loss"]
    assert mine.loc["copa", "value"] == evals["eval_metrics"]["icl"]["copa"]
    assert mine.loc["copa", "domain"] == "commonsense"


@pytest.mark.parametrize("relative", ["", "raw", "raw/exp_data"])
def test_gadre_folder_levels(relative: str) -> None:
    assert len(load_gadre(FORMATS / "overtraining" / relative)) == 96


def test_gadre_domains_option() -> None:
    frame = load_gadre(FORMATS / "overtraining", domains={"piqa": "physical"}).frame
    assert set(frame.loc[frame["task"] == "piqa", "domain"]) == {"physical"}
    assert set(frame.loc[frame["task"] == "copa", "domain"]) == {"commonsense"}


def _gadre_copy(tmp_path: Path) -> Path:
    return _copy(tmp_path, "overtraining") / "raw" / "exp_data"


def test_gadre_malformed_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"not a Gadre et al\. testbed folder"):
        load_gadre(FORMATS / "chinchilla")

    exp = _gadre_copy(tmp_path)
    broken = exp / "models" / "rpj-d=96_l=8_h=4-1.0.json"
    broken.write_text(broken.read_text()[:500])
    with pytest.raises(DataError, match=r"rpj-d=96_l=8_h=4-1\.0\.json: cannot read JSON"):
        load_gadre(exp)

    exp = _gadre_copy(tmp_path / "b")
    path = exp / "models" / "c4_original-d=512_l=8_h=4-4.0.json"
    data = json.loads(path.read_text())
    del data["hyperparameters"]["tokens"]
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"h=4-4\.0\.json: missing or invalid field 'tokens'"):
        load_gadre(exp)

    exp = _gadre_copy(tmp_path / "c")
    path = exp / "evals" / "evaluation_rpj-d=96_l=8_h=4-0.25_heavy.json"
    data = json.loads(path.read_text())
    data["eval_metrics"]["icl"]["mmlu"] = 0.25
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"0\.25_heavy\.json: task 'mmlu' is not in eval_metadata"):
        load_gadre(exp)


def test_gadre_inconsistent_folders_are_named(tmp_path: Path) -> None:
    exp = _gadre_copy(tmp_path / "a")
    (exp / "evals" / "evaluation_rw_original-open_lm_1b-1.0_heavy.json").unlink()
    with pytest.raises(DataError, match=r"1b-1\.0\.json: no downstream evaluation file"):
        load_gadre(exp)

    exp = _gadre_copy(tmp_path / "b")
    (exp / "models" / "rw_original-open_lm_1b-1.0.json").unlink()
    with pytest.raises(DataError, match=r"without a model file .*rw_original-open_lm_1b-1\.0"):
        load_gadre(exp)

    exp = _gadre_copy(tmp_path / "c")
    for folder, name in (("models", "{}.json"), ("evals", "evaluation_{}_heavy.json")):
        old = exp / folder / name.format("rpj-d=96_l=8_h=4-1.0")
        old.rename(exp / folder / name.format("rpj-d=96_l=8_h=4-2.0"))
    with pytest.raises(DataError, match=r"h=4-2\.0\.json: run name .* does not match the file"):
        load_gadre(exp)

    exp = _gadre_copy(tmp_path / "d")
    meta = exp / "eval_metadata.csv"
    text = meta.read_text()
    meta.write_text(text.replace("Random baseline", "Chance"))
    with pytest.raises(DataError, match=r"eval_metadata\.csv: missing column.*Random baseline"):
        load_gadre(exp)
    lines = text.splitlines()
    header = lines[0].split(",")
    cells = lines[2].split(",")  # file line 3
    cells[header.index("#datapoints")] = "many"
    meta.write_text("\n".join([*lines[:2], ",".join(cells), *lines[3:]]) + "\n")
    with pytest.raises(DataError, match=r"eval_metadata\.csv, row 3, column '#datapoints'.*many"):
        load_gadre(exp)


# --- Chinchilla -----------------------------------------------------------------------------

OUTLIER_POSITIONS = [0, 1, 7, 13, 21]


def test_chinchilla_rows_outliers_and_columns() -> None:
    obs, full = load_chinchilla(CHINCHILLA), load_chinchilla(CHINCHILLA, drop_outliers=False)
    assert len(obs) == 20 and len(full) == 25
    frame = obs.frame
    assert list(frame.columns) == [
        "run", "params", "tokens", "task", "metric", "value", "dataset", "family", "domain",
    ]  # fmt: skip
    assert set(frame["task"]) == {"train"} and set(frame["metric"]) == {"loss"}
    assert set(frame["dataset"]) == {"massivetext"} and set(frame["family"]) == {"chinchilla"}
    dropped = full.frame.loc[full.frame.index.difference(frame.index)]
    assert list(dropped.index) == [p + 2 for p in OUTLIER_POSITIONS]  # CSV line numbers
    assert list(dropped["run"]) == [f"chinchilla-{p}" for p in OUTLIER_POSITIONS]
    assert dropped["value"].min() > frame["value"].max()
    assert frame["run"].is_unique and frame["tokens"].dtype == np.float64


def test_chinchilla_values_match_the_file() -> None:
    rows = _rows(CHINCHILLA)
    full = load_chinchilla(CHINCHILLA, drop_outliers=False)
    third = full.frame.loc[4]  # line 4 = data row 2
    n, c = float(rows[2]["Model Size"]), float(rows[2]["Training FLOP"])
    assert third["run"] == "chinchilla-2" and third["params"] == n
    assert third["tokens"] == c / (6 * n) and third["value"] == float(rows[2]["loss"])
    flops = [float(r["Training FLOP"]) for r in rows]
    np.testing.assert_allclose(full.with_derived()["flops"], flops, rtol=1e-12)


def test_chinchilla_malformed_files_are_named(tmp_path: Path) -> None:
    path = _copy(tmp_path, "chinchilla") / "svg_extracted_data.csv"
    _edit_cell(path, 6, "loss", "oops")
    with pytest.raises(DataError, match=r"svg_extracted_data\.csv, row 6, column 'loss'.*oops"):
        load_chinchilla(path)
    path.write_text(CHINCHILLA.read_text())
    _edit_cell(path, 3, "Model Size", "big")  # named by its source column and text
    with pytest.raises(DataError, match=r"row 3, column 'Model Size': not a number: 'big'"):
        load_chinchilla(path)
    path.write_text(CHINCHILLA.read_text().replace("Training FLOP", "FLOP"))
    with pytest.raises(DataError, match=r"svg_extracted_data\.csv: missing column.*Training FLOP"):
        load_chinchilla(path)


# --- OLMo ladder ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ladder() -> pd.DataFrame:
    return load_olmo_ladder(LADDER).frame


def test_olmo_ladder_runs_and_endpoints(ladder: pd.DataFrame) -> None:
    assert len(ladder) == sum(LADDER_CHECKPOINTS.values()) * PER_CHECKPOINT["paper"] == 555
    assert list(ladder.columns) == [
        "task", "metric", "value", "tokens", "step", "split", "chance", "run", "params", "size",
        "multiplier_label", "dataset", "family", "domain",
    ]  # fmt: skip
    assert ladder.groupby("run")["step"].nunique().to_dict() == LADDER_CHECKPOINTS
    end = ladder.groupby("run")["tokens"].max()
    assert end["190M-1xC"] == 14523 * 262_144  # ceil(20 N / batch) steps
    assert end["370M-2xC"] == 14163 * 1_048_576
    assert end["190M-1xC"] == pytest.approx(20 * 190_354_176, rel=2e-4)
    assert ladder.groupby("run")["step"].max()["190M-2xC"] == 29046
    labels = ladder.drop_duplicates("run").set_index("run")
    assert labels["params"].to_dict() == {
        "190M-1xC-rerun": 190_354_176, "190M-1xC": 190_354_176, "190M-2xC": 190_354_176,
        "370M-1xC": 371_262_464, "370M-2xC": 371_262_464,
    }  # fmt: skip
    assert labels.loc["190M-1xC-rerun", "size"] == "190M"
    assert labels.loc["190M-1xC-rerun", "multiplier_label"] == "1xC"
    assert labels.loc["370M-2xC", "multiplier_label"] == "2xC"
    assert set(ladder["dataset"]) == {"olmo-mix"} and set(ladder["family"]) == {"olmo-ladder"}


def test_olmo_ladder_tasks_splits_and_chance(ladder: pd.DataFrame) -> None:
    by_metric = {m: set(g) for m, g in ladder.groupby("metric")["task"]}
    assert by_metric == {
        "loss": LADDER_LOSS,
        "bpb": LADDER_DOWNSTREAM,
        "accuracy": LADDER_DOWNSTREAM,
    }
    acc = ladder[ladder["metric"] == "accuracy"].drop_duplicates("task").set_index("task")
    assert acc.loc["arc_easy", "split"] == "test" and acc.loc["hellaswag", "split"] == "val"
    assert acc.loc["mmlu_stem", "split"] == "test" and acc.loc["boolq", "split"] == "val"
    assert acc.loc["openbookqa", "split"] == "test" and acc.loc["csqa", "split"] == "val"
    assert acc.loc["csqa", "chance"] == 0.2
    assert acc.loc["socialiqa", "chance"] == pytest.approx(1 / 3)
    assert acc.loc["piqa", "chance"] == 0.5 and acc.loc["hellaswag", "chance"] == 0.25
    assert ladder.loc[ladder["metric"] != "accuracy", "chance"].isna().all()
    assert ladder.loc[ladder["metric"] == "loss", "split"].isna().all()
    assert (ladder.groupby(["run", "step", "task", "metric"]).size() == 1).all()


def test_olmo_ladder_values_match_the_file(ladder: pd.DataFrame) -> None:
    for run in ("190M-2xC", "370M-2xC"):  # float and integer throughput/total_tokens
        last = _rows(LADDER / f"{run}.csv")[-1]
        mine = ladder[(ladder["run"] == run) & (ladder["step"] == int(last["_step"]))]
        mine = mine.set_index(["task", "metric"])
        values = mine["value"]
        assert values[("c4_en", "loss")] == float(last["eval/c4_en-validation/CrossEntropyLoss"])
        bpb = last["eval/downstream_bpb/arc_easy_test_rc_5shot_bpb"]
        assert values[("arc_easy", "bpb")] == float(bpb)
        acc = last["eval/downstream/arc_easy_test_rc_5shot_len_norm"]
        assert values[("arc_easy", "accuracy")] == float(acc)
        assert values[("boolq", "accuracy")] == float(
            last["eval/downstream/boolq_val_rc_5shot_acc"]
        )
        assert set(mine["tokens"]) == {float(last["throughput/total_tokens"])}


def test_olmo_ladder_split_options() -> None:
    path = LADDER / "190M-1xC.csv"
    for split, per in PER_CHECKPOINT.items():
        assert len(load_olmo_ladder(path, split=split)) == 4 * per, split
    both = load_olmo_ladder(path, split="both").frame
    assert {"arc_easy_val", "arc_easy_test", "hellaswag_val", "mmlu_other_test"} <= set(
        both["task"]
    )
    assert "hellaswag_test" not in set(both["task"]) and "arc_easy" not in set(both["task"])
    domains = both.drop_duplicates("task").set_index("task")["domain"]
    assert domains["arc_easy_val"] == "science" and domains["mmlu_stem_test"] == "mmlu_stem"
    both_acc = both[both["metric"] == "accuracy"]
    chance = both_acc.drop_duplicates("task").set_index("task")["chance"]
    assert chance["csqa_val"] == 0.2 and chance["piqa_val"] == 0.5
    test_only = load_olmo_ladder(path, split="test").frame
    assert "hellaswag" not in set(test_only["task"]) and "arc_easy" in set(test_only["task"])
    assert set(test_only["split"].dropna()) == {"test"}
    val_only = load_olmo_ladder(path, split="val").frame
    assert set(val_only["split"].dropna()) == {"val"} and "hellaswag" in set(val_only["task"])
    with pytest.raises(DataError, match="split must be one of"):
        load_olmo_ladder(path, split="dev")


def test_olmo_ladder_missing_cells_and_token_fallback(tmp_path: Path) -> None:
    folder = _copy(tmp_path, "olmo-ladder") / "ladder-runs"
    path = folder / "370M-1xC.csv"
    _edit_cell(path, 3, "eval/downstream/piqa_val_rc_5shot_len_norm", "")
    frame = load_olmo_ladder(path).frame
    assert len(frame) == 3 * PER_CHECKPOINT["paper"] - 1  # the blank evaluation is skipped
    table = pd.read_csv(path).drop(columns=["throughput/total_tokens"])
    table.to_csv(path, index=False)
    frame = load_olmo_ladder(path).frame  # D = _step × batch_size_in_tokens
    assert set(frame["tokens"]) == {2400 * 1_048_576.0, 4800 * 1_048_576.0, 7082 * 1_048_576.0}


def test_olmo_ladder_malformed_files_are_named(tmp_path: Path) -> None:
    folder = _copy(tmp_path, "olmo-ladder") / "ladder-runs"
    path = folder / "370M-2xC.csv"
    _edit_cell(path, 3, "eval/c4_en-validation/CrossEntropyLoss", "oops")
    with pytest.raises(DataError, match=r"370M-2xC\.csv, row 3, column 'eval/c4_en-.*oops"):
        load_olmo_ladder(folder)
    shutil.copy(LADDER / "190M-1xC.csv", folder / "42M-1xC.csv")
    with pytest.raises(DataError, match=r"ladder-runs/42M-1xC\.csv: 42M-1xC: not an OLMo ladder"):
        load_olmo_ladder(folder / "42M-1xC.csv")
    table = pd.read_csv(LADDER / "190M-2xC.csv").drop(columns=["_step"])
    table.to_csv(folder / "190M-2xC.csv", index=False)
    with pytest.raises(DataError, match=r"190M-2xC\.csv: missing column '_step'"):
        load_olmo_ladder(folder / "190M-2xC.csv")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no ladder CSV files"):
        load_olmo_ladder(empty)


# --- Pythia ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pythia() -> pd.DataFrame:
    return load_pythia(PYTHIA, overrides=README_OVERRIDES).frame


def test_pythia_rows_and_columns(pythia: pd.DataFrame) -> None:
    assert len(pythia) == 2 * 3 * (8 + 1)  # models × zero-shot steps > 0 × (accuracies + ppl)
    assert list(pythia.columns) == [
        "run", "params", "tokens", "step", "task", "metric", "value", "stderr", "dataset",
        "family", "chance", "n_items", "params_total", "num_fewshot", "variant", "domain",
    ]  # fmt: skip
    assert {run: set(s) for run, s in pythia.groupby("run")["step"]} == {
        "pythia-70m": {512, 3000, 143000},
        "pythia-160m-deduped": {512, 3000, 143000},
    }  # step 0 is dropped
    runs = pythia.drop_duplicates("run").set_index("run")
    assert runs["dataset"].to_dict() == {
        "pythia-70m": "pile",
        "pythia-160m-deduped": "pile-deduped",
    }
    assert runs["params"].to_dict() == {"pythia-70m": 18_915_328, "pythia-160m-deduped": 85_056_000}
    assert runs.loc["pythia-160m-deduped", "params_total"] == 162_322_944
    assert set(pythia["family"]) == {"pythia"} and set(pythia["num_fewshot"]) == {0}
    assert (pythia["tokens"] == pythia["step"].astype("float64") * 2_097_152).all()
    assert set(pythia["task"]) == set(PYTHIA_ITEMS)
    lambada = pythia[pythia["task"] == "lambada_openai"]
    assert lambada.groupby("metric").size().to_dict() == {"accuracy": 6, "perplexity": 6}
    variant = pythia.drop_duplicates("task").set_index("task")["variant"]
    assert variant["arc_challenge"] == "acc_norm" and variant["arc_easy"] == "acc"
    chance = pythia.drop_duplicates("task").set_index("task")["chance"]
    assert chance["arc_easy"] == 0.25 and chance["mmlu_anatomy"] == 0.25
    assert chance["piqa"] == 0.5 and chance["wsc"] == 0.5 and chance["lambada_openai"] == 0.0
    ppl = pythia[pythia["metric"] == "perplexity"]
    assert ppl["chance"].isna().all() and set(ppl["variant"]) == {"ppl"}
    assert pythia["stderr"].notna().all()


def test_pythia_n_items_are_recovered_from_the_standard_errors(pythia: pd.DataFrame) -> None:
    n = pythia.drop_duplicates("task").set_index("task")["n_items"]
    assert n.to_dict() == PYTHIA_ITEMS


def test_pythia_value_matches_the_file(pythia: pd.DataFrame) -> None:
    row = next(
        r
        for r in _rows(PYTHIA)
        if (r["model"], r["step"], r["num_fewshot"], r["task"], r["metric"])
        == ("pythia-160m-deduped", "143000", "0", "piqa", "acc")
    )
    mine = pythia[
        (pythia["run"] == "pythia-160m-deduped")
        & (pythia["step"] == 143000)
        & (pythia["task"] == "piqa")
    ]
    assert len(mine) == 1
    assert mine["value"].iloc[0] == float(row["value"])
    assert mine["stderr"].iloc[0] == float(row["stderr"])
    p = float(row["value"])
    assert float(row["stderr"]) == pytest.approx(math.sqrt(p * (1 - p) / 1837), rel=1e-12)


def test_pythia_options() -> None:
    folder = PYTHIA.parent
    five = load_pythia(folder, num_fewshot=5, accuracy="acc_norm").frame
    assert len(five) == 2 * 2 * (8 + 1)
    assert five.groupby("run")["step"].nunique().eq(2).all()
    variant = five.drop_duplicates("task").set_index("task")["variant"]
    assert variant["arc_easy"] == "acc_norm" and variant["mmlu_anatomy"] == "acc_norm"
    assert variant["winogrande"] == "acc" and variant["wsc"] == "acc"  # acc only
    lambada = five[(five["task"] == "lambada_openai") & (five["metric"] == "accuracy")]
    assert set(lambada["variant"]) == {"acc"}
    plain = load_pythia(folder).frame
    assert set(plain.loc[plain["metric"] == "accuracy", "variant"]) == {"acc"}
    with pytest.raises(DataError, match=r"num_fewshot=3 \(found \[0, 5\]\)"):
        load_pythia(folder, num_fewshot=3)
    with pytest.raises(DataError, match="accuracy must be one of"):
        load_pythia(folder, accuracy="f1")
    with pytest.raises(DataError, match="overrides must map tasks to"):
        load_pythia(folder, overrides={"piqa": "f1"})


def test_pythia_malformed_files_are_named(tmp_path: Path) -> None:
    path = _copy(tmp_path, "pythia") / "pythia_evals_long.csv"
    _edit_cell(path, 40, "data", "dedup")
    with pytest.raises(DataError, match=r"pythia_evals_long\.csv, row 40, column 'data'.*dedup"):
        load_pythia(path)
    shutil.copy(PYTHIA, path)
    _edit_cell(path, 40, "value", "oops")
    with pytest.raises(DataError, match=r"evals_long\.csv, row 40, column 'value'.*'oops'"):
        load_pythia(path)
    shutil.copy(PYTHIA, path)
    _edit_cell(path, 41, "step", "12.5")
    with pytest.raises(DataError, match=r"row 41, column 'step': expected a whole number"):
        load_pythia(path)
    pd.read_csv(PYTHIA).drop(columns=["stderr"]).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"pythia_evals_long\.csv: cannot read the Pythia table"):
        load_pythia(path)
    with pytest.raises(DataError, match="Pythia evaluation table not found"):
        load_pythia(tmp_path)


# --- Hitchhiker OLMo ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def olmo() -> pd.DataFrame:
    return load_hitchhiker_olmo(OLMO).frame


def test_hitchhiker_olmo_rows_and_columns(olmo: pd.DataFrame) -> None:
    assert len(olmo) == 254
    assert olmo.groupby("run").size().to_dict() == {
        "OLMo-1B": 4 * 29,  # 5 accuracies (mrpc_f1 skipped) + 24 loss sets
        "OLMo-7B": 4 * 17 + 2,  # 6 + 11, and ptb/twitterAEE at the last checkpoint only
        "OLMo-7B-Twin-2T": 4 * 15 + 2 * 4,  # 2 of 6 checkpoints are corrupt; 4 sets logged late
    }
    assert list(olmo.columns) == [
        "run", "step", "task", "metric", "value", "chance", "params", "params_nonembedding",
        "tokens", "dataset", "family", "domain",
    ]  # fmt: skip
    steps = {run: set(s) for run, s in olmo.groupby("run")["step"]}
    assert steps == {
        "OLMo-1B": {1000, 2000, 369_000, 738_000},
        "OLMo-7B": {21_000, 22_000, 300_000, 556_000},
        "OLMo-7B-Twin-2T": {1000, 2000, 300_000, 450_000},
    }
    end = olmo.groupby("run")["tokens"].max()
    assert end["OLMo-1B"] == 738_000 * 2048 * 2048
    assert end["OLMo-7B"] == 556_000 * 2160 * 2048
    assert set(olmo["dataset"]) == {"dolma"} and set(olmo["family"]) == {"olmo"}
    params = olmo.drop_duplicates("run").set_index("run")["params"]
    assert params["OLMo-1B"] == 1_176_764_416 and params["OLMo-7B-Twin-2T"] == 6_888_095_744


def test_hitchhiker_olmo_tasks(olmo: pd.DataFrame) -> None:
    acc = olmo[olmo["metric"] == "accuracy"]
    assert {run: set(tasks) for run, tasks in acc.groupby("run")["task"]} == {
        "OLMo-1B": {"piqa", "arc_easy", "copa", "sst2", "openbook_qa"},
        "OLMo-7B": {"piqa", "copa", "commitment_bank", "rte", "winogrande", "sciq"},
        "OLMo-7B-Twin-2T": {"piqa", "arc_easy", "hellaswag", "copa", "sst2", "commitment_bank"},
    }
    assert acc["chance"].notna().all() and olmo.loc[olmo["metric"] == "loss", "chance"].isna().all()
    np.testing.assert_allclose(acc.loc[acc["task"] == "commitment_bank", "chance"], 1 / 3)
    one_b = set(olmo.loc[olmo["run"] == "OLMo-1B", "task"])
    assert {"v3-small-c4_en", "pile_eval", "v2-small-pile", "v2-small-4chan"} <= one_b
    assert "mrpc" not in set(olmo["task"]) and "pile" not in one_b


def test_hitchhiker_olmo_values_match_the_file(olmo: pd.DataFrame) -> None:
    rows = _rows(OLMO)
    seven = next(r for r in rows if r["model_name"] == "OLMo-7B" and r["Step"] == "556000")
    twin = next(r for r in rows if r["model_name"] == "OLMo-7B-Twin-2T" and r["Step"] == "300000")
    one = next(r for r in rows if r["model_name"] == "OLMo-1B " and r["Step"] == "738000")
    mine = olmo.set_index(["run", "step", "task"])["value"]
    assert mine[("OLMo-7B", 556_000, "c4_en")] == float(seven["c4_en-validation/CrossEntropyLoss"])
    assert mine[("OLMo-7B", 556_000, "sciq")] == float(seven["downstream/sciq_acc"])
    # Twin-2T logged c4_en only as perplexity: the loss is its logarithm.
    c4_ppl = float(twin["c4_en-validation/Perplexity"])
    assert twin["c4_en-validation/CrossEntropyLoss"] == ""
    assert mine[("OLMo-7B-Twin-2T", 300_000, "c4_en")] == pytest.approx(math.log(c4_ppl))
    assert mine[("OLMo-1B", 738_000, "pile_eval")] == float(one["pile/CrossEntropyLoss"])
    assert one["checkpoint"] == ""  # no revision name after step 557,000; not needed
    ppl = float(one["v2-small-pile-validation/Perplexity"])
    assert mine[("OLMo-1B", 738_000, "v2-small-pile")] == pytest.approx(math.log(ppl))


def test_hitchhiker_olmo_malformed_files_are_named(tmp_path: Path) -> None:
    path = _copy(tmp_path, "hitchhiker") / "olmo.csv"
    _edit_cell(path, 9, "model_name", "OLMo-2B")
    with pytest.raises(DataError, match=r"olmo\.csv, row 9, column 'model_name': unknown model"):
        load_hitchhiker_olmo(path)
    shutil.copy(OLMO, path)
    _edit_cell(path, 4, "Step", "x")
    with pytest.raises(DataError, match=r"olmo\.csv, row 4, column 'Step': not a number"):
        load_hitchhiker_olmo(path)
    shutil.copy(OLMO, path)
    _edit_cell(path, 12, "downstream/sciq_acc", "oops")
    with pytest.raises(DataError, match=r"olmo\.csv, row 12, column 'downstream/sciq_acc'"):
        load_hitchhiker_olmo(path)
    pd.read_csv(OLMO).drop(columns=["model_name"]).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"olmo\.csv: missing column.*model_name"):
        load_hitchhiker_olmo(path)
    with pytest.raises(DataError, match=r"hitchhiker olmo\.csv not found"):
        load_hitchhiker_olmo(tmp_path)


# --- auto-detection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "loader", "family", "rows"),
    [
        ("overtraining", load_gadre, "open_lm", 96),
        ("overtraining/raw", load_gadre, "open_lm", 96),
        ("overtraining/raw/exp_data", load_gadre, "open_lm", 96),
        ("chinchilla", load_chinchilla, "chinchilla", 20),
        ("chinchilla/svg_extracted_data.csv", load_chinchilla, "chinchilla", 20),
        ("olmo-ladder", load_olmo_ladder, "olmo-ladder", 555),
        ("olmo-ladder/ladder-runs", load_olmo_ladder, "olmo-ladder", 555),
        ("olmo-ladder/ladder-runs/370M-2xC.csv", load_olmo_ladder, "olmo-ladder", 111),
        ("olmo-ladder/ladder-runs/190M-1xC-rerun.csv", load_olmo_ladder, "olmo-ladder", 74),
        ("pythia", load_pythia, "pythia", 54),
        ("pythia/pythia_evals_long.csv", load_pythia, "pythia", 54),
        ("hitchhiker", load_hitchhiker_olmo, "olmo", 254),
        ("hitchhiker/olmo.csv", load_hitchhiker_olmo, "olmo", 254),
    ],
)
def test_load_detects_each_format(
    relative: str, loader: Callable[..., object], family: str, rows: int
) -> None:
    path = FORMATS / relative
    assert detect(path) is loader
    frame = load(path).frame
    assert set(frame["family"]) == {family}
    assert len(frame) == rows


def test_load_passes_options() -> None:
    assert len(load(FORMATS / "chinchilla", drop_outliers=False)) == 25
    assert len(load(LADDER, split="both")) == 15 * PER_CHECKPOINT["both"]
    assert len(load(PYTHIA, num_fewshot=5)) == 36
    with pytest.raises(DataError, match="unknown loader option 'num_fewshot'"):
        load(OLMO, num_fewshot=5)


def test_load_reads_a_data_toml_beside_the_fixture(tmp_path: Path) -> None:
    folder = _copy(tmp_path, "pythia")
    (folder / "data.toml").write_text('num_fewshot = 5\naccuracy = "acc_norm"\n')
    frame = load(folder).frame
    assert len(frame) == 36 and set(frame["num_fewshot"]) == {5}
    assert set(frame.loc[frame["task"] == "arc_easy", "variant"]) == {"acc_norm"}
    assert len(load(folder, num_fewshot=0)) == 54  # keyword arguments win


def test_load_refuses_the_parent_folder_and_the_long_table(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unrecognised data folder"):
        load(FORMATS)
    long = tmp_path / "overtraining_long.csv"
    long.write_text("run,value\n")
    with pytest.raises(DataError, match="load the testbed folder"):
        load(long)
