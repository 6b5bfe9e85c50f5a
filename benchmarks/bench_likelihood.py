"""The beta-binomial's per-group log-gammas (issue 13, item 2): cost per gradient, side by side.

Run: ``.venv/bin/python benchmarks/bench_likelihood.py [--fits error_sigmoid_46 pythia_dynamics]
[--repeats 2] [--draws 150] [--parts grouped share]`` → ``benchmarks/results/likelihood.json``.

The shipped term (``likelihoods.BetaBinomial`` given ``groups``) computes ``ln Γ(κ) − ln Γ(n + κ)``
once per (task, n) pair; PyMC's ``BetaBinomial`` computes it on every row. For each fit both
graphs are built from the same model; the record gives their largest log-density difference
at 20 random points (they must be the same function) and, from one nutpie chain of each run
alternately on the same seed, the core time per leapfrog step (``us_per_gradient``, compile
excluded) and its ratio.

``--parts share``: where a gradient's time goes. The fit's log density and gradient are compiled
(numba, as nutpie does) with the shipped noise model and, on the same law, with a binomial and
with a normal one, and timed at the initial point without a sampler (``us_per_logp_grad``,
median of ``--evals`` calls): the difference is what the noise model costs per gradient.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import nutpie
import pytensor
from _common import RESULTS, write_results
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


def _logp_grad_us(pm_model, evals: int) -> float:
    """Median µs of one compiled log density + gradient call at the initial point."""
    point = pm_model.initial_point()
    values = pm_model.value_vars
    logp = pm_model.logp()
    fn = pytensor.function(
        values, [logp, *pytensor.grad(logp, values)], mode="NUMBA", on_unused_input="ignore"
    )
    fn.trust_input = True
    args = [np.asarray(point[v.name]) for v in values]
    fn(*args)
    times = []
    for _ in range(evals):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return round(1e6 * statistics.median(times), 1)


def noise_share(names: list[str], evals: int) -> dict:
    root = shared_data_dir()
    out: dict = {"evals": evals}
    for name in names:
        model = FITS[name](root)
        shipped = model.noise_model.name
        row = {"rows": len(model.table), "shipped": shipped}
        for kind in (shipped, "binomial", "normal"):
            model.noise_model = likelihoods.LIKELIHOODS[kind]
            row[f"us_per_logp_grad_{kind}"] = _logp_grad_us(model.build(), evals)
        share = 1 - row["us_per_logp_grad_normal"] / row[f"us_per_logp_grad_{shipped}"]
        row["noise_model_share"] = round(share, 3)
        out[name] = row
        print(name, row)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fits", nargs="+", default=["error_sigmoid_46", "pythia_dynamics"])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--draws", type=int, default=150, help="draws and tuning steps, one chain")
    ap.add_argument("--parts", nargs="+", choices=["grouped", "share"], default=["grouped"])
    ap.add_argument("--evals", type=int, default=500, help="calls timed per graph (share)")
    args = ap.parse_args()
    root = shared_data_dir()
    path = RESULTS / "likelihood.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    previous.pop("environment", None)
    if "share" in args.parts:
        previous["noise_share"] = noise_share(args.fits, args.evals)
        write_results("likelihood", previous)
    if "grouped" not in args.parts:
        return
    results: dict = {"draws": args.draws, "repeats": args.repeats}
    if "noise_share" in previous:
        results["noise_share"] = previous["noise_share"]
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
