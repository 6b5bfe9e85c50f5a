"""Rung-out calibration of a family on every public ladder it fits, and the extrapolation error
learned from it (issue 14). ``--family loss``: every ladder with a loss response (Gadre,
Epoch's Chinchilla points, the OLMo ladder, the data-constrained runs, Gemstones, OPT's and the
Revisiting-scaling-laws LM curves, T5 on the Pile).
``--family dynamics``: the checkpoint trajectories of Pythia, Gemstones and the OLMo ladder,
cut by model size (a new size) and, on Pythia and Gemstones, by tokens (later checkpoints).
``--family downstream``: accuracy from loss (the sigmoid) on the OLMo ladder, Gadre's testbed
and Gemstones, cut by size, predicted at each held-out run's observed loss.

Run: ``.venv/bin/python benchmarks/bench_calibration.py [--family loss|dynamics|downstream]
[--parts rungs meta check]`` (writes ``benchmarks/results/calibration.json``, or
``calibration_<family>.json``, and ``calibration_*.png``; fit files go to
``$BAYES_SCALING_CALIBRATION_DIR``, default ``~/.cache/bayes_scaling/calibration``, so a rerun
resumes).

1. ``rungs``: for each ladder, fit below each rung with the extrapolation error **off**
   (``[extrapolation] rate = 0``) and keep every held-out point's predictive position; for
   trajectories also a held-out task updated with its first 3 checkpoints per run
   (:func:`transfer.task_holdout`), its later checkpoints as the points.
2. ``meta``: the partially pooled rate ``τ`` per ladder (:func:`calibrate.fit_rate`) from all
   ladders, shipped as the specs' default prior; and, honestly, leave one ladder out: the
   rate learned from the *other* ladders scored on the held-out one (coverage at 50/80/90/95%
   by distance), next to the parametric intervals of today.
3. ``check``: the real prediction path (``Fit.predict``) on the saved rung-out fits, no
   refitting, with the shipped rate and with the rate learned from the other ladders
   (``meta``'s leave-one-out): coverage per ladder. The task holdouts keep no fit files and
   are refitted for it (same seeds).
4. ``own``: each ladder's own term (:func:`calibrate.ladder_term`): for every backtest, the
   other ladders' term updated by rung-outs *within* that backtest's training runs, scored on
   its held-out points (results ``own``, plot ``calibration_own.png``).
5. ``frontier`` (loss): the same backtests refitted with ``[likelihood] kind = "frontier"``
   (the law as the frontier of the best-tuned runs, each run above it by a shortfall) and the
   shipped term, scored on the same held-out points next to ``check``'s Student-t figures
   (results ``frontier``, plot ``calibration_frontier.png``).
"""

from __future__ import annotations

import argparse
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from _common import RESULTS, run_parts, timer

from bayes_scaling import baselines, report, transfer
from bayes_scaling.calibrate import (
    MIN_TERM_DISTANCE,
    coverage_with_rate,
    default_cutoffs,
    fit_rate,
    ladder_term,
    rung_out,
)
from bayes_scaling.data import load
from bayes_scaling.data.gemstones import load_gemstones
from bayes_scaling.data.olmo_ladder import load_olmo_ladder
from bayes_scaling.data.paths import shared_data_dir
from bayes_scaling.data.pythia import README_OVERRIDES, load_pythia
from bayes_scaling.data.schema import DataError, Observations
from bayes_scaling.inference import diagnose
from bayes_scaling.models.base import Fit
from bayes_scaling.models.prediction import NewGroupWarning
from bayes_scaling.plots.calibration import plot_calibration
from bayes_scaling.plots.common import save_figure
from bayes_scaling.spec import load_spec
from bayes_scaling.validate import LEVELS, Backtest, coverage_table, covered, predictive_position

OFF = {"extrapolation": {"rate": 0}}
PYTHIA_TASKS = ["lambada_openai", "piqa", "winogrande", "arc_easy", "arc_challenge", "sciq"]
OLMO_TASKS = ["hellaswag", "piqa", "arc_easy", "arc_challenge", "boolq", "csqa", "openbookqa"]
OLMO_HOLDOUT = ["hellaswag", "piqa", "csqa", "arc_easy", "arc_challenge"]


def loss_ladders(root: Path) -> dict[str, dict]:
    """Every public ladder with a loss response: spec, data, ladder column and cut-offs."""
    gem = load(root / "trajectories" / "gemstones" / "gemstones_train_loss.csv")
    # 7 checkpoints per run (every 25th logged one), none in the first 10% of training
    # (Hitchhiker's guidance); 35 per run made the posterior as sure as 35 independent runs
    gem = gem.select("tokens >= 3.5e10 and step % 11925 == 0")
    blations = load(root / "hitchhiker" / "datablations_contour_losses.csv")
    # at most 4 epochs (repeats worth nearly new data, Muennighoff et al.), at least 1e9 tokens
    blations = blations.select("epochs <= 4 and tokens >= 1e9")
    # curves of one recipe: 7 checkpoints per run, log-spaced after its first 10%
    # (Hitchhiker's guidance), as Gemstones'
    opt = load(root / "hitchhiker" / "opt_trajectories.csv")
    revisiting = load(root / "hitchhiker" / "revisiting_lang.csv")
    t5 = load(root / "hitchhiker" / "t5_pile.csv")
    every_checkpoint = {
        "data": {"checkpoints": "all", "drop_first_fraction": 0.1, "max_checkpoints": 7}
    }

    def curves(task: str, data, cutoffs: list[float]) -> dict:
        """A ladder of loss curves, one Chinchilla law over their thinned checkpoints."""
        spec = load_spec("loss_chinchilla").updated({"response": {"task": task}} | every_checkpoint)
        return {"spec": spec, "data": data, "by": "params", "cutoffs": cutoffs}

    return {
        "gadre_c4": {
            "spec": load_spec("loss_overtraining"),
            "data": root / "overtraining" / "raw" / "exp_data",
            "by": "params",
            "cutoffs": [8e7, 1.6e8, 4.2e8],
        },
        "chinchilla_epoch": {
            "spec": load_spec("loss_chinchilla"),
            "data": root / "chinchilla" / "svg_extracted_data.csv",
            "by": "flops",
            "cutoffs": [3e19, 1e20, 3e20, 1e21],
        },
        "olmo_ladder_c4": {
            "spec": load_spec("loss_chinchilla").updated({"response": {"task": "c4_en"}}),
            "data": root / "olmo-ladder",
            "by": "params",
            "cutoffs": [3.8e8, 7.6e8, 1.3e9],
        },
        "datablations_c4": {
            "spec": load_spec("loss_chinchilla").updated({"response": {"task": "c4"}}),
            "data": blations,
            "by": "params",
            "cutoffs": [6.2e8, 1.6e9],
        },
        "opt_valid": curves("opt_valid", opt, [6.7e9, 1.3e10]),
        "revisiting_lm": curves("val_loss", revisiting, [1.34e8, 2.62e8]),
        "t5_pile": curves("t5_pile_valid", t5, [8e8, 3e9]),
        "gemstones_train": {
            "spec": load_spec("loss_chinchilla").updated(
                {"response": {"task": "train_loss"}, "data": {"checkpoints": "all"}}
            ),
            "data": gem,
            "by": "params",
            "cutoffs": [1.2e8, 5.5e8],
        },
    }


#: Trajectory fits: 8 log-spaced checkpoints per run, 2 chains × (300 + 300) draws.
TRAJECTORY = {"data": {"max_checkpoints": 8}}
TRAJECTORY_SAMPLER = {"draws": 300, "tune": 300, "chains": 2}


def trajectory_ladders(root: Path) -> dict[str, dict]:
    """Every public ladder of checkpoint trajectories, cut by size and by tokens."""
    pythia = load_pythia(root / "trajectories" / "pythia", overrides=README_OVERRIDES)
    pythia = pythia.where(metric="accuracy", task=PYTHIA_TASKS)
    gem = load_gemstones(root / "trajectories" / "gemstones").where(metric="accuracy")
    olmo = load_olmo_ladder(root / "olmo-ladder")
    olmo = olmo.where(metric="accuracy", task=OLMO_TASKS)
    olmo = olmo.select("~run.str.endswith('rerun') and ~run.str.endswith('-0.5xC')")
    spec = load_spec("task_dynamics").updated(TRAJECTORY)
    olmo_spec = spec.updated({"data": {"min_tokens": 0.0, "drop_first_fraction": 0.1}})
    cuts = {
        "pythia_size": (spec, pythia, "params", [1.3e9, 2.6e9]),
        "pythia_tokens": (spec, pythia, "tokens", [1.6e10, 6e10]),
        "gemstones_size": (spec, gem, "params", [1.2e8, 5.5e8]),
        "gemstones_tokens": (spec, gem, "tokens", [1.6e10, 6e10]),
        "olmo_ladder_size": (olmo_spec, olmo, "params", [4e8, 8e8, 1.3e9]),
    }
    ladders = {
        name: {"spec": s, "data": d, "by": by, "cutoffs": c} for name, (s, d, by, c) in cuts.items()
    }
    # an unseen task updated with its first 3 checkpoints per run, its later ones predicted
    # (transfer.task_holdout; the runs of bench_dynamics.py's holdout part, a task whose domain
    # keeps another task)
    olmo_tasks = olmo.select("run.str.endswith('-1xC') or run.str.endswith('-5xC')")
    held = {
        "pythia_task": (spec, pythia, [t for t in PYTHIA_TASKS if t != "lambada_openai"]),
        "olmo_ladder_task": (olmo_spec, olmo_tasks, OLMO_HOLDOUT),
    }
    for name, (s, d, tasks) in held.items():
        ladders[name] = {"spec": s, "data": d, "tasks": tasks}
    for name, lad in ladders.items():  # the data set is the name's prefix: pythia_size → pythia
        lad["dataset"] = name.rsplit("_", 1)[0]
    return ladders


#: Downstream fits: at most 8 checkpoints per run after the first 10% of its tokens.
DOWNSTREAM = {"data": {"max_checkpoints": 8}}


def downstream_ladders(root: Path) -> dict[str, dict]:
    """Every public ladder of accuracy against loss, cut by size, with the check targets of
    ``bench_downstream.py`` left out (the OLMo 3B runs, Gadre's 1.4B runs): the term is learned
    below them and checked on them."""
    olmo = load_olmo_ladder(root / "olmo-ladder").where(task=OLMO_TASKS)
    olmo = olmo.select(
        "params < 2e9 and ~run.str.endswith('rerun') and ~run.str.endswith('-0.5xC')"
    )
    gadre = load(root / "overtraining" / "raw" / "exp_data").select("params < 1e9")
    gem = load_gemstones(root / "trajectories" / "gemstones")
    from_train_loss = {"input": {"task": "train_loss", "metric": "loss", "per_task": False}}
    cuts = {
        "olmo_ladder": (load_spec("accuracy_sigmoid"), olmo, [4e8, 8e8]),
        "gadre": (
            load_spec("error_sigmoid").updated({"response": {"tasks": "avg17"}}),
            gadre,
            [1e8, 2e8],
        ),
        "gemstones": (load_spec("accuracy_sigmoid").updated(from_train_loss), gem, [1.2e8, 5.5e8]),
    }
    return {
        name: {"spec": s.updated(DOWNSTREAM), "data": d, "by": "params", "cutoffs": c}
        for name, (s, d, c) in cuts.items()
    }


def task_points(lad: dict, **sampler) -> pd.DataFrame:
    """The later checkpoints of each held-out task, updated with its first ones, as rung-out
    points (``selection`` names the task: one backtest, one ``z``, per task)."""
    table = transfer.task_holdout(
        lad["spec"].updated(OFF), lad["data"], tasks=lad["tasks"], first_checkpoints=3, **sampler
    )
    return pd.DataFrame(
        {
            "selection": "task == " + table["task"],
            "run": table["run"],
            "task": table["task"],
            "tokens": table["tokens"],
            "distance": table["distance"],
            "truth": table["truth"],
            "median": table["updated_median"],
            "lower": table["updated_lower"],
            "upper": table["updated_upper"],
            "pit": table["updated_pit"],
            "link_truth": table["link_truth"],
            "link_loc": table["updated_link_loc"],
            "link_scale": table["updated_link_scale"],
            "rel_error": (table["updated_median"] - table["truth"]).abs() / table["truth"],
        }
    )


def workdir() -> Path:
    default = Path.home() / ".cache" / "bayes_scaling" / "calibration"
    return Path(os.environ.get("BAYES_SCALING_CALIBRATION_DIR", default))


def run_rungs(family: dict) -> dict:
    out: dict = {}
    for name, lad in family["ladders"](shared_data_dir()).items():
        if "tasks" in lad:
            folder = workdir() / name
            if not (folder / "points.csv").exists():  # resumable, as the rung-outs
                with timer(out.setdefault(name, {}), "seconds"):
                    points = task_points(lad, seed=0, progressbar=False, **family["sampler"])
                folder.mkdir(parents=True, exist_ok=True)
                (folder / "points.csv").write_text(
                    report.format_table(points, fmt="csv", index=False)
                )
            points = report.read_labelled(folder / "points.csv")
            out[name] = out.get(name, {}) | {
                "tasks": lad["tasks"],
                "coverage_parametric": coverage_table(points).to_dict(orient="records"),
            }
            continue
        spec = lad["spec"].updated(OFF)
        timing: dict = {}
        with timer(timing, "seconds"):
            cal = rung_out(
                spec,
                lad["data"],
                out=workdir() / name,
                by=lad["by"],
                cutoffs=lad["cutoffs"],
                progress=False,
                **family["sampler"],
            )
        cal.save(workdir() / name)
        out[name] = {
            "spec": lad["spec"].name,
            "by": lad["by"],
            "cutoffs": lad["cutoffs"],
            "seconds": timing["seconds"],
            "fits": _fit_records(cal),
            "coverage_parametric": cal.coverage().to_dict(orient="records"),
        }
    return out


def _fit_records(cal) -> list[dict]:
    """One record per fit of a rung-out: its selection, status, wall time and diagnostics."""
    fits = cal.fits[["selection", "status", "wall_time", "rhat_max", "divergences"]]
    return fits.assign(wall_time=fits["wall_time"].round(1)).to_dict(orient="records")


def _points(family: dict) -> pd.DataFrame:
    frames = []
    for name, lad in family["ladders"](shared_data_dir()).items():
        p = report.read_labelled(workdir() / name / "points.csv")
        backtest = name + ":" + p["selection"]
        frames.append(p.assign(ladder=lad.get("dataset", name), backtest=backtest))
    return pd.concat(frames, ignore_index=True)


def _summary(points: pd.DataFrame, pit: str) -> dict:
    per = {
        name: {f"coverage_{lv:g}": float(covered(g[pit], lv).mean()) for lv in LEVELS}
        | {"n": len(g)}
        for name, g in points.groupby("ladder")
    }
    pooled = {f"coverage_{lv:g}": float(covered(points[pit], lv).mean()) for lv in LEVELS}
    # pooled with equal weight per ladder (Chinchilla's IsoFLOP points would dominate otherwise)
    balanced = {
        f"coverage_{lv:g}": float(np.mean([v[f"coverage_{lv:g}"] for v in per.values()]))
        for lv in LEVELS
    }
    by_distance = coverage_table(points, pit=pit)
    keep = ["distance", "n", *[f"coverage_{lv:g}" for lv in LEVELS]]
    return {
        "per_ladder": per,
        "pooled": pooled | {"n": len(points)},
        "pooled_equal_weight": balanced,
        "by_distance": by_distance[keep].to_dict(orient="records"),
    }


#: Per family: its ladders, the ladders the shipped term is learned from, the sampler of the
#: rung-out fits (the spec's when empty) and the name of the results. Loss: one recipe across
#: sizes; the data-constrained runs are scored with the term but not learned from: their recipe
#: varies across the grid (at 12B tokens the 8.7B run ends at 3.14 nats, the 4.2B one at 2.85),
#: scatter that no term growing with distance from the fit can describe. Trajectories: a data
#: set (a ladder's ``dataset``: Pythia, Gemstones, OLMo ladder) is one "ladder" of the
#: meta-analysis whichever way it was cut, so that leaving one out leaves out all its backtests.
FAMILIES: dict[str, dict] = {
    "loss": {
        "ladders": loss_ladders,
        "learn_from": ("chinchilla_epoch", "gadre_c4", "gemstones_train", "olmo_ladder_c4"),
        "sampler": {},
        "results": "calibration",
        "title": "Loss family",
    },
    "downstream": {
        "ladders": downstream_ladders,
        "learn_from": None,  # all
        "sampler": TRAJECTORY_SAMPLER,
        "results": "calibration_downstream",
        "title": "Accuracy from loss",
    },
    "dynamics": {
        "ladders": trajectory_ladders,
        "learn_from": None,  # all
        "sampler": TRAJECTORY_SAMPLER,
        "results": "calibration_dynamics",
        "title": "Trajectories",
    },
}


def run_meta(family: dict) -> dict:
    everything = _points(family)
    learn = family["learn_from"]
    keep = everything["ladder"].isin(learn) if learn else np.ones(len(everything), bool)
    points = everything[keep].reset_index(drop=True)
    out: dict = {}
    # approximation check: the normal approximation with the term off reproduces the real PIT
    points["pit_approx_off"] = coverage_with_rate(points, None, group="backtest")
    out["approximation_check"] = {
        "real": _summary(points, "pit")["pooled"],
        "normal_approximation": _summary(points, "pit_approx_off")["pooled"],
    }
    with timer(out, "meta_fit_seconds"):
        full = fit_rate(points, dataset="ladder", group="backtest")
    out["term_all_ladders"] = full.predictive()
    out["rate_per_ladder"] = full.per_dataset().to_dict(orient="records")
    out["meta_diagnostics"] = _diagnostics(full.tree)
    lodo = np.full(len(points), np.nan)
    rates = {}
    for name in sorted(points["ladder"].unique()):
        others = points[points["ladder"] != name]
        term = fit_rate(others, dataset="ladder", group="backtest").predictive()
        rates[name] = term
        held = points["ladder"] == name
        lodo[held.to_numpy()] = coverage_with_rate(points[held], term, group="backtest")
    points["pit_lodo"] = lodo
    out["rate_leave_one_ladder_out"] = rates
    out["parametric"] = _summary(points, "pit")
    out["with_term_leave_one_ladder_out"] = _summary(points, "pit_lodo")
    others = everything[~keep]
    if len(others):
        others = others.assign(
            pit_term=coverage_with_rate(others, out["term_all_ladders"], group="backtest")
        )
        out["not_learned_from"] = {
            "parametric": _summary(others, "pit")["per_ladder"],
            "with_term_of_the_others": _summary(others, "pit_term")["per_ladder"],
        }
    fig = plot_calibration(
        points=points, pit="pit", title=f"{family['title']}, rung-out: parametric intervals"
    )
    save_figure(fig, RESULTS / f"{family['results']}_parametric.png")
    return out


def _diagnostics(tree) -> dict:
    return diagnose(tree, var_names=["mu", "omega", "log_tau", "power"]).to_dict()


def _ladder_names(family: dict) -> set[str]:
    ladders = family["ladders"](shared_data_dir())
    return {lad.get("dataset", name) for name, lad in ladders.items()}


def run_check(family: dict) -> dict:
    """The shipped specs' own prediction path on the saved rung-out fits (no refitting): with
    the shipped term (learned from every ladder) and with the term learned from the *other*
    ladders (the meta part's leave-one-out rates), next to the parametric intervals."""
    previous = RESULTS / f"{family['results']}.json"
    meta = json.loads(previous.read_text())["meta"]
    # a ladder the shipped term is not learned from is scored with it (all the others')
    lodo = meta["rate_leave_one_ladder_out"]
    lodo = {name: lodo.get(name, meta["term_all_ladders"]) for name in _ladder_names(family)}
    frames = []
    held_tasks = {}
    for name, lad in family["ladders"](shared_data_dir()).items():
        dataset = lad.get("dataset", name)
        if "tasks" in lad:  # no fit files kept: refit, predict with the other ladders' term
            held_tasks[name] = _task_check(lad, workdir() / name, lodo[dataset], family["sampler"])
            continue
        specs = {
            "pit": lad["spec"],
            "pit_lodo": lad["spec"].updated({"extrapolation": lodo[dataset]}),
        }
        folder = workdir() / name
        files = pd.read_csv(folder / "points.csv")["file"].unique()  # this rung-out's fits
        for path in sorted(folder / f for f in files):
            bt = Backtest.load(path)
            points = bt.table
            frame = pd.DataFrame(
                {
                    "ladder": dataset,
                    "selection": bt.train,
                    "truth": points["truth"],
                    "pit_parametric": points["pit"],
                }
            )
            grid = points[bt.fit.model.points(bt.fit.data).columns.drop("truth")]  # its grid
            for column, spec in specs.items():
                fit = Fit(spec, bt.fit.data, bt.fit.tree, bt.fit.seed)
                with warnings.catch_warnings():  # a held-out size is a new run on purpose
                    warnings.simplefilter("ignore", NewGroupWarning)
                    pred = fit.predict(grid)
                frame[column] = predictive_position(pred, points["truth"].to_numpy())["pit"]
                if column == "pit":
                    table = pred.table()
                    for col in ("distance", "median", "lower", "upper", "share_extrapolation"):
                        frame[col] = table[col].to_numpy()
            frames.append(frame)
    points = pd.concat(frames, ignore_index=True)
    fig = plot_calibration(
        points=points, pit="pit", title=f"{family['title']}, rung-out: shipped extrapolation error"
    )
    save_figure(fig, RESULTS / f"{family['results']}_shipped.png")
    out = _summary(points, "pit")
    out["parametric"] = _summary(points, "pit_parametric")
    out["leave_one_ladder_out"] = _summary(points, "pit_lodo")
    out["median_share_extrapolation_beyond_0.5_decades"] = float(
        points.loc[points["distance"] > 0.5, "share_extrapolation"].median()
    )
    out["task_holdouts"] = held_tasks
    return out


def _task_check(lad: dict, folder: Path, term: dict, sampler: dict) -> dict:
    """Held-out tasks updated with their first checkpoints, predicted with ``term`` (learned
    from the other data sets) on the real prediction path; the same fits as the rungs part."""
    spec = lad["spec"].updated({"extrapolation": term})
    table = transfer.task_holdout(
        spec, lad["data"], tasks=lad["tasks"], first_checkpoints=3, progressbar=False, **sampler
    )
    parametric = report.read_labelled(folder / "points.csv")  # the rungs part's, same fits
    covered_by = {
        "parametric": parametric["pit"].to_numpy(),
        "leave_one_ladder_out": table["updated_pit"].to_numpy(),
    }
    return {
        "n": len(table),
        "mae_points": float(100 * (table["updated_median"] - table["truth"]).abs().mean()),
        **{
            k: {f"coverage_{lv:g}": float(covered(pit, lv).mean()) for lv in LEVELS}
            for k, pit in covered_by.items()
        },
    }


def run_own(family: dict) -> dict:
    """Each ladder's own term, honestly: for every backtest of the rungs part (a fit on the runs
    up to a cut-off), rung-outs *within* its training runs (:func:`default_cutoffs` of them,
    term off) update the term learned from the other ladders (meta's leave-one-out;
    ``term_all_ladders`` for a ladder not learned from) into this ladder's
    (:func:`ladder_term`); the held-out points above the cut-off are scored with it
    (:func:`coverage_with_rate`), next to the other ladders' term alone. Nothing above the
    cut-off is used, so this is what a user with only the smaller runs could have done."""
    meta = json.loads((RESULTS / f"{family['results']}.json").read_text())["meta"]
    lodo, everyone = meta["rate_leave_one_ladder_out"], meta["term_all_ladders"]
    frames, terms = [], {}
    for name, lad in family["ladders"](shared_data_dir()).items():
        if "tasks" in lad:
            continue
        dataset = lad.get("dataset", name)
        prior = lodo.get(dataset, everyone)
        data = lad["data"] if isinstance(lad["data"], Observations) else load(lad["data"])
        outer = report.read_labelled(workdir() / name / "points.csv")
        spec = lad["spec"].updated(OFF)
        for cutoff, rows in outer.groupby("cutoff", sort=True):
            inner = data.select(f"{lad['by']} <= {cutoff!r}")
            try:
                cuts = default_cutoffs(spec, inner, by=lad["by"])
            except DataError:  # too few rungs below this cut-off to backtest within them
                cuts = []
            points = pd.DataFrame()
            if cuts:
                points = rung_out(
                    spec,
                    inner,
                    out=workdir() / name / f"within-{cutoff:.4g}",
                    by=lad["by"],
                    cutoffs=cuts,
                    progress=False,
                    **family["sampler"],
                ).points
            term = ladder_term(points, prior)
            beyond = int((points["distance"] >= MIN_TERM_DISTANCE).sum()) if len(points) else 0
            terms[f"{dataset}:{rows['selection'].iloc[0]}"] = {
                "within_cutoffs": cuts,
                "within_points_informing": beyond,
                "prior_tau_median": float(np.exp(prior["rate"]["mu"])),
                "own_tau_median": float(np.exp(term["rate"]["mu"])),
                "own_rate": term["rate"],
            }
            rows = rows.assign(ladder=dataset, backtest=name + ":" + rows["selection"])
            rows["pit_others"] = coverage_with_rate(rows, prior, group="backtest")
            rows["pit_own"] = coverage_with_rate(rows, term, group="backtest")
            frames.append(rows)
    points = pd.concat(frames, ignore_index=True)
    fig = plot_calibration(
        points=points, pit="pit_own", title=f"{family['title']}, rung-out: each ladder's own term"
    )
    save_figure(fig, RESULTS / f"{family['results']}_own.png")
    return {
        "terms": terms,
        "parametric": _summary(points, "pit"),
        "term_of_the_others": _summary(points, "pit_others"),
        "own_term": _summary(points, "pit_own"),
    }


#: The frontier noise model (``likelihood.Frontier``) in place of the Student-t.
FRONTIER = {"likelihood": {"kind": "frontier"}}


def run_frontier(family: dict) -> dict:
    """Every loss backtest refitted with the frontier likelihood and the shipped term: coverage
    and point error per ladder, beside the Student-t fits' (``check`` and the rungs' points)."""
    check = json.loads((RESULTS / f"{family['results']}.json").read_text())["check"]
    frames, fits = [], {}
    for name, lad in family["ladders"](shared_data_dir()).items():
        cal = rung_out(
            lad["spec"].updated(FRONTIER),
            lad["data"],
            out=workdir() / name / "frontier",
            by=lad["by"],
            cutoffs=lad["cutoffs"],
            progress=False,
            **family["sampler"],
        )
        fits[name] = _fit_records(cal)
        key = ["cutoff", "run", "tokens", "truth"]
        student = report.read_labelled(workdir() / name / "points.csv").sort_values(key)
        points = cal.points.sort_values(key).assign(ladder=lad.get("dataset", name))
        same = np.array_equal(points[key[-1]].to_numpy(), student[key[-1]].to_numpy())
        if not same:
            raise RuntimeError(f"{name}: the frontier and Student-t held-out points differ")
        points["rel_error_student_t"] = student["rel_error"].to_numpy()
        frames.append(points)
    points = pd.concat(frames, ignore_index=True)
    fig = plot_calibration(
        points=points, pit="pit", title=f"{family['title']}, rung-out: frontier likelihood"
    )
    save_figure(fig, RESULTS / f"{family['results']}_frontier.png")
    errors = {}
    for ladder, g in points.groupby("ladder"):
        errors[ladder] = {
            "median_rel_error_frontier": float(g["rel_error"].median()),
            "median_rel_error_student_t": float(g["rel_error_student_t"].median()),
            **{
                f"median_rel_error_{b}": float(g[f"baseline_{b}_rel_error"].median())
                for b in baselines.LOSS_BASELINES
            },
        }
    return {
        "fits": fits,
        "frontier": _summary(points, "pit"),
        "student_t_check": {k: check[k] for k in ("per_ladder", "pooled", "by_distance")},
        "point_error": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--family", choices=list(FAMILIES), default="loss")
    parser.add_argument("--parts", nargs="+", default=["rungs", "meta", "check", "own"])
    args = parser.parse_args()
    family = FAMILIES[args.family]
    runners = {
        "rungs": lambda _: run_rungs(family),
        "meta": lambda _: run_meta(family),
        "check": lambda _: run_check(family),
        "own": lambda _: run_own(family),
        "frontier": lambda _: run_frontier(family),
    }
    run_parts(family["results"], args.parts, runners)


if __name__ == "__main__":
    main()
