"""The Gemstones and data-constrained (datablations) loaders on small fixture files in their
real layouts (fast tier)."""

from pathlib import Path

import pandas as pd
import pytest

from bayes_scaling.data import DataError, load, load_gemstones

HEADER = (
    "model,width,depth,params,checkpoint,step,tokens,task,source_task,metric,value,stderr,chance"
)
ROWS = [
    "Gemstone-256x23,256,23,48377600,step_00002385,2385,10003415040,arc_easy,arc:easy",
    "Gemstone-256x23,256,23,48377600,main,83475,350119555200,arc_easy,arc:easy",
    "Gemstone-256x23,256,23,48377600,main,83475,350119555200,mmlu,mmlu",
    "Gemstone-1024x28,1024,28,543482880,main,83475,350119555200,openbookqa,openbookqa",
]
# made-up values in the real layout (none is a measurement from the source files)
VALUES = ["accuracy,0.31,0.0146,0.25", "accuracy,0.45,0.0157,0.25", "accuracy,0.25,0.004,0.25"]
VALUES.append("accuracy,0.3,0.02,0.25")
EVALS = "\n".join([HEADER, *(f"{r},{v}" for r, v in zip(ROWS, VALUES, strict=True))]) + "\n"
LOSS = """model,width,depth,params,step,tokens,train_loss
Gemstone-1024x28,1024,28,543482880,477,2000683008,4.125
Gemstone-1024x28,1024,28,543482880,954,4001366016,3.5
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "gemstones_evals_long.csv").write_text(EVALS)
    (tmp_path / "gemstones_train_loss.csv").write_text(LOSS)
    return tmp_path


def test_folder_is_recognised_and_both_files_load(folder: Path) -> None:
    f = load(folder).frame
    assert len(f) == 6
    acc = f[f["metric"] == "accuracy"].set_index("task")
    assert acc.loc["openbookqa", "n_items"] == 500
    assert pd.isna(acc.loc["mmlu", "n_items"])  # a mean over 57 subjects: no one item pool
    assert (acc["chance"] == 0.25).all()
    loss = f[f["metric"] == "loss"]
    assert set(loss["task"]) == {"train_loss"} and loss["value"].iloc[0] == pytest.approx(4.125)
    assert set(f["dataset"]) == {"dolma"} and {"width", "depth"} <= set(f.columns)


def test_one_file_alone_loads(folder: Path) -> None:
    f = load(folder / "gemstones_train_loss.csv").frame
    assert set(f["task"]) == {"train_loss"} and len(f) == 2
    assert set(load_gemstones(folder / "gemstones_evals_long.csv").frame["metric"]) == {"accuracy"}


def test_missing_column_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "gemstones_train_loss.csv").write_text(LOSS.replace("train_loss", "loss"))
    with pytest.raises(DataError, match=r"gemstones_train_loss.csv: missing column"):
        load_gemstones(tmp_path)


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no gemstones_evals_long\.csv or gemstones_train_loss"):
        load_gemstones(tmp_path)


DATABLATIONS = "index,data,epochs,token_num,openLM_loss,num_params,model_args,tokens_per_epoch"
DATABLATIONS += """,flops
0,c4,1.0,3900000000.0,3.348,421200000.0,{'name': '421m3b93b9'},1500000000.0,9.8e18
1,c4,15.0,1500000000.0,3.797,421200000.0,{'name': '421m1b5100m'},1500000000.0,3.8e18
2,c4,1.0,100000000.0,7.278,14100000.0,{},1500000000.0,8.5e15
"""


def test_datablations_runs_epochs_and_unique_tokens(tmp_path: Path) -> None:
    path = tmp_path / "datablations_contour_losses.csv"
    path.write_text(DATABLATIONS)
    f = load(path).frame.set_index("run")
    assert list(f.index) == ["421m3b93b9", "421m1b5100m", "datablations-4"]
    assert f.loc["421m1b5100m", "unique_tokens"] == pytest.approx(1e8)
    assert f.loc["421m3b93b9", "epochs"] == 1.0 and (f["metric"] == "loss").all()
    path.write_text(DATABLATIONS.replace("3.348", "oops"))
    with pytest.raises(DataError, match=r"row 2, column 'openLM_loss'"):
        load(path)


OPT = """model_name,model_size,steps,num_token,flops,ppl
OPT,125m,2000,9.0,17.87,60.0
OPT,125m,6000,9.5,18.37,45.0
OPT,1.3b,2000,9.30103,18.9,30.5
"""


def test_opt_trajectories_sizes_log10_tokens_and_log_perplexity(tmp_path: Path) -> None:
    (tmp_path / "opt_trajectories.csv").write_text(OPT)
    f = load(tmp_path).frame.sort_values(["params", "step"]).reset_index(drop=True)
    assert list(f["run"]) == ["OPT-125m", "OPT-125m", "OPT-1.3b"]
    assert list(f["params"]) == [1.25e8, 1.25e8, 1.3e9]
    assert f["tokens"].iloc[0] == pytest.approx(1e9) and f["tokens"].iloc[2] == pytest.approx(2e9)
    assert f["value"].iloc[0] == pytest.approx(4.0943, abs=1e-4)  # ln 60
    assert set(f["task"]) == {"opt_valid"} and set(f["metric"]) == {"loss"}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("OPT,1.3x,2000,9.3,18.9,30.5", "line 4, column 'model_size': '1.3x' is not a model size"),
        ("OPT,1.3b,2000,2000000000,18.9,30.5", "line 4, column 'num_token'"),
        ("OPT,1.3b,2000,9.3,18.9,0.5", "line 4, column 'ppl': 0.5 is not a perplexity above 1"),
        ("OPT,1.3b,2000,9.3,18.9,lots", "'ppl'"),
    ],
)
def test_opt_bad_cells_name_line_and_column(tmp_path: Path, bad: str, message: str) -> None:
    path = tmp_path / "opt_trajectories.csv"
    path.write_text("\n".join([*OPT.splitlines()[:3], bad]) + "\n")
    with pytest.raises(DataError, match=message.replace("(", r"\(")) as err:
        load(path)
    assert str(path) in str(err.value)


REVISITING = """Domain,Task,Model,Seen Examples,Loss,Training
NMT,log_perplexity,"6 Enc, 6 Dec",400000.0,0.95,1
LM,val_loss,1.68e+07,2000000000.0,0.999,1
LM,val_loss,1.68e+07,5000000000.0,0.97,1
LM,val_loss,1.68e+07,5000000000.0,0.97,1
LM,val_loss,1.07e+09,8e10,0.861,0
"""


def test_revisiting_reads_the_lm_rows_without_clipped_or_repeated_points(tmp_path: Path) -> None:
    (tmp_path / "revisiting_lang.csv").write_text(REVISITING)
    f = load(tmp_path).frame.sort_values("params").reset_index(drop=True)
    assert list(f["run"]) == ["lm-1.68e+07", "lm-1.07e+09"]  # 0.999 is the source's clip
    assert list(f["params"]) == [1.68e7, 1.07e9] and list(f["paper_split"]) == [1, 0]
    assert list(f["value"]) == [0.97, 0.861] and set(f["task"]) == {"val_loss"}
    nmt_only = tmp_path / "nmt" / "revisiting_lang.csv"
    nmt_only.parent.mkdir()
    nmt_only.write_text("\n".join(REVISITING.splitlines()[:2]) + "\n")
    with pytest.raises(DataError, match="no rows with Domain 'LM'"):
        load(nmt_only)


def _gin(emb_dim: int, batch: int = 8) -> str:
    """A t5x gin config cell as the source writes it: line breaks as the characters ``\\n``."""
    lines = [
        "from __gin__ import dynamic_registration",
        f"    BATCH_SIZE = {batch}",
        "    TASK_FEATURE_LENGTHS = {'inputs': 16, 'targets': 4}",
        "    network.T5Config.emb_dim = " + str(emb_dim),
        "    network.T5Config.head_dim = 32",
        "    network.T5Config.logits_via_embedding = False",
        "    network.T5Config.mlp_activations = ('gelu', 'linear')",
        "    network.T5Config.mlp_dim = 128",
        "    network.T5Config.num_decoder_layers = 2",
        "    network.T5Config.num_encoder_layers = 2",
        "    network.T5Config.num_heads = 2",
        "    network.T5Config.vocab_size = 100",
    ]
    return '"' + "\\n".join(lines) + '"'


def _t5_csv(*rows: str) -> str:
    return "\n".join(["model_name,steps,loss,val_perplexity,config", *rows]) + "\n"


T5_ROWS = (
    f"tiny,0,9.0,1.9,{_gin(64)}",
    f"tiny,10,-1.0,1.5,{_gin(64)}",
    "tiny,20,-1.1,1.4,",
    f"small,10,-1.2,1.3,{_gin(128)}",
)


def test_t5_pile_sizes_and_tokens_come_from_the_gin_config(tmp_path: Path) -> None:
    (tmp_path / "t5_pile.csv").write_text(_t5_csv(*T5_ROWS))
    f = load(tmp_path).frame.sort_values(["params", "step"]).reset_index(drop=True)
    assert list(f["run"]) == ["T5-tiny", "T5-tiny", "T5-small"]  # step 0 is before training
    # embeddings 2·100·64, per encoder layer 4·64·64 + 3·64·128, per decoder layer 8·64·64 + ...
    assert f["params"].iloc[0] == 2 * 100 * 64 + 2 * (4 * 64 * 64 + 3 * 64 * 128) + 2 * (
        8 * 64 * 64 + 3 * 64 * 128
    )
    assert list(f["tokens"]) == [10 * 8 * 16, 20 * 8 * 16, 10 * 8 * 16]
    assert f["value"].iloc[1] == pytest.approx(0.33647, abs=1e-5)  # ln 1.4
    assert set(f["task"]) == {"t5_pile_valid"} and set(f["metric"]) == {"loss"}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ((*T5_ROWS[:3], "small,10,-1.2,1.3,"), r"no row of model\(s\) \['small'\] holds a gin"),
        ((*T5_ROWS, f"tiny,30,-1.2,1.3,{_gin(64, batch=16)}"), r"line 6.*\['BATCH_SIZE'\]"),
        ((*T5_ROWS[:3], "small,10,-1.2,0.9,"), r"line 5, column 'val_perplexity': 0.9"),
        ((*T5_ROWS[:3], f"small,10,-1.2,1.3,{_gin(64).replace('BATCH', 'B')}"), "no BATCH_SIZE"),
    ],
)
def test_t5_pile_bad_input_names_line_and_what(tmp_path: Path, rows, message: str) -> None:
    path = tmp_path / "t5_pile.csv"
    path.write_text(_t5_csv(*rows))
    with pytest.raises(DataError, match=message) as err:
        load(path)
    assert str(path) in str(err.value)
