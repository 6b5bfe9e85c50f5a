"""The life of every model: build → prior check → fit → predict → save/load.

A family subclasses :class:`ScalingModel` and implements how it reads its response from the
observations (``_prepare``), how it writes the PyMC model (``build``), and how it evaluates
its law on posterior draws for a grid of new points (``predict_draws``). Everything else —
sampling, the fit file, summaries, diagnostics, prediction tables — lives here once.

Constructors never sample. A :class:`Fit` holds the DataTree together with the spec and the
data it came from, so a saved fit can always be rebuilt and predicted from.
"""

from __future__ import annotations

import html
import importlib
import json
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from bayes_scaling import discrepancy, fitfile, inference, laws
from bayes_scaling.chains import fit_chains
from bayes_scaling.checkpoints import select_checkpoints
from bayes_scaling.constants import CALIBRATED_DISTANCE, CI_PROB
from bayes_scaling.data.schema import DataError, Observations
from bayes_scaling.errors import closest
from bayes_scaling.hashing import arrays_digest, digest
from bayes_scaling.hierarchy import stacked
from bayes_scaling.report import interval_label, summarize
from bayes_scaling.spec import ModelSpec, SamplerConfig, SpecError, load_spec


class ScalingModel(ABC):
    """A model family bound to one spec and one observation table (no sampling here)."""

    family: ClassVar[str]
    forms: ClassVar[tuple[str, ...]]
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
            raise SpecError(f"{spec.source}: key 'form' must be one of {self.forms}")
        spec.check_sections(self.spec_keys, family=self.family)
        self.spec = spec
        self.data = data
        self._prepare()

    def option(self, dotted: str) -> Any:
        """The spec's value of the declared key ``dotted`` (``"data.max_checkpoints"``), or
        its default in :attr:`spec_keys`."""
        section, key = dotted.split(".", 1)
        declared = self.spec_keys.get(section, {})
        if key not in declared:
            raise KeyError(f"{type(self).__name__} declares no [{section}] key {key!r}")
        return self.spec.get(dotted, declared[key])

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
        self, posterior: xr.Dataset, grid: pd.DataFrame, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draws ``(mean law, new observation)``, each ``(n_samples, len(grid))``."""

    @abstractmethod
    def points(self, data: Observations) -> pd.DataFrame:
        """The response rows of ``data`` as a prediction grid with a ``truth`` column."""

    @abstractmethod
    def extrapolation(self, grid: pd.DataFrame) -> pd.DataFrame:
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
        self, grid: pd.DataFrame, *, source: str = "<grid>", **options: Any
    ) -> pd.DataFrame:
        """Validate a prediction grid; the default checks ``grid_columns`` are positive.

        Families may accept ``options`` (e.g. ``tasks`` to expand the grid over a task set,
        ``loss_fit`` to chain from another fit); unknown options are an error.
        """
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
        return Fit(self.spec, self.data, tree, seed)


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
class Prediction:
    """Posterior predictive draws at a grid of points.

    ``draws`` is a Dataset over ``(sample, point)`` with ``law`` (the fitted law), ``mean``
    (the law moved by the extrapolation error ``discrepancy``, on the response's link scale)
    and ``new`` (a new run: ``mean`` plus noise); the grid's columns (with ``extrapolation``
    and ``distance``) are ``point`` coords.
    """

    draws: xr.Dataset

    @classmethod
    def assemble(
        cls,
        grid: pd.DataFrame,
        *,
        law: np.ndarray,
        new: np.ndarray,
        delta: np.ndarray | None = None,
        link: str = "identity",
        attrs: dict[str, Any] | None = None,
    ) -> Prediction:
        """The one way draws become a Prediction: ``law`` and ``new`` ``(sample, point)``,
        ``delta`` the extrapolation error on the ``link`` scale (``mean`` = law moved by it;
        ``new`` is expected to include it already), ``grid`` the point coordinates."""
        delta = np.zeros_like(law) if delta is None else delta
        dims = ("sample", "point")
        ds = xr.Dataset(
            {
                "law": (dims, law),
                "mean": (dims, discrepancy.shift(link, law, delta)),
                "new": (dims, new),
                "discrepancy": (dims, delta),
            },
            coords={"point": np.arange(len(grid))}
            | {c: ("point", grid[c].to_numpy()) for c in grid.columns},
            attrs={"response_link": link, **(attrs or {})},
        )
        return cls(ds)

    def __repr__(self) -> str:
        n, points = self.draws.sizes["sample"], self.draws.sizes["point"]
        return f"<Prediction: {points} points × {n} draws; .table() for intervals>"

    def _repr_html_(self) -> str:
        table = self.table()
        head = table.head(20).to_html(index=False, border=0, float_format=lambda x: f"{x:.4g}")
        more = f"<p>… {len(table) - 20} more rows</p>" if len(table) > 20 else ""
        return f"<b>Prediction</b> ({interval_label(ci=CI_PROB)}){head}{more}"

    @property
    def grid(self) -> pd.DataFrame:
        coords = {k: v.to_numpy() for k, v in self.draws.coords.items() if v.dims == ("point",)}
        return pd.DataFrame(coords).drop(columns=["point"], errors="ignore")

    def table(self, *, ci: float = CI_PROB) -> pd.DataFrame:
        """One row per point: grid columns, ``mean, median, lower, upper`` (new run),
        ``mean_lower, mean_upper`` (the expected value, extrapolation error included) at
        probability ``ci``, and the interval's parts: ``share_parameter``, ``share_noise``,
        ``share_extrapolation``, the fractions of the new run's variance on the link scale.
        ``attrs``: ``ci_prob`` and ``checked``, the farthest distance at which the spec's
        extrapolation error was checked on held-out runs (reports warn beyond it)."""
        new = summarize_draws(self.draws["new"].to_numpy(), ci)
        law = summarize_draws(self.draws["mean"].to_numpy(), ci)
        out = self.grid.copy()
        out["mean"] = law["mean"]
        out["median"] = new["median"]
        out["lower"], out["upper"] = new["lower"], new["upper"]
        out["mean_lower"], out["mean_upper"] = law["lower"], law["upper"]
        out = pd.concat([out, self.interval_parts()], axis=1)
        out.attrs["ci_prob"] = ci
        out.attrs["checked"] = float(self.draws.attrs.get("checked", CALIBRATED_DISTANCE))
        return out

    def interval_parts(self) -> pd.DataFrame:
        """Shares of the new run's link-scale variance: parameters (the law's spread), noise
        (a run about its expected value) and extrapolation (the discrepancy term)."""
        kind = self.draws.attrs.get("response_link", "identity")
        law = laws.link(kind, self.draws["law"].to_numpy())
        new = laws.link(kind, self.draws["new"].to_numpy())
        mean = laws.link(kind, self.draws["mean"].to_numpy())
        parts = {
            "share_parameter": np.nanvar(law, axis=0),
            "share_noise": np.nanvar(np.where(np.isfinite(new), new - mean, np.nan), axis=0),
            "share_extrapolation": np.var(self.draws["discrepancy"].to_numpy(), axis=0),
        }
        total = sum(parts.values())
        with np.errstate(invalid="ignore", divide="ignore"):
            return pd.DataFrame({k: v / total for k, v in parts.items()})


@dataclass
class Fit:
    """A fitted model: the DataTree with the spec, data and seed that produced it."""

    spec: ModelSpec
    data: Observations
    tree: xr.DataTree
    seed: int
    _model: ScalingModel | None = field(default=None, repr=False)

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
        table = self.summary().round(4).to_html(border=0)
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
        **options: Any,
    ) -> Prediction:
        """Posterior predictive draws at ``grid`` (columns as the family requires).

        ``options`` go to the family's ``check_grid`` (e.g. ``tasks=``, ``loss_fit=``,
        ``source=`` naming the grid's file in errors). A group the fit never saw (a dataset,
        task or domain) is predicted from its population, flagged in a ``new_<column>``
        column and warned about; one that differs from a fitted label only in case,
        separators or a typo is an error unless ``allow_similar``.
        """
        m = self.model
        source = options.get("source", "<grid>")
        grid = m.check_grid(grid, **options)
        flags = flag_new_groups(grid, m.known_groups(), source=source, allow_similar=allow_similar)
        for col in flags.columns:  # in place: the grid's attrs carry chained draws
            grid[col] = flags[col].to_numpy()
        rng = np.random.default_rng(self.seed + 1 if seed is None else seed)
        law, new = m.predict_draws(stacked(self.posterior), grid, rng)
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
        (``model.extrapolation``) and ``new`` the spec's extrapolation error at that
        distance."""
        m = self.model
        grid = pd.concat([grid, m.extrapolation(grid)], axis=1)
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
            attrs={"checked": error.checked, **(attrs or {})},
        )

    # --- files ----------------------------------------------------------------------------
    def save(
        self,
        path: str | Path,
        *,
        groups: dict[str, xr.Dataset] | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> Path:
        """Write one self-describing netCDF file (atomically).

        ``groups`` and ``attrs`` add results computed from the fit (e.g. a backtest table).
        """
        tree = self.tree.copy()
        tree["fit_data"] = xr.DataTree(fitfile.frame_to_dataset(self.data.frame))
        for name, ds in (groups or {}).items():
            tree[name] = xr.DataTree(ds)
        meta = {
            "bayes_scaling_format": fitfile.FORMAT_VERSION,
            "bayes_scaling_spec": self.spec.to_json(),
            "bayes_scaling_spec_source": self.spec.source,
            "bayes_scaling_seed": int(self.seed),
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


class NewGroupWarning(UserWarning):
    """A prediction at a group (dataset, task, domain) the fit never saw."""


def _normal_form(label: str) -> str:
    return "".join(ch for ch in label.lower() if ch.isalnum())


def flag_new_groups(
    grid: pd.DataFrame,
    known: dict[str, tuple[str, ...]],
    *,
    source: str = "<grid>",
    allow_similar: bool = False,
) -> pd.DataFrame:
    """``new_<column>`` flags for grid values outside the fitted labels, warned about.

    Raises
    ------
    DataError
        For a value that is a near miss of a fitted label (same letters and digits ignoring
        case and separators, or a close spelling), unless ``allow_similar``: a misspelt
        ``RedPajama`` would otherwise silently get the population prediction.
    """
    flags = {}
    for col, labels in known.items():
        if col not in grid.columns or not labels:
            continue
        values = grid[col].astype(str)
        new = ~values.isin(labels)
        flags[f"new_{col}"] = new.to_numpy()
        unseen = sorted(set(values[new]))
        if not unseen:
            continue
        forms = {_normal_form(k): k for k in labels}
        for value in unseen:
            close = forms.get(_normal_form(value)) or closest(value, labels, cutoff=0.9)
            if close is not None and not allow_similar:
                row = int(np.flatnonzero((values == value).to_numpy())[0])
                raise DataError(
                    f"{source}: row {row + 2}, column {col!r}: {value!r} is not in the fit; did "
                    f"you mean {close!r}? (to predict a new {col} of that name from its "
                    "population, pass allow_similar=True / --allow-similar)"
                )
        warnings.warn(
            f"{source}: {col} {unseen[:5]}{' …' if len(unseen) > 5 else ''} not in the fit "
            f"(fitted: {list(labels)[:6]}{' …' if len(labels) > 6 else ''}); predicted "
            f"from the population of {col}s (column new_{col})",
            NewGroupWarning,
            stacklevel=3,
        )
    return pd.DataFrame(flags, index=grid.index)


def draws_digest(tree: xr.DataTree) -> str:
    """Checksum of the posterior draws, so an edited posterior is refused on load."""
    post = tree["posterior"].to_dataset()
    return arrays_digest({k: v.to_numpy() for k, v in post.data_vars.items()})


def fit_hash(spec: ModelSpec, data: Observations, seed: int) -> str:
    """Canonical id of a fit: spec, data content and seed."""
    return digest(spec.to_json(), data.fingerprint(), str(int(seed)))


def summarize_draws(draws: np.ndarray, ci: float = CI_PROB) -> dict[str, np.ndarray]:
    """Mean, median and equal-tailed interval over the first axis."""
    lo, hi = (1 - ci) / 2, (1 + ci) / 2
    return {
        "mean": draws.mean(axis=0),
        "median": np.median(draws, axis=0),
        "lower": np.quantile(draws, lo, axis=0),
        "upper": np.quantile(draws, hi, axis=0),
    }
