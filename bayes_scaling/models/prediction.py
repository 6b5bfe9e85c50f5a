"""What a fit says at new points: :class:`Prediction` (posterior predictive draws, their
interval table and its parts, ArviZ's ``predictions`` groups) and the flags for groups a fit
never saw (:func:`flag_new_groups`). Predictions are made by :meth:`Fit.predict
<bayes_scaling.models.base.Fit.predict>`; nothing here samples.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling import discrepancy, fitfile, laws
from bayes_scaling.constants import CALIBRATED_DISTANCE, CI_PROB
from bayes_scaling.data.schema import DataError
from bayes_scaling.errors import closest
from bayes_scaling.report import interval_label, labelled


@dataclass
class Prediction:
    """Posterior predictive draws at a grid of points.

    ``draws`` is a Dataset over ``(sample, point)`` with ``law`` (the fitted law), ``mean``
    (the law moved by the extrapolation error ``discrepancy``, on the response's link scale)
    and ``new`` (a new run: ``mean`` plus noise); the grid's columns (with the family's
    distance columns: ``distance``, decades beyond the fit, and its parts) are ``point``
    coords.
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
        table = labelled(self.table())
        head = table.head(20).to_html(index=False, border=0, float_format=lambda x: f"{x:.4g}")
        more = f"<p>… {len(table) - 20} more rows</p>" if len(table) > 20 else ""
        return f"<b>Prediction</b> ({interval_label(ci=CI_PROB)}){head}{more}"

    @property
    def grid(self) -> pd.DataFrame:
        coords = {k: v.to_numpy() for k, v in self.draws.coords.items() if v.dims == ("point",)}
        return pd.DataFrame(coords).drop(columns=["point"], errors="ignore")

    def to_datatree(self) -> xr.DataTree:
        """The draws as ArviZ's ``predictions`` group (``law, mean, new, discrepancy`` over
        ``chain, draw, point``) and the grid as ``predictions_constant_data``, the pair
        ``pymc.sample_posterior_predictive(predictions=True)`` and bambi write, so that
        ``arviz_stats`` and ``arviz_plots`` read them; :meth:`Fit.save` keeps them with the
        fit and :meth:`from_datatree` (or :meth:`load`) reads them back."""
        ds = self.draws
        n, points = ds.sizes["sample"], ds.sizes["point"]
        chains = int(ds.attrs.get("chains", 1))
        chains = chains if chains > 0 and n % chains == 0 else 1
        coords = {
            "chain": np.arange(chains),
            "draw": np.arange(n // chains),
            "point": ds["point"].to_numpy(),
        }
        dims = ("chain", "draw", "point")
        predictions = xr.Dataset(
            {k: (dims, v.to_numpy().reshape(chains, -1, points)) for k, v in ds.data_vars.items()},
            coords=coords,
            attrs={PREDICTION_ATTRS: json.dumps(ds.attrs, default=_json_default)},
        )
        constant = fitfile.frame_to_dataset(self.grid).rename({"row": "point"})
        constant = constant.assign_coords(point=coords["point"])
        return xr.DataTree.from_dict(
            {"predictions": predictions, "predictions_constant_data": constant}
        )

    @classmethod
    def from_datatree(cls, tree: xr.DataTree) -> Prediction:
        """The inverse of :meth:`to_datatree` (a tree with both groups, e.g. a fit file's)."""
        if "predictions" not in tree.children or "predictions_constant_data" not in tree.children:
            raise fitfile.FitFileError("no predictions / predictions_constant_data groups")
        pred = tree["predictions"].to_dataset()
        const = tree["predictions_constant_data"].to_dataset()
        grid = fitfile.dataset_to_frame(const.rename({"point": "row"}))
        n = pred.sizes["chain"] * pred.sizes["draw"]
        dims = ("sample", "point")
        return cls(
            xr.Dataset(
                {k: (dims, v.to_numpy().reshape(n, -1)) for k, v in pred.data_vars.items()},
                coords={"point": pred["point"].to_numpy()}
                | {c: ("point", grid[c].to_numpy()) for c in grid.columns},
                attrs=json.loads(pred.attrs.get(PREDICTION_ATTRS, "{}")),
            )
        )

    @classmethod
    def load(cls, path: str | Path) -> Prediction:
        """The prediction saved in a fit file (``Fit.save(path, prediction=...)``)."""
        try:
            return cls.from_datatree(fitfile.read(path))
        except fitfile.FitFileError as exc:
            raise fitfile.FitFileError(f"{path}: {exc}") from None

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


#: Attribute of the ``predictions`` group holding the Prediction's attrs as JSON.
PREDICTION_ATTRS = "bayes_scaling_prediction"


def _json_default(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else str(value)


def summarize_draws(draws: np.ndarray, ci: float = CI_PROB) -> dict[str, np.ndarray]:
    """Mean, median and equal-tailed interval over the first axis."""
    lo, hi = (1 - ci) / 2, (1 + ci) / 2
    return {
        "mean": draws.mean(axis=0),
        "median": np.median(draws, axis=0),
        "lower": np.quantile(draws, lo, axis=0),
        "upper": np.quantile(draws, hi, axis=0),
    }
