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


def inverse_link(kind: str, x: Any) -> Any:
    """The value of a latent ``x`` through the inverse of link ``kind`` (``log``, ``logit``,
    ``identity``), numpy or PyTensor."""
    xp = _xp(x)
    if kind == "log":
        return xp.exp(x)
    if kind == "logit":
        return _sigmoid(xp, x)
    return x


def link(kind: str, x: Any) -> np.ndarray:
    """Link ``kind`` of numpy values (``logit`` clipped to stay finite at 0 and 1)."""
    if kind == "log":
        return np.log(x)
    if kind == "logit":
        from scipy.special import logit

        return logit(np.clip(x, 1e-12, 1 - 1e-12))
    return np.asarray(x, float)


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


def chance_bounded_epsilon(fraction: Any, chance: Any) -> Any:
    """``ε = (1 − chance)·f`` with ``f ∈ (0, 1)``: the error ceiling never exceeds chance error.

    ``1 − chance`` is the error of random guessing (1 for generative tasks with chance 0).
    Sampling ``f`` on the logit scale enforces ``0 < ε < 1 − chance``.
    """
    return (1.0 - chance) * fraction


def error_from_loss_k(epsilon: Any, drop: Any, gamma: Any, loss_ref: float) -> Any:
    """``k`` of :func:`error_from_loss` from the error's relative drop at a reference loss.

    With ``Err(L_ref) = ε·(1 − drop)``, ``k = ε·drop·exp(γ·L_ref)``. ``drop ∈ (0, 1)`` and ``γ``
    are nearly uncorrelated in the posterior where ``k`` and ``γ`` are not, because the data
    sit far from ``L = 0``.
    """
    xp = _xp(epsilon, drop, gamma)
    return epsilon * drop * xp.exp(gamma * loss_ref)


def sigmoid_midpoint(reach: Any, steep: Any, loss_ref: float) -> Any:
    """``L0`` of :func:`accuracy_sigmoid` (with ``k = −steep``) from the fraction ``reach`` of
    its gain above ``b`` attained at a reference loss: ``L0 = L_ref + logit(reach)/steep``.

    With ``L_ref`` the lowest fitted loss, a task still at chance over all of its data is
    ``reach → 0`` whatever its steepness: a half-line of the latent ``logit(reach)``, where
    ``L0`` would trade off against ``steep`` along a curved ridge.
    """
    xp = _xp(reach, steep)
    return loss_ref + (xp.log(reach) - xp.log1p(-reach)) / steep


def sigmoid_bounds(floor_fraction: Any, height_fraction: Any, chance: Any) -> tuple[Any, Any]:
    """``(a, b)`` of :func:`accuracy_sigmoid` with ``chance ≤ b`` and ``a + b ≤ 1``.

    ``b = chance + (1 − chance)·floor_fraction`` is the accuracy at infinite loss (never below
    chance, so the error never exceeds chance error); ``a = (1 − b)·height_fraction`` keeps the
    accuracy at zero loss at most 1 (the paper's synthetic point at ``L = 0``).
    """
    b = chance + (1.0 - chance) * floor_fraction
    return (1.0 - b) * height_fraction, b


def exponential_error(loss: Any, v: dict[str, Any], chance: Any, loss_ref: float) -> Any:
    """A task's error at ``loss`` in the exponential form's parameterisation (``eps_frac``,
    ``drop``, ``gamma``; ``loss_ref`` the fit's median loss)."""
    eps = chance_bounded_epsilon(v["eps_frac"], chance)
    k = error_from_loss_k(eps, v["drop"], v["gamma"], loss_ref)
    return error_from_loss(loss, eps, k, v["gamma"])


def sigmoid_error(loss: Any, v: dict[str, Any], chance: Any, loss_ref: float) -> Any:
    """A task's error at ``loss`` in the sigmoid form's parameterisation (``floor``, ``height``,
    ``steep``, ``reach``; ``loss_ref`` the fit's lowest loss)."""
    a, b = sigmoid_bounds(v["floor"], v["height"], chance)
    L0 = sigmoid_midpoint(v["reach"], v["steep"], loss_ref)
    return 1.0 - accuracy_sigmoid(loss, a, -v["steep"], L0, b)


#: The downstream family's forms: ``form → error(loss, params, chance, loss_ref)``.
DOWNSTREAM_ERROR = {"exponential": exponential_error, "sigmoid": sigmoid_error}
#: The loss each form's ``loss_ref`` is, from the fitted losses: the exponential form's
#: parameters refer to the median loss, the sigmoid's to the lowest.
DOWNSTREAM_REFERENCE = {"exponential": np.median, "sigmoid": np.min}


# --- checkpoint trajectories ----------------------------------------------------------------


def _sigmoid(xp: ModuleType, x: Any) -> Any:
    if xp is np:
        from scipy.special import expit

        return expit(x)
    return xp.sigmoid(x)


def trajectory_onset(onset: Any, onset_size: Any, log_params: Any) -> Any:
    """Log tokens (``ln(D/D0)``) at which a trajectory reaches half its gain above chance.

    ``m(N) = m − γ·ln(N/N0)``: a model ``e`` times larger reaches the midpoint ``γ`` e-folds of
    tokens earlier.
    """
    return onset - onset_size * log_params


def trajectory_ceiling(ceiling: Any, ceiling_size: Any, log_params: Any) -> Any:
    """Fraction of the headroom above chance reached after infinitely many tokens:
    ``u(N) = σ(ℓ + δ·ln(N/N0))``."""
    xp = _xp(ceiling, ceiling_size, log_params)
    return _sigmoid(xp, ceiling + ceiling_size * log_params)


def accuracy_trajectory(
    log_tokens: Any,
    log_params: Any,
    chance: Any,
    onset: Any,
    rate: Any,
    ceiling: Any,
    onset_size: Any,
    ceiling_size: Any,
    offset: Any = 0.0,
    ceiling_offset: Any = 0.0,
) -> Any:
    """Accuracy over training: a sigmoid in log tokens from chance towards a size-dependent
    ceiling.

    ``Acc(N, D) = c + (1 − c)·σ(ℓ + δ·ln(N/N0) + a)·σ(k·(ln(D/D0) − m(N)) + b)``, with
    ``m(N)`` from :func:`trajectory_onset`, ``c`` the task's chance accuracy, ``k`` the rate
    (logits per e-fold of tokens), ``ℓ, δ`` the ceiling and its size slope
    (:func:`trajectory_ceiling`), and run-level logit offsets ``b`` (``offset``, on the timing)
    and ``a`` (``ceiling_offset``, on the level). ``log_tokens = ln(D/D0)``,
    ``log_params = ln(N/N0)``.
    """
    xp = _xp(log_tokens, log_params, chance, onset, rate, ceiling, ceiling_size, offset)
    xp = _xp(onset_size, ceiling_offset) if xp is np else xp
    mid = trajectory_onset(onset, onset_size, log_params)
    u = trajectory_ceiling(ceiling + ceiling_offset, ceiling_size, log_params)
    return chance + (1.0 - chance) * u * _sigmoid(xp, rate * (log_tokens - mid) + offset)
