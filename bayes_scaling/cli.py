"""``bayes-scaling``: a thin command line over the Python API.

Exit codes: 0 success, 1 some fits of ``calibrate`` failed, 2 bad input (data, spec, file),
3 ``--strict`` and not converged.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from bayes_scaling import report
from bayes_scaling.atomic import write_text
from bayes_scaling.constants import CI_PROB
from bayes_scaling.data.schema import DataError
from bayes_scaling.fitfile import FitFileError
from bayes_scaling.priors import SpecError

EXIT_FITS_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NOT_CONVERGED = 3


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
    g.add_argument("--sampler", choices=["nutpie", "pymc", "numpyro", "blackjax"])
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
    p.add_argument("--task", help="override the spec's response task (e.g. c4_val)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bayes-scaling",
        description="Bayesian hierarchical scaling laws for language models.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress lines")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("fit", help="fit a spec to data and write one fit file")
    _data_args(p)
    p.add_argument("--select", help='pandas query on the tidy table, e.g. "params < 1e9"')
    p.add_argument("--out", default="fit.nc", help="fit file to write (default fit.nc)")
    p.add_argument("--scheduler", help="Dask scheduler address: one chain per task there")
    _sampler_args(p)
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("predict", help="posterior predictions at a grid of points")
    p.add_argument("fit", help="fit file (.nc)")
    p.add_argument("--grid", required=True, help="CSV: dataset,params,tokens (loss family) …")
    p.add_argument("--ci", type=_probability, default=CI_PROB, help=f"interval (default {CI_PROB})")
    p.add_argument("--out", help="CSV to write (default: print)")
    p.add_argument("--tasks", help="task set: a preset (avg17, avg46), a,b,c or all")
    p.add_argument(
        "--loss-fit",
        help="loss fit to chain from (downstream family): a fit file, or a folder of "
        "<task>.nc fits of per-task losses",
    )
    p.add_argument(
        "--average",
        action="store_true",
        help="also average over the task set, draw by draw (downstream family)",
    )
    p.add_argument("--seed", type=int, help="seed of the predictive draws")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("summary", help="parameter table with intervals and a verdict")
    p.add_argument("fit", help="fit file (.nc)")
    p.add_argument("--ci", type=_probability, default=CI_PROB, help=f"interval (default {CI_PROB})")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--strict", action="store_true", help="exit 3 unless the fit converged")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("backtest", help="fit on a training selection, score held-out points")
    _data_args(p)
    p.add_argument("--train", required=True, help='pandas query, e.g. "params < 1e9"')
    p.add_argument("--test", help="pandas query (default: not TRAIN)")
    p.add_argument("--out", help="CSV of per-point results (default: print)")
    p.add_argument("--fit-out", help="also write the fit (with the backtest) to this .nc")
    p.add_argument("--no-baselines", action="store_true", help="skip the point-fit baselines")
    p.add_argument("--ci", type=_probability, default=CI_PROB, help=f"interval (default {CI_PROB})")
    _sampler_args(p)
    p.set_defaults(func=cmd_backtest)

    p = sub.add_parser(
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
        "calibration.png",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="local worker processes (default: CPUs)")
    where.add_argument("--scheduler", help="address of an existing Dask scheduler")
    _sampler_args(p)
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("demo", help="simulate a testbed, fit, report, plot (the main job)")
    p.add_argument("--out", default="demo-output", help="folder for the fit file and plots")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--draws", type=_positive_int, default=1000)
    p.add_argument("--tune", type=_positive_int, default=1000)
    p.add_argument("--chains", type=_positive_int, default=4)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("sweep", help="run many fits on Dask (see SWEEP.toml docs)")
    p.add_argument("description", help="SWEEP.toml")
    p.add_argument("--out", required=True, help="folder: one file per fit, resumable")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="local worker processes (default: CPUs)")
    where.add_argument("--scheduler", help="address of an existing Dask scheduler")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("collect", help="one table of every fit in a sweep folder")
    p.add_argument("directory")
    p.add_argument("--out", help="CSV to write (default: print)")
    p.set_defaults(func=cmd_collect)
    return parser


def _load_data(args: argparse.Namespace):
    from bayes_scaling.data import load

    return load(args.data)


def _spec(args: argparse.Namespace):
    from bayes_scaling.spec import load_spec

    spec = load_spec(args.spec)
    if getattr(args, "task", None):
        spec = spec.updated({"response": {"task": args.task}})
    return spec


def _sampler_kwargs(args: argparse.Namespace) -> dict:
    keys = ("draws", "tune", "chains", "sampler", "cores")
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}


def _emit(text: str, out: str | None) -> None:
    if out:
        write_text(out, text)
        print(f"wrote {out}", file=sys.stderr)
    else:
        print(text)


def _verdict(fit, strict: bool) -> int:
    diag = fit.diagnostics()
    print(diag.verdict, file=sys.stderr)
    return EXIT_NOT_CONVERGED if strict and not diag.ok else 0


def cmd_fit(args: argparse.Namespace) -> int:
    from bayes_scaling.models.base import model_for

    data = _load_data(args).select(args.select)
    model = model_for(_spec(args), data)
    client = None
    if args.scheduler:
        from distributed import Client

        client = Client(args.scheduler)
    try:
        fit = model.fit(seed=args.seed, client=client, **_sampler_kwargs(args))
    finally:
        if client is not None:
            client.close()
    fit.save(args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    print(report.format_table(fit.summary()))
    return _verdict(fit, args.strict)


def cmd_predict(args: argparse.Namespace) -> int:
    from bayes_scaling.models.base import Fit

    fit = Fit.load(args.fit)
    try:
        grid = pd.read_csv(args.grid)
    except (OSError, pd.errors.ParserError) as exc:
        raise DataError(f"{args.grid}: cannot read the grid CSV ({exc})") from exc
    options = {}
    if args.tasks:
        options["tasks"] = args.tasks
    if args.loss_fit:
        options["loss_fit"] = args.loss_fit
    prediction = fit.predict(grid, seed=args.seed, **options)
    table = prediction.table(ci=args.ci)
    if args.average:
        from bayes_scaling.models.downstream import aggregate_tasks

        average = aggregate_tasks(prediction, tasks=args.tasks).table(ci=args.ci)
        table = pd.concat([table, average], ignore_index=True)
    _emit(table.to_csv(index=False), args.out)
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from bayes_scaling.models.base import Fit

    fit = Fit.load(args.fit)
    table = fit.summary(ci=args.ci)
    print(report.format_table(table, fmt=args.format))
    if args.format == "table":
        print()
        print("\n".join(report.sentences(table)))
    return _verdict(fit, args.strict)


def cmd_backtest(args: argparse.Namespace) -> int:
    from bayes_scaling.validate import backtest

    bt = backtest(
        _spec(args),
        _load_data(args),
        train=args.train,
        test=args.test,
        seed=args.seed,
        baselines=not args.no_baselines,
        ci=args.ci,
        **_sampler_kwargs(args),
    )
    if args.fit_out:
        bt.save(args.fit_out)
        print(f"wrote {args.fit_out}", file=sys.stderr)
    _emit(bt.table.to_csv(index=False), args.out)
    for key, value in bt.metrics.items():
        print(
            f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}",
            file=sys.stderr,
        )
    return _verdict(bt.fit, args.strict)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from bayes_scaling.calibrate import rung_out
    from bayes_scaling.plots.common import save_figure

    if args.cores is not None:
        raise DataError(
            "calibrate: --cores does not apply (each fit runs on one core of a Dask worker); "
            "set the number of workers with --workers"
        )
    if not args.verbose:
        _log_to_stderr("bayes_scaling.cluster")
    sampler = _sampler_kwargs(args)
    cal = rung_out(
        _spec(args),
        args.data,
        out=args.out,
        by=args.by,
        cutoffs=args.cutoffs,
        seed=args.seed,
        workers=args.workers,
        scheduler=args.scheduler,
        **sampler,
    )
    for path in cal.save(args.out):
        print(f"wrote {path}", file=sys.stderr)
    figure = save_figure(cal.plot(), Path(args.out) / "calibration.png")
    print(f"wrote {figure}", file=sys.stderr)
    print(report.format_table(cal.coverage()))
    failed = cal.fits[cal.fits["status"] == "failed"]
    for _, row in failed.iterrows():
        print(f"cut-off {row['selection']} failed: {row['error']}", file=sys.stderr)
    return EXIT_FITS_FAILED if len(failed) else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from bayes_scaling.demo import run_demo

    run_demo(Path(args.out), seed=args.seed, draws=args.draws, tune=args.tune, chains=args.chains)
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from bayes_scaling.cluster import sweep

    if not args.verbose:  # one log line per finished fit, even without --verbose
        _log_to_stderr("bayes_scaling.cluster")

    table = sweep(args.description, out=args.out, workers=args.workers, scheduler=args.scheduler)
    print(report.format_table(table))
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    from bayes_scaling.cluster import collect

    table = collect(args.directory)
    _emit(table.to_csv(index=False) if args.out else report.format_table(table), args.out)
    return 0


def _log_to_stderr(name: str) -> None:
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.verbose:
        _log_to_stderr("bayes_scaling")
    try:
        return args.func(args)
    except (DataError, SpecError, FitFileError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
