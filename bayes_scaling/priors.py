"""Priors as data: a distribution name plus its arguments, round-tripping to a dict.

Modelled on ``pymc_extras.prior.Prior``: a prior is written in a spec as ``{dist = "Normal",
mu = 0.0, sigma = 1.0}`` and becomes a PyMC random variable only inside a model context. It
is kept only while pymc-extras pins PyMC below ours (its newest release, 0.15.1, requires
``pymc>=6.3.0,<6.4``; we are on 6.4): replace it with ``pymc_extras.prior.Prior`` once a
release admits PyMC 6.4.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import pymc as pm

from bayes_scaling.errors import SpecError


@dataclass(frozen=True)
class Prior:
    """A PyMC distribution by name with fixed numeric arguments."""

    dist: str
    kwargs: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, value: Any, *, where: str) -> Prior:
        """Parse ``{dist = "...", arg = number, ...}``; ``where`` names the key for errors."""
        if isinstance(value, Prior):
            return value
        if not isinstance(value, dict) or "dist" not in value:
            raise SpecError(f"{where}: a prior must be a table with a 'dist' key, got {value!r}")
        kwargs = {k: v for k, v in value.items() if k != "dist"}
        prior = cls(str(value["dist"]), kwargs)
        prior.check(where=where)
        return prior

    def to_dict(self) -> dict[str, Any]:
        return {"dist": self.dist, **self.kwargs}

    def check(self, *, where: str) -> None:
        """Raise :class:`SpecError` if the distribution or an argument is unknown."""
        cls = getattr(pm, self.dist, None)
        if not (isinstance(cls, type) and issubclass(cls, pm.Distribution)):
            raise SpecError(f"{where}: unknown PyMC distribution {self.dist!r}")
        accepted = set(inspect.signature(cls.dist).parameters) - {"args", "kwargs"}
        for key, val in self.kwargs.items():
            if key not in accepted:
                raise SpecError(
                    f"{where}: {self.dist} has no argument {key!r} (accepts {sorted(accepted)})"
                )
            if not isinstance(val, int | float) or isinstance(val, bool):
                raise SpecError(f"{where}.{key}: must be a number, got {val!r}")

    def create(self, name: str, *, dims: str | tuple[str, ...] | None = None) -> Any:
        """The random variable ``name`` in the current model."""
        return getattr(pm, self.dist)(name, **self.kwargs, dims=dims)

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v:g}" for k, v in self.kwargs.items())
        return f"{self.dist}({args})"
