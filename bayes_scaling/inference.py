"""Sampler choice, core budgets, and convergence diagnostics with a plain-language verdict."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pymc as pm
import xarray as xr

from bayes_scaling.constants import ESS_MIN_PER_CHAIN, RHAT_MAX

log = logging.getLogger(__name__)


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


def sample(
    model: pm.Model,
    *,
    sampler: str = "nutpie",
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int = 0,
    target_accept: float = 0.9,
    cores: int | None = None,
    progressbar: bool | None = None,
) -> xr.DataTree:
    """Draw from the posterior of ``model``.

    Parameters
    ----------
    sampler
        ``"nutpie"`` (default), ``"pymc"``, ``"numpyro"`` or ``"blackjax"`` (the last two need
        JAX installed).
    cores
        Chains run in parallel on at most this many cores (default: :func:`available_cpus`).
    progressbar
        Default: only when standard error is a terminal.

    Returns
    -------
    xarray.DataTree
        ``posterior``, ``sample_stats``, ``observed_data`` (and ``constant_data``).
    """
    cores = min(chains, cores or available_cpus())
    if progressbar is None:
        progressbar = sys.stderr.isatty()
    kwargs: dict[str, Any] = dict(
        draws=draws,
        tune=tune,
        chains=chains,
        cores=cores,
        random_seed=seed,
        progressbar=progressbar,
        target_accept=target_accept,
        compute_convergence_checks=False,
    )
    if sampler != "pymc":
        kwargs["nuts_sampler"] = sampler
    with model, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*idata_kwargs.*")
        return pm.sample(**kwargs)


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
