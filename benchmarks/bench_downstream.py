"""Benchmark: a full fit of the downstream family on the 46-task Gadre et al. testbed.

Fits ``models/error_from_loss.toml`` (every task its own curve, pooled by domain, beta-binomial
likelihood) on all 100 runs × 46 tasks and writes wall time, ESS per second, divergences and the
convergence verdict to ``benchmarks/results/downstream.json``.

Usage::

    .venv/bin/python benchmarks/bench_downstream.py [--draws 1000 --tune 1000 --chains 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import arviz as az
import numpy as np

from bayes_scaling import fitfile
from bayes_scaling.data.gadre import load_gadre
from bayes_scaling.data.paths import shared_data_dir
from bayes_scaling.inference import available_cpus
from bayes_scaling.models import model_for
from bayes_scaling.spec import load_spec

OUT = Path(__file__).resolve().parent / "results" / "downstream.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--tasks", default="avg46", help="task set (avg46, avg17, a list)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    data = load_gadre(shared_data_dir() / "overtraining")
    spec = load_spec("error_from_loss").updated({"response": {"tasks": args.tasks}})
    model = model_for(spec, data)
    start = time.perf_counter()
    fit = model.fit(
        seed=args.seed,
        draws=args.draws,
        tune=args.tune,
        chains=args.chains,
        cores=args.cores,
        progressbar=False,
    )
    wall = time.perf_counter() - start
    diag = fit.diagnostics()
    names = [v for v in fit.posterior.data_vars if not v.startswith("y")]
    ess = az.ess(fit.posterior[names], method="bulk")
    values = np.concatenate([np.ravel(ess[v].to_numpy()) for v in ess.data_vars])
    result = {
        "benchmark": "downstream error-from-loss, Gadre et al. testbed",
        "spec": spec.name,
        "tasks": args.tasks,
        "n_tasks": len(model.tasks),
        "n_domains": len(model.domains),
        "n_observations": len(model.table),
        "n_runs": int(model.table["run"].nunique()),
        "likelihood": model.kind,
        "sampler": spec.sampler["name"],
        "draws": args.draws,
        "tune": args.tune,
        "chains": args.chains,
        "cores": args.cores,
        "available_cpus": available_cpus(),
        "wall_seconds": round(wall, 1),
        "ess_bulk_min": round(float(np.nanmin(values)), 1),
        "ess_bulk_median": round(float(np.nanmedian(values)), 1),
        "ess_bulk_min_per_second": round(float(np.nanmin(values)) / wall, 3),
        "ess_bulk_median_per_second": round(float(np.nanmedian(values)) / wall, 3),
        "divergences": diag.divergences,
        "rhat_max": round(diag.rhat_max, 4),
        "converged": diag.ok,
        "verdict": diag.verdict,
        "versions": fitfile.versions(),
        "machine": platform.platform(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(args.out)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
