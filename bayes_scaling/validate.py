"""Backtests: fit on a training selection, predict the held-out points, score both the
posterior and the point-fit baselines on the same split. Simulation-based calibration (SBC):
refit datasets drawn from the model's own prior predictive and check the ranks of the truth."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytensor
import xarray as xr
from scipy import stats

from bayes_scaling import fitfile, inference, laws
from bayes_scaling.constants import CI_PROB
from bayes_scaling.data.schema import DataError, Observations
from bayes_scaling.hierarchy import stacked
from bayes_scaling.models.base import Fit, model_for
from bayes_scaling.models.prediction import Prediction
from bayes_scaling.spec import ModelSpec, load_spec

METRICS_ATTR = "bayes_scaling_backtest_metrics"
#: Nominal levels every calibration table reports.
LEVELS: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95)
#: Distance bins (decades beyond the fitted range) of the coverage tables.
DISTANCE_BINS: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0, np.inf)


@dataclass
class Backtest:
    """A fit on ``train`` and its scored predictions for the held-out points.

    ``table`` has one row per held-out point: the family's point columns, ``truth``,
    ``mean, median, lower, upper`` (new-run interval at ``ci``, in ``table.attrs``),
    ``mean_lower, mean_upper``, the distance columns (``distance`` …), ``abs_error``,
    ``rel_error``, ``covered`` and, per baseline, ``baseline_<name>`` with its
    ``baseline_<name>_rel_error``.
    """

    fit: Fit
    table: pd.DataFrame
    train: str
    test: str
    ci: float = CI_PROB

    def __post_init__(self) -> None:
        self.table.attrs["ci_prob"] = self.ci

    @property
    def metrics(self) -> dict[str, Any]:
        return backtest_metrics(self.table)

    def save(self, path: str | Path) -> Path:
        """The fit file plus a ``backtest`` group and the metrics as a JSON attribute."""
        attrs = {
            METRICS_ATTR: json.dumps({**self.metrics, "ci": self.ci}),
            "bayes_scaling_backtest_train": self.train,
            "bayes_scaling_backtest_test": self.test,
        }
        groups = {"backtest": fitfile.frame_to_dataset(self.table)}
        return self.fit.save(path, groups=groups, attrs=attrs)

    @classmethod
    def load(cls, path: str | Path) -> Backtest:
        tree = fitfile.read(path)
        if "backtest" not in tree.children:
            raise fitfile.FitFileError(f"{path}: a fit file without a backtest group")
        table = fitfile.dataset_to_frame(tree["backtest"].to_dataset())
        a = tree.attrs
        ci = json.loads(a[METRICS_ATTR]).get("ci", CI_PROB)
        fit = Fit.from_tree(tree, source=str(path))
        return cls(
            fit, table, a["bayes_scaling_backtest_train"], a["bayes_scaling_backtest_test"], ci
        )


def backtest_metrics(table: pd.DataFrame) -> dict[str, Any]:
    """Coverage and errors of the posterior and of each baseline."""
    out: dict[str, Any] = {
        "n_test": len(table),
        "coverage": float(table["covered"].mean()),
        "median_rel_error": float(table["rel_error"].median()),
        "mean_rel_error": float(table["rel_error"].mean()),
        "mean_abs_error": float(table["abs_error"].mean()),
        "max_distance": float(table["distance"].max()),
    }
    for col in table.columns:
        if col.startswith("baseline_") and col.endswith("_rel_error"):
            name = col.removesuffix("_rel_error")
            out[f"{name}_median_rel_error"] = float(table[col].median())
            out[f"{name}_mean_abs_error"] = float((table[name] - table["truth"]).abs().mean())
    return out


def backtest(
    spec: ModelSpec | str | Path,
    data: Observations,
    *,
    train: str,
    test: str | None = None,
    seed: int = 0,
    baselines: bool = True,
    ci: float = CI_PROB,
    **sampler: Any,
) -> Backtest:
    """Fit on the rows matching ``train``; predict and score the rows matching ``test``.

    Parameters
    ----------
    spec
        A spec, a spec file or a shipped spec's name.
    data
        All observations; ``train`` and ``test`` are pandas queries on them (``flops`` and
        ``multiplier`` may be used). ``test`` defaults to ``not (train)``.
    baselines
        Also fit the family's point-fit baselines on the same training rows.
    sampler
        Overrides of the spec's ``[sampler]`` (``draws``, ``tune``, ``chains`` …).
    """
    spec = load_spec(spec)
    test = test or f"not ({train})"
    train_obs = data.select(train)
    test_obs = data.select(test)
    model = model_for(spec, train_obs)
    points = model.points(test_obs)
    if points.empty:
        raise DataError(f"{data.source}: the test selection {test!r} has no response rows")
    fit = model.fit(seed=seed, **sampler)
    grid = points.drop(columns=["truth"])
    prediction = fit.predict(grid)
    pred = prediction.table(ci=ci)
    table = points.copy()
    for col in pred.columns.difference(points.columns, sort=False):
        table[col] = pred[col].to_numpy()
    for col, values in predictive_position(prediction, table["truth"].to_numpy()).items():
        table[col] = values
    table["abs_error"] = (table["median"] - table["truth"]).abs()
    table["rel_error"] = table["abs_error"] / table["truth"].abs()
    table["covered"] = (table["lower"] <= table["truth"]) & (table["truth"] <= table["upper"])
    if baselines:
        for name, values in model.baseline_predictions(train_obs, grid).items():
            table[f"baseline_{name}"] = values
            table[f"baseline_{name}_rel_error"] = (
                np.abs(values - table["truth"]) / table["truth"].abs()
            )
    return Backtest(fit, table, train, test, ci)


def covered(pit: np.ndarray, level: float) -> np.ndarray:
    """Whether the central ``level`` interval covers a truth at ``pit``."""
    return np.abs(np.asarray(pit, float) - 0.5) <= level / 2


def coverage_table(
    points: pd.DataFrame,
    *,
    levels: Sequence[float] = LEVELS,
    bins: Sequence[float] = DISTANCE_BINS,
    pit: str = "pit",
) -> pd.DataFrame:
    """Empirical coverage at each nominal level, by distance bin and over all points.

    Returns one row per bin (``distance`` as ``[lo, hi)``, plus ``all``) with ``n``,
    ``coverage_<level>`` columns, ``median_rel_error`` and each baseline's median relative
    error where the points carry them.
    """
    edges = np.asarray(bins, float)
    labels = [f"[{lo:g}, {hi:g})" for lo, hi in itertools.pairwise(edges)]
    which = pd.cut(points["distance"], edges, right=False, labels=labels)
    errors = [c for c in points.columns if c.endswith("rel_error")]
    rows = []
    for label, group in [*points.groupby(which, observed=True), ("all", points)]:
        row: dict[str, Any] = {"distance": label, "n": len(group)}
        for level in levels:
            row[f"coverage_{level:g}"] = float(covered(group[pit], level).mean())
        for col in errors:
            row[f"median_{col}"] = float(group[col].median())
        rows.append(row)
    return pd.DataFrame(rows)


def predictive_position(prediction: Prediction, truth: np.ndarray) -> dict[str, np.ndarray]:
    """Where each truth falls in its predictive distribution, for calibration studies.

    ``pit``: the fraction of new-run draws below the truth (uniform when calibrated; the
    central ``p`` interval covers it when ``|pit - 0.5| <= p / 2``); ``link_truth``,
    ``link_loc``, ``link_scale``: the truth and the mean and sd of the new-run draws on the
    response's link scale *without* the extrapolation error, so that an error term can be
    fitted to the residuals (:func:`bayes_scaling.calibrate.fit_rate`).
    """
    draws = prediction.draws
    kind = draws.attrs.get("response_link", "identity")
    new = draws["new"].to_numpy()
    n = new.shape[0]
    below = (new < truth[None, :]).sum(axis=0) + 0.5 * (new == truth[None, :]).sum(axis=0)
    inner = laws.link(kind, new) - draws["discrepancy"].to_numpy()
    return {
        "pit": below / n,
        "link_truth": laws.link(kind, truth),
        "link_loc": np.nanmean(inner, axis=0),
        "link_scale": np.nanstd(inner, axis=0),
    }


# --- simulation-based calibration ------------------------------------------------------------
@dataclass
class SBC:
    """Simulation-based calibration of a spec on a design (Talts et al. 2018).

    ``truth`` (``replicate, parameter``) holds the prior draws that generated each simulated
    dataset; ``draws`` (``replicate, draw, parameter``) the ``L`` thinned posterior draws of the
    refit. ``parameter`` names one scalar, e.g. ``"E[c4]"`` or ``"sigma"``. ``replicates`` has
    one row per refit: ``replicate, prior_draw`` (index among the prior draws examined),
    ``divergences`` and ``seconds``. ``rejected`` prior draws gave implausible data and were
    not fitted (out of ``rejected + len(replicates)`` examined).
    """

    truth: xr.DataArray
    draws: xr.DataArray
    replicates: pd.DataFrame
    rejected: int

    @property
    def ranks(self) -> pd.DataFrame:
        """Tidy ranks: ``replicate, parameter, rank, L`` (``rank`` in ``0..L``)."""
        return sbc_ranks(self.truth, self.draws)

    def uniformity(self, *, bins: int | None = None, seed: int = 0) -> pd.DataFrame:
        """Per-parameter uniformity tests of :attr:`ranks` (see :func:`rank_uniformity`)."""
        return rank_uniformity(self.ranks, bins=bins, seed=seed)


def sbc_ranks(truth: xr.DataArray, draws: xr.DataArray) -> pd.DataFrame:
    """The rank of each true value among its posterior draws.

    Parameters
    ----------
    truth
        Dims ``(replicate, parameter)``.
    draws
        Dims ``(replicate, draw, parameter)``; ``L`` draws per replicate.

    Returns
    -------
    pandas.DataFrame
        ``replicate, parameter, rank, L``: ``rank`` is the number of draws below the truth
        (ties, which continuous posteriors do not produce, count half), so ``0..L``; uniform on
        ``0..L`` when the posterior is calibrated.
    """
    draws = draws.transpose("replicate", "draw", "parameter")
    truth = truth.transpose("replicate", "parameter")
    d, t = draws.to_numpy(), truth.to_numpy()[:, None, :]
    rank = (d < t).sum(axis=1) + (d == t).sum(axis=1) // 2
    n_rep, n_par = rank.shape
    return pd.DataFrame(
        {
            "replicate": np.repeat(truth["replicate"].to_numpy(), n_par),
            "parameter": np.tile(truth["parameter"].to_numpy().astype(str), n_rep),
            "rank": rank.ravel(),
            "L": draws.sizes["draw"],
        }
    )


def rank_uniformity(ranks: pd.DataFrame, *, bins: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Test, parameter by parameter, that SBC ranks are uniform on ``0..L``.

    Two tests, each with its own p-value (correct for multiplicity when reading them):

    - ``chi2``: Pearson's chi-square of the ranks counted in ``bins`` equal bins (default:
      the most bins dividing ``L + 1`` with at least 5 replicates expected per bin) —
      sensitive to U- and ∩-shapes (posteriors too narrow or too wide);
    - ``ks``: Kolmogorov–Smirnov of ``(rank + V) / (L + 1)``, ``V ~ U(0, 1)`` (exactly uniform
      on (0, 1) under calibration) — sensitive to shifts (biased posteriors).

    Returns
    -------
    pandas.DataFrame
        One row per parameter: ``n, L, bins, chi2, chi2_p, ks, ks_p, mean_rank`` (the last
        should be near ``L / 2``).
    """
    rng = np.random.default_rng(seed)
    rows = []
    for name, group in ranks.groupby("parameter", sort=False):
        r = group["rank"].to_numpy()
        L = int(group["L"].iloc[0])
        b = bins or max(
            [k for k in range(2, L + 2) if (L + 1) % k == 0 and len(r) / k >= 5], default=2
        )
        if (L + 1) % b:
            raise ValueError(f"bins={b} must divide L + 1 = {L + 1}")
        counts = np.bincount(r * b // (L + 1), minlength=b)
        chi2 = stats.chisquare(counts)
        ks = stats.kstest((r + rng.uniform(size=len(r))) / (L + 1), "uniform")
        rows.append(
            {
                "parameter": name,
                "n": len(r),
                "L": L,
                "bins": b,
                "chi2": float(chi2.statistic),
                "chi2_p": float(chi2.pvalue),
                "ks": float(ks.statistic),
                "ks_p": float(ks.pvalue),
                "mean_rank": float(r.mean()),
            }
        )
    return pd.DataFrame(rows)


def sbc(
    spec: ModelSpec | str | Path,
    design: Observations,
    *,
    replicates: int = 40,
    thin_to: int = 99,
    seed: int = 0,
    var_names: list[str] | None = None,
    plausible: Callable[[dict[str, np.ndarray]], bool] | None = None,
    max_prior_draws: int | None = None,
    compile_once: bool = True,
    **sampler: Any,
) -> SBC:
    """Simulation-based calibration of ``spec`` on the points of ``design``.

    The family's PyMC model is built on ``design`` (its observed values are ignored: only
    which points exist matters). Parameters and datasets are drawn together from the model's
    prior predictive. The model's observed variables are observed (:func:`pymc.observe`)
    through shared variables, so one compiled model refits every accepted dataset in turn; the
    true values are ranked among the posterior draws, thinned to ``thin_to``. Any family works:
    simulated values stay on the likelihood's own scale (for the loss family, log loss), so
    nothing maps back to the data table.

    Why not ``simuk.SBC`` (0.3.0, read for this): it draws its reference parameters and data
    in one ``pymc.sample_prior_predictive`` batch with no hook to reject a draw whose data are
    implausible (its ``simulator`` maps parameters to data, it cannot refuse them), so our
    ``plausible`` filter could not be kept; and it refits with ``pymc.sample``, not through
    :func:`bayes_scaling.inference.sample` with the spec's :class:`SamplerConfig`. The loop
    here is the same algorithm (Talts et al. 2020).

    Parameters
    ----------
    spec
        A spec, a spec file or a shipped spec's name (for a tighter prior, pass
        ``load_spec(name).updated({...})``).
    design
        Observations fixing the design (runs, sizes, groups).
    replicates
        Number of simulated datasets fitted.
    thin_to
        ``L``, posterior draws kept per fit (evenly spaced); ranks run ``0..L``. ``chains ×
        draws`` must be at least ``L``.
    seed
        Seeds the prior draws (``seed``) and the fits (``seed + 1 + replicate``).
    var_names
        Posterior variables to rank, each element a scalar parameter (default: the free random
        variables and the family's :meth:`~ScalingModel.law_params`).
    plausible
        Called with ``{observed name: simulated values}`` (on the likelihood's scale); a prior
        draw whose data it rejects, or whose data are not finite, is not fitted and is counted
        in :attr:`SBC.rejected`. Rejecting on the data alone keeps SBC exact (the posterior
        given accepted data is unchanged); never reject on the parameters.
    max_prior_draws
        Prior draws examined at most (default ``20 × replicates``); too few accepted is an
        error that reports the rejection count.
    compile_once
        Compile the refit model once and give it each dataset as data (default). ``False``
        builds and compiles a fresh model per replicate (what ``benchmarks/bench_sbc.py``
        compares against; the draws are the same).
    sampler
        Overrides of the spec's ``[sampler]`` (``draws``, ``tune``, ``chains``, ``sampler`` …).

    Returns
    -------
    SBC
        Truth, thinned draws, per-replicate diagnostics and the rejection count; ``.ranks``
        and ``.uniformity()`` give the tidy ranks and the tests.
    """
    spec = load_spec(spec)
    scaling = model_for(spec, design)
    model = scaling.build()
    observed = [rv.name for rv in model.observed_RVs]
    names = var_names or list(
        dict.fromkeys([rv.name for rv in model.free_RVs] + scaling.law_params())
    )
    n_prior = max_prior_draws or 20 * replicates
    prior = pm.sample_prior_predictive(draws=n_prior, model=model, random_seed=seed)
    sims = stacked(prior["prior_predictive"].to_dataset())
    options = {k: sampler.pop(k) for k in ("cores", "progressbar") if k in sampler}
    if "sampler" in sampler:
        sampler["name"] = sampler.pop("sampler")
    config = spec.sampler.updated(where="sbc() sampler argument:", **sampler)
    if config.chains * config.draws < thin_to:
        raise ValueError(f"chains × draws must be at least thin_to = {thin_to}")
    # One refit model for every replicate: its observations are shared variables, set to each
    # simulated dataset in turn, so it compiles once (nutpie: ``with_data``), not per replicate
    data = {
        n: pytensor.shared(_as(model[n], sims[n].isel(sample=0).to_numpy()), name=f"sbc_{n}")
        for n in observed
    }
    refit = pm.observe(model, data)
    compiled = inference.compile_model(refit, config.name) if compile_once else None
    # pm.observe drops some Deterministics (those of LKJCholeskyCov's outputs): rank what the
    # refitted model keeps
    kept = {v.name for v in [*refit.free_RVs, *refit.deterministics]}
    names = [n for n in names if n in kept]
    truth_all = _scalars(stacked(prior["prior"].to_dataset())[names])
    keep, truths, rows = [], [], []
    examined = 0
    for i in range(n_prior):
        if len(keep) == replicates:
            break
        examined += 1
        sim = {n: sims[n].isel(sample=i).to_numpy() for n in observed}
        if not all(np.isfinite(v).all() for v in sim.values()) or (
            plausible is not None and not plausible(sim)
        ):
            continue
        r = len(keep)
        start = time.perf_counter()
        if compile_once:
            for n, value in sim.items():
                data[n].set_value(_as(model[n], value))
            target = refit
            now = compiled and compiled.with_data(
                **{f"sbc_{n}": _as(model[n], v) for n, v in sim.items()}
            )
        else:
            target, now = pm.observe(model, sim), None
        tree = inference.sample(target, config, seed=seed + 1 + r, compiled=now, **options)
        post = _scalars(stacked(tree["posterior"].to_dataset())[names])
        pick = np.round(np.linspace(0, post.sizes["sample"] - 1, thin_to)).astype(int)
        keep.append(post.isel(sample=pick))
        truths.append(truth_all.isel(sample=i))
        divergences = int(tree["sample_stats"]["diverging"].sum())
        seconds = time.perf_counter() - start
        rows.append(
            {"replicate": r, "prior_draw": i, "divergences": divergences, "seconds": seconds}
        )
    if len(keep) < replicates:
        raise DataError(
            f"SBC of {spec.name}: only {len(keep)} of {n_prior} prior draws gave plausible data "
            f"({n_prior - len(keep)} rejected); loosen `plausible` or tighten the prior"
        )
    index = pd.Index(range(replicates), name="replicate")
    draws = xr.concat(keep, dim=index).rename(sample="draw")
    truth = xr.concat(truths, dim=index)
    return SBC(truth, draws, pd.DataFrame(rows), rejected=examined - replicates)


def _as(var, value: np.ndarray) -> np.ndarray:
    """``value`` in the dtype of model variable ``var`` (integer counts stay integers)."""
    return np.asarray(value, dtype=var.dtype)


def _scalars(ds: xr.Dataset) -> xr.DataArray:
    """``ds`` (dims ``sample`` plus group dims) as one array over ``(sample, parameter)``,
    one column per scalar: ``name`` or ``name[label]``."""
    columns, labels = [], []
    for name, var in ds.data_vars.items():
        extra = [d for d in var.dims if d != "sample"]
        if not extra:
            columns.append(var.to_numpy()[:, None])
            labels.append(str(name))
            continue
        flat = var.stack(_flat=extra).transpose("sample", "_flat")
        columns.append(flat.to_numpy())
        for key in flat["_flat"].to_numpy():
            key = key if isinstance(key, tuple) else (key,)
            labels.append(f"{name}[{','.join(map(str, key))}]")
    return xr.DataArray(
        np.concatenate(columns, axis=1),
        dims=("sample", "parameter"),
        coords={"parameter": labels},
    )
