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
from bayes_scaling.inference import compile_model, merge_chains, sample_chain
from bayes_scaling.spec import ModelSpec

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
    *,
    chain: int,
    seed: int,
    sampler: str,
    draws: int,
    tune: int,
    target_accept: float,
    mass_matrix: str,
) -> xr.DataTree:
    model, compiled = _model_on_worker(family, spec, source, data, sampler)
    return sample_chain(
        model,
        chain=chain,
        seed=seed,
        sampler=sampler,
        draws=draws,
        tune=tune,
        target_accept=target_accept,
        mass_matrix=mass_matrix,
        compiled=compiled,
    )


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
    sampler: str = "nutpie",
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    target_accept: float = 0.9,
    mass_matrix: str = "diag",
    retries: int = 2,
) -> xr.DataTree:
    """Sample the posterior of ``model`` with each chain as its own Dask task; merge them.

    R-hat and ESS of the result are computed across all chains as usual. The draws equal those
    of :func:`bayes_scaling.inference.sample` (the local path) with the same ``seed``.
    """
    spec, data = model.spec, model.data
    shared = data_future(client, data)
    base = digest(
        "chains",
        spec.to_json(),
        data.fingerprint(),
        str(seed),
        sampler,
        str(draws),
        str(tune),
        str(target_accept),
        mass_matrix,
    )
    futures = [
        client.submit(
            _chain_task,
            type(model),
            spec.to_dict(),
            spec.source,
            shared,
            chain=k,
            seed=int(seed),
            sampler=sampler,
            draws=int(draws),
            tune=int(tune),
            target_accept=float(target_accept),
            mass_matrix=mass_matrix,
            key=f"bayes-scaling-chain-{base}-{k}",
            retries=retries,
        )
        for k in range(chains)
    ]
    try:
        return merge_chains(client.gather(futures))
    finally:
        client.cancel([*futures, shared])
