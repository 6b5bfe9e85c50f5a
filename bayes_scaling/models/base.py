"""The life of every model: build → prior check → fit → predict → save/load.

A family subclasses :class:`ScalingModel` and implements how it reads its response from the
observations (``_prepare``), how it writes the PyMC model (``build``), and how it evaluates
its law on posterior draws for a grid of new points (``predict_draws``). Everything else —
sampling, the fit file, summaries, diagnostics — lives here once, and
every prediction ends in :meth:`Fit.assemble` (tables: :mod:`bayes_scaling.models.prediction`).

Constructors never sample. A :class:`Fit` holds the DataTree together with the spec and the
data it came from, so a saved fit can always be rebuilt and predicted from.
"""

from __future__ import annotations

import html
import importlib
import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from bayes_scaling import discrepancy, fitfile, inference
from bayes_scaling.chains import fit_chains
from bayes_scaling.checkpoints import checkpoint_mode, select_checkpoints
from bayes_scaling.constants import CI_PROB
from bayes_scaling.data.schema import DataError, Observations
from bayes_scaling.hashing import arrays_digest, digest
from bayes_scaling.hierarchy import stacked
from bayes_scaling.models.prediction import Prediction, flag_new_groups
from bayes_scaling.report import labelled, summarize
from bayes_scaling.spec import ModelSpec, SamplerConfig, SpecError, load_spec


@dataclass(frozen=True)
class Form:
    """One functional form of a family's law, as the spec's ``form`` key names it.

    Parameters
    ----------
    law
        The formula (:mod:`bayes_scaling.laws`, numpy and PyTensor alike).
    params
        The spec's ``[params]`` the law takes; with ``inputs``, in the law's order after them
        (checked against its required arguments).
    reported
        The law values a summary shows (parameters or ``derived`` names), where the family
        reports them from its form.
    inputs
        The law's leading positional inputs, for a law that takes its parameters by position.
    derived
        ``derived(values, refs)``: the quantities put in the posterior (e.g. ``a``, ``b``,
        ``M_star``) from the parameter values and the family's reference values.
    """

    law: Callable[..., Any]
    params: tuple[str, ...]
    reported: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    derived: Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        arguments = inspect.signature(self.law).parameters.values()
        taken = sum(a.default is inspect.Parameter.empty for a in arguments)
        if self.inputs and taken != len(self.inputs) + len(self.params):
            raise TypeError(
                f"{self.law.__name__} requires {taken} arguments, but the form gives "
                f"{len(self.inputs)} inputs {self.inputs} and {len(self.params)} parameters "
                f"{self.params}"
            )

    def evaluate(self, x: Mapping[str, Any], values: Mapping[str, Any], **extra: Any) -> Any:
        """The law at inputs ``x`` with parameter ``values`` (both by name) and any of its
        optional arguments in ``extra``."""
        args = (*(x[k] for k in self.inputs), *(values[k] for k in self.params))
        return self.law(*args, **extra)


class ScalingModel(ABC):
    """A model family bound to one spec and one observation table (no sampling here)."""

    family: ClassVar[str]
    #: The family's forms of its law by name (the spec's ``form`` key chooses one).
    forms: ClassVar[Mapping[str, Form]]
    #: The version of the family's model (its PyMC graph and prediction draws), written into
    #: every fit file and checked on load: bump it when a change would make an old fit file
    #: predict with a model other than the one that sampled it.
    model_version: ClassVar[int] = 1
    #: Columns a prediction grid must have (besides optional group columns).
    grid_columns: ClassVar[tuple[str, ...]]
    #: Link scale of the response, on which the extrapolation error is added.
    response_link: str = "logit"
    #: The keys the family reads in each spec section and their defaults, declared once
    #: (``None``: no default; any other key is an error naming it). Read with :meth:`option`.
    spec_keys: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init__(self, spec: ModelSpec, data: Observations) -> None:
        if spec.family != self.family:
            raise SpecError(f"{spec.source}: family {spec.family!r} is not {self.family!r}")
        if spec.form not in self.forms:
            raise SpecError(f"{spec.source}: key 'form' must be one of {tuple(self.forms)}")
        spec.check_sections(self.spec_keys, family=self.family)
        self.spec = spec
        self.data = data
        #: the spec's form of the law (:class:`Form`)
        self.form: Form = self.forms[spec.form]
        self._prepare()

    def option(self, dotted: str) -> Any:
        """The spec's value of the declared key ``dotted`` (``"data.max_checkpoints"``), or
        its default in :attr:`spec_keys`."""
        section, key = dotted.split(".", 1)
        declared = self.spec_keys.get(section, {})
        if key not in declared:
            raise KeyError(f"{type(self).__name__} declares no [{section}] key {key!r}")
        return self.spec.get(dotted, declared[key])

    def checkpoint_mode(self) -> str:
        """``[data] checkpoints``, ``"final"`` or ``"all"`` (checked)."""
        where = f"{self.spec.source}: [data]"
        return checkpoint_mode(self.option("data.checkpoints"), where=where)

    def selected_checkpoints(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The checkpoints of ``rows`` the spec's ``[data]`` keeps
        (:mod:`bayes_scaling.checkpoints`: one meaning in every family)."""
        return select_checkpoints(
            rows,
            min_tokens=float(self.option("data.min_tokens")),
            drop_first_fraction=float(self.option("data.drop_first_fraction")),
            max_checkpoints=self.option("data.max_checkpoints"),
            spacing=self.option("data.checkpoint_spacing"),
            where=f"{self.spec.source}: [data]",
        )

    # --- what a family implements ---------------------------------------------------------
    @abstractmethod
    def _prepare(self) -> None:
        """Select the response from ``self.data``, check it against the spec, set arrays."""

    @abstractmethod
    def build(self) -> pm.Model:
        """The PyMC model."""

    @abstractmethod
    def law_params(self) -> list[str]:
        """Posterior variables that make up the headline parameter table, in order."""

    @abstractmethod
    def predict_draws(
        self,
        posterior: xr.Dataset,
        grid: pd.DataFrame,
        rng: np.random.Generator,
        inputs: Any = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draws ``(mean law, new observation)``, each ``(n_samples, len(grid))``.

        ``inputs``: draws of the grid's inputs from upstream fits (:meth:`chain`), or None.
        """

    @abstractmethod
    def points(self, data: Observations) -> pd.DataFrame:
        """The response rows of ``data`` as a prediction grid with a ``truth`` column."""

    @abstractmethod
    def distances(self, grid: pd.DataFrame) -> pd.DataFrame:
        """Columns saying how far each grid point lies beyond the training data.

        A family whose predictions extrapolate in N and D includes ``distance``: decades
        beyond the fitted range in the furthest of its inputs (0 inside it), the one unit the
        extrapolation error (:mod:`bayes_scaling.discrepancy`) and the calibration use.
        """

    def baseline_predictions(
        self, train: Observations, points: pd.DataFrame
    ) -> dict[str, np.ndarray]:
        """Point-fit baselines fitted on ``train``, predicted at ``points`` (default: none)."""
        return {}

    def known_groups(self) -> dict[str, tuple[str, ...]]:
        """The fitted labels of each group column a grid may name (``{"dataset": (...)}``).

        A grid value outside them is predicted from its population and flagged
        (:func:`flag_new_groups`).
        """
        return {}

    def check_grid(
        self, grid: pd.DataFrame, *, source: str = "<grid>", chained: bool = False, **options: Any
    ) -> pd.DataFrame:
        """Validate a prediction grid; the default checks ``grid_columns`` are positive.

        Families may accept ``options`` (e.g. ``tasks`` to expand the grid over a task set);
        unknown options are an error. ``chained``: the grid's input will come from upstream
        fits (:meth:`chain`), so it gives what they take instead.
        """
        if chained:
            raise DataError(self._no_upstream(source))
        if options:
            raise DataError(
                f"{self.family} predictions take no options {sorted(options)} "
                "(tasks and loss_fit are for the downstream family)"
            )
        missing = [c for c in self.grid_columns if c not in grid.columns]
        if missing:
            raise DataError(f"{source}: prediction grid lacks column(s) {missing}")
        out = grid.reset_index(drop=True).copy()
        for col in self.grid_columns:
            out[col] = positive_column(out, col, source=source)
        return out

    def chain(self, grid: pd.DataFrame, loss_fit: Any, *, source: str) -> tuple[pd.DataFrame, Any]:
        """The chaining stage: draws of the grid's inputs from upstream fits, and the grid
        with the columns they give. Only the downstream family has an upstream (loss fits)."""
        raise DataError(self._no_upstream(source))

    def prepare_grid(
        self, grid: pd.DataFrame, *, loss_fit: Any = None, **options: Any
    ) -> tuple[pd.DataFrame, Any]:
        """A checked grid (:meth:`check_grid`) and, given ``loss_fit``, the chaining stage
        (:meth:`chain`): the grid every prediction path starts from, and its upstream input
        draws (None without ``loss_fit``)."""
        grid = self.check_grid(grid, chained=loss_fit is not None, **options)
        if loss_fit is None:
            return grid, None
        return self.chain(grid, loss_fit, source=options.get("source", "<grid>"))

    def _no_upstream(self, source: str) -> str:
        return (
            f"{source}: {self.family} predictions take no loss_fit= (it chains loss fits into "
            "a downstream fit)"
        )

    # --- shared machinery -----------------------------------------------------------------
    def prior_predictive(self, draws: int = 200, seed: int = 0) -> xr.DataTree:
        """Prior and prior-predictive draws, for checking priors before fitting."""
        with self.build():
            return pm.sample_prior_predictive(draws=draws, random_seed=seed)

    def fit(
        self,
        *,
        seed: int = 0,
        draws: int | None = None,
        tune: int | None = None,
        chains: int | None = None,
        sampler: str | SamplerConfig | None = None,
        target_accept: float | None = None,
        mass_matrix: str | None = None,
        cores: int | None = None,
        progressbar: bool | None = None,
        client: Any = None,
    ) -> Fit:
        """Sample the posterior.

        The sampler settings are the spec's ``[sampler]`` (:attr:`ModelSpec.sampler`), or
        ``sampler`` when it is a :class:`~bayes_scaling.spec.SamplerConfig`, with the other
        keyword arguments over them (``sampler`` as a string names the NUTS implementation);
        a bad value is a :class:`SpecError` before any work. With a Dask ``client``, each
        chain runs as its own task on the cluster and the chains are merged into one DataTree
        (see :func:`bayes_scaling.chains.fit_chains`).
        """
        base = sampler if isinstance(sampler, SamplerConfig) else self.spec.sampler
        config = base.updated(
            where="fit() sampler argument:",
            name=None if isinstance(sampler, SamplerConfig) else sampler,
            draws=draws,
            tune=tune,
            chains=chains,
            target_accept=target_accept,
            mass_matrix=mass_matrix,
        )
        if client is not None:
            tree = fit_chains(self, client=client, seed=seed, config=config)
        else:
            tree = inference.sample(
                self.build(), config, seed=seed, cores=cores, progressbar=progressbar
            )
        return Fit(self.spec, self.data, tree, seed, _model=self)  # the model that sampled


def positive_column(grid: pd.DataFrame, col: str, *, source: str = "<grid>") -> np.ndarray:
    """``grid[col]`` as float64; a :class:`DataError` names the first row (its CSV line) whose
    value is not a positive finite number."""
    values = pd.to_numeric(grid[col], errors="coerce")
    bad = ~(values > 0) | ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{source}: row {row + 2}, column {col!r}: must be a positive number, "
            f"got {grid[col].iloc[row]!r}"
        )
    return values.to_numpy(dtype="float64")


#: The class of each model family, by the name a spec's ``family`` key uses. The modules are
#: imported by name on first use: the families build on this module, not the other way round.
FAMILIES: dict[str, str] = {
    "loss": "bayes_scaling.models.loss:LossModel",
    "downstream": "bayes_scaling.models.downstream:DownstreamModel",
    "dynamics": "bayes_scaling.models.dynamics:DynamicsModel",
}


def model_class(family: str) -> type[ScalingModel]:
    """The class implementing ``family``."""
    if family not in FAMILIES:
        raise SpecError(f"unknown model family {family!r}; known: {sorted(FAMILIES)}")
    module, name = FAMILIES[family].split(":")
    return getattr(importlib.import_module(module), name)


def model_version(family: str) -> str:
    """``"<family>:<version>"``, the fit files' ``bayes_scaling_model_version``."""
    return f"{family}:{model_class(family).model_version}"


def model_for(spec: ModelSpec | str | Path, data: Observations | pd.DataFrame) -> ScalingModel:
    """The family model class the spec names, bound to ``data`` (observations, or a tidy
    DataFrame, validated as :meth:`Observations.from_frame` does)."""
    spec = load_spec(spec)
    if isinstance(data, pd.DataFrame):
        data = Observations.from_frame(data, source="<DataFrame>")
    elif not isinstance(data, Observations):
        raise DataError(
            f"data must be Observations (bayes_scaling.data.load) or a tidy DataFrame, got "
            f"{type(data).__name__}"
        )
    return model_class(spec.family)(spec, data)


@dataclass
class Fit:
    """A fitted model: the DataTree with the spec, data and seed that produced it."""

    spec: ModelSpec
    data: Observations
    tree: xr.DataTree
    seed: int
    _model: ScalingModel | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        d = self.diagnostics()
        state = "converged" if d.ok else "NOT converged"
        return (
            f"<Fit {self.spec.name} ({self.spec.family}): {len(self.data)} rows of "
            f"{self.data.source}, {d.chains} chains × {d.draws} draws, {state}>"
        )

    def _repr_html_(self) -> str:
        d = self.diagnostics()
        css = "color:#176317" if d.ok else "color:#a11"
        table = labelled(self.summary()).round(4).to_html(border=0)
        return (
            f"<b>Fit</b> <code>{html.escape(self.spec.name)}</code> ({self.spec.family}) on "
            f"{len(self.data)} rows of <code>{html.escape(str(self.data.source))}</code>"
            f'<p style="{css}">{html.escape(d.verdict)}</p>{table}'
        )

    @property
    def model(self) -> ScalingModel:
        if self._model is None:
            self._model = model_for(self.spec, self.data)
        return self._model

    @property
    def posterior(self) -> xr.Dataset:
        return self.tree["posterior"].to_dataset()

    @property
    def hash(self) -> str:
        return fit_hash(self.spec, self.data, self.seed)

    def with_extrapolation(self, table: dict[str, Any]) -> Fit:
        """This fit with another ``[extrapolation]`` term (e.g. the ladder's own, from
        :func:`bayes_scaling.calibrate.ladder_term`). The term enters predictions only, not
        the posterior, so the draws are the same; the spec (and so the fit's hash) records
        the new term."""
        raw = {**self.spec.raw, "extrapolation": dict(table)}  # the whole table replaced
        return Fit(
            ModelSpec.from_dict(raw, source=self.spec.source), self.data, self.tree, self.seed
        )

    # --- checks and tables ----------------------------------------------------------------
    def diagnostics(self) -> inference.Diagnostics:
        names = [v for v in self.posterior.data_vars if self.posterior[v].ndim <= 3]
        return inference.diagnose(self.tree, var_names=names)

    def summary(self, *, ci: float = CI_PROB, var_names: list[str] | None = None) -> pd.DataFrame:
        """Parameter table: rows ``name[label]``, columns ``mean, sd, median, lower, upper,
        ess_bulk, ess_tail, r_hat`` (equal-tailed interval at ``ci``, in ``attrs``)."""
        return summarize(self.posterior, var_names or self.model.law_params(), ci=ci)

    def with_log_likelihood(self) -> xr.DataTree:
        """The fit's tree with a pointwise ``log_likelihood`` group (computed once, then kept
        and saved with the fit), for ``arviz.loo`` / ``arviz.compare``."""
        if "log_likelihood" not in self.tree.children:
            ll = pm.compute_log_likelihood(
                self.tree, model=self.model.build(), extend_inferencedata=False, progressbar=False
            )
            tree = self.tree.copy()
            tree["log_likelihood"] = xr.DataTree(ll)
            self.tree = tree
        return self.tree

    def loo(self) -> Any:
        """PSIS-LOO of the fit (``arviz.loo``): expected log predictive density per row."""
        return az.loo(self.with_log_likelihood())

    # --- prediction -----------------------------------------------------------------------
    def predict(
        self,
        grid: pd.DataFrame,
        *,
        seed: int | None = None,
        allow_similar: bool = False,
        loss_fit: Any = None,
        **options: Any,
    ) -> Prediction:
        """Posterior predictive draws at ``grid`` (columns as the family requires).

        ``options`` go to the family's ``check_grid`` (e.g. ``tasks=``, ``source=`` naming
        the grid's file in errors). ``loss_fit`` (downstream family): a loss-family
        :class:`Fit`, or a mapping input task → Fit, whose predictive loss at the grid's
        ``params, tokens`` is this fit's input (:meth:`ScalingModel.chain`). A group the
        fit never saw (a dataset, task or domain) is predicted from its population, flagged
        in a ``new_<column>`` column and warned about; one that differs from a fitted label
        only in case, separators or a typo is an error unless ``allow_similar``.
        """
        m = self.model
        source = options.get("source", "<grid>")
        grid, inputs = m.prepare_grid(grid, loss_fit=loss_fit, **options)
        flags = flag_new_groups(grid, m.known_groups(), source=source, allow_similar=allow_similar)
        grid = grid.assign(**{col: flags[col].to_numpy() for col in flags.columns})
        rng = np.random.default_rng(self.seed + 1 if seed is None else seed)
        law, new = m.predict_draws(stacked(self.posterior), grid, rng, inputs=inputs)
        return self.assemble(grid, law, new, rng)

    def assemble(
        self,
        grid: pd.DataFrame,
        law: np.ndarray,
        new: np.ndarray,
        rng: np.random.Generator,
        *,
        attrs: dict[str, Any] | None = None,
    ) -> Prediction:
        """The :class:`Prediction` of the ``law`` and ``new`` draws at ``grid``, the one place
        every prediction path ends: the grid gets its distance from the fit
        (``model.distances``) and ``new`` the spec's extrapolation error at that
        distance."""
        m = self.model
        grid = pd.concat([grid, m.distances(grid)], axis=1)
        chains = self.posterior.sizes["chain"]
        chains = chains if law.shape[0] == chains * self.posterior.sizes["draw"] else 1
        delta = np.zeros_like(law)
        error = self.spec.extrapolation_error
        if error.rate is not None and "distance" in grid.columns:
            delta = error.draw(grid["distance"].to_numpy(), law.shape[0], rng)
        kind = m.response_link
        new = discrepancy.shift(kind, new, delta)
        return Prediction.assemble(
            grid,
            law=law,
            new=new,
            delta=delta,
            link=kind,
            attrs={"checked": error.checked, "chains": chains, **(attrs or {})},
        )

    # --- files ----------------------------------------------------------------------------
    def save(
        self,
        path: str | Path,
        *,
        groups: dict[str, xr.Dataset] | None = None,
        attrs: dict[str, Any] | None = None,
        prediction: Prediction | None = None,
    ) -> Path:
        """Write one self-describing netCDF file (atomically).

        ``groups`` and ``attrs`` add results computed from the fit (e.g. a backtest table);
        ``prediction`` is kept as ArviZ's ``predictions`` and ``predictions_constant_data``
        groups (:meth:`Prediction.to_datatree`; read back with :meth:`Prediction.load`).
        """
        tree = self.tree.copy()
        tree["fit_data"] = xr.DataTree(fitfile.frame_to_dataset(self.data.frame))
        extra = dict(groups or {})
        if prediction is not None:
            pred = prediction.to_datatree()
            extra |= {name: pred[name].to_dataset() for name in pred.children}
        for name, ds in extra.items():
            tree[name] = xr.DataTree(ds)
        meta = {
            "bayes_scaling_format": fitfile.FORMAT_VERSION,
            "bayes_scaling_spec": self.spec.to_json(),
            "bayes_scaling_spec_source": self.spec.source,
            "bayes_scaling_seed": int(self.seed),
            "bayes_scaling_model_version": model_version(self.spec.family),
            "bayes_scaling_hash": self.hash,
            "bayes_scaling_draws_digest": draws_digest(self.tree),
            "bayes_scaling_data_source": self.data.source,
            "bayes_scaling_versions": fitfile.versions(),
            "bayes_scaling_created": datetime.now(UTC).isoformat(timespec="seconds"),
            "bayes_scaling_diagnostics": json.dumps(self.diagnostics().to_dict(), default=str),
            **(attrs or {}),
        }
        return fitfile.write(tree, path, meta)

    @classmethod
    def load(cls, path: str | Path) -> Fit:
        """Read a fit file and check its hash against its spec, data and seed."""
        return cls.from_tree(fitfile.read(path), source=str(path))

    @classmethod
    def from_tree(cls, tree: xr.DataTree, *, source: str = "<tree>") -> Fit:
        """A fit from a tree read by :func:`bayes_scaling.fitfile.read` (hash checked).

        Groups that are not sampler output (``fit_data``, ``backtest`` …) are removed.
        """
        a = tree.attrs
        spec = ModelSpec.from_json(a["bayes_scaling_spec"], source=a["bayes_scaling_spec_source"])
        frame = fitfile.dataset_to_frame(tree["fit_data"].to_dataset())
        data = Observations.from_frame(frame, source=a["bayes_scaling_data_source"])
        seed = int(a["bayes_scaling_seed"])
        written = str(a.get("bayes_scaling_model_version", f"{spec.family}:1"))  # before: 1
        if written != model_version(spec.family):
            raise fitfile.FitFileError(
                f"{source}: written by the {written!r} model, this package has "
                f"{model_version(spec.family)!r}: the model changed since, so the file's draws "
                "belong to another model; refit it"
            )
        if fit_hash(spec, data, seed) != a["bayes_scaling_hash"]:
            raise fitfile.FitFileError(
                f"{source}: hash mismatch — the spec, data or seed stored in the file do not "
                "match the hash it was written with (file modified or damaged)"
            )
        if (
            "bayes_scaling_draws_digest" in a
            and draws_digest(tree) != a["bayes_scaling_draws_digest"]
        ):
            raise fitfile.FitFileError(
                f"{source}: the posterior draws do not match the checksum they were written "
                "with (file modified or damaged)"
            )
        keep = {"posterior", "sample_stats", "observed_data", "constant_data", "log_likelihood"}
        tree = tree.copy()
        for name in list(tree.children):
            if name not in keep:
                del tree[name]
        return cls(spec, data, tree, seed)


def draws_digest(tree: xr.DataTree) -> str:
    """Checksum of the posterior draws, so an edited posterior is refused on load."""
    post = tree["posterior"].to_dataset()
    return arrays_digest({k: v.to_numpy() for k, v in post.data_vars.items()})


def fit_hash(spec: ModelSpec, data: Observations, seed: int) -> str:
    """Canonical id of a fit: spec, data content and seed."""
    return digest(spec.to_json(), data.fingerprint(), str(int(seed)))
