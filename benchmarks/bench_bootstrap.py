"""The Bayesian-vs-bootstrap ratio (issue 13, item 7): the full posterior of a loss law against
bootstrap refits of the same law with Huber loss and multi-start L-BFGS (the anchor method of
Hoffmann et al., Epoch and the OLMo ladder), wall time side by side in one run, same 2 cores.

Run: ``.venv/bin/python benchmarks/bench_bootstrap.py [--refits 1000]`` (writes
``benchmarks/results/bootstrap.json``).

- ``chinchilla``: ``loss_chinchilla`` on Epoch's 240 points.
- ``gadre``: ``loss_overtraining`` on the Gadre testbed's 100 runs (C4 eval loss), one pooled
  fit with η shared; the bootstrap refits each pretraining set alone (per-corpus fits, as the
  paper), resampling runs within it.

Posterior: the spec's sampler defaults (nutpie, 4 chains × (1000 + 1000)), build and compile
included. Bootstrap: points resampled with replacement, refitted by
:func:`bayes_scaling.baselines.fit_loss_huber` (its grid of starts) in 2 processes. Both report
the 90% interval of each parameter.
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
from _common import timer, write_results

from bayes_scaling import fit
from bayes_scaling.baselines import fit_loss_huber
from bayes_scaling.data import load
from bayes_scaling.data.paths import shared_data_dir
from bayes_scaling.models.base import model_for
from bayes_scaling.spec import load_spec

CASES = {
    "chinchilla": ("loss_chinchilla", "chinchilla/svg_extracted_data.csv", "chinchilla"),
    "gadre": ("loss_overtraining", "overtraining/raw/exp_data", "overtraining"),
}


def _refits(args: tuple[str, pd.DataFrame, int, int]) -> list[dict]:
    """``n`` bootstrap refits, one Huber fit per data set each, from seed ``seed``."""
    form, points, n, seed = args
    rng = np.random.default_rng(seed)
    several = points["dataset"].nunique() > 1
    out = []
    for _ in range(n):
        row = {}
        for name, group in points.groupby("dataset"):
            take = group.iloc[rng.integers(0, len(group), len(group))]
            p = fit_loss_huber(
                form, take["params"].to_numpy(), take["tokens"].to_numpy(), take["truth"].to_numpy()
            )
            row |= {f"{k}[{name}]" if several else k: v for k, v in p.items()}
        out.append(row)
    return out


def case(name: str, refits: int, workers: int) -> dict:
    spec_name, path, form = CASES[name]
    obs = load(shared_data_dir() / path)
    spec = load_spec(spec_name)
    points = model_for(spec, obs).points(obs)
    out: dict = {"n_points": len(points), "datasets": sorted(points["dataset"].unique())}
    with timer(out, "posterior_seconds"):
        result = fit(spec, obs, seed=0, progressbar=False)
    out["posterior_verdict"] = result.diagnostics().verdict
    summary = result.summary(ci=0.9)
    out["posterior_90"] = (
        summary[["median", "lower", "upper"]].round(5).reset_index().to_dict(orient="records")
    )
    per = [refits // workers + (i < refits % workers) for i in range(workers)]
    with timer(out, "bootstrap_seconds"), ProcessPoolExecutor(workers) as pool:
        chunks = pool.map(_refits, [(form, points, n, 1000 + i) for i, n in enumerate(per)])
        boot = pd.DataFrame([r for chunk in chunks for r in chunk])
    q = boot.quantile([0.5, 0.05, 0.95]).T
    q.columns = ["median", "lower", "upper"]
    out["bootstrap_refits"] = len(boot)
    out["bootstrap_90"] = q.round(5).rename_axis("parameter").reset_index().to_dict("records")
    out["bootstrap_over_posterior_time"] = round(
        out["bootstrap_seconds"] / out["posterior_seconds"], 2
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refits", type=int, default=1000)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    args = parser.parse_args()
    workers = min(2, os.cpu_count() or 1)
    results = {"refits": args.refits, "workers": workers}
    for name in args.cases:
        results[name] = case(name, args.refits, workers)
        print(name, {k: v for k, v in results[name].items() if "seconds" in k}, flush=True)
    write_results("bootstrap", results)


if __name__ == "__main__":
    main()
