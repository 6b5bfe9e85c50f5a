"""The life of every model: build → prior check → fit → predict → save/load.

A family subclasses :class:`ScalingModel` and implements how it reads its response from the
observations (``_prepare``), how it writes the PyMC model (``build``), and how it evaluates
its law on posterior draws for a grid of new points (``predict_draws``). Everything else —
sampling, the fit file, summaries, diagnostics, prediction tables — lives here once.

Constructors never sample. A :class:`Fit` holds the DataTree together with the spec and the
data it came from, so a saved fit can always be rebuilt and predicted from.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from bayes_scaling import discrepancy, fitfile, inference, laws
from bayes_scaling.constants import CI_PROB
from bayes_scaling.data.schema import DataError, Observations
from bayes_scaling.hashing import digest
from bayes_scaling.hierarchy import stacked
from bayes_scaling.spec import ModelSpec, SpecError, check_sampler, load_spec


class ScalingModel(ABC):
    """A model family bound to one spec and one observation table (no sampling here)."""

    family: ClassVar[str]
    forms: ClassVar[tuple[str, ...]]
    #: Columns a prediction grid must have (besides optional group columns).
    grid_columns: ClassVar[tuple[str, ...]]
    #: Link scale of the response, on which the extrapolation error is added.
    response_link: str = "logit"

    def __init__(self, spec: ModelSpec, data: Observations) -> None:
        if spec.family != self.family:
            raise SpecError(f"{spec.source}: family {spec.family!r} is not {self.family!r}")
        if spec.form not in self.forms:
            raise SpecError(f"{spec.source}: key 'form' must be one of {self.forms}")
        self.spec = spec
        self.data = data
        self._prepare()

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
        sampler: str | None = None,
        target_accept: float | None = None,
        cores: int | None = None,
        progressbar: bool | None = None,
        client: Any = None,
    ) -> Fit:
        """Sample the posterior; sampler settings default to the spec's ``[sampler]``.

        With a Dask ``client``, each chain runs as its own task on the cluster and the chains
        are merged into one DataTree (see :func:`bayes_scaling.cluster.fit_chains`).
        """
        given = dict(name=sampler, draws=draws, tune=tune, chains=chains)
        given["target_accept"] = target_accept
        given = {k: v for k, v in given.items() if v is not None}
        check_sampler(given, where="fit() sampler argument:")
        s = {**self.spec.sampler, **given}
        settings = dict(
            sampler=s["name"],
            draws=s["draws"],
            tune=s["tune"],
            chains=s["chains"],
            target_accept=s["target_accept"],
            mass_matrix=s["mass_matrix"],
        )
        if client is not None:
            from bayes_scaling.cluster import fit_chains

            tree = fit_chains(self.spec, self.data, client=client, seed=seed, **settings)
        else:
            tree = inference.sample(
                self.build(), seed=seed, cores=cores, progressbar=progressbar, **settings
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


def model_for(spec: ModelSpec | str | Path, data: Observations) -> ScalingModel:
    """The family model class the spec names, bound to ``data``."""
    from bayes_scaling.models import model_class

    spec = load_spec(spec)
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

    @property
    def grid(self) -> pd.DataFrame:
        coords = {k: v.to_numpy() for k, v in self.draws.coords.items() if v.dims == ("point",)}
        return pd.DataFrame(coords).drop(columns=["point"], errors="ignore")

    def table(self, *, ci: float = CI_PROB) -> pd.DataFrame:
        """One row per point: grid columns, ``mean, median, lower, upper`` (new run),
        ``mean_lower, mean_upper`` (the expected value, extrapolation error included) at
        probability ``ci``, and the interval's parts: ``share_parameter``, ``share_noise``,
        ``share_extrapolation``, the fractions of the new run's variance on the link scale."""
        new = summarize_draws(self.draws["new"].to_numpy(), ci)
        law = summarize_draws(self.draws["mean"].to_numpy(), ci)
        out = self.grid.copy()
        out["mean"] = law["mean"]
        out["median"] = new["median"]
        out["lower"], out["upper"] = new["lower"], new["upper"]
        out["mean_lower"], out["mean_upper"] = law["lower"], law["upper"]
        out = pd.concat([out, self.interval_parts()], axis=1)
        out.attrs["ci_prob"] = ci
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
        from bayes_scaling.report import summarize

        return summarize(self.posterior, var_names or self.model.law_params(), ci=ci)

    # --- prediction -----------------------------------------------------------------------
    def predict(self, grid: pd.DataFrame, *, seed: int | None = None, **options: Any) -> Prediction:
        """Posterior predictive draws at ``grid`` (columns as the family requires).

        ``options`` go to the family's ``check_grid`` (e.g. ``tasks=``, ``loss_fit=``).
        """
        m = self.model
        grid = m.check_grid(grid, **options)
        rng = np.random.default_rng(self.seed + 1 if seed is None else seed)
        law, new = m.predict_draws(stacked(self.posterior), grid, rng)
        grid = pd.concat([grid, m.extrapolation(grid)], axis=1)
        delta = np.zeros_like(law)
        error = self.spec.extrapolation_error
        if error.rate is not None and "distance" in grid.columns:
            delta = error.draw(grid["distance"].to_numpy(), law.shape[0], rng)
        kind = m.response_link
        new = discrepancy.shift(kind, new, delta)
        return Prediction.assemble(grid, law=law, new=new, delta=delta, link=kind)

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
        keep = {"posterior", "sample_stats", "observed_data", "constant_data", "log_likelihood"}
        tree = tree.copy()
        for name in list(tree.children):
            if name not in keep:
                del tree[name]
        return cls(spec, data, tree, seed)


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
