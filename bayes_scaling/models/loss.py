"""Loss as a function of parameters and tokens: over-training (Gadre) and Chinchilla forms.

Over-training: ``L = E + (a·M^η + b·M^-η)·C^-η`` with ``C = 6ND``, ``M = D/N``.
Chinchilla: ``L = E + A/N^α + B/D^β``.

Parameters vary over one grouping level (default ``dataset``, the pretraining corpus) as each
spec's ``[params.*] pooling`` says. ``[response] task`` may list several losses (e.g. every
downstream task's bpb, step 1 of the OLMo ladder's chained prediction) with ``[groups] by =
"task"``: one law per task, its exponents pooled across the tasks.

Inputs are scaled by their geometric means before they meet the law (``C/C0``, ``M/M0``,
``N/N0``, ``D/D0``), so the sampler sees ``a_ref, b_ref`` (``A_ref, B_ref``) of order one; the
posterior also carries ``a, b`` (``A, B``) in raw units. With ``[response] prior_scale =
"data"`` (the shipped specs) the priors of the parameters in loss units (``E`` and the
coefficients at the references, :data:`RESPONSE_UNITS`) are for their ratio to ``L0``, the
geometric mean of the fitted losses: the same spec then suits a loss in nats, bits, bits per
byte or the log-perplexity of a denoising objective. The likelihood is Student-t (or
normal) on log loss by default. ``[likelihood] kind = "frontier"`` reads the law as the
frontier of the best-tuned runs: a run's log loss is the law's plus normal noise plus a
shortfall ``u ≥ 0`` (exponential, mean ``inefficiency``, a prior), so under-tuned runs sit
above the law and a new run's interval is skewed upward by the same shortfall.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from bayes_scaling import baselines, hierarchy, laws
from bayes_scaling.checkpoints import CHECKPOINT_KEYS
from bayes_scaling.data.schema import DataError, Observations
from bayes_scaling.hierarchy import Level
from bayes_scaling.likelihoods import LIKELIHOODS
from bayes_scaling.models.base import Form, ScalingModel
from bayes_scaling.priors import Prior, SpecError


def _overtraining_derived(v: Mapping[str, Any], r: Mapping[str, float]) -> dict[str, Any]:
    a, b = laws.overtraining_coefficients(
        v["a_ref"], v["b_ref"], v["eta"], r["compute"], r["multiplier"]
    )
    return {"a": a, "b": b, "M_star": laws.overtraining_optimal_multiplier(a, b, v["eta"])}


def _chinchilla_derived(v: Mapping[str, Any], r: Mapping[str, float]) -> dict[str, Any]:
    A, B = laws.chinchilla_coefficients(
        v["A_ref"], v["B_ref"], v["alpha"], v["beta"], r["params"], r["tokens"]
    )
    return {"A": A, "B": B}


#: The loss laws, on inputs scaled by the reference values (``a_ref`` … are the coefficients
#: at the references; ``derived`` gives them at N = D = 1).
FORMS = {
    "overtraining": Form(
        law=laws.overtraining_loss,
        inputs=("compute", "multiplier"),
        params=("E", "a_ref", "b_ref", "eta"),
        derived=_overtraining_derived,
        reported=("E", "a", "b", "eta", "M_star"),
    ),
    "chinchilla": Form(
        law=laws.chinchilla_loss,
        inputs=("params", "tokens"),
        params=("E", "A_ref", "B_ref", "alpha", "beta"),
        derived=_chinchilla_derived,
        reported=("E", "A", "B", "alpha", "beta"),
    ),
}


#: Each form's parameters in the units of the loss (log link): ``[response] prior_scale =
#: "data"`` reads their priors as priors of the ratio to the fitted losses' geometric mean.
RESPONSE_UNITS = {"overtraining": ("E", "a_ref", "b_ref"), "chinchilla": ("E", "A_ref", "B_ref")}


class LossModel(ScalingModel):
    """Pretraining loss against N and D, partially pooled across a group (datasets)."""

    family = "loss"
    forms = FORMS
    grid_columns = ("params", "tokens")
    spec_keys: ClassVar[dict[str, dict[str, Any]]] = {
        "response": {"metric": "loss", "task": None, "prior_scale": "absolute"},
        "groups": {"by": "dataset", "min_runs": None},
        "data": {"checkpoints": "final", "datasets": None, **CHECKPOINT_KEYS},
        "likelihood": {
            "kind": "student_t",
            "nu": 4.0,
            "scale": "log",
            "sigma": {"dist": "HalfNormal", "sigma": 0.05},
            "inefficiency": {"dist": "HalfNormal", "sigma": 0.05},
        },
    }

    # --- data -----------------------------------------------------------------------------
    def _prepare(self) -> None:
        spec = self.spec
        self.group_col: str = self.option("groups.by")
        self.tasks = response_tasks(spec)
        if self.tasks == ("all",):
            f = self.data.frame
            metric = self.option("response.metric")
            self.tasks = tuple(sorted(f.loc[f["metric"] == metric, "task"].unique()))
            if not self.tasks:
                raise DataError(f"{self.data.source}: no rows with metric={metric!r}")
        if len(self.tasks) > 1 and self.group_col != "task":
            raise SpecError(
                f"{spec.source}: [response] task lists {len(self.tasks)} losses; set [groups] "
                f"by = 'task' so that each has its own law (got by = {self.group_col!r})"
            )
        self.params = {n: spec.param(n) for n in self.form.params}
        table = self.points(self.data)
        wanted = self.option("data.datasets")
        if wanted is not None:
            have = sorted(table[self.group_col].unique())
            unknown = [d for d in wanted if d not in have]
            if unknown:
                raise DataError(
                    f"{spec.source}: [data] datasets names {unknown}, not in {self.data.source} "
                    f"(its {self.group_col!r} values: {have})"
                )
            table = table[table[self.group_col].isin(wanted)]
        self.table = table.reset_index(drop=True)
        self.labels = tuple(sorted(self.table[self.group_col].unique()))
        self.levels = hierarchy.with_rows([Level(self.group_col, self.labels)], self.table)
        self._check_pooling()
        n = self.table["params"].to_numpy()
        d = self.table["tokens"].to_numpy()
        self.refs = {
            "compute": float(np.exp(np.mean(np.log(6 * n * d)))),
            "multiplier": float(np.exp(np.mean(np.log(d / n)))),
            "params": float(np.exp(np.mean(np.log(n)))),
            "tokens": float(np.exp(np.mean(np.log(d)))),
            "loss": float(np.exp(np.mean(np.log(self.table["truth"].to_numpy())))),
        }
        self._priors_on_response_scale()
        self.max_compute = float(np.max(6 * n * d))
        self.max_params = float(np.max(n))
        self.max_tokens = float(np.max(d))

    def _priors_on_response_scale(self) -> None:
        """``[response] prior_scale``: ``"absolute"``, the priors as written; ``"data"``, the
        priors of :data:`RESPONSE_UNITS` are for ``log(value / L0)``, so their location moves
        by ``log L0`` (``L0``: the geometric mean of the fitted losses, ``refs["loss"]``)."""
        mode = self.option("response.prior_scale")
        if mode not in ("absolute", "data"):
            raise SpecError(
                f"{self.spec.source}: [response] prior_scale must be 'absolute' or 'data' "
                f"(got {mode!r})"
            )
        if mode == "absolute":
            return
        shift = float(np.log(self.refs["loss"]))
        for name in RESPONSE_UNITS[self.spec.form]:
            p = self.params[name]
            if p.link != "log" or "mu" not in p.prior.kwargs:
                raise SpecError(
                    f"{self.spec.source}: [params.{name}] is in loss units; with [response] "
                    f"prior_scale = 'data' it needs link = 'log' and a prior with a location "
                    f"'mu' (got link {p.link!r}, prior {p.prior})"
                )
            moved = {**p.prior.kwargs, "mu": p.prior.kwargs["mu"] + shift}
            self.params[name] = replace(p, prior=Prior(p.prior.dist, moved))

    @property
    def response_link(self) -> str:  # type: ignore[override]
        return "log" if self.option("likelihood.scale") == "log" else "identity"

    def points(self, data: Observations) -> pd.DataFrame:
        tasks = self.tasks
        metric = self.option("response.metric")
        rows = data.frame[data.frame["task"].isin(tasks) & (data.frame["metric"] == metric)]
        absent = [t for t in tasks if t not in set(rows["task"])]
        if absent:
            have = sorted(data.frame.loc[data.frame["metric"] == metric, "task"].unique())
            raise DataError(
                f"{data.source}: no rows with task={absent[0]!r} and metric={metric!r} "
                f"(the spec's [response]); tasks with that metric: {have[:20]}"
            )
        if self.checkpoint_mode() == "final":
            rows = rows.loc[rows.groupby(["run", "task"], sort=False)["tokens"].idxmax()]
        else:
            rows = self.selected_checkpoints(rows)
        out = rows[["run", "params", "tokens"]].copy()
        group_col = self.group_col
        if group_col in rows.columns and rows[group_col].notna().all():
            out[group_col] = rows[group_col].astype(str)
        else:
            out[group_col] = "all"
        out["truth"] = rows["value"].to_numpy(dtype="float64")
        return out.reset_index(drop=True)

    def _check_pooling(self) -> None:
        varying = [p for p in self.params.values() if p.pooling != "shared"]
        if varying and len(self.labels) < 2 and any(p.pooling == "partial" for p in varying):
            raise DataError(
                f"{self.data.source}: the spec pools {[p.name for p in varying]} partially "
                f"across {self.group_col!r}, but the data have one group ({self.labels}); "
                "use pooling = 'shared' or add data from other groups"
            )
        counts = self.table.groupby(self.group_col)["run"].nunique()
        need = int(self.option("groups.min_runs") or len(varying) + 1)
        few = counts[counts < need]
        if varying and len(few):
            raise DataError(
                f"{self.data.source}: too few runs for the requested pooling: "
                f"{ {k: int(v) for k, v in few.items()} } run(s) in {self.group_col} group(s), "
                f"at least {need} needed "
                f"when {[p.name for p in varying]} vary by {self.group_col!r}"
            )
        # each distinct (N, D) is one point of the law: a run's checkpoints count as several
        points = len(self.table[["params", "tokens"]].drop_duplicates())
        if points <= len(self.form.params):
            raise DataError(
                f"{self.data.source}: {points} distinct (N, D) point(s) of "
                f"{self.table['run'].nunique()} run(s) cannot determine the "
                f"{len(self.form.params)} parameters of the {self.spec.form} law"
            )

    # --- model ----------------------------------------------------------------------------
    def _group_dims(self) -> str | None:
        return self.group_col if any(p.pooling != "shared" for p in self.params.values()) else None

    def _scaled(self, params: np.ndarray, tokens: np.ndarray) -> dict[str, np.ndarray]:
        r = self.refs
        return {
            "compute": 6 * params * tokens / r["compute"],
            "multiplier": tokens / params / r["multiplier"],
            "params": params / r["params"],
            "tokens": tokens / r["tokens"],
        }

    def build(self) -> pm.Model:
        t = self.table
        obs = t["run"] if len(self.tasks) == 1 else t["run"] + "/" + t[self.group_col]
        coords = {self.group_col: list(self.labels), "obs": obs.tolist()}
        g = pd.Categorical(t[self.group_col], categories=self.labels).codes
        x = self._scaled(t["params"].to_numpy(), t["tokens"].to_numpy())
        with pm.Model(coords=coords) as model:
            per_group = {n: hierarchy.build(p, self.levels) for n, p in self.params.items()}
            values = {n: v[g] for n, v in per_group.items()}
            mu = self.form.evaluate(x, values)
            self._derived(per_group)
            self._likelihood(mu, t["truth"].to_numpy())
        return model

    def _derived(self, v: dict) -> None:
        dims = self._group_dims()
        for name, value in self.form.derived(v, self.refs).items():
            pm.Deterministic(name, value if dims else value[0], dims=dims)

    def law_params(self) -> list[str]:
        return [*self.form.reported, "sigma", *self._shape_param()]

    def _shape_param(self) -> list[str]:
        """The noise model's second parameter when it is sampled: Student-t's ``nu`` given a
        prior, the frontier's ``inefficiency``."""
        kind = self.option("likelihood.kind")
        if kind == "frontier":
            return ["inefficiency"]
        sampled_nu = kind == "student_t" and isinstance(self.option("likelihood.nu"), dict)
        return ["nu"] if sampled_nu else []

    def _likelihood(self, mu, observed: np.ndarray) -> None:
        """Student-t, normal or frontier noise on log loss (``scale = "log"``, default) or on
        loss."""
        kind, scale = self.option("likelihood.kind"), self.option("likelihood.scale")
        if kind not in ("student_t", "normal", "frontier") or scale not in ("log", "identity"):
            raise SpecError(
                f"{self.spec.source}: [likelihood] kind must be 'student_t', 'normal' or "
                f"'frontier' and scale 'log' or 'identity' (got {kind!r}, {scale!r})"
            )
        sigma = Prior.from_dict(self.option("likelihood.sigma"), where="[likelihood].sigma").create(
            "sigma"
        )
        center = pt.log(mu) if scale == "log" else mu
        y = np.log(observed) if scale == "log" else observed
        nu = None
        if kind == "student_t":
            nu_raw = self.option("likelihood.nu")
            nu = (
                Prior.from_dict(nu_raw, where="[likelihood].nu").create("nu")
                if isinstance(nu_raw, dict)
                else float(nu_raw)
            )
        elif kind == "frontier":
            where = "[likelihood].inefficiency"
            nu = Prior.from_dict(self.option("likelihood.inefficiency"), where=where).create(
                "inefficiency"
            )
        LIKELIHOODS[kind].term("y", center, sigma, y, nu=nu, dims="obs")

    def _new_observation(self, posterior: xr.Dataset, mean: np.ndarray, rng) -> np.ndarray:
        """A new run's loss: the law plus the likelihood's noise, draw by draw."""
        kind, log = self.option("likelihood.kind"), self.option("likelihood.scale") == "log"
        sigma = posterior["sigma"].to_numpy()[:, None]
        shape = self._shape_param()
        nu = posterior[shape[0]].to_numpy()[:, None] if shape else self.option("likelihood.nu")
        new = LIKELIHOODS[kind].draw(np.log(mean) if log else mean, sigma, rng, nu=nu)
        return np.exp(new) if log else new

    # --- prediction -----------------------------------------------------------------------
    def _grid_groups(self, grid: pd.DataFrame) -> list[str]:
        if self.group_col in grid.columns:
            return grid[self.group_col].astype(str).tolist()
        if len(self.labels) == 1:
            return [self.labels[0]] * len(grid)
        raise DataError(
            f"prediction grid needs a {self.group_col!r} column: the fit has {list(self.labels)}"
        )

    def predict_draws(
        self,
        posterior: xr.Dataset,
        grid: pd.DataFrame,
        rng: np.random.Generator,
        inputs: Any = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        query = [(g,) for g in self._grid_groups(grid)]
        values = {
            n: hierarchy.draw(p, self.levels, posterior, query, rng) for n, p in self.params.items()
        }
        x = self._scaled(grid["params"].to_numpy(), grid["tokens"].to_numpy())
        mean = self.form.evaluate({k: v[None, :] for k, v in x.items()}, values)
        return mean, self._new_observation(posterior, mean, rng)

    def baseline_predictions(
        self, train: Observations, points: pd.DataFrame
    ) -> dict[str, np.ndarray]:
        """``curve_fit`` and Huber/L-BFGS point fits, one per group, on the training runs."""
        table = self.points(train)
        groups = self._grid_groups(points)
        out = {name: np.full(len(points), np.nan) for name in baselines.LOSS_BASELINES}
        for group, rows in table.groupby(self.group_col):
            mask = np.array([g == group for g in groups])
            if not mask.any():
                continue
            n, d, y = (rows[c].to_numpy() for c in ("params", "tokens", "truth"))
            for name, fit_fn in baselines.LOSS_BASELINES.items():
                p = fit_fn(self.spec.form, n, d, y)
                out[name][mask] = baselines.loss_law(
                    self.spec.form,
                    points["params"].to_numpy()[mask],
                    points["tokens"].to_numpy()[mask],
                    p,
                )
        return out

    def known_groups(self) -> dict[str, tuple[str, ...]]:
        return {self.group_col: self.labels} if self.labels != ("all",) else {}

    def distances(self, grid: pd.DataFrame) -> pd.DataFrame:
        """``compute_decades``, ``params_decades``, ``tokens_decades`` beyond the largest
        fitted run, and ``distance``, the largest of the three."""
        n, d = grid["params"].to_numpy(), grid["tokens"].to_numpy()
        out = pd.DataFrame(
            {
                "compute_decades": np.maximum(0.0, np.log10(6 * n * d / self.max_compute)),
                "params_decades": np.maximum(0.0, np.log10(n / self.max_params)),
                "tokens_decades": np.maximum(0.0, np.log10(d / self.max_tokens)),
            }
        )
        out["distance"] = out.max(axis=1)
        return out


def response_tasks(spec) -> tuple[str, ...]:
    """The spec's ``[response] task``: one loss, a list of them (one law per task), or
    ``("all",)``, every task of the response metric in the data."""
    task = spec.require("response.task", (str, list))
    tasks = (task,) if isinstance(task, str) else tuple(task)
    if not tasks or not all(isinstance(t, str) for t in tasks) or len(set(tasks)) < len(tasks):
        raise SpecError(
            f"{spec.source}: [response] task must be a task name or a list of distinct names "
            f"(got {task!r})"
        )
    return tasks
