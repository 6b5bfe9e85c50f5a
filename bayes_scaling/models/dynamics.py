"""Checkpoint trajectories: accuracy of each (run, task) against tokens seen.

The law (:func:`bayes_scaling.laws.accuracy_trajectory`) is a sigmoid in log tokens from the
task's chance level towards a ceiling, with the onset and the ceiling shifting with model size
``N``::

    Acc = c + (1 − c)·σ(ℓ_t + δ_t·x_N + b[run, d] + e[run, t])·σ(k_t·(x_D − m_t + γ_t·x_N))

with ``x_D = ln(D/D0)``, ``x_N = ln(N/N0)`` (geometric means of the fitted data). Task
parameters ``m`` (onset), ``k`` (rate) and ``ℓ`` (ceiling) are partially pooled over the
hierarchy ``domain → task`` with :func:`bayes_scaling.hierarchy.build`, and so are the size
effects ``γ`` (``onset_size``) and ``δ`` (``ceiling_size``) in the shipped spec (``pooling =
["domain"]`` shares them across a domain's tasks); an unseen size is predicted from ``N``.
Checkpoints of one run share logit offsets on the ceiling (the level a run settles at;
``[groups.run] effect = "timing"`` moves them onto the sigmoid's argument instead):
``b[run, ·]`` is multivariate normal across domains with an LKJ prior on its correlation
(``run_domain_corr`` in the posterior), ``e[run, task]`` is independent (and zero for a task
alone in its domain, where it would duplicate ``b``); ``[groups.run] centered`` (``true`` or a
list of ``"domain"``, ``"task"``) centres them. The likelihood is beta-binomial on correct counts
when ``n_items`` is known, else Beta on the accuracy, with a concentration ``phi`` per task
pooled over tasks (``[params.phi]``): tasks differ in how far checkpoint-to-checkpoint noise
exceeds item sampling (BoolQ's majority-class swings against HellaSwag's smooth rise).

Predictions accept a grid of ``run`` (or ``params`` for a new run), ``tokens`` and ``task``.
A task absent from the fit is drawn from its domain's population (task dynamic prediction); a
run absent from the fit gets new offsets from their population (an unseen size). To update a
held-out task with its first few checkpoints, include those rows in the fitted data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from bayes_scaling import hierarchy, laws
from bayes_scaling.checkpoints import CHECKPOINT_KEYS
from bayes_scaling.data.domains import domain_of
from bayes_scaling.data.schema import DataError, Observations
from bayes_scaling.hierarchy import Level
from bayes_scaling.likelihoods import LIKELIHOODS
from bayes_scaling.models.base import Form, ScalingModel
from bayes_scaling.priors import Prior, SpecError

TASK_PARAMS = ("onset", "rate", "ceiling")
SIZE_PARAMS = ("onset_size", "ceiling_size")
LAW_PARAMS = (*TASK_PARAMS, *SIZE_PARAMS)
#: The spec's ``[likelihood] kind``: ``auto`` is ``beta_binomial`` when every row has ``n_items``.
KINDS = ("auto", "beta_binomial", "beta")
_DEFAULT_RUN = {
    "effect": "ceiling",
    "domain_sd": {"dist": "HalfNormal", "sigma": 0.5},
    "lkj_eta": 2.0,
    "task_sd": {"dist": "HalfNormal", "sigma": 0.3},
    "centered": False,
}


class DynamicsModel(ScalingModel):
    """Task accuracy over checkpoints, pooled over domain → task, sizes entering through N."""

    family = "dynamics"
    forms: ClassVar[dict[str, Form]] = {
        "sigmoid": Form(
            law=laws.accuracy_trajectory,
            inputs=("log_tokens", "log_params", "chance"),
            params=LAW_PARAMS,
        )
    }
    grid_columns = ("tokens",)
    spec_keys: ClassVar[dict[str, dict[str, Any]]] = {
        "response": {"metric": "accuracy"},
        "groups": {"levels": ["domain", "task"], "run": {}},
        "data": {"chance": None, "exclude_tasks": [], "tasks": None, **CHECKPOINT_KEYS},
        "likelihood": {"kind": "auto"},
    }

    # --- data -----------------------------------------------------------------------------
    def _prepare(self) -> None:
        spec = self.spec
        levels = self.option("groups.levels")
        if list(levels) != ["domain", "task"]:
            raise SpecError(f"{spec.source}: [groups] levels must be ['domain', 'task']")
        self.params = {n: spec.param(n) for n in LAW_PARAMS}
        self.phi = spec.param("phi")
        if self.phi.pooling not in ("shared", ("task",)):
            raise SpecError(f"{spec.source}: [params.phi] pooling must be 'shared' or ['task']")
        for name in SIZE_PARAMS:
            if self.params[name].pooling not in ("shared", ("domain",), "partial"):
                raise SpecError(
                    f"{spec.source}: [params.{name}] pooling must be 'shared', ['domain'] or "
                    "'partial' (domain → task)"
                )
        given = self.option("groups.run")
        unknown = sorted(set(given) - set(_DEFAULT_RUN))
        if unknown:
            raise SpecError(
                f"{spec.source}: [groups.run] has unknown key(s) {unknown}; known: "
                f"{sorted(_DEFAULT_RUN)}"
            )
        run = {**_DEFAULT_RUN, **given}
        self.run_domain_sd = Prior.from_dict(run["domain_sd"], where="[groups.run].domain_sd")
        self.run_task_sd = Prior.from_dict(run["task_sd"], where="[groups.run].task_sd")
        self.lkj_eta = float(run["lkj_eta"])
        self.run_effect = run["effect"]
        centered = run["centered"]
        if isinstance(centered, bool):
            centered = ["domain", "task"] if centered else []
        if not isinstance(centered, list) or not set(centered) <= {"domain", "task"}:
            raise SpecError(
                f"{spec.source}: [groups.run] centered must be true, false or a list of "
                "'domain' and 'task'"
            )
        self.run_centered = frozenset(centered)
        if self.run_effect not in ("ceiling", "timing"):
            raise SpecError(f"{spec.source}: [groups.run] effect must be 'ceiling' or 'timing'")
        self.table = self.points(self.data).reset_index(drop=True)
        t = self.table
        if t["run"].nunique() < 2:
            raise DataError(f"{self.data.source}: the trajectory model needs at least two runs")
        self.domains = tuple(sorted(t["domain"].unique()))
        tasks = t.drop_duplicates("task").sort_values(["domain", "task"])
        self.tasks = tuple(tasks["task"])
        self.task_domain = dict(zip(tasks["task"], tasks["domain"], strict=True))
        parent = tuple(self.domains.index(self.task_domain[k]) for k in self.tasks)
        self.levels = hierarchy.with_rows(
            [Level("domain", self.domains), Level("task", self.tasks, parent)], t
        )
        # a task alone in its domain has no run × task offset: the run × domain offset is it
        alone = hierarchy.only_child(parent, len(self.domains))
        self.only_child = frozenset(k for k, a in zip(self.tasks, alone, strict=True) if a)
        self.runs = tuple(sorted(t["run"].unique()))
        self.run_params = t.groupby("run")["params"].first().to_dict()
        self.run_last_tokens = t.groupby("run")["tokens"].max().to_dict()
        self.last_tokens = t.groupby(["run", "task"])["tokens"].max().to_dict()
        self.task_chance = t.groupby("task")["chance"].first().to_dict()
        self.task_items = t.groupby("task")["n_items"].first().to_dict()
        self.refs = {
            "params": float(np.exp(np.mean(np.log(list(self.run_params.values()))))),
            "tokens": float(np.exp(np.mean(np.log(t["tokens"].to_numpy())))),
        }
        self.max_params = float(max(self.run_params.values()))
        self.max_tokens = float(t["tokens"].max())
        self.likelihood = self._likelihood_kind()
        self.noise_model = LIKELIHOODS[self.likelihood]

    def _likelihood_kind(self) -> str:
        kind = self.option("likelihood.kind")
        if kind not in KINDS:
            raise SpecError(f"{self.spec.source}: [likelihood] kind must be one of {KINDS}")
        known = self.table["n_items"].notna().all()
        if kind == "beta_binomial" and not known:
            missing = sorted(self.table.loc[self.table["n_items"].isna(), "task"].unique())
            raise DataError(
                f"{self.data.source}: [likelihood] kind = 'beta_binomial' needs n_items; "
                f"column 'n_items' is missing for tasks {missing}"
            )
        if kind == "auto":
            return "beta_binomial" if known else "beta"
        return kind

    def points(self, data: Observations) -> pd.DataFrame:
        spec = self.spec
        metric = self.option("response.metric")
        frame = data.frame
        rows = frame[frame["metric"] == metric]
        if rows.empty:
            raise DataError(
                f"{data.source}: no rows with metric={metric!r} (the spec's [response])"
            )
        wanted = self.option("data.tasks")
        if wanted is not None:
            unknown = sorted(set(wanted) - set(rows["task"]))
            if unknown:
                raise DataError(
                    f"{spec.source}: [data] tasks names {unknown}, not in {data.source} "
                    f"(its {metric} tasks: {sorted(rows['task'].unique())[:30]})"
                )
            rows = rows[rows["task"].isin(wanted)]
        rows = rows[~rows["task"].isin(self.option("data.exclude_tasks"))]
        if "chance" not in rows.columns or rows["chance"].isna().any():
            default = self.option("data.chance")
            if default is None:
                bad = rows if "chance" not in rows.columns else rows[rows["chance"].isna()]
                raise DataError(
                    f"{data.source}, row {bad.index[0]}, column 'chance': the chance accuracy "
                    f"of task {bad['task'].iloc[0]!r} is needed (or set [data] chance in "
                    f"{spec.source})"
                )
            rows = rows.assign(chance=rows.get("chance", np.nan)).fillna({"chance": default})
        rows = self.selected_checkpoints(rows)
        if rows.empty:
            raise DataError(
                f"{data.source}: no {metric} rows left after the [data] selection of "
                f"{spec.source} (min_tokens, drop_first_fraction, tasks, exclude_tasks)"
            )
        out = rows[["run", "params", "tokens", "task"]].copy()
        if "domain" in rows.columns and rows["domain"].notna().all():
            out["domain"] = rows["domain"].astype(str)
        else:
            out["domain"] = [domain_of(t) for t in rows["task"]]
        out["chance"] = rows["chance"].astype("float64")
        n_items = rows["n_items"] if "n_items" in rows.columns else pd.Series(pd.NA, rows.index)
        out["n_items"] = n_items.astype("Float64").astype("float64")
        out["truth"] = rows["value"].to_numpy(dtype="float64")
        for col in ("run", "task", "domain"):
            out[col] = out[col].astype(str)
        return out.reset_index(drop=True)

    # --- model ----------------------------------------------------------------------------
    def build(self) -> pm.Model:
        t = self.table
        task_idx = pd.Categorical(t["task"], categories=self.tasks).codes
        run_idx = pd.Categorical(t["run"], categories=self.runs).codes
        dom_idx = pd.Categorical(t["domain"], categories=self.domains).codes
        coords = {
            "domain": list(self.domains),
            "domain_bis": list(self.domains),
            "task": list(self.tasks),
            "run": list(self.runs),
            "obs": np.arange(len(t)),
        }
        x = self._scaled(t["params"].to_numpy(), t["tokens"].to_numpy())
        with pm.Model(coords=coords) as model:
            v = {n: hierarchy.build(p, self.levels) for n, p in self.params.items()}
            offset = self._run_domain_offsets()[run_idx, dom_idx]
            offset = offset + self._run_task_offsets()[run_idx, task_idx]
            mu = self.form.evaluate(
                {**x, "chance": t["chance"].to_numpy()},
                {n: value[task_idx] for n, value in v.items()},
                **self._offsets(offset),
            )
            self._likelihood(mu, hierarchy.build(self.phi, self.levels)[task_idx], task_idx)
        return model

    def _offsets(self, offset):
        """The run offsets as the law's keyword: on the ceiling (level) or the timing."""
        return {"ceiling_offset" if self.run_effect == "ceiling" else "offset": offset}

    def _run_task_offsets(self) -> pt.TensorVariable:
        """Independent run × task offsets ``e[run, task]`` (``run_task`` in the posterior).

        A task alone in its domain gets none: with its run × domain offset it would only make
        a ridge (its prior-only latent is left unused).
        """
        sd = self.run_task_sd.create("run_task_sd")
        dims = ("run", "task")
        if "task" in self.run_centered:
            e = pm.Normal("run_task_latent", 0.0, sd, dims=dims)
        else:
            e = sd * pm.Normal("run_task_z", 0.0, 1.0, dims=dims)
        keep = np.array([k not in self.only_child for k in self.tasks], dtype="float64")
        return pm.Deterministic("run_task", e * keep, dims=dims)

    def _run_domain_offsets(self) -> pt.TensorVariable:
        """Run × domain offsets, correlated across domains (``run_domain`` in the posterior)."""
        n = len(self.domains)
        dims = ("run", "domain")
        if n == 1:
            sd = self.run_domain_sd.create("run_domain_sd")
            if "domain" in self.run_centered:
                return pm.Normal("run_domain", 0.0, sd, dims=dims)
            z = pm.Normal("run_domain_z", 0.0, 1.0, dims=dims)
            return pm.Deterministic("run_domain", sd * z, dims=dims)
        sd_dist = getattr(pm, self.run_domain_sd.dist).dist(**self.run_domain_sd.kwargs, shape=n)
        chol, corr, sds = pm.LKJCholeskyCov(
            "run_domain_chol", n=n, eta=self.lkj_eta, sd_dist=sd_dist, compute_corr=True
        )
        pm.Deterministic("run_domain_sd", sds, dims="domain")
        pm.Deterministic("run_domain_corr", corr, dims=("domain", "domain_bis"))
        if "domain" in self.run_centered:
            return pm.MvNormal("run_domain", mu=np.zeros(n), chol=chol, dims=dims)
        z = pm.Normal("run_domain_z", 0.0, 1.0, dims=dims)
        return pm.Deterministic("run_domain", z @ chol.T, dims=dims)

    def _likelihood(
        self, mu: pt.TensorVariable, phi: pt.TensorVariable, task_idx: np.ndarray
    ) -> None:
        t = self.table
        y, n = t["truth"].to_numpy(), t["n_items"].to_numpy(dtype="float64")
        self.noise_model.term("y", mu, phi, y, n=n, dims="obs", groups=task_idx)

    def _scaled(self, params: np.ndarray, tokens: np.ndarray) -> dict[str, np.ndarray]:
        return {
            "log_params": np.log(np.asarray(params, dtype="float64") / self.refs["params"]),
            "log_tokens": np.log(np.asarray(tokens, dtype="float64") / self.refs["tokens"]),
        }

    def law_params(self) -> list[str]:
        names = [f"{n}_domain" for n in TASK_PARAMS]
        size = [f"{n}_domain" if self.params[n].pooling == "partial" else n for n in SIZE_PARAMS]
        return [*names, *size, "run_domain_sd", "run_task_sd", "phi_mu"]

    # --- prediction -----------------------------------------------------------------------
    def check_grid(
        self,
        grid: pd.DataFrame,
        *,
        source: str = "<grid>",
        tasks: Sequence[str] | None = None,
        chained: bool = False,
        **options: Any,
    ) -> pd.DataFrame:
        """Validate a grid of ``run`` and/or ``params``, ``tokens`` and ``task``.

        A ``run`` of the fit takes its N from the fit; a new run needs ``params``. A row with
        only ``params`` is a new run named ``new-<params>``. ``tasks`` expands the grid over
        those tasks (replacing any ``task`` column). ``domain`` and ``chance`` default to the
        fit's values for known tasks; a new task needs ``chance`` (and ``domain`` unless the
        shipped domain map knows it).
        """
        if options:
            raise TypeError(f"dynamics predictions take no options {sorted(options)}")
        out = grid.reset_index(drop=True).copy()
        if tasks is not None:
            tasks = [tasks] if isinstance(tasks, str) else list(tasks)
            out = out.drop(columns=["task", "domain", "chance", "n_items"], errors="ignore")
            out = out.merge(pd.DataFrame({"task": tasks}), how="cross")
        missing = [c for c in ("tokens", "task") if c not in out.columns]
        if "run" not in out.columns and "params" not in out.columns:
            missing.append("run or params")
        if missing:
            raise DataError(f"{source}: prediction grid lacks column(s) {missing}")
        out = super().check_grid(out, source=source, chained=chained)
        if "run" not in out.columns:
            out["run"] = pd.NA
        params = pd.to_numeric(out.get("params", pd.Series(np.nan, out.index)), errors="coerce")
        runs = out["run"].astype("string")
        known = runs.isin(list(self.runs)).fillna(False).to_numpy()
        params = params.where(~known, runs.map(self.run_params))
        bad = ~(params > 0) | ~np.isfinite(params)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"{source}: row {row + 2}, column 'params': run {out['run'].iloc[row]!r} is not "
                f"in the fit ({list(self.runs)[:8]}…), so a positive N is needed"
            )
        out["params"] = params.astype("float64")
        out["run"] = [
            str(r) if not pd.isna(r) else f"new-{p:.4g}"
            for r, p in zip(out["run"], out["params"], strict=True)
        ]
        out["task"] = out["task"].astype(str)
        out["domain"] = self._grid_column(out, "domain", self.task_domain, domain_of)
        out["chance"] = self._grid_column(out, "chance", self.task_chance, None, source=source)
        items = self._grid_column(out, "n_items", self.task_items, lambda _: np.nan)
        out["n_items"] = pd.to_numeric(items, errors="coerce").astype("float64")
        return out

    def _grid_column(self, grid, col, known, fallback, *, source: str = "<grid>") -> list:
        given = grid[col] if col in grid.columns else pd.Series(np.nan, grid.index)
        values = []
        for i, (task, v) in enumerate(zip(grid["task"], given, strict=True)):
            if not pd.isna(v):
                values.append(v)
            elif task in known:
                values.append(known[task])
            elif fallback is not None:
                values.append(fallback(task))
            else:
                raise DataError(
                    f"{source}: row {i + 2}, column {col!r}: task {task!r} is not in the fit, "
                    f"so its {col} must be given"
                )
        return values

    def predict_draws(
        self,
        posterior: xr.Dataset,
        grid: pd.DataFrame,
        rng: np.random.Generator,
        inputs: Any = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        query = hierarchy.labels(self.levels, grid)
        v = {
            n: hierarchy.draw(p, self.levels, posterior, query, rng) for n, p in self.params.items()
        }
        phi = self.concentration_draws(posterior, grid, rng)
        offset = self._offset_draws(posterior, grid, rng)
        x = self._scaled(grid["params"].to_numpy(), grid["tokens"].to_numpy())
        inputs = {**x, "chance": grid["chance"].to_numpy()}
        mean = self.form.evaluate(
            {k: value[None, :] for k, value in inputs.items()}, v, **self._offsets(offset)
        )
        return mean, self._new_observation(phi, mean, grid, rng)

    def _offset_draws(
        self, posterior: xr.Dataset, grid: pd.DataFrame, rng: np.random.Generator
    ) -> np.ndarray:
        """Run × domain plus run × task offsets per draw; unseen groups from their population."""
        n = posterior.sizes["sample"]
        b_all = posterior["run_domain"].transpose("sample", "run", "domain").to_numpy()
        sds = posterior["run_domain_sd"].to_numpy().reshape(n, -1)
        chol = (
            _chol_draws(posterior, len(self.domains)) if len(self.domains) > 1 else sds[:, :, None]
        )
        new_b: dict[str, np.ndarray] = {}
        e_all = posterior["run_task"].transpose("sample", "run", "task").to_numpy()
        task_sd = posterior["run_task_sd"].to_numpy()
        out = np.empty((n, len(grid)))
        cache: dict[tuple[str, str, str], np.ndarray] = {}
        for j, (run, dom, task) in enumerate(
            zip(grid["run"], grid["domain"], grid["task"], strict=True)
        ):
            key = (run, dom, task)
            if key not in cache:
                if run in self.runs:
                    r = self.runs.index(run)
                    if dom in self.domains:
                        b = b_all[:, r, self.domains.index(dom)]
                    else:  # a new domain: its offset from the average domain scale
                        b = sds.mean(axis=1) * rng.standard_normal(n)
                else:
                    if run not in new_b:
                        z = rng.standard_normal((n, len(self.domains)))
                        new_b[run] = np.einsum("sij,sj->si", chol, z)
                    if dom in self.domains:
                        b = new_b[run][:, self.domains.index(dom)]
                    else:
                        b = sds.mean(axis=1) * rng.standard_normal(n)
                if task in self.only_child:
                    e = np.zeros(n)
                elif run in self.runs and task in self.tasks:
                    e = e_all[:, self.runs.index(run), self.tasks.index(task)]
                else:
                    e = task_sd * rng.standard_normal(n)
                cache[key] = b + e
            out[:, j] = cache[key]
        return out

    def concentration_draws(
        self, posterior: xr.Dataset, grid: pd.DataFrame, rng: np.random.Generator
    ) -> np.ndarray:
        """The likelihood's concentration ``phi`` per draw and grid point (a task absent from
        the fit drawn from the population of tasks)."""
        query = hierarchy.labels(self.levels, grid)
        return hierarchy.draw(self.phi, self.levels, posterior, query, rng)

    def _new_observation(
        self, phi: np.ndarray, mean: np.ndarray, grid: pd.DataFrame, rng: np.random.Generator
    ) -> np.ndarray:
        """A new evaluation drawn with the likelihood's noise (a point without ``n_items``:
        the proportion without the binomial step)."""
        return self.noise_model.draw(mean, phi, rng, n=grid["n_items"].to_numpy(dtype="float64"))

    def distances(self, grid: pd.DataFrame) -> pd.DataFrame:
        """How far each point lies beyond the fitted data.

        ``params_decades``: decades of N beyond the largest fitted run; ``tokens_decades``:
        decades of D beyond the last fitted checkpoint of the run and task (of the run, for a
        task the run was not fitted on; of any run, for a new run: a task updated with its
        first checkpoints extrapolates from them); ``distance`` the larger of the two (the
        unit of :mod:`bayes_scaling.discrepancy`); ``new_run`` flags points whose run the fit
        never saw (a new size; ``new_task`` and ``new_domain`` come with every prediction,
        :func:`bayes_scaling.models.prediction.flag_new_groups`).
        """
        params = grid["params"].to_numpy()
        tokens = grid["tokens"].to_numpy()
        last = np.array(
            [
                self.last_tokens.get((r, t), self.run_last_tokens.get(r, self.max_tokens))
                for r, t in zip(grid["run"], grid["task"], strict=True)
            ]
        )
        p_dec = np.maximum(0.0, np.log10(params / self.max_params))
        t_dec = np.maximum(0.0, np.log10(tokens / last))
        return pd.DataFrame(
            {
                "params_decades": p_dec,
                "tokens_decades": t_dec,
                "distance": np.maximum(p_dec, t_dec),
                "new_run": ~grid["run"].isin(self.runs).to_numpy(),
            }
        )

    def known_groups(self) -> dict[str, tuple[str, ...]]:
        return {"task": self.tasks, "domain": self.domains}

    # --- baselines ------------------------------------------------------------------------
    def baseline_predictions(self, train: Observations, points: pd.DataFrame) -> dict[str, Any]:
        """Point baselines from the training rows at the same run and checkpoint.

        ``population_mean``: the mean gain above chance, ``(Acc − c)/(1 − c)``, over all
        training tasks of that run at that checkpoint (interpolated in log tokens), mapped back
        with the point's chance level — the population-mean curve, ignoring domains.
        ``domain_mean``: the same over the training tasks of the point's domain (NaN when the
        domain has none).
        """
        t = self.points(train)
        t = t.assign(gain=(t["truth"] - t["chance"]) / (1 - t["chance"]))
        out = {}
        for name, by_domain in (("population_mean", False), ("domain_mean", True)):
            pred = np.full(len(points), np.nan)
            for i, row in enumerate(points.itertuples(index=False)):
                rows = t[t["run"] == row.run]
                if by_domain:
                    rows = rows[rows["domain"] == row.domain]
                if rows.empty:
                    continue
                curve = rows.groupby("tokens")["gain"].mean()
                g = np.interp(np.log(row.tokens), np.log(curve.index.to_numpy()), curve.to_numpy())
                pred[i] = row.chance + (1 - row.chance) * g
            out[name] = pred
        return out


def _chol_draws(posterior: xr.Dataset, n: int) -> np.ndarray:
    """Lower Cholesky factors of the run × domain covariance, one per draw."""
    packed = posterior["run_domain_chol"].to_numpy().reshape(posterior.sizes["sample"], -1)
    rows, cols = np.tril_indices(n)
    chol = np.zeros((packed.shape[0], n, n))
    chol[:, rows, cols] = packed
    return chol
