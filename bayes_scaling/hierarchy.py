"""Partial pooling, once: build a parameter's hierarchy in PyMC and draw it for new groups.

A family declares its group levels from coarse to fine (e.g. ``dataset``, or ``domain`` then
``task``). A :class:`~bayes_scaling.spec.ParamSpec` says how the parameter is pooled over them.
:func:`build` writes the PyMC variables; :func:`draw` evaluates the same parameter from
posterior draws for any labels — including groups not in the fit, which get fresh draws from
their parent's population (an unseen task from its domain, a new pretraining dataset).

Names in the posterior, for a parameter ``p``:

- ``p``: the value (after the link) at the finest pooled level, or a scalar when shared;
- ``p_mu``: the population latent (link scale) when pooled; ``p_sd_<level>`` its scales;
- ``p_<level>``: the value at each coarser pooled level (e.g. ``k_domain``);
- ``p_z_<level>``: non-centred offsets, ``p_<level>_latent`` centred latents (with
  ``centered = "auto"`` a level may have both, over the coordinates ``<level>_pinned`` and
  ``<level>_loose``: its groups with and without enough data, :func:`centred_groups`).

A group that is the only member of its parent (a domain with one task) takes its parent's
value; its own offset is left to the prior, as for a group without data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from bayes_scaling import laws
from bayes_scaling.constants import AUTO_CENTER_ROWS
from bayes_scaling.spec import ParamSpec


@dataclass(frozen=True)
class Level:
    """A grouping level: its dimension name, its labels, each label's parent index and, for
    ``centered = "auto"``, each label's number of rows of data (:func:`with_rows`)."""

    name: str
    labels: tuple[str, ...]
    parent: tuple[int, ...] | None = None  # index into the previous level's labels
    rows: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.parent is not None and len(self.parent) != len(self.labels):
            raise ValueError(f"level {self.name!r}: one parent per label is needed")
        if self.rows is not None and len(self.rows) != len(self.labels):
            raise ValueError(f"level {self.name!r}: one row count per label is needed")


def with_rows(levels: Sequence[Level], table: pd.DataFrame) -> list[Level]:
    """``levels`` with each label's number of rows in ``table`` (a column per level name)."""
    out = []
    for lv in levels:
        counts = table[lv.name].astype(str).value_counts()
        rows = tuple(int(counts.get(label, 0)) for label in lv.labels)
        out.append(replace(lv, rows=rows))
    return out


def centred_groups(p: ParamSpec, pooled: Sequence[Level], lv: Level) -> np.ndarray:
    """Which groups of ``lv`` get centred latents (a boolean per label).

    An explicit ``centered`` applies to whole levels. ``"auto"`` centres the groups of the
    parameter's finest pooled level with at least :data:`AUTO_CENTER_ROWS` rows: there the
    data pin each group's value, and non-centred offsets ``z = (latent − parent)/sd`` would
    move with the weakly known ``parent`` and ``sd`` (a funnel). Coarser levels are informed
    only through their few children and stay non-centred.
    """
    n = len(lv.labels)
    if p.centered != "auto":
        return np.full(n, p.is_centered(lv.name))
    if lv is not pooled[-1] or lv.rows is None:
        return np.zeros(n, dtype=bool)
    return np.asarray(lv.rows) >= AUTO_CENTER_ROWS


def labels(levels: Sequence[Level], table: pd.DataFrame) -> list[tuple[str, ...]]:
    """Per row of ``table``, its labels at ``levels`` (one column named after each level): the
    ``query`` of :func:`draw`."""
    return list(zip(*(table[lv.name] for lv in levels), strict=True))


def pooled_levels(p: ParamSpec, levels: Sequence[Level]) -> list[Level]:
    """The levels a parameter varies over, coarse to fine (empty when shared)."""
    if p.pooling == "shared" or not levels:
        return []
    if p.pooling in ("partial", "none"):
        return list(levels) if p.pooling == "partial" else [levels[-1]]
    names = [lv.name for lv in levels]
    unknown = [n for n in p.pooling if n not in names]
    if unknown:
        raise ValueError(f"parameter {p.name!r}: pooling levels {unknown} not among {names}")
    return [lv for lv in levels if lv.name in p.pooling]


def ancestor_index(levels: Sequence[Level], fine: str, coarse: str) -> np.ndarray:
    """For each label of level ``fine``, the index of its ancestor in level ``coarse``."""
    names = [lv.name for lv in levels]
    i, j = names.index(coarse), names.index(fine)
    idx = np.arange(len(levels[j].labels))
    for k in range(j, i, -1):
        idx = np.asarray(levels[k].parent, dtype=int)[idx]
    return idx


def only_child(up: np.ndarray, n_parents: int) -> np.ndarray:
    """Mask of the labels that are their parent's only member (``up``: each label's parent)."""
    up = np.asarray(up, dtype=int)
    return np.bincount(up, minlength=n_parents)[up] == 1


def build(p: ParamSpec, levels: Sequence[Level]) -> pt.TensorVariable:
    """Create the PyMC variables of ``p`` and return its value at the finest level.

    Must be called inside a model whose coords include every level's labels. The result has
    one entry per label of ``levels[-1]`` (a shared value is broadcast), or is a scalar when
    ``levels`` is empty.
    """
    pooled = pooled_levels(p, levels)
    n_fine = len(levels[-1].labels) if levels else None
    if not pooled:
        latent = p.prior.create(p.name if p.link == "identity" else f"{p.name}_latent")
        value = (
            latent
            if p.link == "identity"
            else pm.Deterministic(p.name, laws.inverse_link(p.link, latent))
        )
        return value if n_fine is None else pt.ones(n_fine) * value

    if p.pooling == "none":
        fine = pooled[0]
        latent = p.prior.create(f"{p.name}_latent", dims=fine.name)
    else:
        if isinstance(p.centered, tuple) and set(p.centered) - {lv.name for lv in pooled}:
            raise ValueError(
                f"parameter {p.name!r}: centered levels {sorted(p.centered)} must be among "
                f"its pooled levels {[lv.name for lv in pooled]}"
            )
        latent = p.prior.create(f"{p.name}_mu")
        parent_level: Level | None = None
        for lv in pooled:
            sd = p.sd_for(lv.name).create(f"{p.name}_sd_{lv.name}")
            if parent_level is None:
                parent = latent
            else:
                up = ancestor_index(levels, lv.name, parent_level.name)
                parent = latent[up]
            latent = _offsets(p, lv, parent, sd, centred_groups(p, pooled, lv))
            if parent_level is not None:
                # A group that is its parent's only member takes the parent's value: data
                # cannot tell the two apart, and the extra offset only makes a ridge.
                only = only_child(up, len(parent_level.labels))
                if only.any():
                    latent = pt.where(only, parent, latent)
            if lv is not pooled[-1]:
                pm.Deterministic(
                    f"{p.name}_{lv.name}", laws.inverse_link(p.link, latent), dims=lv.name
                )
            parent_level = lv
    finest = pooled[-1]
    value = pm.Deterministic(p.name, laws.inverse_link(p.link, latent), dims=finest.name)
    if finest.name != levels[-1].name:
        value = value[ancestor_index(levels, levels[-1].name, finest.name)]
    return value


def _offsets(
    p: ParamSpec, lv: Level, parent: pt.TensorVariable, sd: pt.TensorVariable, centred
) -> pt.TensorVariable:
    """The latents of ``lv``'s groups around ``parent``: centred where ``centred``, else
    ``parent + sd · z``."""
    c_name, z_name = f"{p.name}_{lv.name}_latent", f"{p.name}_z_{lv.name}"
    if centred.all():
        return pm.Normal(c_name, parent, sd, dims=lv.name)
    if not centred.any():
        return parent + sd * pm.Normal(z_name, 0.0, 1.0, dims=lv.name)
    model = pm.modelcontext(None)
    labels = np.asarray(lv.labels)
    pinned, loose = np.flatnonzero(centred), np.flatnonzero(~centred)
    for dim, idx in ((f"{lv.name}_pinned", pinned), (f"{lv.name}_loose", loose)):
        if dim not in model.coords:
            model.add_coord(dim, labels[idx])
    parent = pt.broadcast_to(parent, (len(labels),))
    c = pm.Normal(c_name, parent[pinned], sd, dims=f"{lv.name}_pinned")
    z = pm.Normal(z_name, 0.0, 1.0, dims=f"{lv.name}_loose")
    latent = pt.zeros(len(labels))
    latent = pt.set_subtensor(latent[pinned], c)
    return pt.set_subtensor(latent[loose], parent[loose] + sd * z)


def stacked(posterior: xr.Dataset) -> xr.Dataset:
    """Posterior with ``chain, draw`` stacked into one ``sample`` dimension."""
    return posterior.stack(sample=("chain", "draw")).transpose("sample", ...)


def draw(
    p: ParamSpec,
    levels: Sequence[Level],
    posterior: xr.Dataset,
    query: Sequence[Sequence[str]],
    rng: np.random.Generator,
) -> np.ndarray:
    """Values of ``p`` for each query, one column per query, one row per posterior sample.

    Parameters
    ----------
    p, levels
        As given to :func:`build`.
    posterior
        The posterior, stacked (see :func:`stacked`).
    query
        Per point, one label per level of ``levels`` (e.g. ``("commonsense", "piqa")``).
        Labels absent from the fit are drawn from their parent's population; a shared
        parameter ignores them.
    rng
        Source of the new-group draws.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_samples, len(query))``.
    """
    n = posterior.sizes["sample"]
    out = np.empty((n, len(query)))
    pooled = pooled_levels(p, levels)
    names = [lv.name for lv in levels]
    if not pooled:
        out[:] = posterior[p.name].to_numpy()[:, None]
        return out
    cache: dict[tuple[str, ...], np.ndarray] = {}
    for j, q in enumerate(query):
        key = tuple(q[names.index(lv.name)] for lv in pooled)
        if key not in cache:
            cache[key] = _draw_one(p, pooled, posterior, key, rng, n)
        out[:, j] = cache[key]
    return out


def _draw_one(
    p: ParamSpec,
    pooled: list[Level],
    posterior: xr.Dataset,
    key: tuple[str, ...],
    rng: np.random.Generator,
    n: int,
) -> np.ndarray:
    if p.pooling == "none":
        (lv,), (label,) = pooled, key
        if label in lv.labels:
            return posterior[p.name].sel({lv.name: label}).to_numpy()
        return _prior_draws(p, rng, n)  # no population to borrow from: the prior
    latent = posterior[f"{p.name}_mu"].to_numpy()
    known = True
    for i, (lv, label) in enumerate(zip(pooled, key, strict=True)):
        var = p.name if i == len(pooled) - 1 else f"{p.name}_{lv.name}"
        if known and label in lv.labels:
            latent = laws.link(p.link, posterior[var].sel({lv.name: label}).to_numpy())
        else:
            known = False
            sd = posterior[f"{p.name}_sd_{lv.name}"].to_numpy()
            latent = latent + sd * rng.standard_normal(n)
    return laws.inverse_link(p.link, latent)


def _prior_draws(p: ParamSpec, rng: np.random.Generator, n: int) -> np.ndarray:
    dist = getattr(pm, p.prior.dist).dist(**p.prior.kwargs)
    seed = int(rng.integers(2**31))
    latent = pm.draw(dist, draws=n, random_seed=seed)
    return laws.inverse_link(p.link, np.asarray(latent, dtype=float))
