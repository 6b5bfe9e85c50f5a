"""Does a Laplace approximation earn a place as a fast mode for iteration (issue 13, item 6)?

Run: ``.venv/bin/python benchmarks/bench_laplace.py [--cases gadre_loss olmo_accuracy]``
(writes ``benchmarks/results/laplace.json``).

The approximation: the mode of the log density of the unconstrained parameters (Jacobians
included; scipy's L-BFGS-B from the model's initial point), a normal with the inverse of
the negative Hessian there as its covariance (a direction that is not concave gets unit
variance, and is counted), and draws of it mapped back through the
transforms and deterministics, so that ``Fit.predict`` runs on it unchanged. Each case fits
the same model both ways in one run (NUTS at the settings shown, then Laplace) and predicts
the same held-out runs: wall time (compile included), the Laplace medians' distance from NUTS's
in NUTS posterior standard deviations, the ratio of interval widths, and the coverage of the
90% intervals of the held-out truth.

- ``gadre_loss``: ``loss_overtraining`` on the testbed's runs with N < 1e9, the larger runs
  held out (C4 loss);
- ``olmo_accuracy``: ``accuracy_sigmoid`` on the OLMo ladder's 190M-1B runs, the 3B runs'
  final checkpoints held out at their observed bpb (step 2 of the chained prediction).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr
from _common import run_parts
from pymc.blocking import DictToArrayBijection, RaveledVars
from scipy import optimize

from bayes_scaling.data import load
from bayes_scaling.data.olmo_ladder import load_olmo_ladder
from bayes_scaling.data.paths import shared_data_dir
from bayes_scaling.data.schema import Observations
from bayes_scaling.models import model_for
from bayes_scaling.models.base import Fit, ScalingModel
from bayes_scaling.spec import load_spec


def laplace_tree(
    model: pm.Model, *, draws: int, chains: int, seed: int
) -> tuple[xr.DataTree, dict]:
    """Draws of the Laplace approximation as a posterior DataTree (module doc), and facts
    about the mode (the optimiser's log density, the Hessian's smallest eigenvalue)."""
    start = DictToArrayBijection.map(model.initial_point(random_seed=seed))
    logp = model.compile_logp(jacobian=True)
    dlogp = model.compile_dlogp(jacobian=True)

    def point(x: np.ndarray) -> dict:
        return DictToArrayBijection.rmap(RaveledVars(x, start.point_map_info))

    def cost(x: np.ndarray) -> tuple[float, np.ndarray]:
        return -float(logp(point(x))), -np.asarray(dlogp(point(x)))

    res = optimize.minimize(
        cost, start.data, jac=True, method="L-BFGS-B", options={"maxiter": 5000}
    )
    values = model.value_vars
    hessian = model.compile_d2logp(model.free_RVs, jacobian=True, negate_output=True)(point(res.x))
    eigval, eigvec = np.linalg.eigh(0.5 * (hessian + hessian.T))
    facts = {
        "optimizer": f"{res.message} after {res.nit} iterations",
        "log_density_at_mode": round(-float(res.fun), 2),
        "hessian_min_eigenvalue": float(eigval.min()),
        "non_concave_directions": int((eigval <= 1e-8).sum()),
        "parameters": len(eigval),
    }
    # a flat or non-concave direction gets unit variance rather than an infinite one
    scale = eigvec / np.sqrt(np.where(eigval > 1e-8, eigval, 1.0))
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((chains * draws, len(eigval)))
    flat = res.x[None, :] + z @ scale.T
    outputs = pm.util.get_default_varnames(model.unobserved_value_vars, include_transformed=False)
    fn = model.compile_fn(outputs, inputs=values, on_unused_input="ignore", point_fn=True)
    columns: dict[str, list] = {o.name: [] for o in outputs}
    for row in flat:
        for out, value in zip(outputs, fn(point(row)), strict=True):
            columns[out.name].append(value)
    dims = model.named_vars_to_dims
    data = {}
    for name in columns:
        arr = np.asarray(columns[name]).reshape(chains, draws, *np.shape(columns[name][0]))
        extra = list(dims.get(name, [f"{name}_dim_{i}" for i in range(arr.ndim - 2)]))
        data[name] = (["chain", "draw", *extra], arr)
    coords = {k: list(v) for k, v in model.coords.items() if v is not None}
    post = xr.Dataset(data, coords={"chain": np.arange(chains), "draw": np.arange(draws)})
    post = post.assign_coords({k: v for k, v in coords.items() if k in post.dims})
    return xr.DataTree.from_dict({"posterior": post}), facts


def compare(model: ScalingModel, test: pd.DataFrame, truth: np.ndarray, *, sampling: dict) -> dict:
    """NUTS then Laplace on ``model``; both predict ``test`` (module doc)."""
    out: dict = {"observations": len(model.table), "nuts_settings": sampling}
    start = time.perf_counter()
    nuts = model.fit(**sampling)
    out["nuts_seconds"] = round(time.perf_counter() - start, 1)
    out["nuts_diagnostics"] = nuts.diagnostics().verdict
    start = time.perf_counter()
    tree, facts = laplace_tree(
        model.build(), draws=sampling["draws"], chains=sampling["chains"], seed=0
    )
    approx = Fit(model.spec, model.data, tree, 0, _model=model)
    out["laplace_seconds"] = round(time.perf_counter() - start, 1)
    out["laplace"] = facts
    a = nuts.predict(test).table()
    b = approx.predict(test).table()
    width_a = (a["upper"] - a["lower"]).to_numpy()
    width_b = (b["upper"] - b["lower"]).to_numpy()
    half = np.where(width_a > 0, width_a / 2 / 1.645, np.nan)  # ≈ NUTS's sd from its 90% interval
    shift = np.abs(b["median"].to_numpy() - a["median"].to_numpy()) / half
    for key, t in (("nuts", a), ("laplace", b)):
        covered = (t["lower"].to_numpy() <= truth) & (truth <= t["upper"].to_numpy())
        out[f"{key}_coverage_90"] = round(float(covered.mean()), 3)
        out[f"{key}_abs_error"] = round(float(np.median(np.abs(t["median"].to_numpy() - truth))), 5)
    out["held_out_points"] = len(truth)
    out["median_shift_in_nuts_sd"] = {
        "median": round(float(np.nanmedian(shift)), 2),
        "max": round(float(np.nanmax(shift)), 2),
    }
    out["width_ratio_laplace_over_nuts"] = {
        "median": round(float(np.nanmedian(width_b / width_a)), 2),
        "min": round(float(np.nanmin(width_b / width_a)), 2),
        "max": round(float(np.nanmax(width_b / width_a)), 2),
    }
    out["speedup"] = round(out["nuts_seconds"] / max(out["laplace_seconds"], 1e-9), 1)
    print(out, flush=True)
    return out


def gadre_loss(root) -> dict:
    obs = load(root / "overtraining" / "raw" / "exp_data")
    model = model_for(load_spec("loss_overtraining"), obs.select("params < 1e9"))
    points = model.points(obs.select("params >= 1e9"))
    grid = points.drop(columns=["truth"])
    sampling = {"draws": 1000, "tune": 1000, "chains": 4, "progressbar": False, "seed": 0}
    return compare(model, grid, points["truth"].to_numpy(), sampling=sampling)


def olmo_accuracy(root) -> dict:
    mmlu = ("mmlu_stem", "mmlu_humanities", "mmlu_social_sciences", "mmlu_other")
    f = load_olmo_ladder(root / "olmo-ladder", domains={t: "mmlu" for t in mmlu}).frame
    rerun = f["run"].str.endswith("rerun")
    train = f[(f["params"] < 2e9) & ~rerun & (f["multiplier_label"] != "0.5xC")]
    model = model_for(load_spec("accuracy_sigmoid"), Observations(train, "ladder 190M-1B"))
    points = model.points(Observations(f[(f["size"] == "3B") & ~rerun], "ladder 3B"))
    points = points[points["tokens"] == points.groupby("run")["tokens"].transform("max")]
    points = points.reset_index(drop=True)
    sampling = {"draws": 300, "tune": 300, "chains": 2, "progressbar": False, "seed": 0}
    return compare(
        model, points.drop(columns=["truth"]), points["truth"].to_numpy(), sampling=sampling
    )


CASES = {"gadre_loss": gadre_loss, "olmo_accuracy": olmo_accuracy}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    args = ap.parse_args()
    root = shared_data_dir()
    run_parts(
        "laplace", args.cases, {k: lambda _, case=case: case(root) for k, case in CASES.items()}
    )


if __name__ == "__main__":
    main()
