"""The main job on the embedded default: simulate a testbed, backtest, report, plot.

``bayes-scaling demo --out DIR`` (and ``make demo``) runs :func:`run_demo`: a Gadre-style
over-training testbed is simulated from the law with the paper's Table 6 coefficients, the
``loss_overtraining`` spec is fitted on the runs below 1e9 parameters, and the 1.4B runs are
predicted and scored against the truth, next to the ``curve_fit`` and Huber baselines.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from bayes_scaling import report
from bayes_scaling.atomic import write_text
from bayes_scaling.constants import CI_PROB
from bayes_scaling.data.simulate import GADRE_SIZES, simulate_overtraining
from bayes_scaling.plots import loss_curves, predicted_vs_true, save_figure
from bayes_scaling.report import interval_label
from bayes_scaling.validate import backtest

LARGE = 1.44e9
TRAIN = "params < 1e9"


def run_demo(
    out: Path,
    *,
    seed: int = 0,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    ci: float = CI_PROB,
) -> dict[str, Path]:
    """Run the demo, print its report and return the files written."""
    start = time.perf_counter()
    sim = simulate_overtraining(sizes=(*GADRE_SIZES, LARGE), seed=seed)
    data = sim.observations
    print(f"Simulated {data.frame['run'].nunique()} runs on 3 datasets (truth: Gadre Table 6).")
    bt = backtest(
        "loss_overtraining",
        data,
        train=TRAIN,
        seed=seed,
        ci=ci,
        draws=draws,
        tune=tune,
        chains=chains,
    )
    fit = bt.fit
    summary = fit.summary(ci=ci)
    print(f"\nPosterior ({interval_label(ci=ci)}), fitted on runs with {TRAIN}:")
    print(report.format_table(summary[["mean", "median", "lower", "upper", "r_hat"]]))
    print("\nHeadline results:")
    for name in ("eta", "M_star"):
        rows = summary[summary.index.str.startswith(f"{name}[")]
        for sentence in report.sentences(rows):
            print(" -", sentence)
    truth = sim.truth["params"]
    inside = [
        d
        for d, p in truth.items()
        if summary.loc[f"eta[{d}]", "lower"] <= p["eta"] <= summary.loc[f"eta[{d}]", "upper"]
    ]
    print(
        f" - The true exponent lies inside the {interval_label(ci=ci)} for {len(inside)} of "
        f"{len(truth)} datasets."
    )
    m = bt.metrics
    print(
        f" - Held-out 1.4B runs ({m['n_test']}, up to {m['max_distance']:.2f} "
        f"decades beyond the fit): {m['coverage']:.0%} inside the {interval_label(ci=ci)}, median "
        f"relative error {m['median_rel_error']:.2%} (curve_fit "
        f"{m['baseline_curve_fit_median_rel_error']:.2%}, Huber "
        f"{m['baseline_huber_median_rel_error']:.2%})."
    )
    print(" - " + fit.diagnostics().verdict)

    out.mkdir(parents=True, exist_ok=True)
    files = {
        "fit": bt.save(out / "fit.nc"),
        "summary": write_text(out / "summary.csv", report.format_table(summary, fmt="csv")),
        "backtest": write_text(
            out / "backtest.csv", report.format_table(bt.table, fmt="csv", index=False)
        ),
        "loss_curves": save_figure(
            loss_curves(fit=fit, ci=ci, held_out=data.select(f"not ({TRAIN})")),
            out / "loss_vs_compute.png",
        ),
        "predicted_vs_true": save_figure(
            predicted_vs_true(table=bt.table, ci=ci), out / "backtest_predicted_vs_true.png"
        ),
    }
    print(f"\nWrote {', '.join(str(p) for p in files.values())}")
    print(f"Demo finished in {time.perf_counter() - start:.0f} s.", file=sys.stderr)
    return files
