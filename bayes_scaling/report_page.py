"""One self-contained HTML page about a fit: what was fitted, whether it converged, the
parameters with their interval named, the family's figure, predictions with their distance, and
a backtest when one is given. Images are embedded, so the page can be mailed or archived.

Reports never sample: every number comes from the fit file (and the optional tables).
"""

from __future__ import annotations

import base64
import html
import io
from datetime import UTC, datetime
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from bayes_scaling import report
from bayes_scaling.atomic import write_text
from bayes_scaling.constants import CALIBRATED_DISTANCE, CI_PROB
from bayes_scaling.data.schema import DataError
from bayes_scaling.fitfile import versions
from bayes_scaling.models.base import Fit
from bayes_scaling.models.prediction import Prediction
from bayes_scaling.plots.common import predicted_vs_true
from bayes_scaling.plots.figures import plot

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
.ok { color: #176317; font-weight: bold; } .bad { color: #a11; font-weight: bold; }
.warn { background: #fff4d6; border-left: 4px solid #e0a800; padding: 0.4em 0.8em; }
img { max-width: 100%; border: 1px solid #eee; } .scroll { overflow-x: auto; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 12px; }
dt { font-weight: bold; }
"""


def _figure_html(fig: Figure, alt: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table_html(table: pd.DataFrame, *, index: bool = True) -> str:
    body = table.to_html(index=index, float_format=lambda x: f"{x:.4g}", border=0, na_rep="")
    return f'<div class="scroll">{body}</div>'


def _what_was_fitted(fit: Fit) -> str:
    model = fit.model
    table = getattr(model, "table", fit.data.frame)
    spec = fit.spec
    items = {
        "spec": f"{spec.name} ({spec.family}, {spec.form or 'default form'}) from {spec.source}",
        "description": spec.raw.get("description", ""),
        "data": f"{fit.data.source}: {len(fit.data.frame)} rows read, {len(table)} fitted",
        "runs": str(table["run"].nunique()) if "run" in table.columns else "",
        "tasks": ", ".join(map(str, sorted(table["task"].unique())))
        if "task" in table.columns
        else "",
        "seed": str(fit.seed),
        "fit hash": fit.hash,
    }
    rows = "".join(
        f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in items.items() if v
    )
    return f"<dl>{rows}</dl>"


def _verdict(fit: Fit) -> str:
    d = fit.diagnostics()
    css = "ok" if d.ok else "bad"
    return f'<p class="{css}">{html.escape(d.verdict)}</p>'


def _predictions(prediction: Prediction, ci: float) -> str:
    table = prediction.table(ci=ci)
    words = report.describe_predictions(table)
    checked = table.attrs.get("checked", CALIBRATED_DISTANCE)
    far = table.get("distance", pd.Series(0.0, table.index)) > checked
    warn = ""
    if far.any():
        warn = (
            f'<p class="warn">{int(far.sum())} of {len(table)} points lie more than '
            f"{checked:g} decades beyond the fitted runs, farther than the "
            "extrapolation error was checked on held-out runs: treat their intervals as a "
            "floor.</p>"
        )
    items = "".join(f"<li>{html.escape(s)}</li>" for s in words[:40])
    more = f"<p>… and {len(words) - 40} more rows in the table.</p>" if len(words) > 40 else ""
    return warn + _table_html(report.labelled(table), index=False) + f"<ul>{items}</ul>{more}"


def _backtest(table: pd.DataFrame, ci: float) -> str:
    ci = table.attrs.get("ci_prob", ci)  # the probability its intervals were computed at
    needed = {"truth", "median", "lower", "upper"}
    if not needed <= set(table.columns):
        missing = sorted(needed - set(table.columns))
        raise DataError(f"backtest table lacks column(s) {missing}")
    table = table.copy()
    if "covered" not in table.columns:
        table["covered"] = (table["lower"] <= table["truth"]) & (table["truth"] <= table["upper"])
    error = (table["median"] - table["truth"]).abs()
    facts = pd.DataFrame(
        {
            "points": [len(table)],
            f"coverage of the {report.interval_label(ci=ci)}": [table["covered"].mean()],
            "mean absolute error": [error.mean()],
        }
    )
    figure = _figure_html(predicted_vs_true(table=table, ci=ci), "backtest: predicted vs truth")
    return _table_html(facts, index=False) + figure


def _ranks(fit: Fit, ci: float) -> str:
    if fit.posterior.sizes["chain"] < 2:
        return "<p>One chain: no rank plot (ranks compare chains).</p>"
    return _figure_html(plot(fit=fit, kind="ranks", ci=ci), "rank plots of the chains")


def render(
    fit: Fit,
    *,
    prediction: Prediction | None = None,
    backtest: pd.DataFrame | None = None,
    ci: float = CI_PROB,
) -> str:
    """The report page as an HTML string (see :func:`write_report`)."""
    summary = fit.summary(ci=ci)
    params = report.labelled(summary)
    sentences = "".join(f"<li>{html.escape(s)}</li>" for s in report.sentences(summary))
    title = f"bayes_scaling report: {fit.spec.name}"
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by bayes-scaling "
        f"{html.escape(versions().get('bayes-scaling', '?'))}. Intervals are equal-tailed "
        f"{report.interval_label(ci=ci)}s (column names <code>eti{100 * ci:g}_lb/ub</code>).</p>",
        "<h2>What was fitted</h2>",
        _what_was_fitted(fit),
        "<h2>Verdict</h2>",
        _verdict(fit),
        _ranks(fit, ci),
        "<h2>Parameters</h2>",
        _table_html(params),
        f"<ul>{sentences}</ul>",
        "<h2>The fit</h2>",
        _figure_html(plot(fit=fit, ci=ci), f"{fit.spec.family} fit"),
    ]
    if prediction is not None:
        parts += ["<h2>Predictions</h2>", _predictions(prediction, ci)]
    if backtest is not None:
        parts += ["<h2>Backtest on held-out runs</h2>", _backtest(backtest, ci)]
    body = "\n".join(parts)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>\n{body}\n</body></html>\n"
    )


def write_report(
    fit: Fit,
    path: str | Path,
    *,
    prediction: Prediction | None = None,
    backtest: pd.DataFrame | None = None,
    ci: float = CI_PROB,
) -> Path:
    """Write the report page for ``fit`` to ``path`` (atomically).

    Parameters
    ----------
    fit
        The fit to report.
    path
        The ``.html`` file to write.
    prediction
        Predictions to tabulate, with their extrapolation distance and a warning where it
        exceeds the spec's ``[extrapolation] checked`` distance.
    backtest
        A backtest table (``bayes-scaling backtest --out``): coverage, error and a
        predicted-against-truth figure.
    ci
        Probability of every interval on the page.

    Returns
    -------
    Path
        ``path``.
    """
    page = render(fit, prediction=prediction, backtest=backtest, ci=ci)
    write_text(Path(path), page)
    return Path(path)
