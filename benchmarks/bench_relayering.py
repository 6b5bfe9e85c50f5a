"""The re-layering must not slow anything down (issue 12): the same fits on the same data,
sampled by this tree and by the tree the issue was filed against, side by side in one run.

Run: ``git worktree add /tmp/before 5b0b2e4`` then ``BAYES_SCALING_DATA=../shared/data
.venv/bin/python benchmarks/bench_relayering.py --before /tmp/before [--rounds 2]`` (writes
``benchmarks/results/relayering.json``). Each (tree, fit) runs in its own process with that
tree first on ``sys.path`` (its package and its ``models/*.toml``), alternating trees round by
round so that drift of the machine falls on both. Per fit and tree: the log density at the
initial point (equal when the two trees build the same model), nutpie's compile seconds, and
one chain of ``tune + draws`` at a fixed seed: leapfrog steps and microseconds per step. The
figure of merit is ``after / before`` of the median microseconds per step.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _common import write_results

HERE = Path(__file__).resolve().parent
#: fit name → (spec, loader call on the data folder, selection, spec keys to set)
FITS: dict[str, tuple[str, str, str]] = {
    "gadre_loss": ("loss_overtraining", "overtraining", "params < 1e9"),
    "gadre_error_sigmoid_46": ("error_sigmoid", "overtraining", "params < 1e9"),
    "pythia_dynamics": ("task_dynamics", "trajectories/pythia", ""),
}


def one(name: str, tune: int, draws: int) -> dict:
    """Build, compile and sample ``name`` with whatever ``bayes_scaling`` is first on the path."""
    import nutpie

    import bayes_scaling
    from bayes_scaling.data import load
    from bayes_scaling.data.paths import shared_data_dir
    from bayes_scaling.models import model_for
    from bayes_scaling.spec import load_spec

    spec_name, folder, select = FITS[name]
    data = load(shared_data_dir() / folder)
    data = data.select(select) if select else data
    model = model_for(load_spec(spec_name), data).build()
    logp = float(model.compile_logp()(model.initial_point(random_seed=0)))
    start = time.perf_counter()
    compiled = nutpie.compile_pymc_model(model)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    tree = nutpie.sample(
        compiled, tune=tune, draws=draws, chains=1, cores=1, seed=1, progress_bar=False,
        save_warmup=True,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    steps = int(
        tree["sample_stats"]["n_steps"].sum() + tree["warmup_sample_stats"]["n_steps"].sum()
    )
    return {
        "package": str(Path(bayes_scaling.__file__).parent),
        "logp_at_initial_point": logp,
        "compile_seconds": round(compile_s, 2),
        "sampling_seconds": round(seconds, 2),
        "gradients": steps,
        "us_per_gradient": round(1e6 * seconds / steps, 2),
    }


def run(tree: Path, name: str, tune: int, draws: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, __file__, "--one", name, "--tune", str(tune), "--draws", str(draws)],
        env=env, cwd=tree, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", type=Path, help="a checkout of the tree to compare with")
    ap.add_argument("--fits", nargs="+", default=list(FITS))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--tune", type=int, default=200)
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.tune, args.draws)))
        return
    trees = {"before": args.before.resolve(), "after": HERE.parent}
    runs: dict[str, dict[str, list[dict]]] = {f: {"before": [], "after": []} for f in args.fits}
    for r in range(args.rounds):
        order = ("before", "after") if r % 2 == 0 else ("after", "before")
        for fit in args.fits:
            for which in order:
                runs[fit][which].append(run(trees[which], fit, args.tune, args.draws))
                print(fit, which, runs[fit][which][-1], file=sys.stderr, flush=True)
    summary = {}
    for fit, by in runs.items():
        us = {w: float(np.median([x["us_per_gradient"] for x in by[w]])) for w in by}
        summary[fit] = {
            "same_logp": len({x["logp_at_initial_point"] for x in by["before"] + by["after"]}) == 1,
            "same_steps": len({x["gradients"] for x in by["before"] + by["after"]}) == 1,
            "us_per_gradient_before": us["before"],
            "us_per_gradient_after": us["after"],
            "after_over_before": round(us["after"] / us["before"], 3),
        }
    write_results(
        "relayering",
        {
            "before": str(trees["before"]),
            "tune": args.tune,
            "draws": args.draws,
            "summary": summary,
            "runs": runs,
        },
    )


if __name__ == "__main__":
    main()
