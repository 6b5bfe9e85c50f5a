"""The beta-binomial's per-group log-gammas (issue 13, item 2): cost per gradient, side by side.

Run: ``.venv/bin/python benchmarks/bench_likelihood.py [--fits error_sigmoid_46 pythia_dynamics]
[--repeats 2] [--draws 150]`` → ``benchmarks/results/likelihood.json``.

The shipped term (``likelihoods.BetaBinomial`` given ``groups``) computes ``ln Γ(κ) − ln Γ(n + κ)``
once per (task, n) pair; PyMC's ``BetaBinomial`` computes it on every row. For each fit both
graphs are built from the same model; the record gives their largest log-density difference
at 20 random points (they must be the same function) and, from one nutpie chain of each run
alternately on the same seed, the core time per leapfrog step (``us_per_gradient``, compile
excluded) and its ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import nutpie
from _common import write_results
from bench_speed import FITS

from bayes_scaling import likelihoods
from bayes_scaling.data.paths import shared_data_dir


class _PerRow(likelihoods.BetaBinomial):
    """The term as PyMC writes it: every log-gamma on every row."""

    def term(self, name, center, noise, y, *, n=None, nu=None, dims=None, groups=None):
        return super().term(name, center, noise, y, n=n, nu=nu, dims=dims)


def _build(model, variant: str):
    grouped = likelihoods.LIKELIHOODS["beta_binomial"]
    model.noise_model = grouped if variant == "grouped" else _PerRow(*vars(grouped).values())
    return model.build()


def _us_per_gradient(pm_model, draws: int) -> tuple[float, float]:
    start = time.perf_counter()
    compiled = nutpie.compile_pymc_model(pm_model)
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    tree = nutpie.sample(
        compiled, draws=draws, tune=draws, chains=1, seed=1, save_warmup=True, progress_bar=False
    )
    seconds = time.perf_counter() - start
    stats = (tree["sample_stats"], tree["warmup_sample_stats"])
    steps = int(sum(s["n_steps"].sum() for s in stats))
    return 1e6 * seconds / steps, compile_seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fits", nargs="+", default=["error_sigmoid_46", "pythia_dynamics"])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--draws", type=int, default=150, help="draws and tuning steps, one chain")
    args = ap.parse_args()
    root = shared_data_dir()
    results: dict = {"draws": args.draws, "repeats": args.repeats}
    for name in args.fits:
        model = FITS[name](root)
        graphs = {v: _build(model, v) for v in ("per_row", "grouped")}
        rng = np.random.default_rng(0)
        logps = {v: g.compile_logp() for v, g in graphs.items()}
        point = graphs["grouped"].initial_point()
        diff = 0.0
        for _ in range(20):
            p = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in point.items()}
            diff = max(diff, abs(float(logps["grouped"](p)) - float(logps["per_row"](p))))
        timings: dict[str, list[float]] = {v: [] for v in graphs}
        compiles: dict[str, list[float]] = {v: [] for v in graphs}
        for _ in range(args.repeats):
            for v, g in graphs.items():
                us, comp = _us_per_gradient(g, args.draws)
                timings[v].append(round(us, 1))
                compiles[v].append(round(comp, 2))
        med = {v: statistics.median(t) for v, t in timings.items()}
        results[name] = {
            "rows": len(model.table),
            "groups": int(model.table["task"].nunique()),
            "max_abs_logp_difference": diff,
            "logp_initial": float(logps["grouped"](point)),
            "us_per_gradient": timings,
            "compile_seconds": compiles,
            "ratio_grouped_per_row": round(med["grouped"] / med["per_row"], 3),
        }
        print(name, results[name])
        write_results("likelihood", results)


if __name__ == "__main__":
    main()
