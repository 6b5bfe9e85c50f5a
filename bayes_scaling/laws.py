"""Every functional form, once, usable from numpy and PyTensor.

Each function takes arrays (numpy) or tensors (PyTensor) and returns the same kind; models build
their likelihood from these and predictions evaluate them on posterior draws, so a formula can
never differ between fitting and predicting.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np


def _xp(*args: Any) -> ModuleType:
    """``pytensor.tensor`` if any argument is symbolic, else ``numpy``."""
    for a in args:
        if type(a).__module__.startswith("pytensor"):
            import pytensor.tensor as pt

            return pt
    return np


def flops(params: Any, tokens: Any) -> Any:
    """Training compute ``C = 6·N·D`` (float64)."""
    return 6.0 * np.asarray(params, dtype="float64") * np.asarray(tokens, dtype="float64")


# --- loss -----------------------------------------------------------------------------------


def overtraining_loss(compute: Any, multiplier: Any, E: Any, a: Any, b: Any, eta: Any) -> Any:
    """Gadre et al. (2024): ``L(C, M) = E + (a·M^η + b·M^-η)·C^-η``.

    ``compute`` may be in any unit as long as ``a`` and ``b`` are expressed in it; models pass
    scaled compute and multipliers and convert ``a, b`` back to FLOPs (see
    :func:`overtraining_coefficients`).
    """
    xp = _xp(compute, multiplier, E, a, b, eta)
    log_c = xp.log(compute)
    log_m = xp.log(multiplier)
    return E + (a * xp.exp(eta * log_m) + b * xp.exp(-eta * log_m)) * xp.exp(-eta * log_c)


def overtraining_coefficients(
    a_ref: Any, b_ref: Any, eta: Any, compute_ref: float, multiplier_ref: float
) -> tuple[Any, Any]:
    """Convert ``a, b`` fitted on ``C/C0, M/M0`` to the raw units (FLOPs, tokens per parameter).

    With ``C̃ = C/C0`` and ``M̃ = M/M0``:
    ``a·M^η·C^-η = a_ref·M̃^η·C̃^-η`` gives ``a = a_ref·M0^-η·C0^η`` and ``b = b_ref·M0^η·C0^η``.
    """
    xp = _xp(a_ref, b_ref, eta)
    a = a_ref * xp.exp(eta * (np.log(compute_ref) - np.log(multiplier_ref)))
    b = b_ref * xp.exp(eta * (np.log(compute_ref) + np.log(multiplier_ref)))
    return a, b


def overtraining_optimal_multiplier(a: Any, b: Any, eta: Any) -> Any:
    """The multiplier minimising ``L`` at fixed compute: ``M* = (b/a)^(1/(2η))``."""
    xp = _xp(a, b, eta)
    return xp.exp((xp.log(b) - xp.log(a)) / (2.0 * eta))


def chinchilla_loss(params: Any, tokens: Any, E: Any, A: Any, B: Any, alpha: Any, beta: Any) -> Any:
    """Hoffmann et al. (2022): ``L(N, D) = E + A/N^α + B/D^β``."""
    xp = _xp(params, tokens, E, A, B, alpha, beta)
    return E + A * xp.exp(-alpha * xp.log(params)) + B * xp.exp(-beta * xp.log(tokens))


def chinchilla_coefficients(
    A_ref: Any, B_ref: Any, alpha: Any, beta: Any, params_ref: float, tokens_ref: float
) -> tuple[Any, Any]:
    """Convert ``A, B`` fitted on ``N/N0, D/D0`` to raw units: ``A = A_ref·N0^α``."""
    xp = _xp(A_ref, B_ref, alpha, beta)
    return A_ref * xp.exp(alpha * np.log(params_ref)), B_ref * xp.exp(beta * np.log(tokens_ref))


def chinchilla_optimal_multiplier(compute: Any, A: Any, B: Any, alpha: Any, beta: Any) -> Any:
    """``D*/N*`` at compute ``C`` for the Chinchilla form (Hoffmann et al. eq. 4).

    ``N* = G·(C/6)^(β/(α+β))``, ``D* = (C/6)/N*``, ``G = (αA/(βB))^(1/(α+β))``.
    """
    xp = _xp(A, B, alpha, beta)
    log_g = (xp.log(alpha * A) - xp.log(beta * B)) / (alpha + beta)
    log_c6 = np.log(np.asarray(compute, dtype="float64") / 6.0)
    log_n = log_g + beta / (alpha + beta) * log_c6
    return xp.exp(log_c6 - 2.0 * log_n)


# --- downstream error -----------------------------------------------------------------------


def error_from_loss(loss: Any, epsilon: Any, k: Any, gamma: Any) -> Any:
    """Gadre et al. (2024): ``Err(L) = ε − k·exp(−γ·L)``."""
    xp = _xp(loss, epsilon, k, gamma)
    return epsilon - k * xp.exp(-gamma * loss)


def accuracy_sigmoid(loss: Any, a: Any, k: Any, L0: Any, b: Any) -> Any:
    """OLMo ladder (Bhagia et al. 2024): ``Acc(L) = a / (1 + exp(−k·(L − L0))) + b``."""
    xp = _xp(loss, a, k, L0, b)
    return a / (1.0 + xp.exp(-k * (loss - L0))) + b


# --- checkpoint trajectories ----------------------------------------------------------------
