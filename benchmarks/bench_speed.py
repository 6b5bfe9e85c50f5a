"""Where the time of each shipped fit goes (issue 13, item 1).

Run: ``.venv/bin/python benchmarks/bench_speed.py [--fits pythia_dynamics …] [--draws 300
--tune 300 --chains 2] [--set params.onset.centered=false … --tag _variant]`` (writes
``benchmarks/results/speed.json`` under ``<fit><tag>``; entries not run keep their previous
results). Compare variants by running them one after the other on an idle machine.

Per fit, with the spec's own sampler settings unless overridden:

- ``build_seconds`` / ``compile_seconds``: the PyMC graph and nutpie's numba compilation;
- ``gradients``: leapfrog steps of all chains, warm-up included (``n_steps`` summed);
  ``steps_per_draw`` and ``depth_mean``: after warm-up;
- ``sampling_seconds``: wall time of the chains (``min(chains, cores)`` at a time);
  ``us_per_gradient``: core time per leapfrog step, ``sampling_seconds × min(chains, cores) /
  gradients`` (the log density and its gradient plus the sampler's own work per step);
- ``ess_bulk_min`` / ``ess_tail_min`` / ``rhat_max`` / ``divergences`` and the rates
  ``ess_per_second`` (wall time, compile included) and ``ess_per_1k_gradients``.

Cost is ``gradients × us_per_gradient``: a slow fit is either expensive per gradient (cut the work
per row) or takes many steps per draw (reparameterise). This file says which.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import arviz as az
import numpy as np
import nutpie
from _common import RESULTS, write_results

from bayes_scaling.data import load
from bayes_scaling.data.gadre import load_gadre
from bayes_scaling.data.gemstones import load_gemstones
from bayes_scaling.data.olmo_ladder import load_olmo_ladder
from bayes_scaling.data.options import parse_pairs
from bayes_scaling.data.paths import shared_data_dir
from bayes_scaling.data.pythia import README_OVERRIDES, load_pythia
from bayes_scaling.data.schema import Observations
from bayes_scaling.inference import chain_seed
from bayes_scaling.models import model_for
from bayes_scaling.models.base import ScalingModel
from bayes_scaling.spec import load_spec

PYTHIA_TASKS = ["lambada_openai", "piqa", "winogrande", "arc_easy", "arc_challenge", "sciq"]
OLMO_TRANSFER_TASKS = [
    "hellaswag", "piqa", "arc_easy", "arc_challenge", "boolq",
    "mmlu_stem", "mmlu_humanities", "mmlu_social_sciences", "mmlu_other",
]  # fmt: skip


def _gadre_loss(root) -> ScalingModel:
    obs = load(root / "overtraining" / "raw" / "exp_data")
    return model_for(load_spec("loss_overtraining"), obs)


def _gadre_tasks(name: str) -> Callable[[object], ScalingModel]:
    def make(root) -> ScalingModel:
        return model_for(load_spec(name), load_gadre(root / "overtraining"))

    return make


def _olmo_accuracy(root) -> ScalingModel:
    mmlu = ("mmlu_stem", "mmlu_humanities", "mmlu_social_sciences", "mmlu_other")
    f = load_olmo_ladder(root / "olmo-ladder", domains={t: "mmlu" for t in mmlu}).frame
    rerun = f["run"].str.endswith("rerun")
    train = f[(f["params"] < 2e9) & ~rerun & (f["multiplier_label"] != "0.5xC")]
    return model_for(load_spec("accuracy_sigmoid"), Observations(train, "ladder 190M-1B"))


def _pythia(root) -> ScalingModel:
    data = load_pythia(root / "trajectories" / "pythia", overrides=README_OVERRIDES)
    return model_for(load_spec("task_dynamics"), data.where(metric="accuracy", task=PYTHIA_TASKS))


def _olmo_transfer(root) -> ScalingModel:
    data = load_olmo_ladder(root / "olmo-ladder").where(metric="accuracy", task=OLMO_TRANSFER_TASKS)
    data = data.select("~run.str.endswith('rerun')").select("~run.str.endswith('-0.5xC')")
    spec = load_spec("task_dynamics").updated(
        {"data": {"min_tokens": 0.0, "drop_first_fraction": 0.1, "max_checkpoints": 8}}
    )
    return model_for(spec, data)


def _gemstones(root) -> ScalingModel:
    data = load_gemstones(root / "trajectories" / "gemstones").where(metric="accuracy")
    return model_for(load_spec("task_dynamics").updated({"data": {"max_checkpoints": 8}}), data)


FITS: dict[str, Callable[[object], ScalingModel]] = {
    "gadre_loss": _gadre_loss,
    "error_sigmoid_46": _gadre_tasks("error_sigmoid"),
    "error_from_loss_46": _gadre_tasks("error_from_loss"),
    "olmo_accuracy_sigmoid": _olmo_accuracy,
    "pythia_dynamics": _pythia,
    "olmo_transfer": _olmo_transfer,
    "gemstones_dynamics": _gemstones,
}


def profile(
    model: ScalingModel, *, draws: int, tune: int, chains: int, cores: int, mass_matrix: str
) -> dict:
    """Build, compile and sample ``model`` with nutpie; where the time went (module doc)."""
    s = model.spec.sampler
    out: dict = {
        "observations": len(model.table),
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "cores": cores,
        "target_accept": s.target_accept,
        "mass_matrix": mass_matrix,
    }
    start = time.perf_counter()
    pm_model = model.build()
    out["build_seconds"] = round(time.perf_counter() - start, 2)
    out["parameters"] = int(sum(np.prod(v.shape.eval(), dtype=int) for v in pm_model.free_RVs))
    start = time.perf_counter()
    compiled = nutpie.compile_pymc_model(pm_model)
    out["compile_seconds"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    tree = nutpie.sample(
        compiled,
        draws=draws,
        tune=tune,
        chains=chains,
        cores=cores,
        seed=chain_seed(0, 0),
        target_accept=s.target_accept,
        save_warmup=True,
        adaptation=mass_matrix,
        progress_bar=False,
    )
    seconds = time.perf_counter() - start
    stats = tree["sample_stats"]
    warm = tree["warmup_sample_stats"]
    grads = int(stats["n_steps"].sum()) + int(warm["n_steps"].sum())
    post = tree["posterior"].to_dataset()[[v.name for v in pm_model.free_RVs]]
    ess_bulk = float(az.ess(post, method="bulk").to_array().min())
    ess_tail = float(az.ess(post, method="tail").to_array().min())
    rhat = az.rhat(post).to_array()
    worst = rhat.stack(flat=[d for d in rhat.dims]).to_series().sort_values().index[-1]
    wall = seconds + out["compile_seconds"]
    out.update(
        sampling_seconds=round(seconds, 2),
        wall_seconds=round(wall, 2),
        gradients=grads,
        steps_per_draw=round(float(stats["n_steps"].mean()), 1),
        depth_mean=round(float(stats["depth"].mean()), 2),
        us_per_gradient=round(1e6 * seconds * min(cores, chains) / grads, 1),
        ess_bulk_min=round(ess_bulk, 1),
        ess_tail_min=round(ess_tail, 1),
        rhat_max=round(float(rhat.max()), 4),
        rhat_worst=str(worst[0]),
        divergences=int(stats["diverging"].sum()),
        ess_per_second=round(ess_bulk / wall, 3),
        ess_per_1k_gradients=round(1000 * ess_bulk / grads, 3),
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fits", nargs="+", default=list(FITS), choices=list(FITS))
    ap.add_argument("--draws", type=int, default=None, help="default: the spec's")
    ap.add_argument("--tune", type=int, default=None, help="default: the spec's")
    ap.add_argument("--chains", type=int, default=None, help="default: the spec's")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument(
        "--mass-matrix", choices=["diag", "low_rank"], default=None, help="default: the spec's"
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one spec key (as bayes-scaling fit --set)",
    )
    ap.add_argument("--tag", default="", help="suffix of the result's key (variants side by side)")
    args = ap.parse_args()
    root = shared_data_dir()

    path = RESULTS / "speed.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results.pop("environment", None)
    for name in args.fits:
        model = FITS[name](root)
        if args.set:
            model = model_for(model.spec.with_keys(parse_pairs(args.set, flag="--set")), model.data)
        s = model.spec.sampler
        result = profile(
            model,
            draws=args.draws or s.draws,
            tune=args.tune or s.tune,
            chains=args.chains or s.chains,
            cores=args.cores,
            mass_matrix=args.mass_matrix or s.mass_matrix,
        )
        print(name + args.tag, result, flush=True)
        results[name + args.tag] = {"set": args.set, **result}
        write_results("speed", results)


if __name__ == "__main__":
    main()
