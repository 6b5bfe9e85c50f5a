"""Mistakes that used to give silent wrong answers: each is now an error or a visible flag."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from bayes_scaling import cli
from bayes_scaling.data.schema import DataError
from bayes_scaling.models.prediction import NewGroupWarning

GRID = {"params": [4e8], "tokens": [8e9]}


def test_a_misspelt_group_is_an_error_naming_the_fitted_label(tiny_loss_fit):
    for typo in ("RedPajama", "red-pajama", "redpajamma"):
        with pytest.raises(DataError, match=r"did you mean 'redpajama'") as info:
            tiny_loss_fit.predict(pd.DataFrame({"dataset": [typo], **GRID}))
        assert "row 2, column 'dataset'" in str(info.value)


def test_a_new_group_is_flagged_and_warned_about(tiny_loss_fit):
    grid = pd.DataFrame({"dataset": ["c4", "the_pile"], **{k: v * 2 for k, v in GRID.items()}})
    with pytest.warns(NewGroupWarning, match=r"dataset \['the_pile'\] not in the fit"):
        table = tiny_loss_fit.predict(grid).table()
    assert table["new_dataset"].tolist() == [False, True]
    with pytest.warns(NewGroupWarning):  # asked for: the near miss is predicted as new
        table = tiny_loss_fit.predict(
            pd.DataFrame({"dataset": ["RedPajama"], **GRID}), allow_similar=True
        ).table()
    assert table["new_dataset"].tolist() == [True]


def test_fitted_groups_raise_no_warning(tiny_loss_fit):
    with warnings.catch_warnings():
        warnings.simplefilter("error", NewGroupWarning)
        table = tiny_loss_fit.predict(pd.DataFrame({"dataset": ["c4"], **GRID})).table()
    assert table["new_dataset"].tolist() == [False]


def test_cli_grid_errors_name_the_file(tiny_loss_fit, tmp_path, capsys):
    fit = tmp_path / "fit.nc"
    tiny_loss_fit.save(fit)
    grid = tmp_path / "grid.csv"
    grid.write_text("dataset,params,tokens\nRedPajama,4e8,8e9\n")
    assert cli.main(["predict", str(fit), "--grid", str(grid)]) == 2
    err = capsys.readouterr().err
    assert f"{grid}: row 2, column 'dataset'" in err and "--allow-similar" in err
    assert cli.main(["predict", str(fit), "--grid", str(grid), "--allow-similar"]) == 0
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert cli.main(["predict", str(fit), "--grid", str(empty)]) == 2
    assert f"{empty}: the file is empty" in capsys.readouterr().err
    header_only = tmp_path / "header.csv"
    header_only.write_text("dataset,params,tokens\n")
    assert cli.main(["predict", str(fit), "--grid", str(header_only)]) == 2
    assert "the grid has no rows" in capsys.readouterr().err


def test_report_refuses_a_folder_before_reading_anything(tmp_path, capsys):
    assert cli.main(["report", str(tmp_path / "missing.nc"), "--out", str(tmp_path)]) == 2
    assert "is a folder; give a file name" in capsys.readouterr().err


def test_fit_refuses_a_folder_as_out_before_sampling(small_testbed, tmp_path, capsys):
    data = tmp_path / "d.csv"
    small_testbed.observations.frame.to_csv(data, index=False)
    args = ["fit", "loss_overtraining", "--data", str(data), "--out", str(tmp_path)]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "is a folder" in err and "sampling" not in err  # refused before any work


def test_broken_pipe_is_a_quiet_exit(tmp_path):
    import subprocess
    import sys

    out = subprocess.run(
        f"{sys.executable} -m bayes_scaling.cli specs | head -1",
        shell=True,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and "Traceback" not in out.stderr


def test_version_specs_and_verbose_after_the_command(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0 and "bayes-scaling 0.1.0" in capsys.readouterr().out
    assert cli.main(["specs", "-v"]) == 0
    listed = capsys.readouterr().out
    for name in ("loss_overtraining", "task_dynamics", "error_sigmoid"):
        assert name in listed
    with pytest.raises(SystemExit):
        cli.main(["fit", "--help"])
    assert "exit codes: 0 success" in capsys.readouterr().out


def test_help_does_not_import_pymc():
    import subprocess
    import sys

    code = "import sys, bayes_scaling.cli as c; c.build_parser(); print('pymc' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.parametrize(
    ("update", "message"),
    [
        (
            {"data": {"min_token": 1e9}},
            r"\[data\]: unknown key 'min_token'; did you mean 'min_tokens'",
        ),
        ({"sampler": {"draw": 10}}, r"\[sampler\]: unknown key 'draw'; did you mean 'draws'"),
        (
            {"likelihood": {"knd": "beta"}},
            r"\[likelihood\]: unknown key 'knd'; did you mean 'kind'",
        ),
        ({"groups": {"level": ["domain", "task"]}}, r"\[groups\]: unknown key 'level'"),
        ({"response": {"metrc": "accuracy"}}, r"\[response\]: unknown key 'metrc'"),
        ({"input": {"task": "c4"}}, r"the dynamics family has no \[input\] section"),
    ],
)
def test_unknown_spec_keys_are_errors_naming_the_key(update, message):
    from bayes_scaling.data.simulate import simulate_trajectories
    from bayes_scaling.models.dynamics import DynamicsModel
    from bayes_scaling.priors import SpecError
    from bayes_scaling.spec import load_spec

    with pytest.raises(SpecError, match=message):
        spec = load_spec("task_dynamics").updated(update)
        DynamicsModel(spec, simulate_trajectories(seed=1).observations)


def test_unknown_loss_spec_keys_are_errors(small_testbed):
    from bayes_scaling.models.loss import LossModel
    from bayes_scaling.priors import SpecError
    from bayes_scaling.spec import load_spec

    spec = load_spec("loss_overtraining").updated({"groups": {"min_run": 2}})
    with pytest.raises(SpecError, match=r"did you mean 'min_runs'"):
        LossModel(spec, small_testbed.observations)


def test_notebook_ergonomics(small_testbed):
    """A tidy DataFrame is accepted, reprs are one line (and HTML), LOO compares specs."""
    import bayes_scaling as bs

    frame = small_testbed.observations.frame
    one = bs.fit("loss_overtraining", frame, draws=60, tune=60, chains=2, progressbar=False)
    assert repr(one).startswith("<Fit loss_overtraining (loss): 36 rows of <DataFrame>")
    assert "\n" not in repr(one) and "<table" in one._repr_html_()
    prediction = one.predict(pd.DataFrame({"dataset": ["c4"], **GRID}))
    assert repr(prediction) == "<Prediction: 1 points × 120 draws; .table() for intervals>"
    assert "90% interval" in prediction._repr_html_()
    chinchilla = bs.load_spec("loss_chinchilla").updated({"response": {"task": "c4_val"}})
    other = bs.fit(chinchilla, frame, draws=60, tune=60, chains=2, progressbar=False)
    ranked = bs.compare({"overtraining": one, "chinchilla": other})
    assert set(ranked.index) == {"overtraining", "chinchilla"} and "elpd" in ranked.columns
    with pytest.raises(DataError, match="got list"):
        bs.fit("loss_overtraining", [1, 2])


def test_a_known_wrong_file_points_to_the_right_one(tmp_path):
    from bayes_scaling.data import load

    path = tmp_path / "overtraining_long.csv"
    path.write_text("run,metric,value\na,loss,3.0\n")
    with pytest.raises(DataError, match=r"raw/exp_data\) with the Gadre loader"):
        load(path)


def test_spec_keys_from_the_shell(small_testbed, tmp_path, capsys):
    data = tmp_path / "d.csv"
    small_testbed.observations.frame.to_csv(data, index=False)
    base = ["fit", "loss_overtraining", "--data", str(data), "--out", str(tmp_path / "f.nc")]
    assert cli.main([*base, "--set", "groups.min_run=2"]) == 2
    assert "did you mean 'min_runs'" in capsys.readouterr().err
    assert cli.main([*base, "--set", "nonsense"]) == 2
    assert "--set 'nonsense': expected KEY=VALUE" in capsys.readouterr().err


def test_a_sweep_whose_fits_fail_exits_1(tmp_path, capsys):
    sweep = tmp_path / "SWEEP.toml"
    (tmp_path / "bad.csv").write_text("run,params,tokens,task,metric,value\na,1e8,1e9,t,loss,3\n")
    sweep.write_text(
        '[data.bad]\npath = "bad.csv"\n\n[[fits]]\nspec = "loss_overtraining"\ndata = "bad"\n'
    )
    code = cli.main(["sweep", str(sweep), "--out", str(tmp_path / "out"), "--workers", "1"])
    err = capsys.readouterr().err
    assert code == 1 and "failed" in err
