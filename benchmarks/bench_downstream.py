"""Downstream family on real data: the numbers for issue 3's closing note.

Run: ``.venv/bin/python benchmarks/bench_downstream.py [--parts gadre olmo timing]`` (writes
``benchmarks/results/downstream.json``; parts not run keep their previous results).

1. ``gadre``: the over-training testbed, fit on runs with N < 1e9, both per-task forms
   (``error_from_loss``: exponential; ``error_sigmoid``). The 17-task average error of the
   1.4B runs present, at their observed loss (direct) and chained from (dataset, N, D) through
   a loss fit on the same split, with relative error and coverage next to Gadre et al.'s point
   method (``curve_fit`` of the average per dataset; chained through a Huber/L-BFGS loss fit);
   the four absent configurations with intervals. Both forms also fitted as the paper did, to
   the 17-task average per pretraining set (``*_average``: ``average_tasks``).
2. ``olmo``: the OLMo ladder, fit on the 190M-1B runs (``accuracy_sigmoid`` on task bpb, one
   Chinchilla loss fit per task), the 3B runs' final-checkpoint accuracies chained from (N, D),
   per task, next to the paper's two-step point method, the error split into its steps (the
   loss fits' bpb against the observed; accuracy at the observed bpb); the 7B and 13B targets.
   Step 1 twice, through the same accuracy fit: one fit per task, and one fit of every task's
   bpb with the exponents pooled across tasks (keys ``step1_pooled_*``). ``--cache DIR``
   keeps the accuracy fit between runs.
3. ``holdout``: leave one task out of the 17 (tasks whose domain keeps another task), fit
   ``error_sigmoid`` on the rest, predict the task's rows from its domain's population:
   coverage of the 90% intervals and absolute error.
4. ``timing``: a full fit of the 46-task testbed (every run), 2 chains (``--chains``) on 2
   cores: wall time, ESS/s, divergences, R-hat, the slowest parameters, and R-hat / bulk ESS of
   the predicted error of every task and of the 46-task average at the 1.4B runs; one entry
   per ``--timing-spec``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
from _common import ess_per_second, run_parts, timer

from bayes_scaling import laws
from bayes_scaling.baselines import fit_average_error, fit_loss_huber, loss_law
from bayes_scaling.data.gadre import HOLDOUT, TASKS_17, load_gadre
from bayes_scaling.data.olmo_ladder import PARAMS, load_olmo_ladder
from bayes_scaling.data.paths import shared_data_dir
from bayes_scaling.data.schema import Observations
from bayes_scaling.models import model_for
from bayes_scaling.models.base import Fit, fit_hash
from bayes_scaling.models.chaining import loss_fits
from bayes_scaling.models.downstream import FORMS
from bayes_scaling.models.task_sets import aggregate_tasks, average_tasks
from bayes_scaling.spec import load_spec

PARTS = ("gadre", "olmo", "holdout", "timing")
SAMPLING = {"draws": 1000, "tune": 1000, "chains": 2, "progressbar": False, "seed": 0}
OLMO_TARGETS = pd.DataFrame(  # the ladder paper's targets (Bhagia et al. 2024)
    {"run": ["OLMo-7B", "OLMo-13B"], "params": [PARAMS["7B"], PARAMS["13B"]],
     "tokens": [3.945e12, 5e12]}
)  # fmt: skip


def _scored(table: pd.DataFrame, truth: pd.Series) -> dict:
    t = table.set_index("run").loc[truth.index]
    rel = (t["median"] - truth).abs() / truth
    covered = (t["lower"] <= truth) & (truth <= t["upper"])
    return {
        "median_rel_error": round(float(rel.median()), 4),
        "covered": f"{int(covered.sum())}/{len(covered)}",
        "runs": {
            run: {"truth": round(float(truth[run]), 4), **_interval(t.loc[run])}
            for run in truth.index
        },
    }


def _interval(row: pd.Series) -> dict:
    return {k: round(float(row[k]), 4) for k in ("median", "lower", "upper")}


def gadre(root) -> dict:
    data = load_gadre(root / "overtraining")
    train, test = data.select("params < 1e9"), data.select("params >= 1e9")
    loss_fit = model_for(load_spec("loss_overtraining"), train).fit(**SAMPLING)
    out: dict = {"split": "fit N < 1e9, predict the 1.4B runs", "sampling": SAMPLING}
    for name in ("error_from_loss", "error_sigmoid"):
        model = model_for(load_spec(name).updated({"response": {"tasks": "avg17"}}), train)
        res: dict = {}
        with timer(res, "fit_seconds"):
            fit = model.fit(**SAMPLING)
        res["diagnostics"] = fit.diagnostics().verdict
        points = model.points(test)
        truth = points.groupby("run")["truth"].mean()
        runs = points.groupby("run", as_index=False).first()[["run", "dataset", "params", "tokens"]]
        direct = fit.predict(points.drop(columns=["truth"]))
        res["direct"] = _scored(aggregate_tasks(direct, tasks="avg17").table(), truth)
        chained = fit.predict(runs, loss_fit=loss_fit, tasks="avg17")
        res["chained"] = _scored(aggregate_tasks(chained, tasks="avg17").table(), truth)
        absent = aggregate_tasks(
            fit.predict(HOLDOUT, loss_fit=loss_fit, tasks="avg17"), tasks="avg17"
        ).table()
        res["absent"] = {
            row.run: {**_interval(pd.Series(row._asdict())), "loss": round(row.loss, 4)}
            for row in absent.itertuples()
        }
        per_task = direct.table().assign(truth=points["truth"].to_numpy())
        per_task["covered"] = per_task["lower"].le(per_task["truth"]) & per_task["upper"].ge(
            per_task["truth"]
        )
        res["per_task_direct_coverage"] = round(float(per_task["covered"].mean()), 3)
        out[name] = res
    out["curve_fit_average"] = _gadre_point_method(model, train, test, truth)
    for name in ("error_from_loss", "error_sigmoid"):
        out[f"{name}_average"] = _gadre_average(name, train, test, truth, loss_fit)
    return out


#: Fitting the 17-task average, one law per pretraining set (``average_tasks``), as Gadre et al.
#: did: the average has no item count (a beta likelihood), each set is its own task with its
#: own parameters (``pooling = "none"``: three groups cannot inform a group scale; partially
#: pooled, the exponential fit had 47 divergences), so the input loss needs no per-set shift.
AVERAGE = {
    "response": {"tasks": "all"},
    "input": {"shift_by": None},
    "likelihood": {"kind": "beta"},
}
INDEPENDENT = {"pooling": "none", "centered": False}


def _gadre_average(name: str, train, test, truth: pd.Series, loss_fit) -> dict:
    """The Bayesian form of the paper's point method: ``name``'s law on the avg17 error per
    pretraining set, scored on the 1.4B runs at their loss (direct) and chained."""
    spec = load_spec(name).updated(AVERAGE)
    spec = spec.updated({"params": dict.fromkeys([*FORMS[spec.form].params, "kappa"], INDEPENDENT)})
    model = model_for(spec, average_tasks(train, "avg17", name="avg17", by="dataset"))
    res: dict = {}
    with timer(res, "fit_seconds"):
        fit = model.fit(**SAMPLING)
    res["diagnostics"] = fit.diagnostics().verdict
    points = model.points(average_tasks(test, "avg17", name="avg17", by="dataset"))
    direct = fit.predict(points.drop(columns=["truth"])).table()
    res["direct"] = _scored(direct, truth)
    runs = points[["run", "dataset", "params", "tokens", "task"]]
    res["chained"] = _scored(fit.predict(runs, loss_fit=loss_fit).table(), truth)
    return res


def _gadre_point_method(model, train: Observations, test: Observations, truth) -> dict:
    """Gadre et al.: Err(L) on the 17-task mean per dataset; L(N, D) by Huber/L-BFGS."""
    rows = model.points(train)
    params = fit_average_error(rows, TASKS_17, by="dataset")
    pts = model.points(test).groupby("run").first()
    direct = pd.Series(
        [
            laws.error_from_loss(r.loss, **params[r.dataset])
            for r in pts.loc[truth.index].itertuples()
        ],
        index=truth.index,
    )
    f = train.frame
    final = f[(f["metric"] == "loss") & (f["task"] == "c4_val")]
    chained = {}
    for ds, part in final.groupby("dataset"):
        p = fit_loss_huber(
            "overtraining",
            part["params"].to_numpy(),
            part["tokens"].to_numpy(),
            part["value"].to_numpy(),
        )
        for r in pts[pts["dataset"] == ds].itertuples():
            loss = loss_law("overtraining", np.array([r.params]), np.array([r.tokens]), p)[0]
            chained[r.Index] = laws.error_from_loss(loss, **params[ds])
    chained = pd.Series(chained).loc[truth.index]
    rel = lambda pred: round(float(((pred - truth).abs() / truth).median()), 4)  # noqa: E731
    return {
        "direct_median_rel_error": rel(direct),
        "chained_median_rel_error": rel(chained),
        "direct": direct.round(4).to_dict(),
        "chained": chained.round(4).to_dict(),
    }


def _step1(train: Observations, tasks: list[str], *, pooled: bool):
    """The bpb fits of step 1: one Chinchilla fit per task, or one pooled fit of all tasks."""
    if pooled:  # models/loss_tasks.toml: one law per task, exponents pooled across tasks
        spec = load_spec("loss_tasks").updated({"response": {"task": tasks}})
        return model_for(spec, train).fit(**SAMPLING)
    base = load_spec("loss_chinchilla")
    e_prior = {"E": {"prior": {"dist": "Normal", "mu": -0.7, "sigma": 1.0}}}
    return {
        task: model_for(
            base.updated({"response": {"task": task, "metric": "bpb"}, "params": e_prior}), train
        ).fit(**SAMPLING)
        for task in tasks
    }


def _step2_fit(model, cache: Path | None):
    """The accuracy fit, read from ``cache`` when a file of the same spec, data and seed is
    there (Fit.load checks its hash), else sampled and saved there."""
    path = cache / f"olmo_step2_{model.spec.name}.nc" if cache else None
    if path is not None and path.exists():
        fit = Fit.load(path)
        if fit.hash == fit_hash(model.spec, model.data, SAMPLING["seed"]):
            return fit, None
    start = time.perf_counter()
    fit = model.fit(**SAMPLING)
    seconds = round(time.perf_counter() - start, 1)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fit.save(path)
    return fit, seconds


def olmo(root, cache: Path | None = None) -> dict:
    mmlu = ("mmlu_stem", "mmlu_humanities", "mmlu_social_sciences", "mmlu_other")
    data = load_olmo_ladder(root / "olmo-ladder", domains={t: "mmlu" for t in mmlu})
    f = data.frame
    rerun = f["run"].str.endswith("rerun")
    train = Observations(
        f[(f["params"] < 2e9) & ~rerun & (f["multiplier_label"] != "0.5xC")], "ladder 190M-1B"
    )
    test = Observations(f[(f["size"] == "3B") & ~rerun], "ladder 3B")
    model = model_for(load_spec("accuracy_sigmoid"), train)
    out: dict = {"split": "fit 190M-1B (1xC-10xC), predict 3B final checkpoints"}
    fit, seconds = _step2_fit(model, cache)
    out["fit_seconds"] = seconds if seconds is not None else "read from the cache"
    out["diagnostics"] = fit.diagnostics().verdict
    points = model.points(test)
    points = points[points["tokens"] == points.groupby("run")["tokens"].transform("max")]
    points = points.reset_index(drop=True)
    grid = points[["run", "params", "tokens", "task"]]
    two_step = model.baseline_predictions(train, points.drop(columns=["truth"]))["two_step"]
    for key, pooled in (("", False), ("step1_pooled_", True)):
        loss_fit = _step1(train, list(model.tasks), pooled=pooled)
        rhats = [x.diagnostics().rhat_max for x in loss_fits(loss_fit).values()]
        table = fit.predict(grid, loss_fit=loss_fit).table()
        table["truth"] = points["truth"].to_numpy()
        table["two_step"] = two_step
        table["covered"] = (table["lower"] <= table["truth"]) & (table["truth"] <= table["upper"])
        table["abs_error_points"] = 100 * (table["median"] - table["truth"]).abs()
        table["two_step_abs_error_points"] = 100 * (table["two_step"] - table["truth"]).abs()
        columns = ["truth", "median", "lower", "upper", "covered", "abs_error_points", "two_step"]
        columns.append("two_step_abs_error_points")
        out[f"{key}loss_fit_rhat_max"] = round(max(rhats), 4)
        out[f"{key}per_task"] = (
            table.groupby("task")[columns].mean().round(4).to_dict(orient="index")
        )
        out[f"{key}mae_points"] = round(float(table["abs_error_points"].mean()), 2)
        out[f"{key}coverage"] = round(float(table["covered"].mean()), 3)
        out[f"{key}decomposition"] = _decompose(fit, points, table)
        targets = fit.predict(OLMO_TARGETS, loss_fit=loss_fit, tasks="all")
        avg = aggregate_tasks(targets, name="average").table()
        out[f"{key}targets"] = {
            row.run: _interval(pd.Series(row._asdict())) for row in avg.itertuples(index=False)
        }
        if not pooled:
            out["two_step_mae_points"] = round(float(table["two_step_abs_error_points"].mean()), 2)
            out["targets_per_task"] = {
                f"{row.run} {row.task}": _interval(pd.Series(row._asdict()))
                for row in targets.table().itertuples(index=False)
            }
    return out


def _decompose(fit, points: pd.DataFrame, chained: pd.DataFrame) -> dict:
    """The chained error split into its two steps: step 1, the loss fits' bpb against the 3B
    runs' observed bpb; step 2, the accuracy predicted at the observed bpb (no step 1)."""
    direct = fit.predict(points.drop(columns=["truth"])).table()
    frame = pd.DataFrame(
        {
            "task": points["task"],
            "chained_points": 100 * (chained["median"] - points["truth"]).abs().to_numpy(),
            "step2_points": 100 * (direct["median"] - points["truth"]).abs().to_numpy(),
            "step2_covered": (
                (direct["lower"] <= points["truth"]) & (points["truth"] <= direct["upper"])
            ).to_numpy(),
            "step1_bpb_error": (chained["loss"] - points["loss"]).to_numpy(),
        }
    )
    frame["step1_bpb_rel_error"] = frame["step1_bpb_error"].abs() / points["loss"].to_numpy()
    per_task = frame.groupby("task").mean().round(4)
    return {
        "mae_points_chained": round(float(frame["chained_points"].mean()), 2),
        "mae_points_step2_at_observed_bpb": round(float(frame["step2_points"].mean()), 2),
        "coverage_step2_at_observed_bpb": round(float(frame["step2_covered"].mean()), 3),
        "step1_bpb_mean_rel_error": round(float(frame["step1_bpb_rel_error"].mean()), 4),
        "step1_bpb_mean_signed_error": round(float(frame["step1_bpb_error"].mean()), 4),
        "per_task": per_task.to_dict(orient="index"),
    }


def holdout(root) -> dict:
    data = load_gadre(root / "overtraining").select("params < 1e9")
    spec = load_spec("error_sigmoid").updated({"response": {"tasks": "avg17"}})
    domains = model_for(spec, data).task_info["domain"]
    shared = domains[domains.duplicated(keep=False)]
    rows = []
    for task, domain in shared.items():
        rest = [t for t in TASKS_17 if t != task]
        model = model_for(spec.updated({"response": {"tasks": rest}}), data)
        fit = model.fit(**{**SAMPLING, "draws": 300, "tune": 300})
        pts = model_for(spec.updated({"response": {"tasks": [task]}}), data).table
        table = fit.predict(pts.drop(columns=["truth"])).table()
        covered = (table["lower"] <= pts["truth"]) & (pts["truth"] <= table["upper"])
        rows.append(
            {
                "task": task,
                "domain": domain,
                "coverage": float(covered.mean()),
                "mae_points": float(100 * (table["median"] - pts["truth"]).abs().mean()),
                "width_points": float(100 * (table["upper"] - table["lower"]).mean()),
            }
        )
    t = pd.DataFrame(rows)
    return {
        "n_tasks": len(t),
        "coverage": round(float(t["coverage"].mean()), 3),
        "mae_points": round(float(t["mae_points"].mean()), 2),
        "tasks": t.round(3).to_dict(orient="records"),
    }


def timing(root, *, spec_name: str, draws: int, tune: int, chains: int) -> dict:
    data = load_gadre(root / "overtraining")
    model = model_for(load_spec(spec_name), data)
    out: dict = {
        "spec": spec_name,
        "n_tasks": len(model.tasks),
        "n_domains": len(model.domains),
        "n_observations": len(model.table),
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "cores": 2,
    }
    with timer(out, "wall_seconds"):
        fit = model.fit(draws=draws, tune=tune, chains=chains, cores=2, seed=0, progressbar=False)
    diag = fit.diagnostics()
    names = [v for v in fit.posterior.data_vars if not v.startswith("y")]
    summary = az.summary(fit.posterior[names], kind="diagnostics")
    out["ess_bulk_min_per_second"] = round(ess_per_second(summary, out["wall_seconds"]), 3)
    out["ess_bulk_median"] = float(summary["ess_bulk"].median())
    out["divergences"] = diag.divergences
    out["rhat_max"] = round(diag.rhat_max, 4)
    out["verdict"] = diag.verdict
    out["slowest"] = summary.sort_values("r_hat", ascending=False).index[:8].tolist()
    # What users read off the fit: each task's error, and the 46-task average, at the largest
    # runs (N ≥ 1e9, in the fit). A parameter the data leave to the prior (a flat task's ε) can
    # mix slowly while these are converged.
    points = model.points(data.select("params >= 1e9"))
    pred = fit.predict(points.drop(columns=["truth"]))
    average = aggregate_tasks(pred, tasks="avg46")
    shape = (fit.posterior.sizes["chain"], fit.posterior.sizes["draw"], -1)
    for key, p in (("per_task", pred), ("avg46", average)):
        law = p.draws["mean"].to_numpy().reshape(shape)
        out[f"predicted_{key}"] = {
            "points": law.shape[-1],
            "rhat_max": round(float(np.max(az.rhat(law))), 4),
            "ess_bulk_min": round(float(np.min(az.ess(law, method="bulk"))), 1),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--timing-spec", default="error_sigmoid")
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="olmo part: read (or write) its accuracy fit here, so step-1 variants skip it",
    )
    parser.add_argument("--draws", type=int, default=1000, help="timing part")
    parser.add_argument("--tune", type=int, default=1000, help="timing part")
    parser.add_argument("--chains", type=int, default=2, help="timing part (on 2 cores)")
    args = parser.parse_args()
    root = shared_data_dir()
    runners = {
        "gadre": lambda _: gadre(root),
        "olmo": lambda _: olmo(root, args.cache),
        "holdout": lambda _: holdout(root),
        "timing": lambda previous: {  # one entry per spec
            **(previous or {}),
            args.timing_spec: timing(
                root,
                spec_name=args.timing_spec,
                draws=args.draws,
                tune=args.tune,
                chains=args.chains,
            ),
        },
    }
    run_parts("downstream", args.parts, runners)


if __name__ == "__main__":
    main()
