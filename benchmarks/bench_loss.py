"""Loss family on real data: the numbers for issue 2's closing note.

Run: ``.venv/bin/python benchmarks/bench_loss.py`` (writes ``benchmarks/results/loss.json``).

1. Gadre testbed, C4 eval loss: fit on runs with N < 1e9, predict the 1.4B runs present
   (relative error, coverage) next to ``curve_fit`` and Huber/L-BFGS point fits on the same
   split; predict the four absent large configurations with intervals.
2. A full over-training fit of the whole testbed (4 chains × 1000 draws): wall time,
   divergences, R-hat, ESS/s.
3. Chinchilla on Epoch's 240 points: the posterior of (E, A, B, α, β) next to Epoch's
   bootstrap intervals.
"""

from __future__ import annotations

from _common import ess_per_second, timer, write_results

from bayes_scaling import fit
from bayes_scaling.data import load
from bayes_scaling.data.gadre import HOLDOUT
from bayes_scaling.data.paths import shared_data_dir
from bayes_scaling.validate import backtest

ABSENT = HOLDOUT
EPOCH = {  # Besiroglu et al. (2024): estimate and 95% bootstrap interval
    "E": (1.817, 1.769, 1.871),
    "A": (482.0, 285.0, 744.0),
    "B": (2085.4, 1042.0, 5810.0),
    "alpha": (0.348, 0.317, 0.373),
    "beta": (0.366, 0.331, 0.415),
}


def gadre(root) -> dict:
    obs = load(root / "overtraining" / "raw" / "exp_data")
    out: dict = {}
    with timer(out, "backtest_seconds"):
        bt = backtest(
            "loss_overtraining",
            obs,
            train="params < 1e9",
            seed=1,
            draws=1000,
            tune=1000,
            chains=4,
            progressbar=False,
        )
    cols = [
        "run",
        "dataset",
        "truth",
        "median",
        "lower",
        "upper",
        "compute_decades",
        "rel_error",
        "covered",
        "baseline_curve_fit",
        "baseline_curve_fit_rel_error",
        "baseline_huber",
        "baseline_huber_rel_error",
    ]
    out["held_out_1p4B"] = bt.table[cols].to_dict(orient="records")
    out["metrics"] = bt.metrics
    out["diagnostics"] = bt.fit.diagnostics().to_dict()
    pred = bt.fit.predict(ABSENT.drop(columns="run")).table()
    pred.insert(0, "run", ABSENT["run"])
    out["absent_predictions_90"] = pred.to_dict(orient="records")
    out["absent_predictions_50"] = (
        bt.fit.predict(ABSENT.drop(columns="run"))
        .table(ci=0.5)
        .assign(run=ABSENT["run"])
        .to_dict(orient="records")
    )
    return out


def full_testbed(root) -> dict:
    obs = load(root / "overtraining" / "raw" / "exp_data")
    out: dict = {}
    with timer(out, "wall_seconds"):
        result = fit(
            "loss_overtraining", obs, seed=2, draws=1000, tune=1000, chains=4, progressbar=False
        )
    summary = result.summary()
    diag = result.diagnostics()
    sampling = float(result.tree["posterior"].attrs.get("sampling_time", out["wall_seconds"]))
    out.update(
        runs=int(result.model.table["run"].nunique()),
        sampling_seconds=round(sampling, 2),
        diagnostics=diag.to_dict(),
        min_ess_bulk_per_second=ess_per_second(summary, sampling),
        summary=summary.reset_index().to_dict(orient="records"),
    )
    return out


def chinchilla(root) -> dict:
    obs = load(root / "chinchilla" / "svg_extracted_data.csv")
    out: dict = {}
    with timer(out, "wall_seconds"):
        result = fit(
            "loss_chinchilla", obs, seed=3, draws=1000, tune=1000, chains=4, progressbar=False
        )
    s95 = result.summary(ci=0.95)
    rows = []
    for name, (est, lo, hi) in EPOCH.items():
        r = s95.loc[name]
        rows.append(
            {
                "parameter": name,
                "posterior_median": r["median"],
                "posterior_lower_95": r["lower"],
                "posterior_upper_95": r["upper"],
                "epoch_estimate": est,
                "epoch_lower_95": lo,
                "epoch_upper_95": hi,
                "overlap": bool(r["lower"] <= hi and lo <= r["upper"]),
            }
        )
    out.update(
        n_points=len(result.model.table),
        comparison=rows,
        diagnostics=result.diagnostics().to_dict(),
    )
    return out


def main() -> None:
    root = shared_data_dir()
    write_results(
        "loss",
        {
            "gadre_backtest": gadre(root),
            "full_testbed": full_testbed(root),
            "chinchilla": chinchilla(root),
        },
    )


if __name__ == "__main__":
    main()
