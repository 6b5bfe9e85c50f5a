"""Simulation-based calibration of the downstream and trajectory families (issue 14).

Run: ``.venv/bin/python benchmarks/bench_sbc.py [--parts downstream dynamics compile_once]
[--replicates 40]``
(writes ``benchmarks/results/sbc.json``; the loss family's SBC runs in the slow tier,
``tests/test_calibration.py``).

For each family the shipped spec's full prior is sampled on a small design the family's own
simulator writes (its observed values are ignored), each plausible prior-predictive dataset is
refitted with the same model (1 chain × 200 draws after 200 tuning steps, L = 99), and the rank
of every scalar parameter among its draws is tested for uniformity (chi-square and KS; a
Bonferroni threshold over the 2 × scalars tests). The same fits, with every posterior pulled to
a quarter of its spread (a deliberately overconfident variant) and moved by one sd, must be
flagged for nearly every parameter: that shows the check can fail.

- ``downstream``: ``error_sigmoid`` (all tasks) on 6 tasks in 2 domains × 10 runs (binomial,
  1,000 items).
- ``dynamics``: ``task_dynamics`` on 2 domains × 2 tasks, 4 sizes × 6 checkpoints.
- ``compile_once``: the saving of compiling the refit model once (the default) against a fresh
  model per replicate, side by side in one run on ``loss_overtraining``'s SBC design (the slow
  tier's, ``tests/test_calibration.py``), with the two sets of draws compared.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
from _common import run_parts

from bayes_scaling.data.simulate import (
    GADRE_TABLE6,
    TRAJECTORY_DOMAINS,
    simulate_downstream,
    simulate_overtraining,
    simulate_trajectories,
)
from bayes_scaling.spec import load_spec
from bayes_scaling.validate import SBC, sbc

PARTS = ("downstream", "dynamics", "compile_once")
FAMILY_ALPHA = 0.05
SAMPLING = {"draws": 200, "tune": 200, "chains": 1, "progressbar": False}


def _flagged(result: SBC) -> float:
    u = result.uniformity()
    alpha = FAMILY_ALPHA / (2 * len(u))
    return float(((u["chi2_p"] < alpha) | (u["ks_p"] < alpha)).mean())


def _summary(result: SBC, seconds: float) -> dict:
    u = result.uniformity()
    alpha = FAMILY_ALPHA / (2 * len(u))
    bad = u[(u["chi2_p"] < alpha) | (u["ks_p"] < alpha)]
    draws = result.draws
    mean = draws.mean("draw")
    return {
        "replicates": len(result.replicates),
        "rejected_prior_draws": int(result.rejected),
        "scalars": len(u),
        "per_test_alpha": alpha,
        "min_chi2_p": float(u["chi2_p"].min()),
        "min_ks_p": float(u["ks_p"].min()),
        "non_uniform": bad.round(5).to_dict(orient="index"),
        "divergent_fits": int((result.replicates["divergences"] > 0).sum()),
        "seconds": round(seconds, 1),
        "flagged_when_overconfident": _flagged(replace(result, draws=mean + 0.25 * (draws - mean))),
        "flagged_when_shifted_one_sd": _flagged(replace(result, draws=draws + draws.std("draw"))),
    }


def downstream(replicates: int) -> dict:
    design = simulate_downstream(
        domains={"commonsense": 3, "science": 3},
        form="sigmoid",
        losses=np.linspace(2.6, 4.2, 10),
        seed=3,
    ).observations

    def plausible(sim):  # counts of correct answers: not all at a bound
        y = next(iter(sim.values()))
        return bool(0.02 < np.mean(y / 1000) < 0.98)

    spec = load_spec("error_sigmoid").updated({"response": {"tasks": "all"}})
    start = time.perf_counter()
    result = sbc(spec, design, replicates=replicates, seed=0, plausible=plausible, **SAMPLING)
    return {"spec": "error_sigmoid", **_summary(result, time.perf_counter() - start)}


def dynamics(replicates: int) -> dict:
    design = simulate_trajectories(
        domains={k: TRAJECTORY_DOMAINS[k] for k in ("commonsense", "science")},
        tasks_per_domain=2,
        sizes=(7e7, 1.6e8, 4.1e8, 1.0e9),
        tokens=(2e9, 5e9, 1.2e10, 3e10, 7e10, 1.5e11),
        seed=3,
    ).observations

    def plausible(sim):
        y = next(iter(sim.values()))
        return bool(np.isfinite(y).all())

    start = time.perf_counter()
    result = sbc(
        "task_dynamics",
        design,
        replicates=replicates,
        seed=0,
        plausible=plausible,
        **SAMPLING,
    )
    return {"spec": "task_dynamics", **_summary(result, time.perf_counter() - start)}


def compile_once(replicates: int) -> dict:
    design = simulate_overtraining(
        truth={k: GADRE_TABLE6[k] for k in ("c4", "refinedweb")},
        sizes=(10_569_312, 78_914_048, 411_616_256),
        multipliers=(5, 20, 80, 320),
        seed=1,
    ).observations

    def plausible(sim):
        return bool(np.all((sim["y"] > np.log(0.5)) & (sim["y"] < np.log(12.0))))

    out, draws = {}, {}
    for once in (True, False):
        start = time.perf_counter()
        result = sbc(
            "loss_overtraining",
            design,
            replicates=replicates,
            seed=0,
            plausible=plausible,
            compile_once=once,
            **SAMPLING,
        )
        key = "compiled_once" if once else "compiled_per_replicate"
        per_fit = result.replicates["seconds"]
        out[key] = {
            "seconds": round(time.perf_counter() - start, 1),
            "median_seconds_per_refit": round(float(per_fit.median()), 2),
        }
        draws[once] = result.draws.to_numpy()
    return {
        "spec": "loss_overtraining",
        "replicates": replicates,
        **out,
        "ratio_once_over_per_replicate": round(
            out["compiled_once"]["seconds"] / out["compiled_per_replicate"]["seconds"], 3
        ),
        "max_abs_draw_difference": float(np.abs(draws[True] - draws[False]).max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--replicates", type=int, default=40)
    args = parser.parse_args()
    runners = {
        "downstream": lambda _: downstream(args.replicates),
        "dynamics": lambda _: dynamics(args.replicates),
        "compile_once": lambda _: compile_once(args.replicates),
    }
    run_parts("sbc", args.parts, runners)


if __name__ == "__main__":
    main()
