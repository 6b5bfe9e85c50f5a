"""The ``bayes-scaling`` commands: each reads its arguments, calls the Python API, writes.

Commands import what they use (PyMC, ArviZ, pandas) when they run, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from bayes_scaling.atomic import write_text
from bayes_scaling.errors import DataError

EXIT_FITS_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NOT_CONVERGED = 3
EXIT_INTERRUPTED = 130


def _log_to_stderr(name: str) -> None:
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


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


def _load_fit(args: argparse.Namespace):
    """The fit file ``args.fit``, with the term of ``--extrapolation`` when given."""
    from bayes_scaling.models.base import Fit

    fit = Fit.load(args.fit)
    if args.extrapolation:
        from bayes_scaling.discrepancy import read_term

        fit = fit.with_extrapolation(read_term(args.extrapolation))
    return fit


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


def cmd_predict(args: argparse.Namespace) -> int:
    import pandas as pd

    from bayes_scaling import report

    fit = _load_fit(args)
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
    from bayes_scaling.report_page import write_report

    out = Path(args.out)
    _check_out(args.out)
    fit = _load_fit(args)
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
    own = cal.own_term(spec)
    if own is not None:
        path = Path(args.out) / "extrapolation.toml"
        write_text(path, own.toml)
        print(f"wrote {path}", file=sys.stderr)
        print(own.sentence, file=sys.stderr)
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
