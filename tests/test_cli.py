"""The command line: every subcommand's help, a fit → summary → predict → backtest round,
and bad input turned into a message and exit code 2."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from bayes_scaling import cli, cli_commands, cli_parser, discrepancy, load_spec

COMMANDS = [
    "specs",
    "fit",
    "predict",
    "report",
    "plot",
    "summary",
    "backtest",
    "calibrate",
    "demo",
    "sweep",
    "collect",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--help"])
    assert exit_.value.code == 0
    assert "usage: bayes-scaling" in capsys.readouterr().out


def test_console_script_is_installed():
    out = subprocess.run(
        [sys.executable, "-m", "bayes_scaling.cli", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert "backtest" in out.stdout


@pytest.fixture(scope="module")
def data_csv(small_testbed, tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "testbed.csv"
    small_testbed.observations.frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def fit_file(data_csv):
    out = data_csv.parent / "fit.nc"
    code = cli.main(
        [
            "fit",
            "loss_overtraining",
            "--data",
            str(data_csv),
            "--select",
            "params < 4e8",
            "--out",
            str(out),
            "--draws",
            "60",
            "--tune",
            "60",
            "--chains",
            "2",
            "--seed",
            "1",
        ]
    )
    assert code == 0
    return out


def test_summary_formats(fit_file, capsys):
    assert cli.main(["summary", str(fit_file), "--format", "csv"]) == 0
    table = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out), index_col=0)
    assert {"mean", "median", "eti90_lb", "eti90_ub", "mcse_mean"} <= set(table.columns)
    assert "eta[c4]" in table.index
    assert cli.main(["summary", str(fit_file), "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert records[0]["parameter"] == "E[c4]"
    assert cli.main(["summary", str(fit_file)]) == 0
    assert "90% interval" in capsys.readouterr().out


def test_strict_mode_fails_an_unconverged_fit(fit_file, capsys):
    # 2 chains × 60 draws cannot reach the ESS threshold: strict mode must say so.
    assert cli.main(["summary", str(fit_file), "--strict"]) == cli_commands.EXIT_NOT_CONVERGED
    assert "NOT converged" in capsys.readouterr().err


def test_predict_writes_the_documented_columns(fit_file, tmp_path):
    grid = tmp_path / "grid.csv"
    pd.DataFrame(
        {"dataset": ["c4", "refinedweb"], "params": [1.44e9, 6.89e9], "tokens": [921.5e9, 137.8e9]}
    ).to_csv(grid, index=False)
    out = tmp_path / "pred.csv"
    assert (
        cli.main(["predict", str(fit_file), "--grid", str(grid), "--ci", "0.8", "--out", str(out)])
        == 0
    )
    table = pd.read_csv(out)
    for col in (
        "dataset",
        "params",
        "tokens",
        "mean",
        "median",
        "eti80_lb",  # the file names its interval (--ci 0.8)
        "eti80_ub",
        "mean_eti80_lb",
        "mean_eti80_ub",
        "distance",
    ):
        assert col in table
    assert (table["distance"] > 0).all()


def test_backtest_command(data_csv, tmp_path, capsys):
    out = tmp_path / "bt.csv"
    code = cli.main(
        [
            "backtest",
            "loss_overtraining",
            "--data",
            str(data_csv),
            "--train",
            "params < 4e8",
            "--out",
            str(out),
            "--draws",
            "60",
            "--tune",
            "60",
            "--chains",
            "2",
            "--no-baselines",
        ]
    )
    assert code == 0
    table = pd.read_csv(out)
    assert len(table) == 12
    assert "coverage:" in capsys.readouterr().err
    # the CSV names its interval (eti90_lb …); report and plot read it back
    page, figure = tmp_path / "bt.html", tmp_path / "bt.png"
    fit = tmp_path / "bt.nc"
    assert cli.main(["plot", "--backtest", str(out), "--out", str(figure)]) == 0
    assert figure.stat().st_size > 10_000
    assert cli.main(["fit", "loss_overtraining", "--data", str(data_csv), "--out", str(fit),
                     "--draws", "20", "--tune", "20", "--chains", "1"]) in (0, 3)  # fmt: skip
    assert cli.main(["report", str(fit), "--backtest", str(out), "--out", str(page)]) == 0
    assert "coverage of the 90% interval" in page.read_text()


def test_plot_command_draws_each_figure_and_refuses_bad_requests(
    fit_file, data_csv, tmp_path, capsys
):
    out = tmp_path / "curves.png"
    held = ["--held-out", str(data_csv), "--select", "params >= 4e8"]
    assert cli.main(["plot", str(fit_file), *held, "--out", str(out)]) == 0
    assert out.stat().st_size > 10_000
    ranks = tmp_path / "ranks.png"
    assert cli.main(["plot", str(fit_file), "--kind", "ranks", "--out", str(ranks)]) == 0
    assert ranks.stat().st_size > 10_000
    capsys.readouterr()
    for args, message in [
        (["--kind", "curvs"], "did you mean 'curves'"),
        (["--kind", "onsets"], "no figure 'onsets' for the loss family"),
        (["--select", "params > 1"], "give --held-out too"),
    ]:
        assert cli.main(["plot", str(fit_file), *args, "--out", str(out)]) == 2
        assert message in capsys.readouterr().err
    assert cli.main(["plot", str(fit_file), "--out", str(tmp_path / "fig.txt")]) == 2
    assert ".png, .pdf or .svg" in capsys.readouterr().err
    assert cli.main(["plot", "--out", str(out)]) == 2
    assert "a fit file or --backtest" in capsys.readouterr().err


def test_task_override(data_csv, capsys):
    code = cli.main(
        [
            "fit",
            "loss_overtraining",
            "--data",
            str(data_csv),
            "--task",
            "paloma_ptb",
            "--out",
            "unused.nc",
        ]
    )
    assert code == cli.EXIT_BAD_INPUT
    assert "no rows with task='paloma_ptb'" in capsys.readouterr().err


def test_bad_data_is_exit_2_with_the_cell(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "run,params,tokens,task,metric,value\nr1,1e8,2e9,c4_val,loss,3.1\n"
        "r2,-5,2e9,c4_val,loss,3.0\n"
    )
    code = cli.main(["fit", "loss_chinchilla", "--data", str(bad), "--out", str(tmp_path / "f.nc")])
    assert code == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "bad.csv" in err and "row 3" in err and "'params'" in err
    assert not (tmp_path / "f.nc").exists()


def test_demo_writes_its_files(tmp_path, capsys):
    assert (
        cli.main(["demo", "--out", str(tmp_path), "--draws", "60", "--tune", "60", "--chains", "2"])
        == 0
    )
    names = {p.name for p in tmp_path.iterdir()}
    assert {
        "fit.nc",
        "summary.csv",
        "backtest.csv",
        "loss_vs_compute.png",
        "backtest_predicted_vs_true.png",
    } <= names
    out = capsys.readouterr().out
    assert "Held-out 1.4B runs" in out and "90% interval" in out


def test_downstream_options_on_a_loss_fit_are_exit_2(fit_file, tmp_path, capsys):
    grid = tmp_path / "grid.csv"
    pd.DataFrame({"dataset": ["c4"], "params": [1e9], "tokens": [2e10]}).to_csv(grid, index=False)
    assert cli.main(["predict", str(fit_file), "--grid", str(grid), "--tasks", "avg17"]) == 2
    assert "take no options ['tasks']" in capsys.readouterr().err


def test_calibrate_writes_points_coverage_and_plot(data_csv, tmp_path, capsys):
    out = tmp_path / "cal"
    args = ["calibrate", "loss_overtraining", "--data", str(data_csv), "--by", "params"]
    args += ["--cutoffs", "1e8", "--out", str(out), "--workers", "1"]
    args += ["--draws", "50", "--tune", "50", "--chains", "2"]
    assert cli.main(args) == 0
    points = pd.read_csv(out / "points.csv")
    assert (points["params"] > 1e8).all() and points["pit"].between(0, 1).all()
    assert {"eti90_lb", "eti90_ub"} <= set(points.columns)  # the file names its interval
    coverage = pd.read_csv(out / "coverage.csv")
    assert coverage["distance"].iloc[-1] == "all"
    assert (out / "calibration.png").stat().st_size > 10_000
    captured = capsys.readouterr()
    assert "coverage_0.9" in captured.out
    # the ladder's own extrapolation error, in a file predict --extrapolation takes
    assert "This ladder's own extrapolation error" in captured.err
    term = discrepancy.read_term(out / "extrapolation.toml")
    assert term["rate"]["dist"] == "LogNormal" and term["power"] > 0


def test_predict_with_another_extrapolation_term(fit_file, tmp_path, capsys):
    grid = tmp_path / "grid.csv"
    pd.DataFrame({"dataset": ["c4"], "params": [6.89e9], "tokens": [137.8e9]}).to_csv(grid)
    wide = tmp_path / "wide.toml"
    wide.write_text(
        discrepancy.term_toml(
            {"rate": {"dist": "LogNormal", "mu": 0.0, "sigma": 0.1}, "power": 1.0}, note="wide"
        )
    )
    widths = {}
    for name, extra in (("spec", []), ("wide", ["--extrapolation", str(wide)])):
        out = tmp_path / f"{name}.csv"
        args = ["predict", str(fit_file), "--grid", str(grid), "--out", str(out), *extra]
        assert cli.main(args) == 0
        table = pd.read_csv(out)
        widths[name] = float((table["eti90_ub"] - table["eti90_lb"]).iloc[0])
    assert widths["wide"] > 3 * widths["spec"]  # τ = 1 on log loss one decade out
    bad = tmp_path / "bad.toml"
    bad.write_text("[extrapolation]\nrate = {dist = 'LogNormal', mu = 0.0}\npace = 1\n")
    assert cli.main(["predict", str(fit_file), "--grid", str(grid), "--extrapolation", str(bad)])
    err = capsys.readouterr().err
    assert str(bad) in err and "pace" in err


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--draws", "0", "must be at least 1"),
        ("--chains", "-2", "must be at least 1"),
        ("--tune", "ten", "must be a whole number"),
        ("--ci", "1.5", "strictly between 0 and 1"),
        ("--ci", "-0.2", "strictly between 0 and 1"),
    ],
)
def test_bad_sampler_and_interval_flags_fail_before_any_work(flag, value, message, capsys):
    args = ["backtest", "loss_chinchilla", "--data", "nowhere.csv", "--train", "params < 1"]
    with pytest.raises(SystemExit) as exit_:
        cli.main([*args, flag, value])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_zero_draws_from_python_is_an_error_not_the_default(small_testbed):
    from bayes_scaling.models import model_for
    from bayes_scaling.priors import SpecError

    model = model_for("loss_overtraining", small_testbed.observations)
    with pytest.raises(SpecError, match="draws must be a positive integer, got 0"):
        model.fit(draws=0)


def test_calibrate_refuses_cores_instead_of_ignoring_it(capsys):
    args = ["calibrate", "loss_chinchilla", "--data", "nowhere.csv", "--out", "x", "--cores", "2"]
    assert cli.main(args) == 2
    assert "--cores does not apply" in capsys.readouterr().err


def test_every_sampler_key_is_a_flag_checked_before_any_work(capsys):
    args = ["fit", "error_sigmoid", "--data", "nowhere.csv", "--out", "f.nc", "--sampler", "pymc"]
    assert cli.main(args) == 2  # the spec's low-rank mass matrix needs nutpie
    assert "mass_matrix 'low_rank' needs nutpie" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        cli.main(["fit", "error_sigmoid", "--data", "x.csv", "--target-accept", "1.2"])
    assert exit_.value.code == 2
    ns = cli_parser.build_parser().parse_args(
        ["fit", "loss_chinchilla", "--data", "x", "--target-accept", "0.99", "--mass-matrix",
         "low_rank"]
    )  # fmt: skip
    config = cli_commands._sampler_kwargs(ns, load_spec("loss_chinchilla"))["sampler"]
    assert (config.target_accept, config.mass_matrix, config.draws) == (0.99, "low_rank", 1000)


def test_every_option_has_help_text():
    import argparse

    parser = cli_parser.build_parser()
    (subparsers,) = parser._subparsers._group_actions
    bare = [
        f"{name} {a.option_strings or a.dest}"
        for name, sub in subparsers.choices.items()
        for a in sub._actions
        if not isinstance(a, argparse._HelpAction) and not a.help
    ]
    assert bare == []


def test_loss_fit_flag_reads_a_file_or_a_folder_of_task_fits(fit_file, tmp_path):
    from bayes_scaling import DataError

    one = cli_commands._loss_fits(str(fit_file))
    assert one.spec.family == "loss"
    folder = tmp_path / "per_task"
    folder.mkdir()
    (folder / "c4_val.nc").write_bytes(fit_file.read_bytes())
    assert list(cli_commands._loss_fits(str(folder))) == ["c4_val"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no loss fit files"):
        cli_commands._loss_fits(str(empty))


def test_written_tables_name_their_interval_and_read_back(tmp_path):
    from bayes_scaling import report

    table = pd.DataFrame({"median": [1.0], "lower": [0.5], "upper": [2.0], "mean_lower": [0.9]})
    table.attrs["ci_prob"] = 0.8
    text = report.format_table(table, fmt="csv", index=False)
    assert text.splitlines()[0] == "median,eti80_lb,eti80_ub,mean_eti80_lb"
    path = tmp_path / "t.csv"
    path.write_text(text)
    back = report.read_labelled(path)
    assert list(back.columns) == list(table.columns) and back.attrs["ci_prob"] == 0.8
