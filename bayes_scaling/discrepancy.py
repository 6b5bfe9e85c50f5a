"""What a law gets wrong beyond its data: an extrapolation-error term for every family.

A fitted law's parametric interval says how well the data pin its parameters, assuming the
form is exactly right out to the prediction. Rung-out backtests on public ladders show that
this assumption is what fails far from the data (``benchmarks/bench_calibration.py``). The
term added here is a discrepancy on the response's link scale (log loss, logit accuracy)

    link(y*) = link(y_law) + δ,    δ = τ · d^p · z,    z ~ N(0, 1),    τ ~ rate prior,

where ``d`` is the prediction's distance from the fit in decades (the family's ``distance``
column: 0 inside the fitted range, so in-range predictions keep their width), ``τ`` the
error's size one decade out and ``p`` how it grows (1: linearly). One ``z`` per posterior
draw is shared by every point of a prediction: the law's extrapolated slope is off by one
unknown amount, so errors do not average out over tasks or points (chained and task-set
predictions stay honest).

The spec declares the term as data::

    [extrapolation]
    rate = {dist = "LogNormal", mu = -4.6, sigma = 0.8}   # τ, link-scale sd one decade out
    power = 0.7                                           # p
    checked = 2.6      # farthest distance (decades) it was checked at on held-out runs

The shipped default is a meta-analysis of rung-out backtests on the ladders in
``../shared/data`` (:func:`bayes_scaling.calibrate.fit_rate`); refit it from your own ladder
with ``bayes-scaling calibrate``, which also writes the ladder's own term (the spec's updated
by the ladder's rung-outs, :func:`bayes_scaling.calibrate.ladder_term`) as a file
:func:`read_term` reads and ``predict --extrapolation`` takes. ``rate = 0`` switches the term
off. Reports warn, in words,
about every prediction farther out than ``checked`` (default
:data:`bayes_scaling.constants.CALIBRATED_DISTANCE`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pymc as pm

from bayes_scaling import laws
from bayes_scaling.constants import CALIBRATED_DISTANCE
from bayes_scaling.priors import Prior, SpecError

KEYS = ("rate", "power", "checked")


@dataclass(frozen=True)
class ExtrapolationError:
    """The discrepancy term of one spec: ``rate`` is the prior of ``τ`` (``None``: off),
    ``power`` the exponent ``p`` of the distance, ``checked`` the farthest distance at which
    it was checked on held-out runs."""

    rate: Prior | None
    power: float = 1.0
    checked: float = CALIBRATED_DISTANCE

    @classmethod
    def from_table(cls, table: dict[str, Any], *, where: str) -> ExtrapolationError:
        unknown = set(table) - set(KEYS)
        if unknown:
            raise SpecError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {list(KEYS)}")
        power, checked = table.get("power", 1.0), table.get("checked", CALIBRATED_DISTANCE)
        for key, value in (("power", power), ("checked", checked)):
            if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
                raise SpecError(f"{where}.{key}: must be a positive number, got {value!r}")
        rate = table.get("rate", 0)
        if isinstance(rate, int | float) and not isinstance(rate, bool):
            if rate != 0:
                raise SpecError(f"{where}.rate: a number must be 0 (off); give a prior table")
            return cls(None, float(power), float(checked))
        return cls(Prior.from_dict(rate, where=f"{where}.rate"), float(power), float(checked))

    def draw_rate(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws of ``τ`` (zeros when the term is off)."""
        if self.rate is None:
            return np.zeros(n)
        dist = getattr(pm, self.rate.dist).dist(**self.rate.kwargs)
        draws = np.asarray(pm.draw(dist, draws=n, random_seed=int(rng.integers(2**31))), float)
        if (draws < 0).any():
            raise SpecError(f"[extrapolation] rate {self.rate} gives negative values")
        return draws

    def draw(self, distance: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """``δ`` on the link scale, ``(n, len(distance))``; zero where ``distance`` is 0."""
        tau = self.draw_rate(n, rng)
        z = rng.standard_normal(n)
        return (tau * z)[:, None] * np.asarray(distance, float)[None, :] ** self.power


def shift(kind: str, values: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """``values`` moved by ``delta`` on the link scale (untouched where ``delta`` is 0)."""
    if not np.any(delta):
        return values
    return np.where(delta == 0, values, laws.inverse_link(kind, laws.link(kind, values) + delta))


def read_term(path: str | Path) -> dict[str, Any]:
    """The ``[extrapolation]`` table of a TOML file (as ``bayes-scaling calibrate`` writes
    ``extrapolation.toml``), checked; errors name the file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(f"{path}: cannot read the extrapolation term: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from exc
    table = raw.get("extrapolation")
    if not isinstance(table, dict):
        raise SpecError(f"{path}: no [extrapolation] table (keys: {', '.join(KEYS)})")
    ExtrapolationError.from_table(table, where=f"{path}: [extrapolation]")
    return table


def term_toml(table: dict[str, Any], *, note: str) -> str:
    """``table`` (``rate`` a prior table, ``power``, ``checked``) as an ``[extrapolation]``
    TOML table that a spec or :func:`read_term` takes, after the comment ``note``."""
    ExtrapolationError.from_table(table, where="term_toml")
    rate = table["rate"]
    if isinstance(rate, dict):
        inner = ", ".join(
            f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {float(v):.6g}"
            for k, v in rate.items()
        ).replace("'", '"')
        rate = "{" + inner + "}"
    lines = [f"# {line}" for line in note.splitlines()]
    lines += ["[extrapolation]", f"rate = {rate}"]
    lines += [f"{key} = {float(table[key]):.6g}" for key in ("power", "checked") if key in table]
    return "\n".join(lines) + "\n"
