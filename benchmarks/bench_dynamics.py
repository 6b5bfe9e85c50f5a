"""Trajectory family on real data: the numbers for issue 4's closing note.

Run: ``.venv/bin/python benchmarks/bench_dynamics.py [--parts full size gemstones holdout
transfer]``
(writes ``benchmarks/results/dynamics.json``; parts not run keep their previous results).

1. ``full``: ``models/task_dynamics.toml`` fitted to every Pythia size (70M-6.9B, 14 standard
   and deduplicated runs, zero-shot) on LAMBADA, PIQA, WinoGrande, ARC-Easy, ARC-Challenge and
   SciQ (WSC is degenerate, LogiQA and MMLU at chance: see the data README), 2 chains on 2
   cores: wall time, ESS per second, divergences; predictions for a 12B model (11.3e9
   non-embedding parameters) at 153B and 300B tokens; the cross-domain onset table,
   precedence probabilities and run-effect correlations.
2. ``size``: fit 70M-2.8B, predict the two 6.9B runs' trajectories (a new size, from N alone);
   coverage of the 90% new-evaluation intervals and absolute error in accuracy points at the
   middle and the final checkpoint, per task, against the naive baseline that copies the
   largest fitted size's trajectory (:func:`copy_largest`).
   ``gemstones``: the same on Gemstones, fit the 16 runs of 48M-545M (8 log-spaced checkpoints
   each), predict the three ~1.0B runs.
3. ``holdout``: leave-one-task-out task dynamic prediction (:func:`transfer.task_holdout`) on
   Pythia (tasks whose domain keeps another task) and on the OLMo ladder (1xC and 5xC runs,
   the commonsense and science tasks): the held-out task from its domain's population, from
   the population of all tasks (domain ignored), and the point baselines; then the same task
   updated with its first 3 selected checkpoints per run (of 6 on Pythia, where the log-spaced
   choice of 8 collapses to 6, and of 8 on the OLMo ladder), against the not-updated
   predictions of the later checkpoints.
4. ``transfer``: an OLMo-ladder fit (1xC, 2xC, 5xC, 10xC runs; commonsense, science, reading
   comprehension and the four MMLU groups): onsets, precedence and correlations.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import pandas as pd
from _common import run_parts, timer

from bayes_scaling import transfer
from bayes_scaling.data.gemstones import load_gemstones
from bayes_scaling.data.olmo_ladder import load_olmo_ladder
from bayes_scaling.data.paths import shared_data_dir
from bayes_scaling.data.pythia import README_OVERRIDES, load_pythia
from bayes_scaling.models.dynamics import DynamicsModel
from bayes_scaling.spec import load_spec

PARTS = ("full", "size", "gemstones", "holdout", "transfer")
GEM_CHECKPOINTS = 8
TASKS = ["lambada_openai", "piqa", "winogrande", "arc_easy", "arc_challenge", "sciq"]
PARAMS_12B = 11.3e9
TOKENS_12B = (153_092_096_000.0, 299_892_736_000.0)
OLMO_HOLDOUT = ["hellaswag", "piqa", "winogrande", "csqa", "arc_easy", "arc_challenge"]
SHORT = {"draws": 300, "tune": 300}
EARLY_CHECKPOINTS = 3  # holdout: the task updated with its first 3 checkpoints per run


def _pythia(root):
    data = load_pythia(root / "trajectories" / "pythia", overrides=README_OVERRIDES)
    return data.where(metric="accuracy", task=TASKS)


def _diagnostics(fit, seconds: float) -> dict:
    d = fit.diagnostics()
    return {
        "wall_seconds": seconds,
        "ess_bulk_min": round(d.ess_bulk_min, 1),
        "ess_bulk_min_per_second": round(d.ess_bulk_min / seconds, 3),
        "rhat_max": round(d.rhat_max, 4),
        "divergences": d.divergences,
        "verdict": d.verdict,
    }


def _cross_domain(fit) -> dict:
    onsets = transfer.onset_table(fit)
    prec = transfer.onset_precedence(fit)
    out = {
        "onsets": onsets.drop(columns="summary").round(4).to_dict(orient="records"),
        "onset_summaries": list(onsets["summary"]),
        "p_onset_before": {
            f"{a} < {b}": round(float(prec.loc[a, b]), 3)
            for a, b in itertools.permutations(prec.index, 2)
        },
    }
    if len(fit.model.domains) > 1:
        corr = transfer.domain_correlation(fit)
        out["correlations"] = corr.drop(columns="summary").round(3).to_dict(orient="records")
    return out


def full(root, sampling: dict) -> dict:
    model = DynamicsModel(load_spec("task_dynamics"), _pythia(root))
    out: dict = {
        "data": {
            "runs": int(model.table["run"].nunique()),
            "tasks": list(model.tasks),
            "domains": list(model.domains),
            "observations": len(model.table),
        },
        "sampling": sampling,
    }
    timing: dict = {}
    with timer(timing, "seconds"):
        fit = model.fit(**sampling)
    out.update(_diagnostics(fit, timing["seconds"]))
    grid = pd.DataFrame(
        [(PARAMS_12B, d, t) for t in TASKS for d in TOKENS_12B],
        columns=["params", "tokens", "task"],
    )
    table = fit.predict(grid).table()
    keep = ["task", "tokens", "median", "lower", "upper", "mean_lower", "mean_upper"]
    out["predictions_12b"] = table[[*keep, "params_decades"]].round(4).to_dict(orient="records")
    out["cross_domain"] = _cross_domain(fit)
    return out


def copy_largest(train: pd.DataFrame, points: pd.DataFrame) -> np.ndarray:
    """The naive baseline: the largest fitted size's accuracy at the same task and tokens.

    The runs at the largest N are averaged, and read at the point's tokens by linear
    interpolation in log tokens (the checkpoints of a ladder usually coincide).
    """
    top = train[train["params"] == train["params"].max()]
    curves = top.groupby(["task", "tokens"])["truth"].mean()
    out = np.full(len(points), np.nan)
    for i, (task, tokens) in enumerate(zip(points["task"], points["tokens"], strict=True)):
        curve = curves.loc[task]
        out[i] = np.interp(np.log(tokens), np.log(curve.index.to_numpy()), curve.to_numpy())
    return out


def size_holdout(spec, data, *, train: str, test: str, split: str, sampling: dict) -> dict:
    """Fit the runs selected by ``train``, predict the ``test`` runs at two checkpoints."""
    model = DynamicsModel(spec, data.select(train))
    timing: dict = {}
    with timer(timing, "seconds"):
        fit = model.fit(**sampling)
    pts = model.points(data.select(test))
    steps = np.sort(pts["tokens"].unique())
    at = {"middle": steps[len(steps) // 2], "final": steps[-1]}
    pts = pts[pts["tokens"].isin(at.values())].reset_index(drop=True)
    table = fit.predict(pts.drop(columns=["truth"])).table()
    table["truth"] = pts["truth"].to_numpy()
    table["copy"] = copy_largest(model.table, pts)
    table["checkpoint"] = table["tokens"].map({v: k for k, v in at.items()})
    table["covered"] = (table["lower"] <= table["truth"]) & (table["truth"] <= table["upper"])
    table["abs_error_points"] = 100 * (table["median"] - table["truth"]).abs()
    table["copy_error_points"] = 100 * (table["copy"] - table["truth"]).abs()
    scores = ["covered", "abs_error_points", "copy_error_points"]
    per = table.groupby(["task", "checkpoint"])[["truth", "median", "lower", "upper", "copy"]]
    per = per.mean()
    per[scores] = table.groupby(["task", "checkpoint"])[scores].mean()
    return {
        "split": split,
        "tokens": {k: float(v) for k, v in at.items()},
        "params_decades": round(float(table["params_decades"].max()), 3),
        "fit_seconds": round(timing["seconds"], 1),
        "diagnostics": fit.diagnostics().verdict,
        "coverage": round(float(table["covered"].mean()), 3),
        "mae_points": round(float(table["abs_error_points"].mean()), 2),
        "copy_largest_mae_points": round(float(table["copy_error_points"].mean()), 2),
        "mean_width_points": round(float(100 * (table["upper"] - table["lower"]).mean()), 2),
        "by_checkpoint": table.groupby("checkpoint")[scores].mean().round(3).to_dict("index"),
        "per_task": {f"{t} {c}": v for (t, c), v in per.round(4).to_dict("index").items()},
    }


def size(root, sampling: dict) -> dict:
    return size_holdout(
        load_spec("task_dynamics"),
        _pythia(root),
        train="params < 5e9",
        test="params > 5e9",
        split="fit 70M-2.8B, predict both 6.9B runs (new size)",
        sampling=sampling,
    )


def gemstones(root, sampling: dict) -> dict:
    data = load_gemstones(root / "trajectories" / "gemstones").where(metric="accuracy")
    spec = load_spec("task_dynamics").updated({"data": {"max_checkpoints": GEM_CHECKPOINTS}})
    return size_holdout(
        spec,
        data,
        train="params < 6e8",
        test="params > 6e8",
        split=f"fit the 16 runs of 48M-545M ({GEM_CHECKPOINTS} log-spaced checkpoints each), "
        "predict the three ~1.0B runs (new size)",
        sampling=sampling,
    )


def _holdout(spec, data, tasks, sampling) -> dict:
    table = transfer.task_holdout(spec, data, tasks=tasks, **sampling)
    updated = transfer.task_holdout(
        spec, data, tasks=tasks, first_checkpoints=EARLY_CHECKPOINTS, **sampling
    )
    later = table[table["checkpoint"] > EARLY_CHECKPOINTS]
    per_task = transfer.holdout_metrics(table, by="task").set_index("task")
    return {
        "tasks": tasks,
        "overall": transfer.holdout_metrics(table).iloc[0].round(3).to_dict(),
        "per_task": per_task.round(3).to_dict(orient="index"),
        f"after_checkpoint_{EARLY_CHECKPOINTS}": {
            "not_updated": transfer.holdout_metrics(later).iloc[0].round(3).to_dict(),
            "updated": transfer.holdout_metrics(updated).iloc[0].round(3).to_dict(),
        },
    }


def holdout(root, sampling: dict) -> dict:
    spec = load_spec("task_dynamics").updated({"data": {"max_checkpoints": 8}})
    pythia = _pythia(root)
    held = [t for t in TASKS if t != "lambada_openai"]  # LAMBADA is alone in its domain
    olmo = load_olmo_ladder(root / "olmo-ladder")
    olmo = olmo.where(metric="accuracy", task=[*OLMO_HOLDOUT, "openbookqa", "socialiqa"])
    olmo = olmo.select("run.str.endswith('-1xC') or run.str.endswith('-5xC')")
    olmo_spec = spec.updated({"data": {"min_tokens": 0.0, "drop_first_fraction": 0.1}})
    return {
        "sampling": sampling,
        "pythia": _holdout(spec, pythia, held, sampling),
        "olmo_ladder": _holdout(olmo_spec, olmo, OLMO_HOLDOUT, sampling),
    }


def olmo_transfer(root, sampling: dict) -> dict:
    mmlu = ("mmlu_stem", "mmlu_humanities", "mmlu_social_sciences", "mmlu_other")
    data = load_olmo_ladder(root / "olmo-ladder")
    tasks = ["hellaswag", "piqa", "arc_easy", "arc_challenge", "boolq", *mmlu]
    data = data.where(metric="accuracy", task=tasks).select("~run.str.endswith('rerun')")
    data = data.select("~run.str.endswith('-0.5xC')")
    spec = load_spec("task_dynamics").updated(
        {"data": {"min_tokens": 0.0, "drop_first_fraction": 0.1, "max_checkpoints": 8}}
    )
    model = DynamicsModel(spec, data)
    timing: dict = {}
    with timer(timing, "seconds"):
        fit = model.fit(**sampling)
    return {
        "runs": int(model.table["run"].nunique()),
        "tasks": list(model.tasks),
        "sampling": sampling,
        **_diagnostics(fit, timing["seconds"]),
        **_cross_domain(fit),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--draws", type=int, default=1000, help="full and transfer fits")
    parser.add_argument("--tune", type=int, default=1000, help="full and transfer fits")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    root = shared_data_dir()
    base = {"chains": 2, "cores": 2, "seed": args.seed, "progressbar": False}
    long = {**base, "draws": args.draws, "tune": args.tune}
    runners = {
        "full": lambda _: full(root, long),
        "size": lambda _: size(root, {**base, **SHORT}),
        "gemstones": lambda _: gemstones(root, {**base, **SHORT}),
        "holdout": lambda _: holdout(root, {**base, **SHORT}),
        "transfer": lambda _: olmo_transfer(root, long),
    }
    run_parts("dynamics", args.parts, runners)


if __name__ == "__main__":
    main()
