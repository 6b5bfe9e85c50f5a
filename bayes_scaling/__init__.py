"""bayes_scaling: Bayesian hierarchical scaling laws for language models.

The flow is one-way: loaders → :class:`Observations` → model (a spec from ``models/*.toml``)
→ :class:`Fit` (a DataTree with its spec and data) → predictions, backtests, reports, plots.
"""

from bayes_scaling.constants import CI_PROB
from bayes_scaling.data.schema import DataError, Observations
from bayes_scaling.fitfile import FitFileError
from bayes_scaling.models.base import Fit, Prediction, ScalingModel, model_for
from bayes_scaling.priors import Prior, SpecError
from bayes_scaling.spec import ModelSpec, load_spec

__version__ = "0.1.0"


def fit(
    spec: ModelSpec | str,
    data: Observations,
    *,
    seed: int = 0,
    **sampler: object,
) -> Fit:
    """Fit ``spec`` (a spec, a path or a shipped spec's name) to ``data``.

    Sampler settings (``draws, tune, chains, sampler, target_accept, cores, progressbar,
    client``) override the spec's ``[sampler]`` table.
    """
    return model_for(spec, data).fit(seed=seed, **sampler)  # type: ignore[arg-type]


def load(path: str) -> Fit:
    """Read a fit file written by :meth:`Fit.save`."""
    return Fit.load(path)


__all__ = [
    "CI_PROB",
    "DataError",
    "Fit",
    "FitFileError",
    "ModelSpec",
    "Observations",
    "Prediction",
    "Prior",
    "ScalingModel",
    "SpecError",
    "fit",
    "load",
    "load_spec",
    "model_for",
]
