"""Sweep throughput on a LocalCluster: 1 vs 2 workers, cold vs warm PyTensor compile cache.

A 16-fit backtest sweep (loss_chinchilla on 30 simulated runs, 4 compute cut-offs × 4
replicate seeds, 200 + 200 draws, 2 chains) runs three times, each on a new cluster (fresh
processes, so only the on-disk compile cache carries over) and into a new output folder:

1. ``cold``: 2 workers, empty compile directories;
2. ``warm_2_workers``: 2 workers, the compile directories of run 1;
3. ``warm_1_worker``: 1 worker, the compile directory of run 1's worker 0.

Only the ``sweep()`` call is timed (cluster start-up is reported apart).

Reproduce::

    .venv/bin/python benchmarks/bench_cluster.py            # writes benchmarks/results/cluster.json
"""

from __future__ import annotations

import json
import logging
import platform
import tempfile
import time
from pathlib import Path

from distributed import Client

from bayes_scaling.cluster import sweep
from bayes_scaling.fitfile import versions
from bayes_scaling.inference import available_cpus
from bayes_scaling.workers import local_cluster

RESULTS = Path(__file__).resolve().parent / "results" / "cluster.json"
SWEEP = {
    "name": "bench",
    "seed": 0,
    "specs": ["loss_chinchilla"],
    "replicates": 4,
    "sampler": {"draws": 200, "tune": 200, "chains": 2},
    "data": {"sim": {"simulate": "chinchilla", "options": {"n_runs": 30}}},
    "backtest": [{"cutoffs": [3e19, 1e20, 3e20, 1e21]}],
}


def run(workers: int, compile_root: Path, out: Path) -> dict:
    t0 = time.perf_counter()
    with (
        local_cluster(
            workers,
            compile_root=compile_root,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        started = time.perf_counter()
        table = sweep(SWEEP, out=out, client=client, progress=False)
        wall = time.perf_counter() - started
    n = int((table["action"] == "computed").sum())
    return {
        "workers": workers,
        "fits": n,
        "cluster_startup_s": round(started - t0, 2),
        "sweep_wall_s": round(wall, 2),
        "fits_per_minute": round(60 * n / wall, 2),
        "median_fit_wall_s": round(float(table["wall_time"].median()), 2),
        "failed": int((table["status"] == "failed").sum()),
    }


def main() -> None:
    logging.getLogger("distributed").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        tmp = Path(tmp)
        cache = tmp / "compile"
        results = {
            "cold_2_workers": run(2, cache, tmp / "out-cold"),
            "warm_2_workers": run(2, cache, tmp / "out-warm2"),
            "warm_1_worker": run(1, cache, tmp / "out-warm1"),
        }
    results["speedup_2_vs_1_workers"] = round(
        results["warm_2_workers"]["fits_per_minute"] / results["warm_1_worker"]["fits_per_minute"],
        2,
    )
    results["cold_over_warm_wall"] = round(
        results["cold_2_workers"]["sweep_wall_s"] / results["warm_2_workers"]["sweep_wall_s"], 2
    )
    body = {
        "benchmark": "16-fit backtest sweep on a LocalCluster",
        "command": ".venv/bin/python benchmarks/bench_cluster.py",
        "sweep": SWEEP,
        "machine": {"cpus_available": available_cpus(), "platform": platform.platform()},
        "versions": versions(),
        "results": results,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(body, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
