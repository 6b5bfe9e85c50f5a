"""Sampling on CPU clusters with Dask ``distributed``: sweeps of many fits, chains across
workers, and nothing lost.

Three ways to run
-----------------
Local (default): ``sweep("SWEEP.toml", out="runs/")`` starts a :class:`~distributed.LocalCluster`
of worker *processes*, one per CPU this process may use
(:func:`bayes_scaling.inference.available_cpus`: ``$SLURM_CPUS_PER_TASK``, affinity, cgroup
quota), one thread each. From a shell: ``bayes-scaling sweep SWEEP.toml --out runs/
[--workers N]``.

An existing scheduler: ``sweep(..., scheduler="tcp://host:8786")`` or ``--scheduler ADDRESS``,
or pass your own ``client=``. Start workers with one thread each and the environment of
:func:`worker_environment`::

    export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
    export PYTENSOR_FLAGS=base_compiledir=$TMPDIR/pytensor-$HOSTNAME-$$
    dask worker tcp://host:8786 --nworkers 1 --nthreads 1

SLURM / PBS via dask-jobqueue: :func:`slurm_cluster` returns a ``SLURMCluster`` whose job
script sets that environment (one single-threaded worker per job by default)::

    from dask.distributed import Client
    from bayes_scaling.cluster import slurm_cluster, sweep

    cluster = slurm_cluster(queue="cpu", account="myproj", walltime="04:00:00", memory="4GB")
    cluster.adapt(minimum_jobs=0, maximum_jobs=64)
    with Client(cluster) as client:
        table = sweep("SWEEP.toml", out="/scratch/me/runs", client=client)

The equivalent ``~/.config/dask/jobqueue.yaml``::

    jobqueue:
      slurm:
        cores: 1
        processes: 1
        memory: 4GB
        walltime: "04:00:00"
        job-script-prologue:
          - export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
          - export PYTENSOR_FLAGS=base_compiledir=${TMPDIR:-/tmp}/pytensor-$SLURM_JOB_ID

For PBS use ``dask_jobqueue.PBSCluster`` with the same ``job_script_prologue``.

Nothing lost
------------
Every fit writes one netCDF file ``OUT/<id>.nc`` (atomically: temporary name, then rename)
and a small record ``OUT/<id>.json``; a fit that raises writes ``OUT/<id>.error.json`` with
its traceback and the sweep goes on. Rerunning a sweep skips every id whose file exists and
opens. A worker that dies has its fits rerun elsewhere (the scheduler reschedules them; task
errors of the infrastructure are retried ``retries`` times). Two sweeps writing to one folder
take a per-id lock ``OUT/<id>.lock`` (``O_CREAT | O_EXCL``, refreshed every few seconds; a lock
whose process is gone, or that is not refreshed for ``lock_stale_after`` seconds, is broken),
so an id is computed once. :func:`collect` turns a folder into one table.

Worker hygiene
--------------
Workers build models from the spec dict and the tidy table (never pickled PyMC models). Local
workers get their own PyTensor compile directory, set before PyTensor is imported in them
(``PYTENSOR_FLAGS=base_compiledir=<compile_root>/worker-<name>``: stable across runs, so the
compile cache stays warm), and one BLAS thread. Each fit gets one core: chains run one after
the other in one process (nutpie threads, PyMC with ``cores=1``), never a process pool inside
a daemonic worker.

One fit across workers
----------------------
:func:`bayes_scaling.chains.fit_chains` (what ``ScalingModel.fit(client=...)`` calls, re-exported
here) runs each chain as its own task and merges them: same seed, same draws, anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from distributed import Client, LocalCluster, Nanny, as_completed

from bayes_scaling import atomic, inference
from bayes_scaling.chains import data_future, fit_chains
from bayes_scaling.data.schema import Observations
from bayes_scaling.hashing import digest
from bayes_scaling.models.base import model_for
from bayes_scaling.sweep import FitTask, Sweep, load_sweep
from bayes_scaling.validate import backtest

__all__ = ["collect", "fit_chains", "local_cluster", "run_fit", "slurm_cluster", "sweep"]

log = logging.getLogger(__name__)

#: One BLAS/OpenMP thread per worker process: parallelism comes from processes.
BLAS_ENV: dict[str, str] = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
#: Seconds without a refresh after which another process may break a fit's lock.
LOCK_STALE_AFTER = 120.0
_HEARTBEAT = 10.0


# --- environment ------------------------------------------------------------------------------
def default_compile_root() -> Path:
    """Where local workers keep their PyTensor compile directories.

    ``$BAYES_SCALING_COMPILE_ROOT``, else ``$XDG_CACHE_HOME/bayes_scaling/pytensor`` (default
    ``~/.cache/...``).
    """
    if env := os.environ.get("BAYES_SCALING_COMPILE_ROOT"):
        return Path(env)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "bayes_scaling" / "pytensor"


def worker_environment(compiledir: str | Path) -> dict[str, str]:
    """Environment of a worker process: one BLAS thread and its own PyTensor compile dir.

    It must be in place before the worker imports PyTensor (``base_compiledir`` cannot change
    afterwards), i.e. set when the process starts.
    """
    return {**BLAS_ENV, "PYTENSOR_FLAGS": _with_compiledir(str(compiledir))}


def _with_compiledir(compiledir: str) -> str:
    flags = [
        f
        for f in os.environ.get("PYTENSOR_FLAGS", "").split(",")
        if f.strip() and not f.strip().startswith("base_compiledir")
    ]
    return ",".join([*flags, f"base_compiledir={compiledir}"])


_SPAWN_LOCK = threading.Lock()


class WorkerNanny(Nanny):
    """A Nanny whose worker process starts with :func:`worker_environment`.

    The environment goes into the Nanny's *pre-spawn* environment, so the worker process has
    it from its first instruction — also when ``multiprocessing``'s spawn re-imports the
    driver's ``__main__`` (and with it PyTensor) before Dask applies ``env=``. Spawns are
    serialised (only the spawn itself, not the worker's start-up) because the pre-spawn
    environment passes through this process's ``os.environ``.
    """

    def __init__(self, *args: Any, compile_root: str | Path | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        root = Path(compile_root) if compile_root else default_compile_root()
        name = str(self.name if self.name is not None else os.getpid())
        self._worker_env = worker_environment(root / f"worker-{name}")
        self.pre_spawn_env.update(self._worker_env)
        self.env.update(self._worker_env)

    async def instantiate(self):  # type: ignore[override]
        # A thread lock (not an asyncio one: clusters may live on different event loops),
        # taken without blocking the loop and held only until the child process exists.
        while not _SPAWN_LOCK.acquire(blocking=False):
            await asyncio.sleep(0.01)
        saved = {k: os.environ.get(k) for k in self._worker_env}
        previous = self._pid()  # a restart replaces the process of a worker that died
        try:
            start = asyncio.ensure_future(super().instantiate())
            while not start.done() and self._pid() in (None, previous):
                await asyncio.sleep(0.01)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            _SPAWN_LOCK.release()
        return await start

    def _pid(self) -> int | None:
        inner = getattr(getattr(self, "process", None), "process", None)
        return getattr(inner, "pid", None)


def local_cluster(
    workers: int | None = None,
    *,
    compile_root: str | Path | None = None,
    dashboard_address: str | None = ":0",
    **kwargs: Any,
) -> LocalCluster:
    """A :class:`~distributed.LocalCluster` of single-threaded worker processes.

    Parameters
    ----------
    workers
        Number of worker processes (default :func:`~bayes_scaling.inference.available_cpus`).
    compile_root
        Parent of the per-worker PyTensor compile directories (default
        :func:`default_compile_root`); worker ``i`` uses ``compile_root/worker-i``.
    dashboard_address
        ``":0"`` (a free port; the link is logged), ``None`` for no dashboard.
    """
    n = workers or inference.available_cpus()
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        worker_class=WorkerNanny,
        compile_root=str(compile_root) if compile_root else None,
        dashboard_address=dashboard_address,
        **kwargs,
    )
    if dashboard_address is not None:
        log.info("Dask dashboard: %s", cluster.dashboard_link)
    return cluster


def slurm_cluster(
    *,
    queue: str | None = None,
    account: str | None = None,
    walltime: str = "04:00:00",
    memory: str = "4GB",
    cores: int = 1,
    compile_root: str = "${TMPDIR:-/tmp}",
    **kwargs: Any,
):
    """A ``dask_jobqueue.SLURMCluster`` whose workers follow the package's hygiene.

    Each job runs ``cores`` single-threaded worker processes (default one) with one BLAS
    thread and a PyTensor compile directory of its own under ``compile_root`` (node-local
    scratch by default). Scale with ``cluster.scale(jobs=N)`` or ``cluster.adapt(...)``;
    ``kwargs`` go to ``SLURMCluster`` (``job_extra_directives``, ``python``, ...).
    Needs the ``jobqueue`` extra (``pip install bayes-scaling[jobqueue]``).
    """
    from dask_jobqueue import SLURMCluster

    env = worker_environment(f"{compile_root}/pytensor-$SLURM_JOB_ID")
    prologue = [f"export {k}={v}" for k, v in env.items()]
    return SLURMCluster(
        queue=queue,
        account=account,
        walltime=walltime,
        memory=memory,
        cores=cores,
        processes=cores,
        job_script_prologue=[*prologue, *kwargs.pop("job_script_prologue", [])],
        **kwargs,
    )


# --- locks ------------------------------------------------------------------------------------
class FitLock:
    """An exclusive lock file ``<id>.lock`` shared by processes on any host.

    Created with ``O_CREAT | O_EXCL`` and refreshed (``mtime``) every few seconds while held.
    A lock is stale — and may be broken — when its owner runs on this host and its process is
    gone, or when it has not been refreshed for ``stale_after`` seconds.
    """

    def __init__(self, path: str | Path, *, stale_after: float = LOCK_STALE_AFTER):
        self.path = Path(path)
        self.stale_after = stale_after
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.token = f"{socket.gethostname()}:{os.getpid()}:{time.time_ns()}"

    def try_acquire(self) -> bool:
        """Take the lock if it is free or stale; never blocks."""
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if not self._break_if_stale():
                    return False
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(
                    {"host": socket.gethostname(), "pid": os.getpid(), "token": self.token}, f
                )
            self._thread = threading.Thread(target=self._heartbeat, daemon=True)
            self._thread.start()
            return True
        return False

    def acquire(self, *, poll: float = 1.0, timeout: float | None = None) -> bool:
        """Wait for the lock (``timeout`` seconds at most; ``None``: no limit)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.try_acquire():
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(poll)
        return True

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with contextlib.suppress(FileNotFoundError):
            if self.owner().get("token") == self.token:
                os.unlink(self.path)

    def owner(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}

    def is_stale(self) -> bool:
        try:
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return False
        owner = self.owner()
        here = owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int)
        if here and not _pid_alive(owner["pid"]):
            return True
        return age > self.stale_after

    def _break_if_stale(self) -> bool:
        if not self.is_stale():
            return False
        owner = self.owner()
        moved = self.path.with_name(f".{self.path.name}.stale-{os.getpid()}-{time.time_ns()}")
        try:
            os.rename(self.path, moved)
        except FileNotFoundError:
            return True  # someone else removed it: try again
        try:
            if json.loads(moved.read_text() or "{}") != owner:
                # it was replaced by a fresh lock between our check and the rename: restore it
                with contextlib.suppress(FileExistsError):
                    os.link(moved, self.path)
        except (OSError, ValueError):
            pass
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(moved)
        log.warning("broke stale lock %s (owner %s)", self.path, owner)
        return True

    def _heartbeat(self) -> None:
        interval = min(_HEARTBEAT, self.stale_after / 4)
        while not self._stop.wait(interval):
            with contextlib.suppress(FileNotFoundError):
                os.utime(self.path)

    def __enter__(self) -> FitLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- one fit of a sweep (runs on a worker) ----------------------------------------------------
def fit_path(out: str | Path, fit_id: str) -> Path:
    return Path(out) / f"{fit_id}.nc"


def is_done(path: str | Path) -> bool:
    """True when ``path`` is a complete fit file (it opens and carries its format marker)."""
    import h5py

    path = Path(path)
    if not path.is_file():
        return False
    try:
        with h5py.File(path, "r") as f:
            return "bayes_scaling_format" in f.attrs and "posterior" in f
    except OSError:
        return False


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
                "finished": _now(),
            }
            atomic.write_text(out_dir / f"{task.id}.error.json", json.dumps(error, indent=1))
            return error
        record = {
            **base,
            **record,
            "status": "ok",
            "action": "computed",
            "wall_time": time.perf_counter() - start,
            "finished": _now(),
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


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --- the sweep driver -------------------------------------------------------------------------
@contextlib.contextmanager
def _client(client: Client | None, workers: int | None, scheduler: str | None) -> Iterator[Client]:
    if client is not None:
        yield client
    elif scheduler is not None:
        with Client(scheduler) as c:
            yield c
    else:
        with local_cluster(workers) as cluster, Client(cluster) as c:
            yield c


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
    _write_manifest(out, sw, tasks)
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
        with _client(client, workers, scheduler) as c:
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
        "finished": _now(),
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


def _write_manifest(out: Path, sw: Sweep, tasks: Sequence[FitTask]) -> Path:
    ids = [t.id for t in tasks]
    path = out / f"sweep-{sw.name}-{digest(*ids)[:8]}.json"
    body = {
        "sweep": sw.name,
        "source": sw.source,
        "written": _now(),
        "fits": [t.record() for t in tasks],
    }
    return atomic.write_text(path, json.dumps(body, indent=1, default=str))


# --- collect ----------------------------------------------------------------------------------
COLLECT_COLUMNS = [
    "id",
    "status",
    "converged",
    "spec",
    "data",
    "selection",
    "kind",
    "train",
    "test",
    "seed",
    "replicate",
    "wall_time",
    "verdict",
    "rhat_max",
    "ess_bulk_min",
    "divergences",
    "n_test",
    "coverage",
    "median_rel_error",
    "mean_abs_error",
    "error",
    "file",
]


def collect(directory: str | Path, *, ids: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per fit in a sweep folder: what it is, whether it converged, how it scored.

    ``status`` is ``ok``, ``not converged``, ``failed`` (with ``error``), ``running`` (a live
    lock) or ``missing`` (listed in a sweep manifest, no result yet). Backtests add
    ``n_test, coverage, median_rel_error, mean_abs_error`` and each baseline's
    ``baseline_<name>_median_rel_error``. ``ids`` restricts (and orders) the rows.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no such sweep folder")
    rows: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("sweep-*.json")):
        for fit in json.loads(path.read_text()).get("fits", []):
            rows.setdefault(fit["id"], _row(fit, status="missing"))
    for path in sorted(directory.glob("*.error.json")):
        rec = json.loads(path.read_text())
        rows[rec["id"]] = _row(rec, status="failed", error=rec.get("error"))
    for path in sorted(directory.glob("*.lock")):
        fid = path.name.removesuffix(".lock")
        if fid in rows and rows[fid]["status"] == "missing" and not FitLock(path).is_stale():
            rows[fid]["status"] = "running"
    for path in sorted(directory.glob("*.nc")):
        fid = path.stem
        if not is_done(path):
            continue
        record_path = directory / f"{fid}.json"
        rec = json.loads(record_path.read_text()) if record_path.is_file() else _from_file(path)
        rows[fid] = _row(rec, status="ok")
    table = pd.DataFrame(list(rows.values()))
    if table.empty:
        table = pd.DataFrame(columns=COLLECT_COLUMNS)
    for col in COLLECT_COLUMNS:
        if col not in table:
            table[col] = np.nan
    extra = sorted(c for c in table.columns if c not in COLLECT_COLUMNS)
    table = table[COLLECT_COLUMNS + extra]
    if ids is not None:
        table = table.set_index("id").reindex(list(ids)).reset_index()
        table["status"] = table["status"].fillna("missing")
    return table.reset_index(drop=True)


def _row(rec: Mapping[str, Any], *, status: str, error: str | None = None) -> dict[str, Any]:
    diag = rec.get("diagnostics") or {}
    row = {
        "id": rec["id"],
        "status": status,
        "converged": diag.get("ok") if diag else None,
        "spec": rec.get("spec_name"),
        "data": rec.get("data"),
        "selection": rec.get("selection"),
        "kind": rec.get("kind"),
        "train": rec.get("train"),
        "test": rec.get("test"),
        "seed": rec.get("seed"),
        "replicate": rec.get("replicate"),
        "wall_time": rec.get("wall_time"),
        "verdict": diag.get("verdict"),
        "rhat_max": diag.get("rhat_max"),
        "ess_bulk_min": diag.get("ess_bulk_min"),
        "divergences": diag.get("divergences"),
        "error": error,
        "file": rec.get("file") if status == "ok" else None,
    }
    if status == "ok" and diag and not diag.get("ok"):
        row["status"] = "not converged"
    for key, value in (rec.get("metrics") or {}).items():
        if key in ("n_test", "coverage", "median_rel_error", "mean_abs_error") or (
            key.startswith("baseline_") and key.endswith("median_rel_error")
        ):
            row[key] = value
    return row


def _from_file(path: Path) -> dict[str, Any]:
    """A record from a fit file's attributes (when its ``.json`` record is missing)."""
    import h5py

    with h5py.File(path, "r") as f:
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    spec = json.loads(attrs.get("bayes_scaling_spec", "{}"))
    metrics = attrs.get("bayes_scaling_backtest_metrics")
    return {
        "id": path.stem,
        "spec_name": spec.get("name"),
        "data": attrs.get("bayes_scaling_data_source"),
        "seed": int(attrs.get("bayes_scaling_seed", -1)),
        "train": attrs.get("bayes_scaling_backtest_train"),
        "test": attrs.get("bayes_scaling_backtest_test"),
        "kind": "backtest" if metrics else "fit",
        "diagnostics": json.loads(attrs.get("bayes_scaling_diagnostics", "{}")),
        "metrics": json.loads(metrics) if metrics else None,
        "file": path.name,
    }
