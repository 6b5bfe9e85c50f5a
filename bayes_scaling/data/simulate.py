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


def _noise(rng: np.random.Generator, n: int, sigma: float, nu: float | None) -> np.ndarray:
    eps = rng.standard_normal(n) if nu is None else rng.standard_t(nu, n)
    return sigma * eps


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
    df["value"] = df.pop("law") * np.exp(_noise(rng, len(df), sigma, nu))
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
            "value": law * np.exp(_noise(rng, n_runs, sigma, nu)),
        }
    )
    return Simulation(
        Observations.from_frame(df, source="simulated Chinchilla runs"),
        {"params": truth, "sigma": sigma, "nu": nu},
    )


# --- downstream error -----------------------------------------------------------------------


# --- checkpoint trajectories ----------------------------------------------------------------
