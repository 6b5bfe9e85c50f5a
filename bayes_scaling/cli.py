"""``bayes-scaling``: a thin command line over the Python API.

Exit codes (:data:`EXIT_CODES`): 0 success, 1 some fits of ``calibrate``/``sweep`` failed,
2 bad input (data, spec, file, option), 3 ``--strict`` and not converged, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

from bayes_scaling.atomic import discard_pending, write_text
from bayes_scaling.constants import CI_PROB
from bayes_scaling.errors import DataError, FitFileError, SpecError

# Commands import what they use (PyMC, ArviZ, pandas) when they run, so --help is instant.

EXIT_FITS_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NOT_CONVERGED = 3
EXIT_INTERRUPTED = 130


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
        "calibration.png",
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


def _load_data(args: argparse.Namespace):
    from bayes_scaling.data import load
    from bayes_scaling.data.options import parse_pairs

    return load(args.data, **parse_pairs(args.data_option))


def _spec(args: argparse.Namespace):
    from bayes_scaling.data.options import parse_pairs
    from bayes_scaling.spec import load_spec

    spec = load_spec(args.spec)
    if getattr(args, "task", None):
        spec = spec.updated({"response": {"task": args.task}})
    return spec.with_keys(parse_pairs(getattr(args, "set", []), flag="--set"))


def _sampler_overrides(args: argparse.Namespace) -> dict:
    """The sampling flags given, as keys of the spec's ``[sampler]`` table."""
    flags = {
        "name": args.sampler,
        "draws": args.draws,
        "tune": args.tune,
        "chains": args.chains,
        "target_accept": args.target_accept,
        "mass_matrix": args.mass_matrix,
    }
    return {k: v for k, v in flags.items() if v is not None}


def _sampler_kwargs(args: argparse.Namespace, spec) -> dict:
    """``fit()``'s sampler arguments: the spec's ``[sampler]`` with the flags over it, checked
    before any work (a :class:`SpecError` names the flag's key)."""
    config = spec.sampler.updated(where="sampling flag:", **_sampler_overrides(args))
    return {"sampler": config, **({"cores": args.cores} if args.cores is not None else {})}


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


def _check_out(path: str | None, flag: str = "--out") -> None:
    """Refuse an output path that cannot be written before any work is done."""
    if path is None:
        return
    out = Path(path)
    if out.is_dir():
        raise DataError(f"{flag} {out}: is a folder; give a file name (e.g. {out / 'fit.nc'})")
    parent = next((p for p in out.absolute().parents if p.exists()), None)
    if parent is None or not os.access(parent, os.W_OK):
        raise DataError(f"{flag} {out}: cannot write in {parent}")


def cmd_fit(args: argparse.Namespace) -> int:
    from bayes_scaling import report
    from bayes_scaling.models.base import model_for

    _check_out(args.out)
    if not args.verbose:  # progress lines on standard error, also in batch jobs
        _log_to_stderr("bayes_scaling.inference")
    spec = _spec(args)
    sampler = _sampler_kwargs(args, spec)
    data = _load_data(args).select(args.select)
    model = model_for(spec, data)
    client = None
    if args.scheduler:
        from distributed import Client

        client = Client(args.scheduler)
    try:
        fit = model.fit(seed=args.seed, client=client, **sampler)
    finally:
        if client is not None:
            client.close()
    fit.save(args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    print(report.format_table(fit.summary()))
    return _verdict(fit, args.strict)


def _prediction(fit, args: argparse.Namespace):
    """The prediction at ``--grid`` with the command's task and loss-fit options."""
    from bayes_scaling.data.tidy import read_table

    grid = read_table(args.grid)
    if grid.empty:
        raise DataError(f"{args.grid}: the grid has no rows")
    options: dict = {"source": args.grid}
    if args.tasks:
        options["tasks"] = args.tasks
    if args.loss_fit:
        options["loss_fit"] = _loss_fits(args.loss_fit)
    return fit.predict(grid, seed=args.seed, allow_similar=args.allow_similar, **options)


def _loss_fits(path: str):
    """``--loss-fit``: one fit file, or a folder of ``<task>.nc`` (input task → fit)."""
    from pathlib import Path

    from bayes_scaling.models.base import Fit

    folder = Path(path)
    if not folder.is_dir():
        return Fit.load(folder)
    files = sorted(folder.glob("*.nc"))
    if not files:
        raise DataError(f"{folder}: no loss fit files (*.nc) in this folder (--loss-fit)")
    return {f.stem: Fit.load(f) for f in files}


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
        "--allow-similar",
        action="store_true",
        help="predict a group whose name is a near miss of a fitted one (e.g. RedPajama for "
        "redpajama) as a new group instead of stopping",
    )


def cmd_predict(args: argparse.Namespace) -> int:
    import pandas as pd

    from bayes_scaling import report
    from bayes_scaling.models.base import Fit

    fit = Fit.load(args.fit)
    prediction = _prediction(fit, args)
    table = prediction.table(ci=args.ci)
    if args.average:
        from bayes_scaling.models.task_sets import aggregate_tasks

        average = aggregate_tasks(prediction, tasks=args.tasks).table(ci=args.ci)
        table = pd.concat([table, average], ignore_index=True)
    table.attrs["ci_prob"] = args.ci
    _emit(report.format_table(table, fmt="csv", index=False), args.out)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from bayes_scaling.models.base import Fit
    from bayes_scaling.report_page import write_report

    out = Path(args.out)
    _check_out(args.out)
    fit = Fit.load(args.fit)
    prediction = _prediction(fit, args) if args.grid else None
    backtest = _backtest_table(args.backtest) if args.backtest else None
    write_report(fit, out, prediction=prediction, backtest=backtest, ci=args.ci)
    print(f"wrote {out}", file=sys.stderr)
    return 0


def _backtest_table(path: str):
    """``--backtest``: a CSV as ``backtest --out`` writes it (interval columns ``eti90_lb`` …),
    its intervals named back to ``lower, upper``."""
    from bayes_scaling import report
    from bayes_scaling.data.tidy import read_table

    return report.unlabelled(read_table(path), source=path)


def cmd_plot(args: argparse.Namespace) -> int:
    from bayes_scaling.data import load
    from bayes_scaling.models.base import Fit
    from bayes_scaling.plots.common import save_figure
    from bayes_scaling.plots.figures import plot

    if (args.fit is None) == (args.backtest is None):
        raise DataError("plot takes a fit file or --backtest CSV (one of them)")
    if args.backtest and (args.kind or args.held_out):
        raise DataError("--kind and --held-out draw a fit; --backtest draws a backtest table")
    if args.select and not args.held_out:
        raise DataError("--select chooses rows of --held-out; give --held-out too")
    suffix = Path(args.out).suffix.lower()
    if suffix not in {".png", ".pdf", ".svg"}:
        raise DataError(f"--out {args.out}: give a .png, .pdf or .svg file name")
    _check_out(args.out)
    if args.backtest:
        figure = plot(backtest=_backtest_table(args.backtest), ci=args.ci)
    else:
        held_out = load(args.held_out).select(args.select) if args.held_out else None
        figure = plot(fit=Fit.load(args.fit), kind=args.kind, held_out=held_out, ci=args.ci)
    save_figure(figure, args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from bayes_scaling import report
    from bayes_scaling.models.base import Fit

    fit = Fit.load(args.fit)
    table = fit.summary(ci=args.ci)
    print(report.format_table(table, fmt=args.format))
    if args.format == "table":
        print()
        print("\n".join(report.sentences(table)))
    return _verdict(fit, args.strict)


def cmd_backtest(args: argparse.Namespace) -> int:
    from bayes_scaling import report
    from bayes_scaling.validate import backtest

    _check_out(args.out)
    _check_out(args.fit_out, "--fit-out")
    spec = _spec(args)
    sampler = _sampler_kwargs(args, spec)
    bt = backtest(
        spec,
        _load_data(args),
        train=args.train,
        test=args.test,
        seed=args.seed,
        baselines=not args.no_baselines,
        ci=args.ci,
        **sampler,
    )
    if args.fit_out:
        bt.save(args.fit_out)
        print(f"wrote {args.fit_out}", file=sys.stderr)
    _emit(report.format_table(bt.table, fmt="csv", index=False), args.out)
    for key, value in bt.metrics.items():
        print(
            f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}",
            file=sys.stderr,
        )
    return _verdict(bt.fit, args.strict)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from bayes_scaling import report
    from bayes_scaling.calibrate import rung_out
    from bayes_scaling.data.options import parse_pairs
    from bayes_scaling.plots.common import save_figure

    if args.cores is not None:
        raise DataError(
            "calibrate: --cores does not apply (each fit runs on one core of a Dask worker); "
            "set the number of workers with --workers"
        )
    if not args.verbose:
        _log_to_stderr("bayes_scaling.cluster")
    spec = _spec(args)
    sampler = _sampler_overrides(args)
    spec.sampler.updated(where="sampling flag:", **sampler)  # checked before any work
    cal = rung_out(
        spec,
        args.data,
        data_options=parse_pairs(args.data_option),
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
    from bayes_scaling import report
    from bayes_scaling.cluster import sweep

    if not args.verbose:  # one log line per finished fit, even without --verbose
        _log_to_stderr("bayes_scaling.cluster")

    table = sweep(args.description, out=args.out, workers=args.workers, scheduler=args.scheduler)
    print(report.format_table(table))
    failed = int((table["status"] == "failed").sum()) if "status" in table.columns else 0
    if failed:
        print(f"{failed} of {len(table)} fits failed (see their .error.json)", file=sys.stderr)
    return EXIT_FITS_FAILED if failed else 0


def cmd_collect(args: argparse.Namespace) -> int:
    from bayes_scaling import report
    from bayes_scaling.sweep_files import collect

    table = collect(args.directory)
    _emit(table.to_csv(index=False) if args.out else report.format_table(table), args.out)
    return 0


def cmd_specs(args: argparse.Namespace) -> int:
    import tomllib

    from bayes_scaling.spec import shipped_specs

    for name, path in sorted(shipped_specs().items()):
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        print(f"{name:<20} {raw.get('family', '?'):<11} {raw.get('description', '')}")
    return 0


def _log_to_stderr(name: str) -> None:
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _shell_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    shown = warnings.formatwarning
    warnings.formatwarning = _shell_warning  # a shell user needs the message, not our source
    try:
        return _run(argv)
    finally:
        warnings.formatwarning = shown


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.verbose:
        _log_to_stderr("bayes_scaling")
    try:
        return args.func(args)
    except (DataError, SpecError, FitFileError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # `bayes-scaling ... | head`: the reader left; stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _exit_on_interrupt() -> None:
    """Make Ctrl-C end the command within moments, whatever the main thread is doing.

    Numba compilation and nutpie's Rust sampler hold the main thread in native code, where
    Python never sees SIGINT. So SIGINT is blocked in every thread (threads started later
    inherit the mask) and one small thread waits for it; it removes files half-written by
    :mod:`bayes_scaling.atomic` and exits with status 130. Finished output files are complete,
    and a fit is written only after sampling, so nothing partial is left behind.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})

    def wait() -> None:
        signal.sigwait({signal.SIGINT})
        discard_pending()
        os.write(2, b"interrupted\n")
        os._exit(EXIT_INTERRUPTED)

    threading.Thread(target=wait, name="bayes-scaling-interrupt", daemon=True).start()


def console() -> None:
    """The ``bayes-scaling`` executable: :func:`main` with a Ctrl-C that always works."""
    _exit_on_interrupt()
    sys.exit(main())


if __name__ == "__main__":
    console()
