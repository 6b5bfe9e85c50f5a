"""Rung-out calibration: fit below each rung of a ladder, predict every run above it.

:func:`rung_out` runs one backtest per cut-off of the ladder (``params``, ``flops`` or
``tokens``) as a Dask sweep — resumable, one fit file per cut-off in ``out`` — and gathers
every held-out point with its distance from the fit (decades, :mod:`bayes_scaling.discrepancy`)
and where its truth fell in the predictive distribution (``pit``). :class:`Calibration` turns
that into coverage at several nominal levels as a function of distance, and a plot.

The extrapolation error's rate is learned from such points (:func:`fit_rate`): the residuals
``link_truth - link_loc`` of each backtest are modelled as multivariate normal with the
parametric spread ``link_scale`` plus the shared discrepancy ``τ_k · d^p · z``, with
``log τ_k`` partially pooled over data sets ``k`` and the growth ``p`` shared. The predictive
``τ`` of a new data set and ``p`` are the informed default the specs ship (``[extrapolation]
rate, power``). :func:`coverage_with_rate` scores such a term on points it was not learned
from (leave one data set out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm

from bayes_scaling import cluster, inference, laws, report
from bayes_scaling.atomic import write_text
from bayes_scaling.data import load
from bayes_scaling.data.schema import DataError, Observations
from bayes_scaling.discrepancy import ExtrapolationError, term_toml
from bayes_scaling.models.base import model_for
from bayes_scaling.plots.calibration import plot_calibration
from bayes_scaling.spec import ModelSpec, SamplerConfig, load_spec
from bayes_scaling.validate import DISTANCE_BINS, LEVELS, Backtest, coverage_table

#: Held-out points nearer their fit than this (decades) do not inform a ladder's own term.
MIN_TERM_DISTANCE = 0.1
#: Ladder columns a rung-out can cut on.
BY = ("params", "flops", "tokens")


@dataclass
class Calibration:
    """The held-out points of a rung-out and the fits that predicted them.

    ``points``: one row per (cut-off, held-out point): ``cutoff``, ``selection`` and ``file``
    (the backtest and its fit file in the sweep folder), the family's point columns,
    ``truth``, ``median, lower, upper``, ``distance``, ``pit``, ``link_*`` (see
    :func:`bayes_scaling.validate.predictive_position`), errors and baselines. ``fits``: the
    sweep's :func:`~bayes_scaling.sweep_files.collect` table (failed cut-offs included).
    """

    points: pd.DataFrame
    fits: pd.DataFrame
    spec: str
    by: str

    def coverage(
        self, *, levels: Sequence[float] = LEVELS, bins: Sequence[float] = DISTANCE_BINS
    ) -> pd.DataFrame:
        """See :func:`coverage_table`."""
        return coverage_table(self.points, levels=levels, bins=bins)

    def save(self, out: str | Path) -> list[Path]:
        """``points.csv`` and ``coverage.csv`` in ``out`` (atomically)."""
        out = Path(out)
        paths = [out / "points.csv", out / "coverage.csv"]
        write_text(paths[0], report.format_table(self.points, fmt="csv", index=False))
        write_text(paths[1], self.coverage().to_csv(index=False))
        return paths

    def own_term(self, spec: ModelSpec) -> LadderTerm | None:
        """``spec``'s extrapolation error updated by these rung-outs (:func:`ladder_term`):
        the ladder's own; ``None`` when the spec's rate is not a LogNormal prior."""
        error = spec.extrapolation_error
        if error.rate is None or error.rate.dist != "LogNormal":
            return None
        prior = spec.section("extrapolation")
        table = ladder_term(self.points, prior, group="selection")
        beyond = int((self.points["distance"] >= MIN_TERM_DISTANCE).sum())
        return LadderTerm(table, prior, beyond, spec.name)

    def plot(self, *, levels: Sequence[float] = LEVELS):
        """Coverage against nominal level per distance bin, and interval width by distance."""
        return plot_calibration(
            points=self.points, levels=levels, title=f"{self.spec} by {self.by}"
        )


@dataclass(frozen=True)
class LadderTerm:
    """A ladder's own extrapolation error (:meth:`Calibration.own_term`): ``table`` the
    ``[extrapolation]`` table, ``prior`` the spec's it updates, ``points`` the held-out points
    beyond their fit that informed it."""

    table: dict[str, Any]
    prior: dict[str, Any]
    points: int
    spec: str

    @property
    def tau(self) -> tuple[float, float]:
        """``τ`` (the error's sd one decade out, link scale): this ladder's and the prior's
        medians."""
        return float(np.exp(self.table["rate"]["mu"])), float(np.exp(self.prior["rate"]["mu"]))

    @property
    def sentence(self) -> str:
        own, prior = self.tau
        return (
            f"This ladder's own extrapolation error: τ ≈ {own:.3g} one decade out on the link "
            f"scale ({self.spec}'s: {prior:.3g}), from {self.points} held-out points at least "
            f"{MIN_TERM_DISTANCE:g} decades beyond their fit; predict with it through predict "
            "--extrapolation extrapolation.toml."
        )

    @property
    def toml(self) -> str:
        return term_toml(
            self.table,
            note=f"{self.sentence}\nbayes_scaling.calibrate.ladder_term: {self.spec}'s "
            "[extrapolation] updated by this ladder's rung-out residuals.",
        )


def default_cutoffs(
    spec: ModelSpec, data: Observations, *, by: str, min_rungs: int = 3, max_cutoffs: int = 4
) -> list[float]:
    """Cut-offs between the rungs of ``by`` among the spec's response rows.

    A ladder with few distinct values (sizes) is cut after each rung from the ``min_rungs``-th
    to the last but one; a continuous one (compute of an IsoFLOP sweep) at ``max_cutoffs``
    log-spaced values between its median and its largest value but one.
    """
    if by not in BY:
        raise DataError(f"--by must be one of {BY}, got {by!r}")
    points = model_for(spec, data).points(data)
    n, d = points["params"].to_numpy(float), points["tokens"].to_numpy(float)
    rungs = np.unique({"params": n, "tokens": d, "flops": laws.flops(n, d)}[by])
    if len(rungs) <= 12:
        cuts = rungs[min_rungs - 1 : -1]
    else:
        lo, hi = np.log10(np.median(rungs)), np.log10(rungs[-2])
        cuts = 10 ** np.linspace(lo, hi, max_cutoffs)
    if not len(cuts):
        raise DataError(
            f"{data.source}: {len(rungs)} distinct {by} value(s): no cut-off leaves {min_rungs} "
            "rungs to fit and one to predict"
        )
    return [float(c) for c in cuts]


def rung_out(
    spec: ModelSpec | str | Path,
    data: Observations | str | Path,
    *,
    out: str | Path,
    by: str = "params",
    cutoffs: Sequence[float] | None = None,
    data_options: dict[str, Any] | None = None,
    seed: int = 0,
    client: Any = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool | None = None,
    **sampler: Any,
) -> Calibration:
    """Fit below each cut-off of ``by``, predict every point above it, on Dask.

    Parameters
    ----------
    spec
        A spec, a spec file or a shipped spec's name.
    data
        A data path (any format :func:`bayes_scaling.data.load` reads, with ``data_options``)
        or observations (written to ``out/data.csv`` so the folder is self-contained).
    out
        The sweep folder; rerunning resumes (finished cut-offs are not refitted).
    by, cutoffs
        The ladder column and its cut-offs (default :func:`default_cutoffs`).
    sampler
        Overrides of the spec's ``[sampler]``: any key of
        :class:`~bayes_scaling.spec.SamplerConfig`.
    """
    spec = load_spec(spec)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(data, Observations):
        observations = data
        path = out / "data.csv"
        write_text(path, data.frame.to_csv(index=False))
        data_options = {}
    else:
        path = Path(data).resolve()
        observations = load(path, **(data_options or {}))
    cuts = list(cutoffs) if cutoffs is not None else default_cutoffs(spec, observations, by=by)
    description = {
        "name": f"calibrate-{spec.name}-{by}",
        "seed": seed,
        "specs": [spec.to_dict()],
        "data": {"ladder": {"path": str(path), "options": dict(data_options or {})}},
        "backtest": [{"column": by, "cutoffs": cuts}],
    }
    if sampler:
        description["sampler"] = sampler
    fits = cluster.sweep(
        description,
        out=out,
        client=client,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
    )
    frames = []
    for _, row in fits.iterrows():
        if row["status"] not in ("ok", "not converged") or not isinstance(row["file"], str):
            continue
        table = Backtest.load(out / row["file"]).table
        cutoff = float(row["selection"].split("<=", 1)[1])
        frames.append(table.assign(cutoff=cutoff, selection=row["selection"], file=row["file"]))
    if not frames:
        raise DataError(f"{out}: no cut-off was fitted; see the .error.json files there")
    points = pd.concat(frames, ignore_index=True)
    return Calibration(points, fits, spec.name, by)


# --- learning the extrapolation error's rate ---------------------------------------------------
@dataclass
class RateFit:
    """The posterior of the rate meta-analysis: per data set and for a new one."""

    tree: Any
    datasets: list[str]

    def predictive(self) -> dict[str, Any]:
        """The ``[extrapolation]`` table of a new data set: ``rate``, ``τ`` as a LogNormal
        prior (moments of ``log τ_new``), and ``power``, the posterior median of ``p``."""
        post = self.tree["posterior"]
        log_new = post["log_tau_new"].to_numpy().ravel()
        rate = {"dist": "LogNormal", "mu": float(log_new.mean()), "sigma": float(log_new.std())}
        return {"rate": rate, "power": float(np.median(post["power"].to_numpy()))}

    def per_dataset(self) -> pd.DataFrame:
        """Median and 90% interval of ``τ`` per data set."""
        tau = np.exp(self.tree["posterior"]["log_tau"].to_numpy())
        tau = tau.reshape(-1, tau.shape[-1])
        q = np.quantile(tau, [0.05, 0.5, 0.95], axis=0)
        return pd.DataFrame(
            {"dataset": self.datasets, "tau_median": q[1], "tau_lower": q[0], "tau_upper": q[2]}
        )


@dataclass(frozen=True)
class _Residuals:
    """Rung-out residuals ``r = link_truth − link_loc`` grouped by backtest, reduced to what
    their log density needs. Per backtest, Σ = diag(s²) + τ² g gᵀ (g = d^p) is a rank-one
    update: its log density needs only A = Σ g²/s², B = Σ r g/s², Q = Σ r²/s² and
    log det diag(s²) (determinant lemma and Sherman-Morrison), sums over each backtest's
    points. ``member`` (backtests × points) says which points a backtest holds; ``keys`` names
    the backtests."""

    member: np.ndarray
    keys: list[str]
    r: np.ndarray
    d: np.ndarray
    s2: np.ndarray
    q: np.ndarray
    logdet: np.ndarray

    @classmethod
    def of(cls, points: pd.DataFrame, columns: Sequence[str]) -> _Residuals:
        missing = [c for c in ("link_truth", "link_loc", "link_scale", "distance", *columns)
                   if c not in points.columns]  # fmt: skip
        if missing:
            raise DataError(f"rung-out points lack the column(s) {missing}")
        keys = points[list(columns)].astype(str).agg("\x1f".join, axis=1)
        codes, uniques = pd.factorize(keys, sort=True)
        member = np.zeros((len(uniques), len(points)))
        member[codes, np.arange(len(points))] = 1.0
        r = (points["link_truth"] - points["link_loc"]).to_numpy(float)
        s2 = points["link_scale"].to_numpy(float) ** 2
        return cls(
            member, list(uniques), r, points["distance"].to_numpy(float), s2,
            member @ (r * r / s2), member @ np.log(2 * np.pi * s2),
        )  # fmt: skip

    def log_density(self, tau: np.ndarray, power: float) -> np.ndarray:
        """The residuals' log density at each ``τ`` of ``tau`` (one ``τ`` for every backtest)."""
        d = np.where(self.d > 0, self.d, 1.0)
        g = np.where(self.d > 0, d**power, 0.0)
        a = self.member @ (g * g / self.s2)
        b = self.member @ (self.r * g / self.s2)
        c = np.asarray(tau, float)[:, None] ** 2
        per = self.logdet + np.log1p(c * a) + self.q - c * b**2 / (1 + c * a)
        return -0.5 * per.sum(axis=1)


def fit_rate(
    points: pd.DataFrame, *, dataset: str = "ladder", group: str = "selection", seed: int = 0
) -> RateFit:
    """Partially pooled ``τ`` per data set from rung-out residuals (see the module docstring).

    ``points`` needs ``link_truth, link_loc, link_scale, distance`` from backtests run with
    the extrapolation error off, a ``dataset`` column naming the data set and a ``group``
    column naming the backtest (points of one backtest share one ``z``).
    """
    names = sorted(points[dataset].unique())
    res = _Residuals.of(points, [dataset, group])
    member, r, d, s2, q, logdet = res.member, res.r, res.d, res.s2, res.q, res.logdet
    k = np.array([names.index(u.split("\x1f")[0]) for u in res.keys])
    with pm.Model(coords={"dataset": names}) as model:
        mu = pm.Normal("mu", np.log(0.02), 1.5)
        omega = pm.HalfNormal("omega", 1.0)
        z = pm.Normal("z", 0.0, 1.0, dims="dataset")
        power = pm.LogNormal("power", 0.0, 0.5)
        log_tau = pm.Deterministic("log_tau", mu + omega * z, dims="dataset")
        pm.Deterministic("log_tau_new", mu + omega * pm.Normal("z_new", 0.0, 1.0))
        g = pm.math.switch(d > 0, pm.math.exp(power * np.log(np.where(d > 0, d, 1.0))), 0.0)
        a = pm.math.dot(member, g * g / s2)
        b = pm.math.dot(member, r * g / s2)
        c = pm.math.exp(2 * log_tau)[k]
        pm.Potential(
            "residuals",
            -0.5 * pm.math.sum(logdet + pm.math.log1p(c * a) + q - c * b**2 / (1 + c * a)),
        )
    tree = inference.sample(model, SamplerConfig(target_accept=0.95), seed=seed, progressbar=False)
    return RateFit(tree, names)


def ladder_term(
    points: pd.DataFrame,
    prior: dict[str, Any],
    *,
    group: str = "selection",
    min_distance: float = MIN_TERM_DISTANCE,
    grid: int = 4001,
) -> dict[str, Any]:
    """The extrapolation error of *one* ladder: the population's term ``prior`` (an
    ``[extrapolation]`` table with a LogNormal ``rate``, as the specs ship and
    :meth:`RateFit.predictive` gives) updated by the ladder's own rung-out residuals.

    ``points``: held-out points of backtests *within* the data a fit will use (rung-outs of
    its own lower rungs, :func:`rung_out`), with ``link_*`` and ``distance`` columns and a
    ``group`` column naming each backtest. The posterior of ``log τ`` (the prior's Normal,
    times the residuals' density of :func:`fit_rate` at the prior's ``power``) is computed on a
    grid and returned as a LogNormal ``rate`` with its moments; ``power`` and ``checked`` are
    the prior's. Only points at least ``min_distance`` decades beyond their fit inform
    ``τ``: closer, the term is at most ``τ·min_distance^p``, so a miss there says that the
    run-to-run noise is off, not the extrapolation (on Gemstones, whose lower rungs are nine
    sizes within 0.2 decades, such points made ``τ`` twenty times the population's). With no
    such point the result is the prior. A ladder whose own smaller rungs already extrapolate
    badly gets a larger ``τ``; one whose rungs extrapolate well a smaller one.
    """
    term = ExtrapolationError.from_table(prior, where="ladder_term prior")
    if term.rate is None or term.rate.dist != "LogNormal":
        raise DataError(
            f"ladder_term: the prior's rate must be a LogNormal table, got {prior.get('rate')!r}"
        )
    mu, sigma = float(term.rate.kwargs["mu"]), float(term.rate.kwargs["sigma"])
    log_tau = np.linspace(mu - 6 * sigma, max(mu + 6 * sigma, np.log(10.0)), grid)
    log_post = -0.5 * ((log_tau - mu) / sigma) ** 2
    points = points[points["distance"] >= min_distance] if len(points) else points
    if len(points):
        log_post = log_post + _Residuals.of(points, [group]).log_density(
            np.exp(log_tau), term.power
        )
    w = np.exp(log_post - log_post.max())
    w /= w.sum()
    mean = float(w @ log_tau)
    sd = float(np.sqrt(w @ (log_tau - mean) ** 2))
    out = {"rate": {"dist": "LogNormal", "mu": mean, "sigma": sd}, "power": term.power}
    return out | {"checked": term.checked}


def coverage_with_rate(
    points: pd.DataFrame,
    term: dict[str, Any] | None,
    *,
    group: str = "selection",
    draws: int = 4000,
    seed: int = 0,
) -> np.ndarray:
    """The ``pit`` of each point under a normal approximation of its parametric predictive
    plus the extrapolation error ``term`` (an ``[extrapolation]`` table, as
    :meth:`RateFit.predictive` gives; ``None``: off), drawn by
    :meth:`~bayes_scaling.discrepancy.ExtrapolationError.draw` once per ``group`` (a
    backtest), as :meth:`bayes_scaling.models.base.Fit.predict` draws it once per prediction.
    """
    error = ExtrapolationError.from_table(term or {}, where="coverage_with_rate term")
    rng = np.random.default_rng(seed)
    pit = np.empty(len(points))
    for _, rows in points.groupby(group, sort=False):
        idx = points.index.get_indexer(rows.index)
        loc, scale = rows["link_loc"].to_numpy(), rows["link_scale"].to_numpy()
        d = rows["distance"].to_numpy()
        y = loc + scale * rng.standard_normal((draws, len(rows))) + error.draw(d, draws, rng)
        pit[idx] = (y < rows["link_truth"].to_numpy()[None, :]).mean(axis=0)
    return pit
