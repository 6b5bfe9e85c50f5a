"""Cross-domain transfer and task dynamic prediction from a trajectory fit, quantified.

"The Fine Line" (Yang et al. 2024) reports that basic domains improve before advanced ones,
that progress in one domain aids another, and that the known tasks of a domain predict an
unseen task's dynamics. With a :class:`~bayes_scaling.models.dynamics.DynamicsModel` fit these
become posterior statements:

- :func:`onset_table`: per domain, the tokens at which its typical task reaches half its gain
  above chance (at a given model size) and its rate, with intervals;
  :func:`onset_precedence`: posterior probabilities that domain A's onset precedes B's;
- :func:`domain_correlation`: the posterior correlation of run × domain offsets — whether a run
  that is ahead of the population law in A is also ahead in B;
- :func:`predictive_gain`: the held-out log score gained on domain B's data by fitting A's data
  too (both fits sampled here), with a standard error over held-out trajectories;
- :func:`task_holdout`: leave-one-task-out prediction of each task's trajectories from its
  domain (and, for comparison, with the domain ignored and from point baselines).

Each table carries a one-sentence ``summary`` per headline row.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import logsumexp

from bayes_scaling import laws
from bayes_scaling.constants import CI_PROB
from bayes_scaling.data.schema import DataError, Observations
from bayes_scaling.hierarchy import stacked
from bayes_scaling.likelihoods import LIKELIHOODS
from bayes_scaling.models.base import Fit
from bayes_scaling.models.dynamics import DynamicsModel
from bayes_scaling.models.prediction import NewGroupWarning
from bayes_scaling.report import interval_label
from bayes_scaling.spec import ModelSpec, load_spec
from bayes_scaling.validate import predictive_position

UNSEEN_DOMAIN = "<unseen domain>"


def _model(fit: Fit) -> DynamicsModel:
    model = fit.model
    if not isinstance(model, DynamicsModel):
        raise TypeError(f"expected a trajectory (family 'dynamics') fit, got {fit.spec.family!r}")
    return model


KINDS = ("tasks", "population")


def _domain_draws(fit: Fit, name: str, kind: str) -> np.ndarray:
    """Per-domain draws (sample × domain) of a task parameter on its latent scale.

    ``kind = "tasks"``: the mean over the domain's fitted tasks (what the domain's data say);
    ``"population"``: the domain's population mean (what an unseen task of the domain
    inherits, wider when a domain has few tasks).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    model = _model(fit)
    post = stacked(fit.posterior)
    log = name == "rate"
    if kind == "population":
        values = post[f"{name}_domain"].transpose("sample", "domain").to_numpy()
        return np.log(values) if log else values
    per_task = post[name].transpose("sample", "task").to_numpy()
    per_task = np.log(per_task) if log else per_task
    cols = []
    for d in model.domains:
        idx = [i for i, t in enumerate(model.tasks) if model.task_domain[t] == d]
        cols.append(per_task[:, idx].mean(axis=1))
    return np.stack(cols, axis=1)


def _per_domain(fit: Fit, name: str, kind: str) -> np.ndarray:
    """Per-domain draws of a size effect: shared, per domain, or pooled domain → task."""
    model = _model(fit)
    da = stacked(fit.posterior[[name]])[name]
    if "task" in da.dims:
        return _domain_draws(fit, name, kind)
    if "domain" in da.dims:
        return da.transpose("sample", "domain").to_numpy()
    return np.repeat(da.to_numpy()[:, None], len(model.domains), axis=1)


def onset_draws(fit: Fit, *, params: float | None = None, kind: str = "tasks") -> pd.DataFrame:
    """Posterior draws of each domain's onset (tokens at half gain) at model size ``params``.

    ``params`` defaults to the largest fitted run; ``kind`` is ``"tasks"`` (the geometric mean
    over the domain's fitted tasks) or ``"population"`` (the domain's population mean, see
    :func:`_domain_draws`). Returns one column per domain, one row per posterior sample.
    """
    model = _model(fit)
    n = model.max_params if params is None else float(params)
    x_n = np.log(n / model.refs["params"])
    onset = _domain_draws(fit, "onset", kind)
    size = _per_domain(fit, "onset_size", kind)
    log_d = laws.trajectory_onset(onset, size, x_n)
    return pd.DataFrame(model.refs["tokens"] * np.exp(log_d), columns=list(model.domains))


def onset_table(
    fit: Fit, *, params: float | None = None, kind: str = "tasks", ci: float = CI_PROB
) -> pd.DataFrame:
    """Per domain: onset tokens and rate with intervals at ``ci``, earliest onset first.

    Columns: ``domain, onset_median, onset_lower, onset_upper`` (tokens at half the gain above
    chance, for a run of ``params`` non-embedding parameters, default the largest fitted),
    ``rate_median, rate_lower, rate_upper`` (logits per e-fold of tokens), ``n_tasks`` and
    ``summary``. ``kind`` as in :func:`onset_draws`.
    """
    model = _model(fit)
    draws = onset_draws(fit, params=params, kind=kind)
    rate = np.exp(_domain_draws(fit, "rate", kind))
    lo, hi = (1 - ci) / 2, (1 + ci) / 2
    n = model.max_params if params is None else float(params)
    rows = []
    for j, d in enumerate(model.domains):
        o = draws[d].to_numpy()
        r = rate[:, j]
        med, olo, ohi = np.median(o), np.quantile(o, lo), np.quantile(o, hi)
        rows.append(
            {
                "domain": d,
                "onset_median": med,
                "onset_lower": olo,
                "onset_upper": ohi,
                "rate_median": np.median(r),
                "rate_lower": np.quantile(r, lo),
                "rate_upper": np.quantile(r, hi),
                "n_tasks": sum(model.task_domain[t] == d for t in model.tasks),
                "summary": (
                    f"At N = {n:.3g}, {d} reaches half its gain above chance after "
                    f"{med / 1e9:.3g}B tokens ({interval_label(ci=ci)} {olo / 1e9:.3g}–"
                    f"{ohi / 1e9:.3g}B)."
                ),
            }
        )
    out = pd.DataFrame(rows).sort_values("onset_median").reset_index(drop=True)
    out.attrs["ci_prob"] = ci
    out.attrs["params"] = n
    out.attrs["kind"] = kind
    return out


def onset_precedence(fit: Fit, *, params: float | None = None, kind: str = "tasks") -> pd.DataFrame:
    """``P(onset[row] < onset[column])`` for every pair of domains (rows, columns: domains);
    ``kind`` as in :func:`onset_draws`."""
    draws = onset_draws(fit, params=params, kind=kind).to_numpy()
    prob = (draws[:, :, None] < draws[:, None, :]).mean(axis=0)
    domains = list(_model(fit).domains)
    return pd.DataFrame(prob, index=pd.Index(domains, name="earlier"), columns=domains)


def domain_correlation(fit: Fit, *, ci: float = CI_PROB) -> pd.DataFrame:
    """Posterior correlation of run × domain offsets, one row per pair of domains.

    Columns ``domain_a, domain_b, mean, sd, median, lower, upper, prob_positive, summary``.
    ``attrs``: ``matrix``, the posterior-mean matrix; ``prior_sd``, the sd of one correlation
    under the LKJ(η) prior in d domains, ``1/sqrt(2η + d − 1)`` (its marginal is a Beta(b, b)
    on [−1, 1] with b = η − 1 + d/2); ``prior_share``, the median of ``sd / prior_sd``: near 1
    the data have taught the correlations little, and a figure of them shows the prior.
    """
    model = _model(fit)
    if "run_domain_corr" not in fit.posterior:
        raise DataError("the fit has one domain: there is no cross-domain correlation")
    post = stacked(fit.posterior)
    corr = post["run_domain_corr"].transpose("sample", "domain", "domain_bis").to_numpy()
    lo, hi = (1 - ci) / 2, (1 + ci) / 2
    rows = []
    d = list(model.domains)
    for i in range(len(d)):
        for j in range(i + 1, len(d)):
            c = corr[:, i, j]
            rows.append(
                {
                    "domain_a": d[i],
                    "domain_b": d[j],
                    "mean": c.mean(),
                    "sd": c.std(ddof=1),
                    "median": np.median(c),
                    "lower": np.quantile(c, lo),
                    "upper": np.quantile(c, hi),
                    "prob_positive": (c > 0).mean(),
                    "summary": (
                        f"Runs ahead of the population law in {d[i]} are ahead in {d[j]} "
                        f"with correlation {np.median(c):.2f} ({interval_label(ci=ci)} "
                        f"{np.quantile(c, lo):.2f} to {np.quantile(c, hi):.2f}; "
                        f"P(>0) = {(c > 0).mean():.2f})."
                    ),
                }
            )
    out = pd.DataFrame(rows)
    out.attrs["matrix"] = pd.DataFrame(corr.mean(axis=0), index=d, columns=d)
    out.attrs["ci_prob"] = ci
    out.attrs["prior_sd"] = 1 / np.sqrt(2 * model.lkj_eta + len(d) - 1)
    out.attrs["prior_share"] = float(np.median(out["sd"] / out.attrs["prior_sd"]))
    out.attrs["runs"] = len(model.run_params)
    return out


def log_predictive_density(fit: Fit, data: Observations, *, seed: int = 0) -> pd.DataFrame:
    """Pointwise held-out log predictive density of ``data``'s response rows under ``fit``.

    ``log p(y_i) = log mean_s p(y_i | θ_s)`` with the fit's likelihood (beta-binomial on counts
    when ``n_items`` is known, else Beta). Returns the points table with a column ``lpd``.
    """
    pts = _model(fit).points(data)
    out = pts.copy()
    out["lpd"] = _lpd(fit, pts.drop(columns=["truth"]), pts["truth"].to_numpy(), seed)
    return out


def _lpd(fit: Fit, grid: pd.DataFrame, truth: np.ndarray, seed: int) -> np.ndarray:
    """:func:`log_predictive_density` at a prediction grid (a task or domain may be new)."""
    model = _model(fit)
    grid = model.check_grid(grid)
    post = stacked(fit.posterior)
    rng = np.random.default_rng(seed)
    mean, _ = model.predict_draws(post, grid, rng)
    phi = model.concentration_draws(post, grid, rng)
    n = grid["n_items"].to_numpy(dtype="float64")
    noise = model.noise_model if np.isfinite(n).all() else LIKELIHOODS["beta"]
    logp = noise.logpdf(truth[None, :], mean, phi, n=n[None, :])
    return logsumexp(logp, axis=0) - np.log(logp.shape[0])


def _trajectory_se(diff: np.ndarray, run: pd.Series, task: pd.Series) -> tuple[int, float]:
    """Standard error of a summed pointwise difference, one unit per (run, task) trajectory
    (the checkpoints of one trajectory are not independent): ``sqrt(J)·sd_j(Δ_j)``."""
    per_traj = pd.Series(diff, index=run.index).groupby([run, task]).sum()
    j = len(per_traj)
    return j, float(np.sqrt(j) * per_traj.std(ddof=1)) if j > 1 else float("nan")


def predictive_gain(
    spec: ModelSpec | str,
    data: Observations,
    *,
    target: str,
    sources: Sequence[str],
    heldout: str,
    seed: int = 0,
    ci: float = CI_PROB,
    **sampler: Any,
) -> pd.DataFrame:
    """Held-out log score gained on domain ``target`` by also fitting each source domain.

    Two fits per source: ``target`` alone and ``target + source``; both leave out the target's
    rows matching ``heldout`` (a pandas query, e.g. ``"params > 5e9"``: the largest run) but the
    second keeps *all* of the source's rows, held-out runs included. The gain is the difference
    in summed log predictive density of the held-out target rows (:func:`log_predictive_density`).
    Its standard error treats each held-out (run, task) trajectory as one unit, since the
    checkpoints of one trajectory are not independent: ``se = sqrt(J)·sd_j(Δ_j)`` over the J
    trajectory sums. ``sampler`` goes to :meth:`ScalingModel.fit`.

    Returns one row per source: ``target, source, elpd_without, elpd_with, delta, se,
    n_heldout, n_trajectories, summary``.
    """
    spec = load_spec(spec)
    frame = data.frame
    domains = set(frame["domain"].dropna())
    for d in (target, *sources):
        if d not in domains:
            raise DataError(
                f"{data.source}: no domain {d!r} in column 'domain' ({sorted(domains)})"
            )
    tgt = data.where(domain=target)
    test = tgt.select(heldout)
    keep_tgt = ~tgt.with_derived().eval(heldout).to_numpy()
    train_tgt = Observations(tgt.frame[keep_tgt], tgt.source)
    base = DynamicsModel(spec, train_tgt).fit(seed=seed, **sampler)
    lpd0 = log_predictive_density(base, test, seed=seed)
    rows = []
    for src in sources:
        both = pd.concat([train_tgt.frame, data.where(domain=src).frame])
        fit = DynamicsModel(spec, Observations(both, data.source)).fit(seed=seed, **sampler)
        lpd1 = log_predictive_density(fit, test, seed=seed)
        diff = lpd1["lpd"].to_numpy() - lpd0["lpd"].to_numpy()
        j, se = _trajectory_se(diff, lpd0["run"], lpd0["task"])
        delta = float(diff.sum())
        z = stats.norm.ppf((1 + ci) / 2)
        rows.append(
            {
                "target": target,
                "source": src,
                "elpd_without": float(lpd0["lpd"].sum()),
                "elpd_with": float(lpd1["lpd"].sum()),
                "delta": delta,
                "se": se,
                "n_heldout": len(diff),
                "n_trajectories": j,
                "summary": (
                    f"Adding {src} data changes the held-out log score of {target} by "
                    f"{delta:+.1f} (± {z * se:.1f} at {interval_label(ci=ci)}, "
                    f"{j} held-out trajectories)."
                ),
            }
        )
    out = pd.DataFrame(rows)
    out.attrs["ci_prob"] = ci
    out.attrs["heldout"] = heldout
    return out


def task_holdout(
    spec: ModelSpec | str,
    data: Observations,
    *,
    tasks: Sequence[str],
    first_checkpoints: int = 0,
    seed: int = 0,
    ci: float = CI_PROB,
    **sampler: Any,
) -> pd.DataFrame:
    """Leave-one-task-out task dynamic prediction.

    For each task, fit without it and predict all its trajectories (every run and checkpoint
    of the spec's selection) three ways: ``domain`` — the task drawn from its domain's
    population (the model's task dynamic prediction); ``no_domain`` — the same fit, the task
    drawn from a new domain, i.e. from the population of all tasks; and the point baselines of
    :meth:`DynamicsModel.baseline_predictions` (``population_mean``, ``domain_mean``).

    With ``first_checkpoints = k > 0`` the fit also sees the task's first ``k`` checkpoints of
    every run (the task updated with its early evaluations) and the later ones are predicted,
    as method ``updated`` (the task is then known to the fit, so there is no ``no_domain``).

    Returns the points table with ``truth``, ``checkpoint`` (the point's rank among its run's
    selected checkpoints of the task, from 1), ``distance`` (decades beyond the fit, for the
    updated task beyond its last fitted checkpoint of the run), ``link_truth`` and, per
    method, ``<method>_median``, ``<method>_lower``, ``<method>_upper`` (new evaluation, at
    ``ci``), ``<method>_pit``, ``<method>_link_loc``, ``<method>_link_scale`` (see
    :func:`bayes_scaling.validate.predictive_position`), for ``domain`` and ``no_domain`` the
    pointwise log predictive density ``<method>_lpd`` (:func:`log_predictive_density`), or
    ``baseline_<name>``. Summarise with :func:`holdout_metrics`.
    """
    spec = load_spec(spec)
    if first_checkpoints < 0:
        raise ValueError(f"first_checkpoints must be >= 0, not {first_checkpoints}")
    frame = data.frame
    selection = DynamicsModel(spec, data)  # the spec's checkpoint selection, on all the data
    out = []
    for task in tasks:
        held = (frame["task"] == task).to_numpy()
        pts = selection.points(data.where(task=task))
        pts["checkpoint"] = pts.groupby("run")["tokens"].rank(method="dense").astype(int)
        seen = pts["checkpoint"] <= first_checkpoints
        early = pd.MultiIndex.from_frame(pts.loc[seen, ["run", "tokens"]])
        shown = pd.MultiIndex.from_frame(frame[["run", "tokens"]].astype({"run": str}))
        train = Observations(frame[~held | shown.isin(early)], data.source)
        pts = pts[~seen].reset_index(drop=True)
        model = DynamicsModel(spec, train)
        fit = model.fit(seed=seed, **sampler)
        grid = pts.drop(columns=["truth", "checkpoint"])
        methods = (
            [("updated", grid)]
            if first_checkpoints
            else [("domain", grid), ("no_domain", grid.assign(domain=UNSEEN_DOMAIN))]
        )
        table = pts.copy()
        for method, g in methods:
            with warnings.catch_warnings():  # the held-out task (and domain) is new on purpose
                warnings.simplefilter("ignore", NewGroupWarning)
                prediction = fit.predict(g, seed=seed, allow_similar=True)
            pred = prediction.table(ci=ci)
            table["distance"] = pred["distance"].to_numpy()
            for col in ("median", "lower", "upper"):
                table[f"{method}_{col}"] = pred[col].to_numpy()
            position = predictive_position(prediction, table["truth"].to_numpy())
            table["link_truth"] = position.pop("link_truth")
            for col, values in position.items():
                table[f"{method}_{col}"] = values
            if not first_checkpoints:  # in range: the law's likelihood is the whole story
                table[f"{method}_lpd"] = _lpd(fit, g, table["truth"].to_numpy(), seed)
        others = Observations(frame[~held], data.source)
        for name, values in model.baseline_predictions(others, pts).items():
            table[f"baseline_{name}"] = values
        out.append(table)
    result = pd.concat(out, ignore_index=True)
    result.attrs["ci_prob"] = ci
    return result


def holdout_metrics(table: pd.DataFrame, *, by: str | None = None) -> pd.DataFrame:
    """Coverage and mean absolute error (accuracy points) of each method in a holdout table,
    and, where it has log densities, each method's summed ``<method>_elpd`` and whether the
    task's domain helps: ``domain_gain_elpd`` (domain minus no-domain) with its standard error
    ``domain_gain_se`` over (run, task) trajectories, as :func:`predictive_gain`.

    ``by`` (e.g. ``"task"``) gives one row per group; otherwise one row overall.
    """
    methods = [c.removesuffix("_median") for c in table.columns if c.endswith("_median")]
    baselines = [c for c in table.columns if c.startswith("baseline_")]

    def one(t: pd.DataFrame) -> dict[str, float]:
        row: dict[str, float] = {"n": len(t)}
        for m in methods:
            covered = (t["truth"] >= t[f"{m}_lower"]) & (t["truth"] <= t[f"{m}_upper"])
            row[f"{m}_coverage"] = float(covered.mean())
            row[f"{m}_mae"] = float(100 * (t[f"{m}_median"] - t["truth"]).abs().mean())
        for b in baselines:
            row[f"{b}_mae"] = float(100 * (t[b] - t["truth"]).abs().mean())
        for m in methods:
            if f"{m}_lpd" in t.columns:
                row[f"{m}_elpd"] = float(t[f"{m}_lpd"].sum())
        if {"domain_lpd", "no_domain_lpd"} <= set(t.columns):
            diff = (t["domain_lpd"] - t["no_domain_lpd"]).to_numpy()
            row["domain_gain_elpd"] = float(diff.sum())
            row["domain_gain_se"] = _trajectory_se(diff, t["run"], t["task"])[1]
        return row

    if by is None:
        return pd.DataFrame([one(table)])
    return pd.DataFrame({k: one(g) for k, g in table.groupby(by)}).T.rename_axis(by).reset_index()
