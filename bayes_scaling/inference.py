"""Sampler choice, core budgets, and convergence diagnostics with a plain-language verdict."""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pymc as pm
import xarray as xr

from bayes_scaling.constants import ESS_MIN_PER_CHAIN, RHAT_MAX
from bayes_scaling.spec import SamplerConfig

log = logging.getLogger(__name__)


#: The sampler settings when none are given (the defaults of a spec's ``[sampler]`` table).
DEFAULT_SAMPLER = SamplerConfig()


class ConvergenceWarning(UserWarning):
    """The sampler's diagnostics fail a threshold; the message says which."""


def available_cpus() -> int:
    """CPUs this process may use: ``$SLURM_CPUS_PER_TASK``, else affinity and cgroup quota.

    Never ``os.cpu_count()``, which reports the whole machine on shared nodes.
    """
    slurm = os.environ.get("SLURM_CPUS_PER_TASK")
    if slurm and slurm.isdigit() and int(slurm) > 0:
        return int(slurm)
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = _cgroup_cpu_limit()
    return max(1, min(n, quota) if quota else n)


def _cgroup_cpu_limit() -> int | None:
    try:  # cgroup v2
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            return max(1, int(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    try:  # cgroup v1
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        if quota > 0:
            return max(1, quota // period)
    except (OSError, ValueError):
        pass
    return None


# --- sampling, chain by chain ------------------------------------------------------------------
def chain_seed(seed: int, chain: int) -> int:
    """The seed of chain ``chain`` of a fit seeded ``seed`` (32-bit, from ``SeedSequence``)."""
    ss = np.random.SeedSequence(int(seed), spawn_key=(int(chain),))
    return int(ss.generate_state(1, np.uint32)[0])


def compile_model(model, sampler: str = "nutpie"):
    """What :func:`sample_chain` can reuse across chains of one model (nutpie's compiled model;
    ``None`` for samplers that compile inside ``pm.sample``)."""
    if sampler != "nutpie":
        return None
    import nutpie

    log.info("compiling the model for nutpie")
    return nutpie.compile_pymc_model(model)


def sample_chain(
    model,
    config: SamplerConfig = DEFAULT_SAMPLER,
    *,
    chain: int,
    seed: int,
    compiled: Any = None,
    progress_callback: Callable[[int, int], None] | None = None,
) -> xr.DataTree:
    """Run chain number ``chain`` of a fit seeded ``seed`` on one core.

    The chain is a single-chain run seeded with :func:`chain_seed` ``(seed, chain)``, so its
    draws do not depend on how many chains there are or where they run. The returned tree has
    ``chain`` coordinate ``[chain]``; :func:`merge_chains` joins chains.

    Parameters
    ----------
    config
        The sampler and its settings (``chains`` is not used: this is one chain).
    compiled
        From :func:`compile_model` (nutpie): compile once, sample many chains.
    progress_callback
        Called with ``(finished, total)`` draws (nutpie only).
    """
    s = chain_seed(seed, chain)
    if config.name == "nutpie":
        import nutpie
        from pymc.backends.arviz import patch_nutpie_idata

        compiled = compiled if compiled is not None else compile_model(model, "nutpie")
        callback = None
        if progress_callback is not None:

            def callback(progress):
                p = progress[0]
                progress_callback(int(p.finished_draws), int(p.total_draws))

        start = time.perf_counter()
        tree = nutpie.sample(
            compiled,
            draws=config.draws,
            tune=config.tune,
            chains=1,
            cores=1,
            seed=s,
            target_accept=config.target_accept,
            adaptation=config.mass_matrix,
            save_warmup=False,
            progress_bar=False,
            progress_callback=callback,
        )
        patch_nutpie_idata(tree, model, sampling_time=time.perf_counter() - start)
    else:
        with model, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*samples per chain.*")
            tree = pm.sample(
                draws=config.draws,
                tune=config.tune,
                chains=1,
                cores=1,
                random_seed=[s],
                nuts_sampler=config.name,
                target_accept=config.target_accept,
                progressbar=False,
                compute_convergence_checks=False,
            )
    return _relabel_chain(tree, chain)


def _relabel_chain(tree: xr.DataTree, chain: int) -> xr.DataTree:
    groups = {}
    for name, node in tree.children.items():
        ds = node.to_dataset()
        if "chain" in ds.dims:
            ds = ds.assign_coords(chain=[int(chain)])
        groups[name] = ds
    out = xr.DataTree.from_dict(groups)
    out.attrs = dict(tree.attrs)
    return out


def merge_chains(trees: Sequence[xr.DataTree]) -> xr.DataTree:
    """Join single-chain trees along ``chain`` (sorted by their chain coordinate).

    Groups with a ``chain`` dimension (posterior, sample_stats …) are concatenated; the others
    (observed_data, constant_data) are taken from the first tree. ``sampling_time`` is the
    longest chain's.
    """
    if not trees:
        raise ValueError("merge_chains needs at least one chain")
    trees = sorted(trees, key=lambda t: int(t["posterior"]["chain"].values[0]))
    chains = [int(t["posterior"]["chain"].values[0]) for t in trees]
    if len(set(chains)) != len(chains):
        raise ValueError(f"merge_chains got duplicate chains {chains}")
    first = trees[0]
    groups = {}
    for name, node in first.children.items():
        ds = node.to_dataset()
        if "chain" in ds.dims:
            ds = xr.concat(
                [t[name].to_dataset() for t in trees], dim="chain", combine_attrs="override"
            )
        groups[name] = ds
    times = [t["posterior"].attrs.get("sampling_time") for t in trees]
    if all(isinstance(v, int | float) for v in times):
        groups["posterior"].attrs["sampling_time"] = float(max(times))
    out = xr.DataTree.from_dict(groups)
    out.attrs = dict(first.attrs)
    return out


def sample(
    model,
    config: SamplerConfig = DEFAULT_SAMPLER,
    *,
    seed: int = 0,
    cores: int | None = None,
    progressbar: bool | None = None,
    compiled: Any = None,
) -> xr.DataTree:
    """Draw from the posterior of ``model``, chain by chain.

    Chain ``k`` is a single-chain run seeded :func:`chain_seed` ``(seed, k)``, so the draws do
    not depend on where the chains run: :func:`bayes_scaling.chains.fit_chains` runs them as
    Dask tasks and gets the same numbers. nutpie compiles the model once and runs
    ``min(chains, cores)`` chains at a time in threads (it releases the GIL); other samplers
    run the chains one after the other.

    Parameters
    ----------
    config
        The sampler (``"nutpie"`` by default; ``"pymc"``, or ``"numpyro"``/``"blackjax"`` with
        JAX installed), draws, warm-up, chains, target acceptance and mass matrix.
    cores
        Chains run in parallel on at most this many cores (default: :func:`available_cpus`).
    progressbar
        Default: only when standard error is a terminal.
    compiled
        ``model`` already compiled by :func:`compile_model` (with its data set by nutpie's
        ``with_data``), reused instead of compiling again.

    Returns
    -------
    xarray.DataTree
        ``posterior``, ``sample_stats``, ``observed_data`` (and ``constant_data``).
    """
    c = config
    cores = min(c.chains, cores or available_cpus())
    if progressbar is None:
        progressbar = sys.stderr.isatty() or in_notebook()
    if compiled is None:
        compiled = compile_model(model, c.name)
    log.info(
        "sampling %d chains × (%d tune + %d draws) on %d cores", c.chains, c.tune, c.draws, cores
    )
    nutpie = c.name == "nutpie"
    with _ChainProgress(c.chains, c.draws + c.tune, bar=progressbar and nutpie) as bar:

        def run(k: int) -> xr.DataTree:
            return sample_chain(
                model, c, chain=k, seed=seed, compiled=compiled, progress_callback=bar.callback(k)
            )

        if nutpie and cores > 1:
            with ThreadPoolExecutor(max_workers=cores) as pool:
                trees = list(pool.map(run, range(c.chains)))
        else:
            trees = [run(k) for k in range(c.chains)]
    return merge_chains(trees)


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where standard error is not a terminal)."""
    shell = sys.modules.get("IPython")
    ip = shell.get_ipython() if shell is not None else None  # type: ignore[attr-defined]
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


class _ChainProgress:
    """Progress over all chains' draws: a rich bar (terminal, Jupyter) or, otherwise, an INFO
    log line every :attr:`every` seconds (batch jobs; the CLI shows them on standard error)."""

    every = 30.0

    def __init__(self, chains: int, per_chain: int, *, bar: bool):
        self.done = [0] * chains
        self.total = chains * per_chain
        self.bar = bar
        self._bar: Any = None
        self._last = time.monotonic()

    def __enter__(self) -> _ChainProgress:
        if self.bar:
            from rich.progress import Progress

            self._bar = Progress(transient=True)
            self._bar.start()
            self._task = self._bar.add_task("sampling", total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def callback(self, chain: int) -> Callable[[int, int], None]:
        def update(finished: int, total: int) -> None:
            self.done[chain] = finished
            done = sum(self.done)
            if self._bar is not None:
                self._bar.update(self._task, completed=done)
            elif time.monotonic() - self._last >= self.every:
                self._last = time.monotonic()
                log.info(
                    "sampling: %d of %d draws (%.0f%%)", done, self.total, 100 * done / self.total
                )

        return update


@dataclass(frozen=True)
class Diagnostics:
    """Convergence summary of a fit, with a verdict a person can read."""

    rhat_max: float
    ess_bulk_min: float
    ess_tail_min: float
    divergences: int
    chains: int
    draws: int
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def verdict(self) -> str:
        head = (
            f"{self.chains} chains × {self.draws} draws: max R-hat {self.rhat_max:.3f}, "
            f"min bulk ESS {self.ess_bulk_min:.0f}, min tail ESS {self.ess_tail_min:.0f}, "
            f"{self.divergences} divergences."
        )
        if self.ok:
            return f"Converged. {head}"
        return f"NOT converged: {'; '.join(self.problems)}. {head}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok, "verdict": self.verdict}


def diagnose(tree: xr.DataTree, var_names: list[str] | None = None) -> Diagnostics:
    """R-hat, bulk/tail ESS and divergences of ``tree`` against the package thresholds.

    ``var_names`` restricts R-hat/ESS to those posterior variables (default: all).
    """
    post = tree["posterior"].to_dataset()
    if var_names:
        post = post[var_names]
    chains, draws = post.sizes["chain"], post.sizes["draw"]
    rhat = _extreme(az.rhat(post), np.nanmax) if chains > 1 else float("nan")
    ess_bulk = _extreme(az.ess(post, method="bulk"), np.nanmin)
    ess_tail = _extreme(az.ess(post, method="tail"), np.nanmin)
    divergences = 0
    if "sample_stats" in tree.children and "diverging" in tree["sample_stats"]:
        divergences = int(tree["sample_stats"]["diverging"].sum())
    problems = []
    if chains > 1 and not rhat <= RHAT_MAX:
        problems.append(f"R-hat {rhat:.3f} > {RHAT_MAX}")
    need = ESS_MIN_PER_CHAIN * chains
    if not ess_bulk >= need:
        problems.append(f"bulk ESS {ess_bulk:.0f} < {need}")
    if not ess_tail >= need:
        problems.append(f"tail ESS {ess_tail:.0f} < {need}")
    if divergences:
        problems.append(f"{divergences} divergent transitions")
    if chains < 2:
        problems.append("a single chain cannot show convergence (R-hat needs ≥ 2)")
    return Diagnostics(rhat, ess_bulk, ess_tail, divergences, chains, draws, tuple(problems))


def _extreme(ds: xr.Dataset, fn) -> float:
    values = [np.asarray(v.values, dtype=float).ravel() for v in ds.data_vars.values()]
    values = [v for v in values if v.size]
    return float(fn(np.concatenate(values))) if values else float("nan")
