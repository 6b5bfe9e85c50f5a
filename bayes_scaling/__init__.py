"""bayes_scaling: Bayesian hierarchical scaling laws for language models.

The flow is one-way: loaders → :class:`Observations` → model (a spec from ``models/*.toml``)
→ :class:`Fit` (a DataTree with its spec and data) → predictions, backtests, reports, plots.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bayes_scaling.constants import CI_PROB
from bayes_scaling.errors import DataError, FitFileError, SpecError

if TYPE_CHECKING:
    from bayes_scaling.data.schema import Observations
    from bayes_scaling.models.base import Fit, ScalingModel, model_for
    from bayes_scaling.models.prediction import Prediction
    from bayes_scaling.plots.figures import plot
    from bayes_scaling.priors import Prior
    from bayes_scaling.spec import ModelSpec, SamplerConfig, load_spec

__version__ = "0.1.0"

# PyMC, ArviZ and xarray load on first use of a name that needs them, so that
# ``bayes-scaling --help`` and ``import bayes_scaling.data`` stay fast.
_LAZY = {
    "Observations": "bayes_scaling.data.schema",
    "Fit": "bayes_scaling.models.base",
    "Prediction": "bayes_scaling.models.prediction",
    "ScalingModel": "bayes_scaling.models.base",
    "model_for": "bayes_scaling.models.base",
    "Prior": "bayes_scaling.priors",
    "ModelSpec": "bayes_scaling.spec",
    "SamplerConfig": "bayes_scaling.spec",
    "load_spec": "bayes_scaling.spec",
    "plot": "bayes_scaling.plots.figures",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bayes_scaling' has no attribute {name!r}")


def fit(
    spec: ModelSpec | str,
    data: Observations,
    *,
    seed: int = 0,
    **sampler: object,
) -> Fit:
    """Fit ``spec`` (a spec, a path or a shipped spec's name) to ``data``.

    Sampler settings (``draws, tune, chains, sampler, target_accept, mass_matrix, cores,
    progressbar, client``; ``sampler`` may be a whole :class:`SamplerConfig`) override the
    spec's ``[sampler]`` table.
    """
    from bayes_scaling.models.base import model_for

    return model_for(spec, data).fit(seed=seed, **sampler)  # type: ignore[arg-type]


def compare(fits: dict[str, Fit]) -> Any:
    """Rank fits of the same observations by PSIS-LOO (``arviz.compare`` on their
    pointwise log-likelihoods, see :meth:`Fit.with_log_likelihood`)."""
    import arviz as az

    return az.compare({name: f.with_log_likelihood() for name, f in fits.items()})


def load(path: str) -> Fit:
    """Read a fit file written by :meth:`Fit.save`."""
    from bayes_scaling.models.base import Fit

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
    "SamplerConfig",
    "ScalingModel",
    "SpecError",
    "compare",
    "fit",
    "load",
    "load_spec",
    "model_for",
    "plot",
]
