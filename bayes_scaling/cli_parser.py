"""The ``bayes-scaling`` argument parser: every subcommand, its options and their defaults."""

from __future__ import annotations

import argparse

from bayes_scaling.cli_commands import (
    cmd_backtest,
    cmd_calibrate,
    cmd_collect,
    cmd_demo,
    cmd_fit,
    cmd_plot,
    cmd_predict,
    cmd_report,
    cmd_specs,
    cmd_summary,
    cmd_sweep,
)
from bayes_scaling.constants import CI_PROB


def _positive_int(text: str) -> int:
    """An argparse type: a whole number ≥ 1 (so a mistyped 0 is an error, not the default)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _probability(text: str) -> float:
    """An argparse type: an interval probability strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 1 (e.g. 0.9), got {text}")
    return value


def _sampler_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("sampling (defaults: the spec's [sampler] table)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--draws", type=_positive_int, help="posterior draws per chain")
    g.add_argument("--tune", type=_positive_int, help="tuning steps per chain")
    g.add_argument("--chains", type=_positive_int, help="number of chains")
    g.add_argument(
        "--sampler",
        choices=["nutpie", "pymc", "numpyro", "blackjax"],
        help="NUTS implementation (numpyro and blackjax need JAX)",
    )
    g.add_argument("--target-accept", type=_probability, help="NUTS target acceptance rate")
    g.add_argument("--mass-matrix", choices=["diag", "low_rank"], help="nutpie's mass matrix")
    g.add_argument(
        "--cores", type=_positive_int, help="core budget (default: CPUs this process may use)"
    )
    g.add_argument("--strict", action="store_true", help="exit 3 unless the fit converged")


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="a spec file (models/*.toml) or a shipped spec's name")
    p.add_argument(
        "--data",
        required=True,
        help="tidy CSV/Parquet, the Gadre testbed folder, Epoch's CSV, OLMo ladder, Pythia … "
        "(recognised automatically)",
    )
    p.add_argument(
        "--data-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a loader option, repeatable (e.g. tokens_per_step=2097152, num_fewshot=0, "
        "'params={my-70m=7e7}'); wins over a data.toml in the data folder",
    )
    p.add_argument("--task", help="override the spec's response task (e.g. c4_val)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one spec key, repeatable (e.g. response.tasks=avg17, "
        '\'response.tasks=["piqa","arc_easy"]\', data.max_checkpoints=8); checked like '
        "the spec file",
    )


def _grid_args(p: argparse.ArgumentParser, *, required: bool) -> None:
    p.add_argument(
        "--grid",
        required=required,
        help="CSV of points: dataset,params,tokens (loss); params,tokens or loss,task "
        "(downstream); run or params, tokens, task (dynamics)",
    )
    p.add_argument("--tasks", help="task set: a preset (avg17, avg46), a,b,c or all")
    p.add_argument(
        "--loss-fit",
        help="loss fit to chain from (downstream family): a fit file, or a folder of "
        "<task>.nc fits of per-task losses",
    )
    p.add_argument("--seed", type=int, help="seed of the predictive draws")
    p.add_argument(
        "--extrapolation",
        metavar="TOML",
        help="predict with this [extrapolation] term instead of the spec's, e.g. the ladder's "
        "own from 'calibrate --out DIR' (DIR/extrapolation.toml)",
    )
    p.add_argument(
        "--allow-similar",
        action="store_true",
        help="predict a group whose name is a near miss of a fitted one (e.g. RedPajama for "
        "redpajama) as a new group instead of stopping",
    )


EXIT_CODES = (
    "exit codes: 0 success; 1 some fits of calibrate or sweep failed; 2 bad input (data, spec, fit "
    "file, option); 3 --strict and not converged; 130 interrupted"
)


def build_parser() -> argparse.ArgumentParser:
    from bayes_scaling import __version__

    parser = argparse.ArgumentParser(
        prog="bayes-scaling",
        description="Bayesian hierarchical scaling laws for language models.",
        epilog=EXIT_CODES,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress lines")
    # -v also after the subcommand; SUPPRESS keeps a subcommand from resetting the global flag
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log progress"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, **kwargs: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], epilog=EXIT_CODES, **kwargs)

    p = command("specs", help="list the shipped specs with one line each")
    p.set_defaults(func=cmd_specs)

    p = command("fit", help="fit a spec to data and write one fit file")
    _data_args(p)
    p.add_argument("--select", help='pandas query on the tidy table, e.g. "params < 1e9"')
    p.add_argument("--out", default="fit.nc", help="fit file to write (default fit.nc)")
    p.add_argument("--scheduler", help="Dask scheduler address: one chain per task there")
    _sampler_args(p)
    p.set_defaults(func=cmd_fit)

    p = command("predict", help="posterior predictions at a grid of points")
    p.add_argument("fit", help="fit file (.nc)")
    _grid_args(p, required=True)
    p.add_argument("--ci", type=_probability, default=CI_PROB, help=f"interval (default {CI_PROB})")
    p.add_argument("--out", help="CSV to write (default: print)")
    p.add_argument(
        "--average",
        action="store_true",
        help="also average over the task set, draw by draw (downstream family)",
    )
    p.set_defaults(func=cmd_predict)

    p = command("report", help="one self-contained HTML page about a fit")
    p.add_argument("fit", help="fit file (.nc)")
    p.add_argument("--out", required=True, help="the .html file to write")
    _grid_args(p, required=False)
    p.add_argument("--backtest", help="CSV from 'bayes-scaling backtest --out' to include")
    p.add_argument("--ci", type=_probability, default=CI_PROB, help=f"interval (default {CI_PROB})")
    p.set_defaults(func=cmd_report)

    p = command("plot", help="one figure of a fit or of a backtest table, as PNG/PDF/SVG")
    p.add_argument("fit", nargs="?", help="fit file (.nc); not with --backtest")
    p.add_argument("--out", required=True, help="the image to write (its suffix: png, pdf, svg)")
    p.add_argument(
        "--kind",
        help="which figure (default: the family's main one): curves (loss, downstream), "
        "domains (downstream), trajectories, onsets, correlation (dynamics), ranks (any)",
    )
    p.add_argument(
        "--held-out",
        help="data not in the fit to draw beside it (loss curves, trajectories): any format "
        "--data takes",
    )
    p.add_argument("--select", help='pandas query on --held-out, e.g. "params >= 1e9"')
    p.add_argument("--backtest", help="CSV from 'bayes-scaling backtest --out': predicted vs truth")
    p.add_argument("--ci", type=_probability, default=CI_PROB, help=f"interval (default {CI_PROB})")
    p.set_defaults(func=cmd_plot)

    p = command("summary", help="parameter table with intervals and a verdict")
    p.add_argument("fit", help="fit file (.nc)")
    p.add_argument("--ci", type=_probability, default=CI_PROB, help=f"interval (default {CI_PROB})")
    p.add_argument(
        "--format", choices=["table", "csv", "json"], default="table", help="(default: table)"
    )
    p.add_argument("--strict", action="store_true", help="exit 3 unless the fit converged")
    p.set_defaults(func=cmd_summary)

    p = command("backtest", help="fit on a training selection, score held-out points")
    _data_args(p)
    p.add_argument("--train", required=True, help='pandas query, e.g. "params < 1e9"')
    p.add_argument("--test", help="pandas query (default: not TRAIN)")
    p.add_argument("--out", help="CSV of per-point results (default: print)")
    p.add_argument("--fit-out", help="also write the fit (with the backtest) to this .nc")
    p.add_argument("--no-baselines", action="store_true", help="skip the point-fit baselines")
    p.add_argument("--ci", type=_probability, default=CI_PROB, help=f"interval (default {CI_PROB})")
    _sampler_args(p)
    p.set_defaults(func=cmd_backtest)

    p = command(
        "calibrate",
        help="rung-out calibration: fit below each rung of the ladder, predict the runs above",
    )
    _data_args(p)
    p.add_argument(
        "--by",
        choices=["params", "flops", "tokens"],
        default="params",
        help="the ladder column to cut on (default params)",
    )
    p.add_argument(
        "--cutoffs",
        type=float,
        nargs="+",
        help="cut-offs of --by (default: after every rung from the third; for a continuous "
        "column four log-spaced values from its median)",
    )
    p.add_argument(
        "--out",
        required=True,
        help="folder: one fit file per cut-off (resumable), points.csv, coverage.csv, "
        "calibration.png, and extrapolation.toml (the spec's extrapolation error updated by "
        "these rung-outs: this ladder's own, for predict --extrapolation)",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="local worker processes (default: CPUs)")
    where.add_argument("--scheduler", help="address of an existing Dask scheduler")
    _sampler_args(p)
    p.set_defaults(func=cmd_calibrate)

    p = command("demo", help="simulate a testbed, fit, report, plot (the main job)")
    p.add_argument("--out", default="demo-output", help="folder for the fit file and plots")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--draws", type=_positive_int, default=1000, help="per chain (default 1000)")
    p.add_argument("--tune", type=_positive_int, default=1000, help="per chain (default 1000)")
    p.add_argument("--chains", type=_positive_int, default=4, help="(default 4)")
    p.set_defaults(func=cmd_demo)

    p = command("sweep", help="run many fits on Dask (see SWEEP.toml docs)")
    p.add_argument("description", help="SWEEP.toml")
    p.add_argument("--out", required=True, help="folder: one file per fit, resumable")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="local worker processes (default: CPUs)")
    where.add_argument("--scheduler", help="address of an existing Dask scheduler")
    p.set_defaults(func=cmd_sweep)

    p = command("collect", help="one table of every fit in a sweep folder")
    p.add_argument("directory", help="the sweep's output folder (one file per fit)")
    p.add_argument("--out", help="CSV to write (default: print)")
    p.set_defaults(func=cmd_collect)
    return parser
