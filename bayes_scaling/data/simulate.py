"""Synthetic testbeds drawn from the models' own generative stories.

They feed the demo, the fast tests and parameter-recovery checks. Each simulator returns the
observations and the true parameter values that generated them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayes_scaling import laws
from bayes_scaling.data.schema import Observations
from bayes_scaling.likelihoods import LIKELIHOODS

#: Gadre et al. (2024) Table 6, C4 eval loss: (E, a, b, η) per pretraining dataset.
GADRE_TABLE6: dict[str, dict[str, float]] = {
    "c4": {"E": 1.51, "a": 141.0, "b": 190.0, "eta": 0.121},
    "redpajama": {"E": 1.84, "a": 212.0, "b": 367.0, "eta": 0.136},
    "refinedweb": {"E": 1.73, "a": 157.0, "b": 246.0, "eta": 0.127},
}
#: The testbed's model sizes (total parameters) and token multipliers.
GADRE_SIZES: tuple[float, ...] = (10_569_312, 78_914_048, 153_677_376, 411_616_256)
GADRE_MULTIPLIERS: tuple[float, ...] = (5, 10, 20, 40, 80, 160, 320, 640)
#: Epoch AI's refit of Chinchilla (Besiroglu et al. 2024).
EPOCH_CHINCHILLA: dict[str, float] = {
    "E": 1.817,
    "A": 482.0,
    "B": 2085.4,
    "alpha": 0.348,
    "beta": 0.366,
}


@dataclass(frozen=True)
class Simulation:
    """Simulated observations with the truth that generated them."""

    observations: Observations
    truth: dict[str, Any]


def _new_loss(rng: np.random.Generator, law: np.ndarray, sigma: float, nu: float | None):
    """Runs' losses around ``law``: the loss family's likelihood on log loss."""
    noise = LIKELIHOODS["normal" if nu is None else "student_t"]
    return np.exp(noise.draw(np.log(np.asarray(law, dtype="float64")), sigma, rng, nu=nu))


def simulate_overtraining(
    *,
    truth: dict[str, dict[str, float]] | None = None,
    sizes: Sequence[float] = GADRE_SIZES,
    multipliers: Sequence[float] = GADRE_MULTIPLIERS,
    sigma: float = 0.01,
    nu: float | None = 4.0,
    task: str = "c4_val",
    seed: int = 0,
) -> Simulation:
    """A Gadre-style testbed: every dataset × size × multiplier, loss from the law.

    Noise is Student-t (``nu``; normal when ``None``) with scale ``sigma`` on log loss, the
    likelihood of ``models/loss_overtraining.toml``.
    """
    truth = truth or GADRE_TABLE6
    rng = np.random.default_rng(seed)
    rows = []
    for dataset, p in truth.items():
        for n in sizes:
            for m in multipliers:
                n, d = float(n), float(m) * float(n)
                law = laws.overtraining_loss(6 * n * d, m, p["E"], p["a"], p["b"], p["eta"])
                rows.append(
                    {
                        "run": f"{dataset}-{n / 1e6:.0f}M-M{m:g}",
                        "dataset": dataset,
                        "params": float(n),
                        "tokens": float(d),
                        "task": task,
                        "metric": "loss",
                        "law": float(law),
                    }
                )
    df = pd.DataFrame(rows)
    df["value"] = _new_loss(rng, df.pop("law").to_numpy(), sigma, nu)
    df["family"] = "simulated"
    return Simulation(
        Observations.from_frame(df, source="simulated over-training testbed"),
        {"params": truth, "sigma": sigma, "nu": nu},
    )


def simulate_chinchilla(
    *,
    truth: dict[str, float] | None = None,
    n_runs: int = 120,
    sigma: float = 0.01,
    nu: float | None = 4.0,
    seed: int = 0,
) -> Simulation:
    """Runs scattered over N ∈ [5e7, 1.6e10] and compute budgets, loss from Chinchilla's law."""
    truth = truth or EPOCH_CHINCHILLA
    rng = np.random.default_rng(seed)
    n = np.exp(rng.uniform(np.log(5e7), np.log(1.6e10), n_runs))
    m = np.exp(rng.uniform(np.log(2.0), np.log(200.0), n_runs))
    d = n * m
    t = truth
    law = laws.chinchilla_loss(n, d, t["E"], t["A"], t["B"], t["alpha"], t["beta"])
    df = pd.DataFrame(
        {
            "run": [f"sim-{i}" for i in range(n_runs)],
            "dataset": "simulated",
            "params": n,
            "tokens": d,
            "task": "train",
            "metric": "loss",
            "value": _new_loss(rng, law, sigma, nu),
        }
    )
    return Simulation(
        Observations.from_frame(df, source="simulated Chinchilla runs"),
        {"params": truth, "sigma": sigma, "nu": nu},
    )


# --- downstream error -----------------------------------------------------------------------

#: Links of the downstream parameters (as in ``models/error_from_loss.toml`` and
#: ``models/accuracy_sigmoid.toml``); the truth below is on these latent scales.
DOWNSTREAM_LINKS: dict[str, str] = {
    "eps_frac": "logit",
    "drop": "logit",
    "gamma": "log",
    "floor": "logit",
    "height": "logit",
    "steep": "log",
    "reach": "logit",
}
#: A plausible global population (latent scale) and its domain/task spreads, per form.
DOWNSTREAM_TRUTH: dict[str, dict[str, dict[str, float]]] = {
    "exponential": {
        "mu": {"eps_frac": 2.2, "drop": -1.5, "gamma": -0.3},
        "sd_domain": {"eps_frac": 0.6, "drop": 0.6, "gamma": 0.25},
        "sd_task": {"eps_frac": 0.3, "drop": 0.3, "gamma": 0.1},
    },
    "sigmoid": {
        "mu": {"floor": -3.0, "height": 0.5, "steep": 1.5, "reach": 1.8},
        "sd_domain": {"floor": 0.5, "height": 0.5, "steep": 0.25, "reach": 0.7},
        "sd_task": {"floor": 0.3, "height": 0.3, "steep": 0.1, "reach": 0.2},
    },
}
_CHANCES: tuple[float, ...] = (0.0, 0.25, 0.5)


def _inverse_link(link: str, x: np.ndarray) -> np.ndarray:
    if link == "log":
        return np.exp(x)
    if link == "logit":
        return 1.0 / (1.0 + np.exp(-x))
    return x


def simulate_downstream(
    *,
    domains: dict[str, int] | None = None,
    form: str = "exponential",
    truth: dict[str, dict[str, float]] | None = None,
    losses: Sequence[float] | None = None,
    likelihood: str = "binomial",
    n_items: int = 1000,
    noise: float = 300.0,
    input_task: str = "c4_val",
    seed: int = 0,
) -> Simulation:
    """Tasks nested in domains, each with its own error-from-loss curve, from the model's story.

    Latent parameters are drawn ``global → domain → task`` (normal on the link scale, as
    :func:`bayes_scaling.hierarchy.build` writes them); each run has one input loss (task
    ``input_task``, metric ``loss``) and one accuracy per task.

    Parameters
    ----------
    domains
        Number of tasks per domain (default ``{"commonsense": 4, "science": 3, "math": 3}``).
    form
        ``"exponential"`` (Gadre: ``Err = ε − k·exp(−γL)``) or ``"sigmoid"`` (OLMo ladder).
    truth
        ``{"mu": ..., "sd_domain": ..., "sd_task": ...}`` on the latent scale (see
        :data:`DOWNSTREAM_TRUTH`).
    losses
        The runs' input losses (default 14 values from 2.6 to 4.6 nats for the exponential
        form, 0.6 to 1.6 bits per byte for the sigmoid).
    likelihood
        ``"binomial"`` (accuracy = correct/``n_items``), ``"beta"`` (concentration ``noise``)
        or ``"student_t"`` (scale ``noise`` on accuracy, 4 degrees of freedom).
    seed
        Random seed.

    Returns
    -------
    Simulation
        ``truth`` holds ``mu``, the spreads, ``domain`` and ``task`` values (after the link),
        ``chance`` per task, ``loss_ref`` and ``loss_min`` (the median and lowest input loss,
        the model's references for the exponential and the sigmoid form) and the noise
        settings.
    """
    domains = domains or {"commonsense": 4, "science": 3, "math": 3}
    if form not in DOWNSTREAM_TRUTH:
        raise ValueError(f"form must be one of {sorted(DOWNSTREAM_TRUTH)}, got {form!r}")
    truth = truth or DOWNSTREAM_TRUTH[form]
    if likelihood not in ("binomial", "beta", "student_t"):
        raise ValueError(f"likelihood must be binomial, beta or student_t, got {likelihood!r}")
    noise_model = LIKELIHOODS[likelihood]  # the downstream family's, on the error scale
    rng = np.random.default_rng(seed)
    if losses is None:  # nats of a validation loss, or bits per byte of a task loss
        losses = np.linspace(2.6, 4.6, 14) if form == "exponential" else np.linspace(0.6, 1.6, 14)
    losses = np.asarray(losses, dtype=float)
    loss_ref = float(laws.DOWNSTREAM_REFERENCE[form](losses))
    names = list(truth["mu"])
    dom_latent = {
        p: {d: truth["mu"][p] + truth["sd_domain"][p] * rng.standard_normal() for d in domains}
        for p in names
    }
    tasks: list[tuple[str, str]] = [
        (d, f"{d}_{i}") for d, count in domains.items() for i in range(count)
    ]
    task_latent = {
        p: {t: dom_latent[p][d] + truth["sd_task"][p] * rng.standard_normal() for d, t in tasks}
        for p in names
    }
    value = {
        level: {
            p: {g: float(_inverse_link(DOWNSTREAM_LINKS[p], x)) for g, x in table[p].items()}
            for p in names
        }
        for level, table in (("domain", dom_latent), ("task", task_latent))
    }
    chance = {t: _CHANCES[i % len(_CHANCES)] for i, (_, t) in enumerate(tasks)}
    rows = []
    for r, loss in enumerate(losses):
        run = {"run": f"sim-{r}", "params": 1e7 * (r + 1), "tokens": 2e8 * (r + 1)}
        rows.append(run | {"task": input_task, "metric": "loss", "value": float(loss)})
        for domain, task in tasks:
            v = {p: value["task"][p][task] for p in names}
            err = np.array([laws.DOWNSTREAM_ERROR[form](loss, v, chance[task], loss_ref)])
            new = noise_model.draw(err, noise, rng, n=np.array([n_items]), nu=4.0)
            acc = 1.0 - float(new[0])
            rows.append(
                run
                | {
                    "task": task,
                    "metric": "accuracy",
                    "value": float(np.clip(acc, 0.0, 1.0)),
                    "domain": domain,
                    "chance": chance[task],
                    "n_items": n_items,
                }
            )
    df = pd.DataFrame(rows)
    df["dataset"] = "simulated"
    df.loc[df["metric"] == "loss", "domain"] = "language_modeling"
    df["n_items"] = df["n_items"].astype("Int64")
    return Simulation(
        Observations.from_frame(df, source=f"simulated downstream testbed ({form})"),
        {
            "form": form,
            "mu": dict(truth["mu"]),
            "sd_domain": dict(truth["sd_domain"]),
            "sd_task": dict(truth["sd_task"]),
            "domain": value["domain"],
            "task": value["task"],
            "chance": chance,
            "loss_ref": float(np.median(losses)),
            "loss_min": float(losses.min()),
            "likelihood": likelihood,
            "noise": noise,
            "n_items": n_items,
        },
    )


# --- checkpoint trajectories ----------------------------------------------------------------

#: Domain-level truth of the trajectory testbed: onset (ln D/D0 at half gain, at N0), rate
#: (logits per e-fold of tokens), ceiling (logit of the headroom fraction at N0) and the size
#: effects. Onsets are ordered basic → advanced.
TRAJECTORY_DOMAINS: dict[str, dict[str, float]] = {
    "language": {
        "onset": -1.5,
        "rate": 1.2,
        "ceiling": 0.5,
        "onset_size": 0.6,
        "ceiling_size": 0.3,
    },
    "commonsense": {
        "onset": -0.5,
        "rate": 1.0,
        "ceiling": 0.0,
        "onset_size": 0.5,
        "ceiling_size": 0.4,
    },
    "science": {"onset": 0.5, "rate": 0.9, "ceiling": -0.3, "onset_size": 0.5, "ceiling_size": 0.5},
    "reasoning": {
        "onset": 1.5,
        "rate": 0.8,
        "ceiling": -0.8,
        "onset_size": 0.4,
        "ceiling_size": 0.6,
    },
}
#: Pythia-like sizes (non-embedding parameters) and checkpoint token counts.
TRAJECTORY_SIZES: tuple[float, ...] = (1.9e7, 8.5e7, 3.0e8, 8.1e8, 1.2e9, 2.5e9, 6.4e9)
TRAJECTORY_TOKENS: tuple[float, ...] = tuple(np.geomspace(2e9, 3e11, 12))


def simulate_trajectories(
    *,
    domains: dict[str, dict[str, float]] | None = None,
    tasks_per_domain: int = 3,
    sizes: Sequence[float] = TRAJECTORY_SIZES,
    tokens: Sequence[float] = TRAJECTORY_TOKENS,
    task_sd: dict[str, float] | None = None,
    run_domain_sd: float = 0.3,
    run_domain_corr: float = 0.5,
    run_task_sd: float = 0.15,
    phi: float = 2000.0,
    n_items: int = 1000,
    seed: int = 0,
) -> Simulation:
    """A multi-size, multi-domain checkpoint testbed from the trajectory model's own story.

    Each domain's tasks scatter around its parameters (``task_sd`` per parameter on the link
    scale: onset, log rate, ceiling logit); every size is one run evaluated at every checkpoint
    in ``tokens``. Run × domain logit offsets on the ceiling are normal with sd
    ``run_domain_sd`` and equal correlation ``run_domain_corr``; run × task offsets have sd
    ``run_task_sd``. Counts of
    correct answers out of ``n_items`` are beta-binomial with concentration ``phi``, the
    likelihood of ``models/task_dynamics.toml``. Chance alternates 0.25 / 0.5 across tasks.

    ``truth`` holds ``domains`` (as given), per-task values ``tasks``, ``refs`` (the geometric
    means ``N0``, ``D0`` of the testbed, which the model also uses), the noise settings and
    ``onset_order`` (domains sorted by onset).
    """
    domains = domains or TRAJECTORY_DOMAINS
    task_sd = {"onset": 0.3, "rate": 0.1, "ceiling": 0.3, **(task_sd or {})}
    rng = np.random.default_rng(seed)
    refs = {
        "params": float(np.exp(np.mean(np.log(sizes)))),
        "tokens": float(np.exp(np.mean(np.log(tokens)))),
    }
    tasks: dict[str, dict[str, Any]] = {}
    for d, p in domains.items():
        for i in range(tasks_per_domain):
            tasks[f"{d}_{i}"] = {
                "domain": d,
                "onset": p["onset"] + task_sd["onset"] * rng.standard_normal(),
                "rate": p["rate"] * np.exp(task_sd["rate"] * rng.standard_normal()),
                "ceiling": p["ceiling"] + task_sd["ceiling"] * rng.standard_normal(),
                "chance": 0.25 if len(tasks) % 2 == 0 else 0.5,
            }
    names = list(domains)
    corr = np.full((len(names), len(names)), run_domain_corr)
    np.fill_diagonal(corr, 1.0)
    chol = np.linalg.cholesky(run_domain_sd**2 * corr)
    rows = []
    for n in sizes:
        run = f"sim-{n / 1e6:.0f}M"
        b = dict(zip(names, chol @ rng.standard_normal(len(names)), strict=True))
        for task, t in tasks.items():
            p = domains[t["domain"]]
            offset = b[t["domain"]] + run_task_sd * rng.standard_normal()
            for d in tokens:
                law = laws.accuracy_trajectory(
                    np.log(d / refs["tokens"]),
                    np.log(n / refs["params"]),
                    t["chance"],
                    t["onset"],
                    t["rate"],
                    t["ceiling"],
                    p["onset_size"],
                    p["ceiling_size"],
                    ceiling_offset=offset,
                )
                value = LIKELIHOODS["beta_binomial"].draw(
                    np.array([law]), phi, rng, n=np.array([n_items])
                )
                rows.append(
                    {
                        "run": run,
                        "params": float(n),
                        "tokens": float(d),
                        "task": task,
                        "domain": t["domain"],
                        "metric": "accuracy",
                        "value": float(value[0]),
                        "chance": t["chance"],
                        "n_items": n_items,
                        "law": float(law),
                    }
                )
    df = pd.DataFrame(rows)
    df["family"] = "simulated"
    truth = {
        "domains": domains,
        "tasks": tasks,
        "refs": refs,
        "run_domain_sd": run_domain_sd,
        "run_domain_corr": run_domain_corr,
        "run_task_sd": run_task_sd,
        "phi": phi,
        "onset_order": sorted(names, key=lambda d: domains[d]["onset"]),
    }
    return Simulation(
        Observations.from_frame(df, source="simulated checkpoint trajectories"), truth
    )
