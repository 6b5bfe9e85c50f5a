"""Downstream error (or accuracy) from loss: one curve per task, pooled task → domain → global.

Forms (the spec's ``form``):

- ``"exponential"`` (Gadre et al. 2024): ``Err_t(L) = ε_t − k_t·exp(−γ_t·L)`` with
  ``ε_t = (1 − chance_t)·eps_frac_t`` and ``k_t = ε_t·drop_t·exp(γ_t·L_ref)``;
- ``"sigmoid"`` (OLMo ladder, Bhagia et al. 2024): ``Acc_t(L) = a_t/(1 + exp(−k_t(L − L0_t))) +
  b_t`` with ``b_t = chance_t + (1 − chance_t)·floor_t``, ``a_t = (1 − b_t)·height_t``,
  ``k_t = −steep_t`` and ``L0_t = L_min + logit(reach_t)/steep_t``.

Both keep the error at or below the task's chance error (see :mod:`bayes_scaling.laws`). The
input loss ``L`` is a shared validation loss matched to each accuracy row by ``(run, tokens)``
(``[input] task``) or each task's own loss (``[input] per_task = true``, e.g. OLMo bits per
byte) matched by ``(run, tokens, task)``. ``L_ref`` is the median input loss of the fit,
``L_min`` its lowest.
With ``[input] shift_by = "dataset"`` the law sees ``L + δ_dataset`` (zero-sum shifts with scale
``shift_sd``, shared by all tasks): a validation loss measured on C4 flatters C4-trained models,
so the same loss means different downstream error after different pretraining corpora (the
reason Gadre et al. fit one curve per dataset). ``[input] noise > 0`` treats the input loss as
measured with that standard deviation (errors-in-variables, one latent per input row).

Likelihoods (``[likelihood] kind``): ``binomial`` and ``beta_binomial`` on error counts
(``n_items`` needed), ``beta`` and ``student_t`` on the accuracy, with per-task noise
(``[params.kappa]`` or ``[params.sigma]``, pooled over tasks).

Prediction grids have a ``loss`` column (direct) or ``params, tokens`` (and the loss fit's
group column, e.g. ``dataset``) with ``loss_fit=`` (chained through a loss-family fit: each
posterior draw of the loss is paired with one draw of the downstream posterior, so the loss
uncertainty flows into the error). Tasks come from a ``task`` column or ``tasks=`` (a preset
``"avg17"``/``"avg46"``, a comma-separated list or ``"all"``). Tasks absent from the fit are
drawn from their domain's population (:func:`bayes_scaling.hierarchy.draw`). Chaining is in
:mod:`bayes_scaling.models.chaining`, task sets and their averages in
:mod:`bayes_scaling.models.task_sets`, an unseen task updated by a few of its observations in
:mod:`bayes_scaling.models.unseen_tasks`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from bayes_scaling import hierarchy, laws
from bayes_scaling.baselines import downstream_baselines
from bayes_scaling.checkpoints import CHECKPOINT_KEYS
from bayes_scaling.data.domains import domain_of
from bayes_scaling.data.schema import DataError, Observations
from bayes_scaling.hierarchy import Level
from bayes_scaling.likelihoods import LIKELIHOODS
from bayes_scaling.models import chaining
from bayes_scaling.models.base import Form, ScalingModel, positive_column
from bayes_scaling.models.chaining import ChainedLoss
from bayes_scaling.models.task_sets import TASK_SETS, resolve_tasks
from bayes_scaling.spec import SpecError


def _exponential_derived(v: Mapping[str, Any], r: Mapping[str, Any]) -> dict[str, Any]:
    eps = laws.chance_bounded_epsilon(v["eps_frac"], r["chance"])
    return {"epsilon": eps, "k": laws.error_from_loss_k(eps, v["drop"], v["gamma"], r["loss"])}


def _sigmoid_derived(v: Mapping[str, Any], r: Mapping[str, Any]) -> dict[str, Any]:
    a, b = laws.sigmoid_bounds(v["floor"], v["height"], r["chance"])
    L0 = laws.sigmoid_midpoint(v["reach"], v["steep"], r["loss"])
    return {"a": a, "b": b, "k": -v["steep"], "L0": L0}


#: The error laws, ``error(loss, values, chance, loss_ref)`` in their chance-bounded
#: parameterisation; ``derived`` gives the per-task law values put in the posterior, with
#: ``r = {"chance": ..., "loss": loss_ref}`` (:data:`bayes_scaling.laws.DOWNSTREAM_REFERENCE`).
FORMS = {
    "exponential": Form(
        law=laws.exponential_error,
        params=("eps_frac", "drop", "gamma"),
        derived=_exponential_derived,
        reported=("epsilon", "k", "gamma"),
    ),
    "sigmoid": Form(
        law=laws.sigmoid_error,
        params=("floor", "height", "steep", "reach"),
        derived=_sigmoid_derived,
        reported=("a", "k", "L0", "b"),
    ),
}
#: The spec's ``[likelihood] kind`` (:mod:`bayes_scaling.likelihoods`) a downstream fit takes.
KINDS = ("binomial", "beta_binomial", "beta", "student_t")


class DownstreamModel(ScalingModel):
    """Task error against loss, each task its own curve, partially pooled by domain."""

    family = "downstream"
    forms = FORMS
    grid_columns = ("loss",)
    spec_keys: ClassVar[dict[str, dict[str, Any]]] = {
        "response": {"metric": "accuracy", "report": "error", "task": None, "tasks": "all"},
        "input": {
            "metric": "loss",
            "noise": 0.0,
            "per_task": False,
            "shift_by": None,
            "shift_sd": 0.1,
            "task": None,
        },
        "groups": {"levels": ["domain", "task"]},
        "data": {"checkpoints": "final", **CHECKPOINT_KEYS},
        "likelihood": {"kind": "beta_binomial", "nu": 4.0},
    }

    # --- data -----------------------------------------------------------------------------
    def _prepare(self) -> None:
        spec, option = self.spec, self.option
        self.kind: str = option("likelihood.kind")
        if self.kind not in KINDS:
            raise SpecError(
                f"{spec.source}: [likelihood] kind {self.kind!r} is not one of {list(KINDS)}"
            )
        self.noise_model = LIKELIHOODS[self.kind]
        self.nu = float(option("likelihood.nu"))
        self.params = {n: spec.param(n) for n in self.form.params}
        self.noise_param = spec.param(self.noise_model.noise) if self.noise_model.noise else None
        levels = option("groups.levels")
        if levels not in (["domain", "task"], ["task"]):
            raise SpecError(
                f"{spec.source}: [groups] levels must be ['domain', 'task'] or ['task'], "
                f"got {levels!r}"
            )
        self.level_names: tuple[str, ...] = tuple(levels)
        self.report: str = option("response.report")
        if self.report not in ("error", "accuracy"):
            raise SpecError(f"{spec.source}: [response] report must be 'error' or 'accuracy'")
        self.per_task: bool = bool(option("input.per_task"))
        self.input_metric: str = option("input.metric")
        #: the shared input loss's task (``None``: each task's own loss)
        self.input_task = None if self.per_task else spec.require("input.task", str)
        self.input_noise = float(option("input.noise"))
        if self.input_noise < 0:
            raise SpecError(f"{spec.source}: [input] noise must be >= 0")
        self.shift_by: str | None = option("input.shift_by")
        self.shift_sd = float(option("input.shift_sd"))
        if self.shift_by is not None and not self.shift_sd > 0:
            raise SpecError(f"{spec.source}: [input] shift_sd must be > 0")
        table = self.points(self.data)
        if table.empty:
            raise DataError(f"{self.data.source}: no response rows left for the fit")
        self.table = table
        info = table.groupby("task", sort=True).agg(
            domain=("domain", "first"),
            n_domains=("domain", "nunique"),
            chance=("chance", "first"),
            n_items=("n_items", "max"),
            loss_min=("loss", "min"),
        )
        clash = info[info["n_domains"] > 1]
        if len(clash):
            raise DataError(
                f"{self.data.source}: task {clash.index[0]!r} appears under several domains"
            )
        self.task_info = info
        self.tasks: tuple[str, ...] = tuple(info.index)
        if "domain" in self.level_names:
            self.domains: tuple[str, ...] = tuple(sorted(info["domain"].unique()))
            parent = tuple(self.domains.index(d) for d in info["domain"])
            self.levels = [
                Level("domain", self.domains),
                Level("task", self.tasks, parent),
            ]
        else:
            self.domains = ()
            self.levels = [Level("task", self.tasks)]
        self.levels = hierarchy.with_rows(self.levels, table)
        if self.noise_model.counts and table["n_items"].isna().any():
            bad = table.loc[table["n_items"].isna(), "task"].iloc[0]
            raise DataError(
                f"{self.data.source}: likelihood {self.kind!r} needs item counts, but task "
                f"{bad!r} has no 'n_items'; use kind = 'beta' or 'student_t'"
            )
        self.shift_labels: tuple[str, ...] = ()
        if self.shift_by is not None:
            if self.shift_by not in table.columns or table[self.shift_by].isna().any():
                raise DataError(
                    f"{self.data.source}: [input] shift_by = {self.shift_by!r}, but the "
                    "response rows lack that column (or have empty values)"
                )
            labels = tuple(sorted(table[self.shift_by].astype(str).unique()))
            self.shift_labels = labels if len(labels) > 1 else ()  # one group: nothing to shift
        loss = table["loss"].to_numpy()
        self.loss_ref = float(np.median(loss))
        self.loss_min = float(loss.min())
        #: the loss the form's parameters refer to (its ``loss_ref``)
        self.reference_loss = float(laws.DOWNSTREAM_REFERENCE[spec.form](loss))
        self.loss_range = float(loss.max() - loss.min()) or 1.0
        n, d = table["params"].to_numpy(float), table["tokens"].to_numpy(float)
        self.max_params = float(n.max())
        self.max_compute = float(laws.flops(n, d).max())

    def _rows(self, data: Observations, tasks: Sequence[str] | None) -> pd.DataFrame:
        """Response rows of ``data`` (restricted to ``tasks`` unless ``None``) with their loss."""
        spec = self.spec
        f = data.frame
        metric = self.option("response.metric")
        if metric not in ("accuracy", "error"):
            raise SpecError(f"{spec.source}: [response] metric must be 'accuracy' or 'error'")
        rows = f[f["metric"] == metric]
        if rows.empty:
            raise DataError(f"{data.source}: no rows with metric={metric!r} (the [response])")
        if tasks is not None:
            missing = sorted(set(tasks) - set(rows["task"]))
            if missing:
                raise DataError(
                    f"{data.source}: [response] tasks names {missing[:5]}"
                    f"{' …' if len(missing) > 5 else ''}, not among its {metric} tasks"
                )
            rows = rows[rows["task"].isin(tasks)]
        rows = self._checkpoints(rows)
        inputs = f[f["metric"] == self.input_metric]
        keys = ["run", "tokens"]
        if self.per_task:
            keys.append("task")
        else:
            inputs = inputs[inputs["task"] == self.input_task]
        if inputs.empty:
            what = f"metric={self.input_metric!r}" + (
                "" if self.per_task else f", task={self.input_task!r}"
            )
            raise DataError(f"{data.source}: no input loss rows with {what} (the spec's [input])")
        inputs = inputs[[*keys, "value"]].rename(columns={"value": "loss"})
        merged = rows.merge(inputs, on=keys, how="left", validate="many_to_one")
        lost = merged["loss"].isna()
        if lost.all():
            raise DataError(
                f"{data.source}: no {metric} row has a matching input loss (matched on {keys})"
            )
        merged = merged[~lost]
        value = merged["value"].to_numpy(dtype="float64")
        error = 1.0 - value if metric == "accuracy" else value
        out = merged[["run", "params", "tokens", "task"]].copy()
        for col in ("dataset", "step"):
            if col in merged.columns:
                out[col] = merged[col]
        domain = merged["domain"] if "domain" in merged.columns else pd.Series(pd.NA, merged.index)
        out["domain"] = [
            str(d) if isinstance(d, str) and d else domain_of(str(t))
            for d, t in zip(domain, merged["task"], strict=True)
        ]
        chance = merged["chance"] if "chance" in merged.columns else pd.Series(np.nan, merged.index)
        if chance.isna().any():
            bad = merged.loc[chance.isna().to_numpy(), "task"].iloc[0]
            raise DataError(
                f"{data.source}: task {bad!r} has no 'chance' (chance accuracy); the "
                "downstream family bounds each task's error by 1 − chance"
            )
        out["chance"] = chance.to_numpy(dtype="float64")
        n_items = merged["n_items"] if "n_items" in merged.columns else np.nan
        out["n_items"] = pd.to_numeric(pd.Series(n_items, index=merged.index), errors="coerce")
        out["loss"] = merged["loss"].to_numpy(dtype="float64")
        out["truth"] = error if self.report == "error" else 1.0 - error
        return out.reset_index(drop=True)

    def _checkpoints(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Each run's last checkpoint (``[data] checkpoints = "final"``), or the checkpoints
        :mod:`bayes_scaling.checkpoints` keeps (``"all"``)."""
        if self.checkpoint_mode() == "final":
            return rows[rows["tokens"] == rows.groupby("run")["tokens"].transform("max")]
        return self.selected_checkpoints(rows)

    def points(self, data: Observations) -> pd.DataFrame:
        """Response rows of ``data`` for the spec's task set, with the input ``loss`` and
        ``truth`` (error or accuracy, as ``[response] report`` says)."""
        wanted = self.option("response.tasks")
        tasks = None if wanted == "all" else resolve_tasks(wanted)
        return self._rows(data, tasks)

    # --- model ----------------------------------------------------------------------------
    def _error(self, loss, v: Mapping[str, Any], chance):
        """The law's error at ``loss`` (numpy or PyTensor, broadcasting)."""
        return self.form.law(loss, v, chance, self.reference_loss)

    def build(self) -> pm.Model:
        t = self.table
        ti = pd.Categorical(t["task"], categories=self.tasks).codes
        chance_t = self.task_info["chance"].to_numpy()
        coords: dict[str, Any] = {"task": list(self.tasks), "obs": np.arange(len(t))}
        if self.domains:
            coords["domain"] = list(self.domains)
        with pm.Model(coords=coords) as model:
            per_task = {n: hierarchy.build(p, self.levels) for n, p in self.params.items()}
            self._derived(per_task, chance_t)
            loss: Any = t["loss"].to_numpy()
            if self.input_noise > 0:
                keys = ["run", "tokens", "task"] if self.per_task else ["run", "tokens"]
                codes, uniques = pd.factorize(pd.MultiIndex.from_frame(t[keys]))
                model.add_coord("input_obs", np.arange(len(uniques)))
                z = pm.Normal("loss_z", 0.0, 1.0, dims="input_obs")
                loss = loss + self.input_noise * z[codes]
            if self.shift_labels:
                # one shift of the input loss per pretraining set, shared by every task: the
                # same validation loss means a different capability after different corpora
                model.add_coord(self.shift_by, list(self.shift_labels))
                shift = pm.ZeroSumNormal("loss_shift", sigma=self.shift_sd, dims=self.shift_by)
                codes = pd.Categorical(t[self.shift_by], categories=self.shift_labels).codes
                loss = loss + shift[codes]
            err = self._error(loss, {n: v[ti] for n, v in per_task.items()}, chance_t[ti])
            noise = hierarchy.build(self.noise_param, self.levels)[ti] if self.noise_param else None
            self._likelihood(err, noise, ti)
        return model

    def _derived(self, v: Mapping[str, Any], chance) -> None:
        refs = {"chance": chance, "loss": self.reference_loss}
        for name, value in self.form.derived(v, refs).items():
            pm.Deterministic(name, value, dims="task")

    def _likelihood(self, err, noise, task_idx: np.ndarray) -> None:
        t = self.table
        truth = t["truth"].to_numpy()
        y = truth if self.report == "error" else 1.0 - truth
        n = t["n_items"].to_numpy(dtype="float64")
        self.noise_model.term("y", err, noise, y, n=n, nu=self.nu, dims="obs", groups=task_idx)

    def law_params(self) -> list[str]:
        names = list(self.params)
        glob = [
            n if self.params[n].pooling == "shared" else f"{n}_mu"
            for n in names
            if self.params[n].pooling in ("shared", "partial")
        ]
        dom = [f"{n}_domain" for n in names if self.domains and self.params[n].pooling == "partial"]
        noise = [self.noise_param.name] if self.noise_param else []
        shift = ["loss_shift"] if self.shift_labels else []
        return [*glob, *dom, *self.form.reported, *noise, *shift]

    # --- prediction grids -----------------------------------------------------------------
    def known_groups(self) -> dict[str, tuple[str, ...]]:
        return {"task": self.tasks, "domain": self.domains}

    def check_grid(
        self,
        grid: pd.DataFrame,
        *,
        source: str = "<grid>",
        tasks: str | Sequence[str] | None = None,
        chained: bool = False,
    ) -> pd.DataFrame:
        """Validate a grid and attach what each point needs (domain, chance, item count).

        Parameters
        ----------
        grid
            ``loss`` (direct) or ``params, tokens`` (chained; plus the loss fit's group column,
            e.g. ``dataset``, when it has several groups), and ``task`` unless ``tasks`` is
            given. Optional ``domain``, ``chance`` and ``n_items`` for tasks not in the fit.
        tasks
            Expand every row over these tasks: ``"avg17"``, ``"avg46"``, ``"all"`` (the fitted
            tasks), a comma-separated string or a list.
        chained
            The input loss comes from loss fits (:meth:`chain`): the grid gives ``params,
            tokens`` instead of ``loss``.
        """
        out = grid.reset_index(drop=True).copy()
        numeric = ("params", "tokens") if chained else ("loss",)
        missing = [c for c in numeric if c not in out.columns]
        if missing:
            how = "chained predictions (loss_fit=)" if chained else "direct predictions"
            raise DataError(
                f"{source}: prediction grid lacks column(s) {missing} for {how}; give 'loss', "
                "or 'params' and 'tokens' with loss_fit="
            )
        for col in numeric:
            out[col] = positive_column(out, col, source=source)
        if tasks is not None:
            if "task" in out.columns:
                raise DataError(f"{source}: the grid has a 'task' column and tasks= was given")
            names = resolve_tasks(tasks, self.tasks)
            out = out.merge(pd.DataFrame({"task": list(names)}), how="cross")
        elif "task" not in out.columns:
            raise DataError(
                f"{source}: prediction grid needs a 'task' column or tasks= "
                f"(a preset {sorted(TASK_SETS)}, 'all', or a list)"
            )
        out["task"] = out["task"].astype(str)
        self._task_columns(out, source)
        return out

    def chain(
        self, grid: pd.DataFrame, loss_fit: Any, *, source: str
    ) -> tuple[pd.DataFrame, ChainedLoss]:
        """The chaining stage (:func:`bayes_scaling.models.chaining.chain`): the loss fit(s)'
        draws of this fit's input loss at the grid's ``params, tokens``, and the grid with
        ``loss`` (their median) and the loss fit's distance columns."""
        return chaining.chain(
            grid, loss_fit, source=source, metric=self.input_metric, task=self.input_task
        )

    def _task_columns(self, out: pd.DataFrame, source: str) -> None:
        info = self.task_info
        known = out["task"].isin(self.tasks).to_numpy()
        given_domain = out["domain"] if "domain" in out.columns else pd.Series(pd.NA, out.index)
        out["domain"] = [
            info.at[t, "domain"] if k else (str(d) if isinstance(d, str) and d else domain_of(t))
            for t, k, d in zip(out["task"], known, given_domain, strict=True)
        ]
        for col in ("chance", "n_items"):
            given = (
                pd.to_numeric(out[col], errors="coerce")
                if col in out.columns
                else pd.Series(np.nan, index=out.index)
            )
            fitted = out["task"].map(info[col]).astype("float64")
            out[col] = np.where(known, fitted, given.to_numpy(dtype="float64"))
        lacking = np.isnan(out["chance"].to_numpy())
        if lacking.any():
            row = int(np.flatnonzero(lacking)[0])
            raise DataError(
                f"{source}: row {row + 2}: task {out['task'].iloc[row]!r} is not in the fit; "
                "give its chance accuracy in a 'chance' column (and 'domain', 'n_items')"
            )
        if self.noise_model.counts and np.isnan(out["n_items"]).any():
            row = int(np.flatnonzero(np.isnan(out["n_items"].to_numpy()))[0])
            raise DataError(
                f"{source}: row {row + 2}: task {out['task'].iloc[row]!r} is not in the fit; "
                f"the {self.kind} likelihood needs its item count in an 'n_items' column"
            )
        out["new_task"] = ~known

    # --- prediction -----------------------------------------------------------------------
    def task_draws(
        self, posterior: xr.Dataset, grid: pd.DataFrame, rng: np.random.Generator
    ) -> dict[str, np.ndarray]:
        """Law and noise parameters per grid point, ``(n_samples, len(grid))`` each."""
        query = hierarchy.labels(self.levels, grid)
        specs = dict(self.params)
        if self.noise_param is not None:
            specs[self.noise_param.name] = self.noise_param
        v = {n: hierarchy.draw(p, self.levels, posterior, query, rng) for n, p in specs.items()}
        if self.shift_labels:
            v["loss_shift"] = self._shift_draws(posterior, grid, rng)
        return v

    def _shift_draws(
        self, posterior: xr.Dataset, grid: pd.DataFrame, rng: np.random.Generator
    ) -> np.ndarray:
        """The input-loss shift of each point's group; a group absent from the fit gets fresh
        draws from ``Normal(0, shift_sd)``."""
        col = self.shift_by
        if col not in grid.columns:
            raise DataError(
                f"prediction grid needs a {col!r} column: the fit shifts the input loss by "
                f"{col} ({list(self.shift_labels)})"
            )
        n = posterior.sizes["sample"]
        out = np.empty((n, len(grid)))
        for label in pd.unique(grid[col].astype(str)):
            at = (grid[col].astype(str) == label).to_numpy()
            if label in self.shift_labels:
                draws = posterior["loss_shift"].sel({col: label}).to_numpy()
            else:
                draws = self.shift_sd * rng.standard_normal(n)
            out[:, at] = draws[:, None]
        return out

    def predict_draws(
        self,
        posterior: xr.Dataset,
        grid: pd.DataFrame,
        rng: np.random.Generator,
        inputs: Any = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        v = self.task_draws(posterior, grid, rng)
        return self._predict_from(v, grid, rng, inputs)

    def _predict_from(
        self,
        v: dict[str, np.ndarray],
        grid: pd.DataFrame,
        rng: np.random.Generator,
        inputs: ChainedLoss | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        n = next(iter(v.values())).shape[0]
        chance = grid["chance"].to_numpy(dtype="float64")[None, :]
        if inputs is not None:
            m = inputs.mean.shape[0]
            idx = rng.choice(m, size=n, replace=m < n)  # pair each draw with one loss draw
            loss_mean, loss_new = inputs.mean[idx], inputs.new[idx]
        else:
            loss_mean = loss_new = grid["loss"].to_numpy(dtype="float64")[None, :]
        if "loss_shift" in v:
            loss_mean, loss_new = loss_mean + v["loss_shift"], loss_new + v["loss_shift"]
        # The exponential law crosses zero error at low enough loss: floor the law at 0 (an
        # error rate cannot be negative; ``loss_below_fit`` flags such extrapolations).
        mean = np.clip(self._error(loss_mean, v, chance), 0.0, 1.0)
        center = self._error(loss_new, v, chance)
        new = self._noisy(center, v, grid, rng)
        if self.report == "accuracy":
            return 1.0 - mean, 1.0 - new
        return np.broadcast_to(mean, new.shape).copy(), new

    def _noise_draws(self, v: Mapping[str, np.ndarray]) -> np.ndarray | None:
        return v[self.noise_param.name] if self.noise_param is not None else None

    def _noisy(self, center: np.ndarray, v, grid: pd.DataFrame, rng) -> np.ndarray:
        """A new evaluation's error around ``center``, drawn with the likelihood's noise."""
        n = grid["n_items"].to_numpy(dtype="float64")
        new = self.noise_model.draw(center, self._noise_draws(v), rng, n=n, nu=self.nu)
        return np.clip(new, 0.0, 1.0)  # an error rate (a no-op but for student_t)

    def _loglik(self, v: Mapping[str, np.ndarray], rows: pd.DataFrame) -> np.ndarray:
        """Log-likelihood of ``rows`` (response rows with ``loss``) per sample of ``v``."""
        chance = rows["chance"].to_numpy(dtype="float64")[None, :]
        loss = rows["loss"].to_numpy(dtype="float64")[None, :]
        if "loss_shift" in v:
            loss = loss + v["loss_shift"]
        err = self._error(loss, v, chance)
        truth = rows["truth"].to_numpy(dtype="float64")[None, :]
        y = truth if self.report == "error" else 1.0 - truth
        n = rows["n_items"].to_numpy(dtype="float64")[None, :]
        ll = self.noise_model.logpdf(y, err, self._noise_draws(v), n=n, nu=self.nu)
        return ll.sum(axis=1)

    def distances(self, grid: pd.DataFrame) -> pd.DataFrame:
        """``loss_below_fit``: how far the (median) loss lies below the lowest loss the task
        was fitted on (the domain's, or the fit's, for a new task). ``distance`` (decades,
        the unit of :mod:`bayes_scaling.discrepancy`): a chained grid carries the loss
        fit's (with its ``compute_decades`` and ``params_decades``); a grid with ``params``
        and ``tokens`` gets the larger of the compute and parameter decades beyond this
        fit's largest run; a grid of losses alone has none (and so no extrapolation
        error)."""
        loss = grid["loss"].to_numpy(dtype="float64")
        low = grid["task"].map(self.task_info["loss_min"]).fillna(self.loss_min).to_numpy()
        below = np.maximum(0.0, low - loss)
        out = pd.DataFrame({"loss_below_fit": below})
        if "distance" not in grid.columns and {"params", "tokens"} <= set(grid.columns):
            n, d = grid["params"].to_numpy(float), grid["tokens"].to_numpy(float)
            out["compute_decades"] = np.maximum(0.0, np.log10(laws.flops(n, d) / self.max_compute))
            out["params_decades"] = np.maximum(0.0, np.log10(n / self.max_params))
            out["distance"] = np.maximum(out["compute_decades"], out["params_decades"])
        return out

    # --- baselines ------------------------------------------------------------------------
    def baseline_predictions(
        self, train: Observations, points: pd.DataFrame
    ) -> dict[str, np.ndarray]:
        """Point-fit baselines for ``points`` (see :mod:`bayes_scaling.baselines`)."""
        return downstream_baselines(self, train, points)
