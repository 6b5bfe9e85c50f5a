"""Sweeps of many fits on Dask ``distributed``, and nothing lost.

:func:`sweep` submits one task per fit of a sweep (:mod:`bayes_scaling.sweep`) to a Dask client
(:func:`bayes_scaling.workers.connect`: a local cluster by default, any scheduler, SLURM jobs);
:func:`run_fit` computes one fit on a worker into the sweep's folder
(:mod:`bayes_scaling.sweep_files`).

Nothing lost
------------
Every fit writes one netCDF file ``OUT/<id>.nc`` (atomically: temporary name, then rename)
and a small record ``OUT/<id>.json``; a fit that raises writes ``OUT/<id>.error.json`` with
its traceback and the sweep goes on. Rerunning a sweep skips every id whose file exists and
opens. A worker that dies has its fits rerun elsewhere (the scheduler reschedules them; task
errors of the infrastructure are retried ``retries`` times). Two sweeps writing to one folder
take a per-id lock ``OUT/<id>.lock`` (``O_CREAT | O_EXCL``, refreshed every few seconds; a lock
whose process is gone, or that is not refreshed for ``lock_stale_after`` seconds, is broken),
so an id is computed once (:mod:`bayes_scaling.locks`).
:func:`~bayes_scaling.sweep_files.collect` turns a folder into one table.

One fit across workers
----------------------
:func:`bayes_scaling.chains.fit_chains` (what ``ScalingModel.fit(client=...)`` calls) runs
each chain as its own task and merges them: same seed, same draws, anywhere.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from distributed import Client, as_completed

from bayes_scaling import atomic
from bayes_scaling.chains import data_future
from bayes_scaling.data.schema import Observations
from bayes_scaling.locks import LOCK_STALE_AFTER, FitLock
from bayes_scaling.models.base import model_for
from bayes_scaling.sweep import FitTask, Sweep, load_sweep
from bayes_scaling.sweep_files import collect, fit_path, is_done, now, write_manifest
from bayes_scaling.validate import backtest
from bayes_scaling.workers import connect

__all__ = ["run_fit", "sweep"]

log = logging.getLogger(__name__)


# --- one fit of a sweep (runs on a worker) ----------------------------------------------------
def run_fit(
    task: FitTask, data: Observations, out: str, *, lock_stale_after: float = LOCK_STALE_AFTER
) -> dict[str, Any]:
    """Compute one fit of a sweep into ``out`` unless it is already there; return its record.

    Runs on a worker: builds the model from the task's spec dict and the observations, samples
    on one core, writes ``<id>.nc`` and ``<id>.json`` (atomically). An error of the fit itself
    (bad selection, sampler failure …) is written to ``<id>.error.json`` and returned, not
    raised; errors of the infrastructure (locks, disk) are raised so Dask retries the task.
    """
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = fit_path(out_dir, task.id)
    base = {**task.record(), "host": socket.gethostname(), "pid": os.getpid(), "file": path.name}
    lock = FitLock(out_dir / f"{task.id}.lock", stale_after=lock_stale_after)
    lock.acquire()
    try:
        if is_done(path):
            return {**base, "status": "exists", "action": "existing"}
        start = time.perf_counter()
        try:
            record = _compute(task, data, path)
        except Exception as exc:
            error = {
                **base,
                "file": None,
                "status": "failed",
                "action": "computed",
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(),
                "wall_time": time.perf_counter() - start,
                "finished": now(),
            }
            atomic.write_text(out_dir / f"{task.id}.error.json", json.dumps(error, indent=1))
            return error
        record = {
            **base,
            **record,
            "status": "ok",
            "action": "computed",
            "wall_time": time.perf_counter() - start,
            "finished": now(),
        }
        atomic.write_text(out_dir / f"{task.id}.json", json.dumps(record, indent=1, default=str))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(out_dir / f"{task.id}.error.json")
        return record
    finally:
        lock.release()


def _compute(task: FitTask, data: Observations, path: Path) -> dict[str, Any]:
    spec = task.model_spec()
    sampler = {"cores": 1, "progressbar": False}
    sel = task.selection
    if sel.test:
        result = backtest(spec, data, train=sel.train, test=sel.test, seed=task.seed, **sampler)
        result.save(path)
        fit, metrics = result.fit, result.metrics
    else:
        fit = model_for(spec, data.select(sel.train)).fit(seed=task.seed, **sampler)
        fit.save(path)
        metrics = None
    return {"diagnostics": fit.diagnostics().to_dict(), "metrics": metrics}


# --- the sweep driver -------------------------------------------------------------------------
def sweep(
    description: Sweep | Mapping[str, Any] | str | Path,
    *,
    out: str | Path,
    client: Client | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool | None = None,
    retries: int = 2,
    lock_stale_after: float = LOCK_STALE_AFTER,
) -> pd.DataFrame:
    """Run every fit of a sweep on Dask; return the :func:`collect` table of its fits.

    Parameters
    ----------
    description
        A ``SWEEP.toml`` path, its content as a dict, or a :class:`~bayes_scaling.sweep.Sweep`.
    out
        Folder for the results: ``<id>.nc`` per fit, ``<id>.json`` records, ``<id>.error.json``
        for failures, ``sweep-<name>-<hash>.json`` listing the sweep's fits. Ids already
        present are not recomputed.
    client, scheduler, workers
        Where to run: a Dask client, the address of a running scheduler, or (default) a new
        local cluster of ``workers`` single-threaded processes (default: the CPUs this
        process may use).
    progress
        A progress bar (terminal or Jupyter); default: when stderr is a terminal or in
        Jupyter. One log line (logger ``bayes_scaling.cluster``, INFO) per finished fit always.
    retries
        Reruns of a task whose infrastructure failed (a worker that dies is rescheduled by
        Dask regardless, up to ``distributed.scheduler.allowed-failures`` times).

    Returns
    -------
    pandas.DataFrame
        One row per fit of the sweep, as :func:`collect`, plus ``action``: ``computed`` by this
        call, ``existing`` (done before), or ``failed``/``missing``.
    """
    sw = load_sweep(description)
    tasks = sw.tasks()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(out, sw, tasks)
    todo = [t for t in tasks if not is_done(fit_path(out, t.id))]
    log.info(
        "sweep %r: %d fits, %d already in %s, %d to run",
        sw.name,
        len(tasks),
        len(tasks) - len(todo),
        out,
        len(todo),
    )
    actions: dict[str, str] = {}
    if todo:
        with connect(client, workers, scheduler) as c:
            actions = _run(c, todo, sw.observations(), out, progress, retries, lock_stale_after)
    table = collect(out, ids=[t.id for t in tasks])
    table.insert(1, "action", [actions.get(i, "existing") for i in table["id"]])
    return table


def _run(
    client: Client,
    tasks: list[FitTask],
    observations: Mapping[str, Observations],
    out: Path,
    progress: bool | None,
    retries: int,
    lock_stale_after: float,
) -> dict[str, str]:
    datasets: dict[str, Any] = {}
    futures = {}
    for task in tasks:
        if task.data not in datasets:
            datasets[task.data] = data_future(client, observations[task.data])
        fut = client.submit(
            run_fit,
            task,
            datasets[task.data],
            str(out),
            lock_stale_after=lock_stale_after,
            key=f"bayes-scaling-fit-{task.id}",
            retries=retries,
        )
        futures[fut] = task
    actions: dict[str, str] = {}
    n = len(futures)
    bar = _SweepProgress(n, enabled=_want_progress(progress))
    try:
        with bar:
            for i, fut in enumerate(as_completed(list(futures)), start=1):
                task = futures.pop(fut)
                if fut.status == "error":
                    record = _driver_error(task, fut.exception(), out)
                else:
                    record = fut.result()
                actions[task.id] = record["action"] if record["status"] != "failed" else "failed"
                bar.advance()
                log.info("[%d/%d] %s", i, n, _describe(record))
    except BaseException:
        client.cancel(list(futures))
        raise
    finally:
        client.cancel(list(datasets.values()))
    return actions


def _describe(record: Mapping[str, Any]) -> str:
    what = f"{record['id']} {record['spec_name']} {record['data']} {record['selection']}"
    if record["status"] == "failed":
        return f"{what}: FAILED {record.get('error', '')}"
    if record["status"] == "exists":
        return f"{what}: done elsewhere"
    diag = record.get("diagnostics") or {}
    verdict = "converged" if diag.get("ok") else "NOT converged"
    return f"{what}: {verdict} ({record.get('wall_time', float('nan')):.1f}s)"


def _driver_error(task: FitTask, exc: BaseException | None, out: Path) -> dict[str, Any]:
    """A task Dask gave up on (e.g. its workers kept dying): record it like a failed fit."""
    error = {
        **task.record(),
        "status": "failed",
        "action": "failed",
        "error": f"{type(exc).__name__}: {exc}",
        "traceback": "".join(traceback.format_exception(exc)) if exc else "",
        "finished": now(),
    }
    atomic.write_text(out / f"{task.id}.error.json", json.dumps(error, indent=1, default=str))
    return error


def _want_progress(progress: bool | None) -> bool:
    if progress is not None:
        return progress
    return sys.stderr.isatty() or _in_jupyter()


def _in_jupyter() -> bool:
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


class _SweepProgress:
    def __init__(self, total: int, *, enabled: bool):
        self.total, self.enabled, self._bar = total, enabled, None

    def __enter__(self) -> _SweepProgress:
        if self.enabled:
            from rich.progress import MofNCompleteColumn, Progress, TimeElapsedColumn

            self._bar = Progress(
                *Progress.get_default_columns(), MofNCompleteColumn(), TimeElapsedColumn()
            )
            self._bar.start()
            self._task = self._bar.add_task("fits", total=self.total)
        return self

    def advance(self) -> None:
        if self._bar is not None:
            self._bar.advance(self._task)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
