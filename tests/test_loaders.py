"""The real-data loaders on the real files, auto-detection, lm-eval folders and the domain map."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_scaling.data import (
    TASKS_17,
    TASKS_46,
    DataError,
    domain_of,
    load,
    load_chinchilla,
    load_domain_map,
    load_gadre,
    load_hitchhiker_olmo,
    load_lm_eval,
    load_olmo_ladder,
    load_pythia,
    load_tidy,
)
from bayes_scaling.data.gadre import loss_set_id
from bayes_scaling.data.hitchhiker import CORRUPT_STEPS
from bayes_scaling.data.pythia import README_OVERRIDES

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


@pytest.fixture(scope="module")
def gadre(data_dir: Path) -> pd.DataFrame:
    return load_gadre(data_dir / "overtraining").frame


@pytest.fixture(scope="module")
def ladder(data_dir: Path) -> pd.DataFrame:
    return load_olmo_ladder(data_dir / "olmo-ladder" / "ladder-runs").frame


@pytest.fixture(scope="module")
def pythia(data_dir: Path) -> pd.DataFrame:
    path = data_dir / "trajectories" / "pythia" / "pythia_evals_long.csv"
    return load_pythia(path, overrides=README_OVERRIDES).frame


@pytest.fixture(scope="module")
def olmo(data_dir: Path) -> pd.DataFrame:
    return load_hitchhiker_olmo(data_dir / "hitchhiker" / "olmo.csv").frame


# --- Gadre et al. ---------------------------------------------------------------------------


def test_gadre_counts(gadre: pd.DataFrame) -> None:
    assert gadre["run"].nunique() == 100
    assert gadre.groupby("dataset")["run"].nunique().to_dict() == {
        "c4": 33,
        "redpajama": 33,
        "refinedweb": 34,
    }
    loss, acc = gadre[gadre["metric"] == "loss"], gadre[gadre["metric"] == "accuracy"]
    assert set(loss["task"]) == GADRE_LOSS_SETS
    assert set(acc["task"]) == set(TASKS_46)
    assert len(TASKS_46) == 46 and len(TASKS_17) == 17 and set(TASKS_17) <= set(TASKS_46)
    assert len(gadre) == 100 * (8 + 46)
    assert (gadre["family"] == "open_lm").all()
    assert acc["n_items"].notna().all() and loss["n_items"].isna().all()
    assert set(gadre.loc[gadre["task"] == "arc_challenge", "n_items"]) == {1172}
    assert set(gadre.loc[gadre["task"] == "piqa", "n_items"]) == {1838}
    assert set(acc["chance"]) == {0.0, 0.25, 0.5}
    assert gadre["paper_fit_loss"].groupby(gadre["run"]).first().sum() == 15
    assert gadre["paper_fit_error"].groupby(gadre["run"]).first().sum() == 18


def test_gadre_matches_overtraining_long(gadre: pd.DataFrame, data_dir: Path) -> None:
    long = pd.read_csv(data_dir / "overtraining" / "overtraining_long.csv")
    long = long[long["eval_kind"] != "task_average"]
    assert set(long["run"]) == set(gadre["run"])

    runs = long.drop_duplicates("run").set_index("run")
    mine = gadre.drop_duplicates("run").set_index("run").loc[runs.index]
    np.testing.assert_array_equal(mine["params"], runs["n_params"])
    np.testing.assert_array_equal(mine["tokens"], runs["n_tokens"])
    np.testing.assert_array_equal(mine["arch"], runs["arch"])
    np.testing.assert_array_equal(mine["paper_fit_loss"], runs["paper_fit_loss"])
    np.testing.assert_array_equal(mine["paper_fit_error"], runs["paper_fit_error"])

    key = ["run", "task"]
    theirs = long.rename(columns={"eval_name": "task"})
    joined = gadre.merge(theirs, on=key, how="outer", suffixes=("", "_long")).set_index(key)
    assert joined["value"].notna().all() and joined["value_long"].notna().all()
    np.testing.assert_allclose(joined["value"], joined["value_long"], rtol=1e-12)
    c4 = joined.xs("c4_val", level="task")
    assert len(c4) == 100
    tasks = joined[joined["metric"] == "accuracy"]
    np.testing.assert_array_equal(tasks["task_in_17"], tasks["task_in_17_long"].astype(bool))
    np.testing.assert_allclose(tasks["chance"], tasks["task_random_baseline"])
    same_n = tasks.index.get_level_values("task") != "arc_challenge"
    np.testing.assert_array_equal(tasks["n_items"][same_n], tasks["task_n_examples"][same_n])


def test_gadre_folder_levels(data_dir: Path) -> None:
    root = data_dir / "overtraining"
    for path in (root, root / "raw", root / "raw" / "exp_data"):
        assert len(load_gadre(path)) == 5400
    with pytest.raises(DataError, match=r"not a Gadre et al\. testbed folder"):
        load_gadre(data_dir / "chinchilla")


def test_loss_set_ids() -> None:
    assert loss_set_id(["training/eval_data/c4_val/shard-{0000000..0000010}.tar"]) == "c4_val"
    assert loss_set_id(["x/val_tok_mult/openlm/shard_00000000.tar"]) == "openlm"
    assert loss_set_id(["x/val_tok_mult/paloma_ptb/00000001.tar"]) == "paloma_ptb"
    assert loss_set_id(["x/val_tok_mult/de-en/val_de-en_100.tar"]) == "val_de-en_100"


# --- Chinchilla -----------------------------------------------------------------------------


def test_chinchilla(data_dir: Path) -> None:
    path = data_dir / "chinchilla" / "svg_extracted_data.csv"
    obs, full = load_chinchilla(path), load_chinchilla(path, drop_outliers=False)
    assert len(obs) == 240 and len(full) == 245
    frame, raw = obs.frame, pd.read_csv(path)
    assert frame["run"].is_unique and frame["tokens"].dtype == np.float64
    assert set(frame["task"]) == {"train"} and set(frame["metric"]) == {"loss"}
    assert set(frame["dataset"]) == {"massivetext"} and set(frame["family"]) == {"chinchilla"}
    dropped = full.frame.loc[full.frame.index.difference(frame.index), "value"]
    assert len(dropped) == 5 and dropped.min() > frame["value"].max()
    row = raw.iloc[0]
    first = full.frame.loc[2]
    assert first["run"] == "chinchilla-0"
    assert first["tokens"] == row["Training FLOP"] / (6 * row["Model Size"])
    flops = raw.loc[frame.index - 2, "Training FLOP"]
    np.testing.assert_allclose(obs.with_derived()["flops"], flops)


# --- OLMo ladder ----------------------------------------------------------------------------


def test_olmo_ladder_runs_and_endpoints(ladder: pd.DataFrame) -> None:
    assert ladder["run"].nunique() == 30
    end = ladder.groupby("run")["tokens"].max()
    assert end["190M-1xC"] == pytest.approx(3.81e9, rel=2e-3)
    assert end["760M-5xC"] == pytest.approx(7.58e10, rel=2e-3)
    params = ladder.groupby("run")["params"].first()
    assert params["3B-1xC"] == 3_169_537_280
    assert params["1B-2xC"] == 1_279_395_840
    assert end["3B-1xC"] == pytest.approx(20 * params["3B-1xC"], rel=2e-3)
    assert end["1B-10xC"] == pytest.approx(200 * params["1B-10xC"], rel=2e-3)
    labels = ladder.drop_duplicates("run").set_index("run")
    assert labels.loc["1B-1xC-rerun", "size"] == "1B"
    assert labels.loc["1B-1xC-rerun", "multiplier_label"] == "1xC"
    assert labels.loc["370M-0.5xC", "multiplier_label"] == "0.5xC"
    assert set(ladder["dataset"]) == {"olmo-mix"} and set(ladder["family"]) == {"olmo-ladder"}
    last = ladder[(ladder["run"] == "760M-5xC") & (ladder["task"] == "c4_en")]
    assert last["step"].max() == 57858 and len(last) == 116


def test_olmo_ladder_tasks(ladder: pd.DataFrame) -> None:
    by_metric = {m: set(g) for m, g in ladder.groupby("metric")["task"]}
    assert len(by_metric["loss"]) == 11 and "c4_en" in by_metric["loss"]
    downstream = {
        "hellaswag", "arc_easy", "arc_challenge", "boolq", "csqa", "openbookqa", "piqa",
        "socialiqa", "winogrande", "mmlu_stem", "mmlu_humanities", "mmlu_social_sciences",
        "mmlu_other",
    }  # fmt: skip
    assert by_metric["bpb"] == downstream and by_metric["accuracy"] == downstream
    acc = ladder[ladder["metric"] == "accuracy"].drop_duplicates("task").set_index("task")
    assert acc.loc["arc_easy", "split"] == "test" and acc.loc["hellaswag", "split"] == "val"
    assert acc.loc["mmlu_stem", "split"] == "test" and acc.loc["boolq", "split"] == "val"
    assert acc.loc["csqa", "chance"] == 0.2
    assert acc.loc["socialiqa", "chance"] == pytest.approx(1 / 3)
    assert acc.loc["piqa", "chance"] == 0.5 and acc.loc["hellaswag", "chance"] == 0.25
    counts = ladder.groupby(["run", "step", "task", "metric"]).size()
    assert (counts == 1).all()


def test_olmo_ladder_value_spot_check(ladder: pd.DataFrame, data_dir: Path) -> None:
    raw = pd.read_csv(data_dir / "olmo-ladder" / "ladder-runs" / "760M-5xC.csv")
    last = raw.iloc[-1]
    mine = ladder[(ladder["run"] == "760M-5xC") & (ladder["step"] == last["_step"])]
    mine = mine.set_index(["task", "metric"])["value"]
    assert mine[("c4_en", "loss")] == last["eval/c4_en-validation/CrossEntropyLoss"]
    assert mine[("arc_easy", "bpb")] == last["eval/downstream_bpb/arc_easy_test_rc_5shot_bpb"]
    acc = last["eval/downstream/arc_easy_test_rc_5shot_len_norm"]
    assert mine[("arc_easy", "accuracy")] == acc
    assert mine[("boolq", "accuracy")] == last["eval/downstream/boolq_val_rc_5shot_acc"]


def test_olmo_ladder_split_options(data_dir: Path) -> None:
    path = data_dir / "olmo-ladder" / "ladder-runs" / "190M-1xC.csv"
    both = load_olmo_ladder(path, split="both").frame
    assert {"arc_easy_val", "arc_easy_test", "hellaswag_val"} <= set(both["task"])
    assert "hellaswag_test" not in set(both["task"])
    domains = both.drop_duplicates("task").set_index("task")["domain"]
    assert domains["arc_easy_val"] == "science" and domains["mmlu_stem_test"] == "mmlu_stem"
    test_only = load_olmo_ladder(path, split="test").frame
    assert "hellaswag" not in set(test_only["task"]) and "arc_easy" in set(test_only["task"])
    with pytest.raises(DataError, match="split must be one of"):
        load_olmo_ladder(path, split="dev")


def _ladder_csv(tmp_path: Path, name: str, rows: list[str], header: str | None = None) -> Path:
    header = header or (
        "_step,eval/c4_en-validation/CrossEntropyLoss,"
        "eval/downstream/piqa_val_rc_5shot_len_norm,batch_size_in_tokens"
    )
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_olmo_ladder_missing_evals_and_malformed_files(tmp_path: Path) -> None:
    ok = _ladder_csv(tmp_path, "190M-1xC.csv", ["100,4.0,0.55,524288", "200,3.8,,524288"])
    frame = load_olmo_ladder(ok).frame
    assert len(frame) == 3  # the missing accuracy at step 200 is skipped
    assert set(frame["tokens"]) == {100 * 524288.0, 200 * 524288.0}  # _step × batch size

    bad = _ladder_csv(tmp_path, "370M-2xC.csv", ["100,4.0,0.55,524288", "200,oops,0.6,524288"])
    with pytest.raises(DataError, match=r"370M-2xC\.csv, row 3, column 'eval/c4_en-.*oops"):
        load_olmo_ladder(bad)
    odd = _ladder_csv(tmp_path, "42M-1xC.csv", ["100,4.0,0.55,524288"])
    with pytest.raises(DataError, match="42M-1xC: not an OLMo ladder run name"):
        load_olmo_ladder(odd)
    no_tokens = _ladder_csv(
        tmp_path, "1B-1xC.csv", ["100,4.0"], header="_step,eval/c4_en-validation/CrossEntropyLoss"
    )
    with pytest.raises(DataError, match="neither is present"):
        load_olmo_ladder(no_tokens)


# --- Pythia ---------------------------------------------------------------------------------

README_FINAL = {  # model: LAMBADA, PIQA, ARC-E, ARC-C (acc_norm), WinoGrande, SciQ, MMLU mean
    "pythia-70m": (0.185, 0.595, 0.374, 0.221, 0.528, 0.601, 0.253),
    "pythia-410m": (0.516, 0.668, 0.521, 0.243, 0.537, 0.811, 0.255),
    "pythia-1.4b": (0.616, 0.709, 0.606, 0.286, 0.573, 0.865, 0.269),
    "pythia-6.9b": (0.673, 0.752, 0.673, 0.351, 0.609, 0.897, 0.283),
}


def test_pythia_final_checkpoint_table(pythia: pd.DataFrame) -> None:
    final = pythia[(pythia["step"] == 143000) & (pythia["metric"] == "accuracy")]
    table = final.pivot_table(index="run", columns="task", values="value")
    mmlu = [c for c in table.columns if c.startswith("mmlu_")]
    assert len(mmlu) == 57
    table["mmlu_mean"] = table[mmlu].mean(axis=1)
    cols = ["lambada_openai", "piqa", "arc_easy", "arc_challenge", "winogrande", "sciq"]
    for model, expected in README_FINAL.items():
        got = [*table.loc[model, cols], table.loc[model, "mmlu_mean"]]
        np.testing.assert_allclose(got, expected, atol=0.0006, err_msg=model)
    variant = final.drop_duplicates("task").set_index("task")["variant"]
    assert variant["arc_challenge"] == "acc_norm" and variant["arc_easy"] == "acc"


def test_pythia_rows_and_columns(pythia: pd.DataFrame) -> None:
    assert pythia["run"].nunique() == 14
    assert (pythia["tokens"] > 0).all() and pythia["step"].min() == 1
    assert pythia.groupby("run")["step"].nunique().eq(26).all()  # 27 checkpoints minus step 0
    assert set(pythia["dataset"]) == {"pile", "pile-deduped"}
    assert set(pythia["family"]) == {"pythia"}
    row = pythia[(pythia["run"] == "pythia-1b") & (pythia["step"] == 143000)].iloc[0]
    assert row["params"] == 805_736_448 and row["params_total"] > row["params"]
    assert row["tokens"] == 143000 * 2_097_152
    lambada = pythia[pythia["task"] == "lambada_openai"].groupby("metric").size()
    assert set(lambada.index) == {"accuracy", "perplexity"}
    assert pythia["stderr"].notna().all()
    chance = pythia.drop_duplicates("task").set_index("task")["chance"]
    assert chance["arc_easy"] == 0.25 and chance["mmlu_anatomy"] == 0.25
    assert chance["logiqa"] == 0.25 and chance["sciq"] == 0.25
    assert chance["piqa"] == 0.5 and chance["winogrande"] == 0.5 and chance["wsc"] == 0.5
    assert chance["lambada_openai"] == 0.0


def test_pythia_n_items_estimates(pythia: pd.DataFrame) -> None:
    n = pythia.drop_duplicates("task").set_index("task")["n_items"]
    known = {
        "sciq": 1000,
        "piqa": 1838,
        "arc_easy": 2376,
        "arc_challenge": 1172,
        "winogrande": 1267,
        "lambada_openai": 5153,
        "logiqa": 651,
        "wsc": 104,
        "mmlu_professional_law": 1534,
        "mmlu_abstract_algebra": 100,
    }
    assert {task: n[task] for task in known} == known
    assert n[[t for t in n.index if t.startswith("mmlu_")]].sum() == 14042


def test_pythia_options(data_dir: Path) -> None:
    path = data_dir / "trajectories" / "pythia"
    five = load_pythia(path, num_fewshot=5, accuracy="acc_norm").frame
    assert five.groupby("run")["step"].nunique().eq(15).all()
    variant = five.drop_duplicates("task").set_index("task")["variant"]
    assert variant["arc_easy"] == "acc_norm" and variant["winogrande"] == "acc"
    with pytest.raises(DataError, match="num_fewshot=3"):
        load_pythia(path, num_fewshot=3)
    with pytest.raises(DataError, match="accuracy must be one of"):
        load_pythia(path, accuracy="f1")


def test_mmlu_groups_match_the_ladder_weights(pythia: pd.DataFrame) -> None:
    tasks = pythia.drop_duplicates("task")
    mmlu = tasks[tasks["task"].str.startswith("mmlu_")]
    share = mmlu.groupby("domain")["n_items"].sum() / mmlu["n_items"].sum()
    expected = {  # WEIGHT_BY_KEY in allenai/OLMo-ladder src/scaling/utils.py
        "mmlu_stem": 0.215,
        "mmlu_humanities": 0.335,
        "mmlu_social_sciences": 0.219,
        "mmlu_other": 0.231,
    }
    assert share.round(3).to_dict() == expected


# --- Hitchhiker OLMo ------------------------------------------------------------------------


def test_hitchhiker_olmo(olmo: pd.DataFrame, data_dir: Path) -> None:
    assert set(olmo["run"]) == {"OLMo-1B", "OLMo-7B", "OLMo-7B-Twin-2T"}
    end = olmo.groupby("run")["tokens"].max()
    assert end["OLMo-1B"] == pytest.approx(3095e9, rel=1e-3)  # revision step738000-tokens3095B
    assert end["OLMo-7B"] == pytest.approx(2460e9, rel=1e-3)  # revision step556000-tokens2460B
    assert end["OLMo-7B-Twin-2T"] == pytest.approx(1991e9, rel=1e-3)
    acc = set(olmo.loc[olmo["metric"] == "accuracy", "task"])
    assert acc == {
        "piqa", "arc_easy", "hellaswag", "copa", "sst2", "commitment_bank", "openbook_qa", "rte",
        "winogrande", "sciq",
    }  # fmt: skip
    twin = olmo[olmo["run"] == "OLMo-7B-Twin-2T"]
    assert "c4_en" in set(twin["task"])  # loss from the perplexity column
    assert not twin["step"].isin(CORRUPT_STEPS["OLMo-7B-Twin-2T"]).any()
    assert {"v3-small-c4_en", "pile_eval"} <= set(olmo.loc[olmo["run"] == "OLMo-1B", "task"])
    assert olmo["chance"][olmo["metric"] == "accuracy"].notna().all()

    raw = pd.read_csv(data_dir / "hitchhiker" / "olmo.csv")
    doubled = raw[(raw.filter(like="downstream/") > 1).any(axis=1)]
    flagged = {(m.strip(), s) for m, s in zip(doubled["model_name"], doubled["Step"], strict=True)}
    assert flagged == {(m, s) for m, steps in CORRUPT_STEPS.items() for s in steps}
    seven = raw[raw["model_name"] == "OLMo-7B"].set_index("Step")
    mine = olmo[(olmo["run"] == "OLMo-7B") & (olmo["task"] == "c4_en")].set_index("step")
    np.testing.assert_allclose(
        mine["value"], seven.loc[mine.index, "c4_en-validation/CrossEntropyLoss"]
    )


# --- auto-detection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "family", "rows"),
    [
        ("overtraining", "open_lm", 5400),
        ("overtraining/raw/exp_data", "open_lm", 5400),
        ("chinchilla/svg_extracted_data.csv", "chinchilla", 240),
        ("chinchilla", "chinchilla", 240),
        ("olmo-ladder", "olmo-ladder", 132_053),
        ("olmo-ladder/ladder-runs/760M-5xC.csv", "olmo-ladder", None),
        ("trajectories/pythia/pythia_evals_long.csv", "pythia", 24_024),
        ("trajectories/pythia", "pythia", 24_024),
        ("hitchhiker/olmo.csv", "olmo", None),
        ("hitchhiker", "olmo", None),
    ],
)
def test_load_detects_each_format(
    data_dir: Path, relative: str, family: str, rows: int | None
) -> None:
    frame = load(data_dir / relative).frame
    assert set(frame["family"]) == {family}
    assert len(frame) > 0 if rows is None else len(frame) == rows


def test_load_passes_options(data_dir: Path) -> None:
    assert len(load(data_dir / "chinchilla", drop_outliers=False)) == 245


def test_load_rejects_unknown_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError) as info:
        load(tmp_path)
    assert str(tmp_path) in str(info.value) and "formats tried" in str(info.value)
    assert "lm-evaluation-harness" in str(info.value)


# --- lm-evaluation-harness folders ----------------------------------------------------------


def _stderr(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / (n - 1))


def _old_layout(step: int, acc: float, shots: int = 0, revision: bool = True) -> dict:
    args = "pretrained=EleutherAI/pythia-70m" + (f",revision=step{step}" if revision else "")
    return {
        "results": {
            "arc_easy": {
                "acc": acc,
                "acc_stderr": _stderr(acc, 2376),
                "acc_norm": acc - 0.02,
                "acc_norm_stderr": _stderr(acc - 0.02, 2376),
            },
            "hendrycksTest-anatomy": {"acc": 0.3, "acc_stderr": _stderr(0.3, 135)},
            "lambada_openai": {"ppl": 40.0, "ppl_stderr": 1.5, "acc": 0.3, "acc_stderr": 0.006},
        },
        "versions": {"arc_easy": 0},
        "config": {"model": "gpt2", "model_args": args, "num_fewshot": shots},
    }


def _new_layout(step: int | None, acc: float, model_args: object = None) -> dict:
    if model_args is None:
        model_args = f"pretrained=my-org/my-model,revision=step{step},dtype=bfloat16"
    return {
        "results": {
            "arc_easy": {
                "alias": "arc_easy",
                "acc,none": acc,
                "acc_stderr,none": 0.01,
                "acc_norm,none": acc + 0.01,
                "acc_norm_stderr,none": 0.01,
            },
            "mmlu": {"alias": "mmlu", "acc,none": 0.26, "acc_stderr,none": 0.004},
            "mmlu_anatomy": {"alias": " - anatomy", "acc,none": 0.3, "acc_stderr,none": "N/A"},
        },
        "groups": {"mmlu": {"alias": "mmlu", "acc,none": 0.26}},
        "group_subtasks": {"mmlu": ["mmlu_anatomy"], "arc_easy": []},
        "configs": {"arc_easy": {"num_fewshot": 0}, "mmlu_anatomy": {"num_fewshot": 0}},
        "n-shot": {"arc_easy": 0, "mmlu_anatomy": 0},
        "n-samples": {
            "arc_easy": {"original": 2376, "effective": 2376},
            "mmlu_anatomy": {"original": 135, "effective": 135},
        },
        "config": {"model": "hf", "model_args": model_args, "batch_size": 8},
    }


def _write_json(folder: Path, name: str, data: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(data))
    return path


def test_lm_eval_old_layout(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    _write_json(folder, "step1000.json", _old_layout(1000, 0.40))
    _write_json(folder, "step2000.json", _old_layout(2000, 0.45))
    obs = load_lm_eval(folder, params={"pythia-70m": 7e7}, tokens_per_step=2_097_152)
    frame = obs.frame
    assert set(frame["run"]) == {"pythia-70m"}
    assert set(frame["tokens"]) == {1000 * 2_097_152.0, 2000 * 2_097_152.0}
    assert set(frame["task"]) == {"arc_easy", "mmlu_anatomy", "lambada_openai"}
    arc = frame[frame["task"] == "arc_easy"].set_index("step")
    assert arc.loc[2000, "value"] == 0.45 and arc.loc[2000, "variant"] == "acc"
    assert set(arc["n_items"]) == {2376}  # estimated from the standard error
    assert set(arc["domain"]) == {"science"} and set(arc["chance"]) == {0.25}
    anatomy = frame[frame["task"] == "mmlu_anatomy"]
    assert set(anatomy["n_items"]) == {135} and set(anatomy["domain"]) == {"mmlu_other"}
    ppl = frame[(frame["task"] == "lambada_openai") & (frame["metric"] == "perplexity")]
    assert len(ppl) == 2 and set(ppl["value"]) == {40.0}
    norm = load_lm_eval(
        folder, params={"pythia-70m": 7e7}, tokens_per_step=2e6, accuracy="acc_norm"
    )
    norm = norm.frame
    assert norm.loc[norm["task"] == "arc_easy", "variant"].eq("acc_norm").all()
    assert len(load(folder, params={"pythia-70m": 7e7}, tokens_per_step=2e6)) == len(obs)


def test_lm_eval_new_layout(tmp_path: Path) -> None:
    folder = tmp_path / "new"
    _write_json(folder / "my-model", "results_2024-01-01.json", _new_layout(500, 0.5))
    args = {"pretrained": "my-org/my-model", "revision": "step1500"}
    _write_json(folder / "my-model", "results_2024-01-02.json", _new_layout(None, 0.6, args))
    frame = load_lm_eval(folder, params={"my-model": 1.2e8}, tokens_per_step=1e6).frame
    assert set(frame["task"]) == {"arc_easy", "mmlu_anatomy"}  # the mmlu group is skipped
    assert set(frame["step"]) == {500, 1500} and set(frame["tokens"]) == {5e8, 1.5e9}
    assert set(frame["params"]) == {1.2e8}
    assert set(frame.loc[frame["task"] == "arc_easy", "n_items"]) == {2376}  # from n-samples
    assert frame.loc[frame["task"] == "mmlu_anatomy", "stderr"].isna().all()  # "N/A"
    assert set(frame["num_fewshot"]) == {0}


def test_lm_eval_manifest(tmp_path: Path) -> None:
    folder = tmp_path / "evals"
    _write_json(folder, "a.json", _old_layout(0, 0.40, revision=False))
    _write_json(folder / "sub", "b.json", _new_layout(None, 0.5, "pretrained=/ckpt/x"))
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "file,run,params,tokens,step\na.json,tiny,1e7,2e9,100\nsub/b.json,tiny,1e7,4e9,200\n"
    )
    frame = load_lm_eval(folder, manifest=manifest).frame
    assert set(frame["run"]) == {"tiny"} and set(frame["tokens"]) == {2e9, 4e9}
    assert set(frame["step"]) == {100, 200}
    arc = frame[frame["task"] == "arc_easy"].set_index("file")
    assert arc.loc["sub/b.json", "value"] == 0.5 and arc.loc["a.json", "value"] == 0.40
    assert len(load(folder, manifest=manifest)) == len(frame)

    incomplete = tmp_path / "incomplete.csv"
    incomplete.write_text("file,run,params,tokens\na.json,tiny,1e7,2e9\n")
    with pytest.raises(DataError, match=r"b\.json: is not listed in the manifest"):
        load_lm_eval(folder, manifest=incomplete)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("file,run,tokens\na.json,tiny,2e9\n")
    with pytest.raises(DataError, match=r"wrong\.csv: manifest is missing .*\['params'\]"):
        load_lm_eval(folder, manifest=wrong)


def test_lm_eval_missing_information(tmp_path: Path) -> None:
    folder = tmp_path / "evals"
    path = _write_json(folder, "ckpt.json", _old_layout(1000, 0.4))
    with pytest.raises(DataError) as info:
        load_lm_eval(folder, tokens_per_step=1e6)
    message = str(info.value)
    assert str(path) in message and "no parameter count N" in message
    assert "params=" in message and "manifest" in message and "file,run,params,tokens" in message

    with pytest.raises(DataError, match="set tokens_per_step") as info:
        load_lm_eval(folder, params={"pythia-70m": 7e7})
    assert "manifest" in str(info.value) and "--data-option 'tokens_per_step=" in str(info.value)

    _write_json(folder, "ckpt.json", _old_layout(1000, 0.4, revision=False))
    with pytest.raises(DataError, match=r"ckpt\.json: no step .*revision=stepN.*manifest"):
        load_lm_eval(folder, params={"pythia-70m": 7e7}, tokens_per_step=1e6)

    _write_json(folder, "ckpt.json", _new_layout(None, 0.5, {"revision": "step10"}))
    with pytest.raises(DataError, match=r"ckpt\.json: no run name .*manifest"):
        load_lm_eval(folder, tokens_per_step=1e6)

    _write_json(folder, "ckpt.json", {"hello": 1})
    with pytest.raises(DataError, match="none of its 1 JSON files is a harness result"):
        load_lm_eval(folder, tokens_per_step=1e6)

    with pytest.raises(DataError, match="one number for every run"):
        load_lm_eval(folder, params=7e7, tokens_per_step=1e6)


def test_lm_eval_mixed_shots(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    _write_json(folder, "zero.json", _old_layout(1000, 0.4, shots=0))
    _write_json(folder, "five.json", _old_layout(1000, 0.5, shots=5))
    params = {"pythia-70m": 7e7}
    with pytest.raises(DataError, match=r"mix num_fewshot values \[0, 5\]"):
        load_lm_eval(folder, params=params, tokens_per_step=1e6)
    five = load_lm_eval(folder, params=params, tokens_per_step=1e6, num_fewshot=5).frame
    assert five.loc[five["task"] == "arc_easy", "value"].tolist() == [0.5]


# --- domain map -----------------------------------------------------------------------------


def test_every_known_task_has_a_domain(
    gadre: pd.DataFrame, ladder: pd.DataFrame, pythia: pd.DataFrame, olmo: pd.DataFrame
) -> None:
    for name, frame in {"gadre": gadre, "ladder": ladder, "pythia": pythia, "olmo": olmo}.items():
        other = sorted(set(frame.loc[frame["domain"] == "other", "task"]))
        assert other == [], f"{name}: tasks without a domain: {other}"
    mapping = load_domain_map()
    for task in [*TASKS_46, *GADRE_LOSS_SETS, *set(ladder["task"]), *set(pythia["task"])]:
        assert domain_of(task, mapping) != "other", task
    groups = pythia.loc[pythia["task"].str.startswith("mmlu_"), "domain"]
    assert set(groups) == {"mmlu_stem", "mmlu_humanities", "mmlu_social_sciences", "mmlu_other"}
    assert domain_of("no_such_task") == "other"


def test_domain_map_overrides(tmp_path: Path, data_dir: Path) -> None:
    toml = tmp_path / "mine.toml"
    toml.write_text('[domains]\npiqa = "physical"\nmy_task = "custom"\n')
    mapping = load_domain_map(toml)
    assert mapping["piqa"] == "physical" and mapping["my_task"] == "custom"
    assert mapping["copa"] == "commonsense"  # the rest of the default survives
    assert load_domain_map()["piqa"] == "commonsense"  # the default is not modified
    csv = tmp_path / "mine.csv"
    csv.write_text("task,domain\nboolq,qa\n")
    assert load_domain_map(csv)["boolq"] == "qa"

    frame = load_gadre(data_dir / "overtraining", domains=toml).frame
    assert set(frame.loc[frame["task"] == "piqa", "domain"]) == {"physical"}
    assert set(frame.loc[frame["task"] == "copa", "domain"]) == {"commonsense"}

    bad = tmp_path / "bad.csv"
    bad.write_text("name,group\npiqa,x\n")
    with pytest.raises(DataError, match=r"bad\.csv: a CSV domain map needs columns"):
        load_domain_map(bad)
    with pytest.raises(DataError, match="domain map file not found"):
        load_domain_map(tmp_path / "missing.toml")


def test_lm_eval_folder_finds_its_manifest_and_lm_eval_parameter_count(tmp_path: Path) -> None:
    folder = tmp_path / "evals"
    _write_json(folder, "a.json", _old_layout(0, 0.40, revision=False))
    (folder / "manifest.csv").write_text("file,run,params,tokens\na.json,tiny,1e7,2e9\n")
    frame = load_lm_eval(folder).frame  # manifest.csv inside the folder, nothing passed
    assert set(frame["run"]) == {"tiny"} and set(frame["params"]) == {1e7}

    counted = tmp_path / "counted"
    data = _new_layout(500, 0.5)
    data["config"]["model_num_parameters"] = 123_456_789
    _write_json(counted, "r.json", data)
    frame = load_lm_eval(counted, tokens_per_step=1e6).frame
    assert set(frame["params"]) == {123_456_789.0}
    mapped = load_lm_eval(counted, tokens_per_step=1e6, params={"my-model": 2e8}).frame
    assert set(mapped["params"]) == {2e8}  # the user's mapping wins over the file


def test_lm_eval_skips_foreign_json_with_a_note(tmp_path: Path, caplog) -> None:
    folder = tmp_path / "evals"
    _write_json(folder, "results.json", _old_layout(1000, 0.4))
    _write_json(folder, "aaa_config.json", {"architectures": ["GPTNeoX"]})  # sorts first
    with caplog.at_level("WARNING", logger="bayes_scaling.data.lm_eval"):
        frame = load(folder, params={"pythia-70m": 7e7}, tokens_per_step=1e6).frame
    assert set(frame["file"]) == {"results.json"}
    assert "aaa_config.json: skipped" in caplog.text


def test_harness_item_counts_fill_what_the_files_leave_out(tmp_path: Path) -> None:
    data = _old_layout(1000, 0.4)
    data["results"]["piqa"] = {"acc": 0.6}  # no stderr, no n-samples
    folder = tmp_path / "evals"
    _write_json(folder, "r.json", data)
    frame = load_lm_eval(folder, params={"pythia-70m": 7e7}, tokens_per_step=1e6).frame
    piqa = frame[frame["task"] == "piqa"]
    assert set(piqa["n_items"]) == {1838} and set(piqa["chance"]) == {0.5}


def test_tidy_table_gets_known_chance_levels(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text(
        "run,params,tokens,task,metric,value,chance\n"
        "a,1e8,1e9,arc_challenge,accuracy,0.3,\n"
        "a,1e8,1e9,my_task,accuracy,0.4,0.1\n"
        "a,1e8,1e9,c4,loss,3.1,\n"
    )
    frame = load_tidy(path).frame.set_index("task")
    assert frame.loc["arc_challenge", "chance"] == 0.25  # the harness table
    assert frame.loc["my_task", "chance"] == 0.1  # given values are kept
    assert np.isnan(frame.loc["c4", "chance"])  # not an accuracy


def test_data_toml_options_and_unknown_keys(tmp_path: Path) -> None:
    folder = tmp_path / "evals"
    _write_json(folder, "step1000.json", _old_layout(1000, 0.40))
    (folder / "data.toml").write_text('tokens_per_step = 1e6\n[params]\n"pythia-70m" = 7e7\n')
    frame = load(folder).frame
    assert set(frame["tokens"]) == {1e9} and set(frame["params"]) == {7e7}
    assert set(load(folder, tokens_per_step=2e6).frame["tokens"]) == {2e9}  # kwargs win

    (folder / "data.toml").write_text("tokens_per_stp = 1e6\n")
    with pytest.raises(DataError) as info:
        load(folder)
    message = str(info.value)
    assert "data.toml" in message and "'tokens_per_stp'" in message
    assert "did you mean 'tokens_per_step'" in message
    (folder / "data.toml").unlink()
    with pytest.raises(DataError, match="unknown loader option 'shots'"):
        load(folder, shots=0)
