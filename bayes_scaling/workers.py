"""Dask workers with the package's hygiene: a local cluster, SLURM jobs, any scheduler.

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
    from bayes_scaling.cluster import sweep
    from bayes_scaling.workers import slurm_cluster

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

Worker hygiene
--------------
Workers build models from the spec dict and the tidy table (never pickled PyMC models). Local
workers get their own PyTensor compile directory, set before PyTensor is imported in them
(``PYTENSOR_FLAGS=base_compiledir=<compile_root>/worker-<name>``: stable across runs, so the
compile cache stays warm), and one BLAS thread. Each fit gets one core: chains run one after
the other in one process (nutpie threads, PyMC with ``cores=1``), never a process pool inside
a daemonic worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from distributed import Client, LocalCluster, Nanny

from bayes_scaling import inference

__all__ = ["connect", "local_cluster", "slurm_cluster", "worker_environment"]

log = logging.getLogger(__name__)

#: One BLAS/OpenMP thread per worker process: parallelism comes from processes.
BLAS_ENV: dict[str, str] = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


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


@contextlib.contextmanager
def connect(client: Client | None, workers: int | None, scheduler: str | None) -> Iterator[Client]:
    """``client`` itself, a client of the scheduler at ``scheduler``, or (default) one of a
    new :func:`local_cluster` of ``workers`` processes, closed on exit."""
    if client is not None:
        yield client
    elif scheduler is not None:
        with Client(scheduler) as c:
            yield c
    else:
        with local_cluster(workers) as cluster, Client(cluster) as c:
            yield c
