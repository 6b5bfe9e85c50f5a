"""How much a smoke fit's diagnostics move with the seed, and what makes a fixed seed move
(issue 15, item 8: the slow tier's ``test_gadre_in_sample_calibration`` failed once on a clean
clone and passed twice).

Run: ``BAYES_SCALING_DATA=../shared/data .venv/bin/python benchmarks/bench_seeds.py [--seeds
10] [--repeats 3] [--targets generic haswell]`` (writes ``benchmarks/results/seeds.json``).
Each fit is that test's: the 17-task average error against C4 loss (``error_sigmoid`` with
``response.tasks = avg17``), the Gadre runs below 1B parameters, 2 chains × 300 + 300 draws. Each
runs in its own process, one after the other:

- ``seeds``: seeds 0 … n−1, max R-hat, min bulk ESS, divergences and the in-sample coverage of
  the 90% new-run intervals (the test's claim): the spread the test's bounds are taken from;
- ``repeats``: seed 0 in ``repeats`` fresh processes: is a fixed seed the same chain on one
  machine (same first draw, same R-hat)?
- ``targets``: seed 0 with numba compiling for another CPU (``NUMBA_CPU_NAME``): does the
  compiled log density, and so the chain, depend on the CPU it is compiled for?
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from _common import write_results

SAMPLING = {"draws": 300, "tune": 300, "chains": 2, "progressbar": False}


def one(seed: int) -> dict:
    """Fit the test's model at ``seed`` (in this process) and report its diagnostics."""
    from bayes_scaling.data.gadre import load_gadre
    from bayes_scaling.data.paths import shared_data_dir
    from bayes_scaling.models import model_for
    from bayes_scaling.spec import load_spec

    train = load_gadre(shared_data_dir() / "overtraining").select("params < 1e9")
    spec = load_spec("error_sigmoid").updated({"response": {"tasks": "avg17"}})
    start = time.perf_counter()
    fit = model_for(spec, train).fit(seed=seed, **SAMPLING)
    seconds = time.perf_counter() - start
    points = fit.model.points(train)
    table = fit.predict(points.drop(columns=["truth"])).table()
    covered = (table["lower"] <= points["truth"]) & (points["truth"] <= table["upper"])
    d = fit.diagnostics()
    return {
        "seed": seed,
        "seconds": round(seconds, 1),
        "rhat_max": round(float(d.rhat_max), 4),
        "ess_bulk_min": round(float(d.ess_bulk_min), 1),
        "divergences": int(d.divergences),
        "coverage_90": round(float(covered.mean()), 4),
        "first_draw_floor_mu": float(fit.posterior["floor_mu"].to_numpy().ravel()[0]),
    }


def run(seed: int, env: dict[str, str] | None = None) -> dict:
    """:func:`one` in a fresh process (``env`` added to this one's)."""
    out = subprocess.run(
        [sys.executable, __file__, "--one", str(seed)],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def spread(rows: list[dict], key: str) -> dict:
    values = np.array([r[key] for r in rows])
    return {
        "min": float(values.min()),
        "median": float(np.median(values)),
        "max": float(values.max()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--targets", nargs="*", default=["generic", "haswell"])
    args = ap.parse_args()
    if args.one is not None:
        print(json.dumps(one(args.one)))
        return
    seeds = [run(s) for s in range(args.seeds)]
    repeats = [run(0) for _ in range(args.repeats)]
    targets = {cpu: run(0, {"NUMBA_CPU_NAME": cpu}) for cpu in args.targets}
    same = {json.dumps({k: v for k, v in r.items() if k != "seconds"}) for r in repeats}
    write_results(
        "seeds",
        {
            "sampling": SAMPLING,
            "seeds": seeds,
            "spread": {k: spread(seeds, k) for k in ("rhat_max", "ess_bulk_min", "coverage_90")},
            "repeats_of_seed_0": repeats,
            "seed_0_identical_across_processes": len(same) == 1,
            "seed_0_by_numba_target": targets,
            "seed_0_changes_with_the_target": any(
                t["first_draw_floor_mu"] != repeats[0]["first_draw_floor_mu"]
                for t in targets.values()
            ),
        },
    )


if __name__ == "__main__":
    main()
