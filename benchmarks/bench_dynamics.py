"""Benchmark: the trajectory model fitted to every Pythia size (70M–6.9B, zero-shot).

Fits ``models/task_dynamics.toml`` to the accuracy trajectories of LAMBADA, PIQA, WinoGrande,
ARC-Easy, ARC-Challenge and SciQ (WSC is degenerate, LogiQA and MMLU at chance: see the data
README) for the 14 standard and deduplicated runs, on at most ``--cores`` cores, and writes
wall time, ESS per second, divergences and the predictions for a 12B model (11.3e9
non-embedding parameters) at 153B and 300B tokens to ``benchmarks/results/dynamics.json``.

    .venv/bin/python benchmarks/bench_dynamics.py [--draws 1000 --tune 1000 --chains 2]
        [--save FIT.nc]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling import fitfile
from bayes_scaling.data.paths import shared_data_dir
from bayes_scaling.data.pythia import README_OVERRIDES, load_pythia
from bayes_scaling.models.dynamics import DynamicsModel
from bayes_scaling.spec import load_spec

TASKS = ["lambada_openai", "piqa", "winogrande", "arc_easy", "arc_challenge", "sciq"]
PARAMS_12B = 11.3e9
TOKENS_12B = (153_092_096_000.0, 299_892_736_000.0)
OUT = Path(__file__).resolve().parent / "results" / "dynamics.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--save", type=Path, default=None, help="also write the fit file")
    args = parser.parse_args()

    data = load_pythia(shared_data_dir() / "trajectories" / "pythia", overrides=README_OVERRIDES)
    data = data.where(metric="accuracy", task=TASKS)
    model = DynamicsModel(load_spec("task_dynamics"), data)
    start = time.perf_counter()
    fit = model.fit(
        draws=args.draws,
        tune=args.tune,
        chains=args.chains,
        cores=args.cores,
        seed=args.seed,
        progressbar=False,
    )
    wall = time.perf_counter() - start
    diag = fit.diagnostics()
    if args.save is not None:
        fit.save(args.save)
    grid = pd.DataFrame(
        [(PARAMS_12B, d, t) for t in TASKS for d in TOKENS_12B],
        columns=["params", "tokens", "task"],
    )
    table = fit.predict(grid).table()
    keep = ["task", "tokens", "median", "lower", "upper", "mean_lower", "mean_upper"]
    keep += ["params_decades", "tokens_decades"]
    result = {
        "benchmark": "dynamics_pythia_full",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": fitfile.versions(),
        "data": {
            "runs": int(model.table["run"].nunique()),
            "tasks": list(model.tasks),
            "domains": list(model.domains),
            "observations": len(model.table),
        },
        "sampler": {"draws": args.draws, "tune": args.tune, "chains": args.chains},
        "cores": args.cores,
        "wall_seconds": round(wall, 1),
        "ess_bulk_min": round(diag.ess_bulk_min, 1),
        "ess_bulk_min_per_second": round(diag.ess_bulk_min / wall, 3),
        "ess_tail_min": round(diag.ess_tail_min, 1),
        "rhat_max": round(diag.rhat_max, 4),
        "divergences": diag.divergences,
        "verdict": diag.verdict,
        "ci_prob": table.attrs["ci_prob"],
        "predictions_12b": table[keep].round(4).to_dict(orient="records"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=_jsonable) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "predictions_12b"}, indent=2))


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {value!r}")


if __name__ == "__main__":
    main()
