"""One fit's chains as Dask tasks, merged into one posterior (below the model families).

Chain ``k`` is always a single-chain run seeded with
:func:`~bayes_scaling.inference.chain_seed` ``(seed, k)`` — nutpie's chain ``k`` of a
multi-chain run depends on the run's chain count, so this is the only way distributed and local
fits can agree — and :func:`bayes_scaling.inference.sample`, the local path, runs the same
single-chain runs in threads. Same seed, same draws, anywhere.

Workers build the model from the family class, the spec dict and the tidy table (never a
pickled PyMC model; the class travels by reference, so this module imports no family) and
keep the compiled model for every chain of that fit they receive.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Protocol

import xarray as xr

from bayes_scaling.data.schema import Observations
from bayes_scaling.hashing import canonical_json, digest
from bayes_scaling.inference import DEFAULT_SAMPLER, compile_model, merge_chains, sample_chain
from bayes_scaling.spec import ModelSpec, SamplerConfig

if TYPE_CHECKING:
    from distributed import Client


class Buildable(Protocol):
    """What a fit needs of a model family here (``ScalingModel`` is one)."""

    spec: ModelSpec
    data: Observations

    def build(self) -> Any: ...


_MODELS: OrderedDict[str, tuple[Any, Any]] = OrderedDict()
_MODELS_LOCK = threading.Lock()
_MODELS_MAX = 4


def _model_on_worker(family: type, spec: dict, source: str, data: Observations, sampler: str):
    """Build (and compile) the model once per worker for all its chains of one fit."""
    key = digest(family.__qualname__, canonical_json(spec), data.fingerprint(), sampler)
    with _MODELS_LOCK:
        if key in _MODELS:
            _MODELS.move_to_end(key)
            return _MODELS[key]
        model = family(ModelSpec.from_dict(spec, source=source), data).build()
        entry = (model, compile_model(model, sampler))
        _MODELS[key] = entry
        while len(_MODELS) > _MODELS_MAX:
            _MODELS.popitem(last=False)
        return entry


def _chain_task(
    family: type,
    spec: dict,
    source: str,
    data: Observations,
    config: SamplerConfig,
    *,
    chain: int,
    seed: int,
) -> xr.DataTree:
    model, compiled = _model_on_worker(family, spec, source, data, config.name)
    return sample_chain(model, config, chain=chain, seed=seed, compiled=compiled)


def _identity(x: Any) -> Any:
    return x


def data_future(client: Client, data: Observations):
    """The observations as one recomputable task (not scattered data, which a dying worker
    would take with it), shared by every task that needs them."""
    return client.submit(_identity, data, key=f"bayes-scaling-data-{data.fingerprint()}")


def fit_chains(
    model: Buildable,
    *,
    client: Client,
    seed: int,
    config: SamplerConfig = DEFAULT_SAMPLER,
    retries: int = 2,
) -> xr.DataTree:
    """Sample the posterior of ``model`` with each chain as its own Dask task; merge them.

    R-hat and ESS of the result are computed across all chains as usual. The draws equal those
    of :func:`bayes_scaling.inference.sample` (the local path) with the same ``seed``.
    """
    spec, data = model.spec, model.data
    shared = data_future(client, data)
    base = digest(
        "chains", spec.to_json(), data.fingerprint(), str(seed), canonical_json(config.to_dict())
    )
    futures = [
        client.submit(
            _chain_task,
            type(model),
            spec.to_dict(),
            spec.source,
            shared,
            config,
            chain=k,
            seed=int(seed),
            key=f"bayes-scaling-chain-{base}-{k}",
            retries=retries,
        )
        for k in range(config.chains)
    ]
    try:
        return merge_chains(client.gather(futures))
    finally:
        client.cancel([*futures, shared])
