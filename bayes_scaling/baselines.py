"""Point-fit baselines, as the papers did them, for side-by-side backtests.

- ``curve_fit``: nonlinear least squares on the loss (Gadre et al. 2024 used
  ``scipy.optimize.curve_fit``).
- ``huber``: Huber loss (δ = 1e-3) on log loss with the law in log-sum-exp form, L-BFGS-B from
  a grid of starts, best start kept (Hoffmann et al. 2022; Besiroglu et al. 2024 for Epoch's
  refit; Bhagia et al. 2024 for the OLMo ladder's step 1).

Each returns a dict of law parameters; predictions go through :mod:`bayes_scaling.laws`.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy.optimize import OptimizeWarning, curve_fit, minimize
from scipy.special import huber, logsumexp

from bayes_scaling import laws

# --- loss baselines -------------------------------------------------------------------------

LOSS_PARAMS = {
    "overtraining": ("E", "a", "b", "eta"),
    "chinchilla": ("E", "A", "B", "alpha", "beta"),
}


def loss_law(form: str, params: np.ndarray, tokens: np.ndarray, p: dict[str, float]) -> np.ndarray:
    """The loss law ``form`` at raw (N, D) with parameters ``p``."""
    if form == "overtraining":
        c = laws.flops(params, tokens)
        return laws.overtraining_loss(c, tokens / params, p["E"], p["a"], p["b"], p["eta"])
    return laws.chinchilla_loss(params, tokens, p["E"], p["A"], p["B"], p["alpha"], p["beta"])


def fit_loss_curve_fit(
    form: str, params: np.ndarray, tokens: np.ndarray, loss: np.ndarray
) -> dict[str, float]:
    """Least squares on loss with ``scipy.optimize.curve_fit`` (Gadre et al.'s baseline).

    Raw N, D are used as the paper did; the compute is divided by 1e18 inside for numerical
    conditioning and ``a, b`` converted back.
    """
    names = LOSS_PARAMS[form]
    if form == "overtraining":
        c = laws.flops(params, tokens) / 1e18
        m = tokens / params

        def f(_x, E, a, b, eta):
            return laws.overtraining_loss(c, m, E, a, b, eta)

        p0 = (1.5, 1.0, 1.0, 0.1)
        bounds = ([0.0, 0.0, 0.0, 1e-4], [10.0, np.inf, np.inf, 2.0])
    else:
        n, d = params / 1e9, tokens / 1e9

        def f(_x, E, A, B, alpha, beta):
            return laws.chinchilla_loss(n, d, E, A, B, alpha, beta)

        p0 = (1.5, 1.0, 1.0, 0.3, 0.3)
        bounds = ([0.0, 0.0, 0.0, 1e-4, 1e-4], [10.0, np.inf, np.inf, 3.0, 3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        popt, _ = curve_fit(f, np.zeros_like(loss), loss, p0=p0, bounds=bounds, maxfev=20000)
    p = dict(zip(names, map(float, popt), strict=True))
    if form == "overtraining":  # back from C/1e18 to FLOPs: a·C^-η = a'·(C/1e18)^-η
        p["a"] *= 1e18 ** p["eta"]
        p["b"] *= 1e18 ** p["eta"]
    else:
        p["A"] *= 1e9 ** p["alpha"]
        p["B"] *= 1e9 ** p["beta"]
    return p


def fit_loss_huber(
    form: str,
    params: np.ndarray,
    tokens: np.ndarray,
    loss: np.ndarray,
    *,
    delta: float = 1e-3,
) -> dict[str, float]:
    """Huber loss on log loss, log-sum-exp law, L-BFGS-B from a grid of starts.

    The law is written as ``log L = LSE(e, t_1, t_2)`` with ``E = exp(e)`` and each reducible
    term ``t_i`` linear in log N, log D (or log C, log M); the best of all starts is returned.
    """
    y = np.log(loss)
    one, zero = np.ones_like(y), np.zeros_like(y)
    if form == "overtraining":
        log_c = np.log(laws.flops(params, tokens))
        log_m = np.log(tokens / params)

        def terms(x):  # log-space terms and their derivatives in (e, log a, log b, η)
            e, la, lb, eta = x
            t = np.stack([e * one, la + eta * (log_m - log_c), lb - eta * (log_m + log_c)])
            jac = np.stack(
                [
                    np.stack([one, zero, zero, zero], -1),
                    np.stack([zero, one, zero, log_m - log_c], -1),
                    np.stack([zero, zero, one, -(log_m + log_c)], -1),
                ]
            )
            return t, jac

        grid = itertools.product(
            [-1.0, 0.0, 0.5, 1.0], [0.0, 5.0, 10.0], [0.0, 5.0, 10.0], [0.05, 0.15, 0.3]
        )
    else:
        log_n, log_d = np.log(params), np.log(tokens)

        def terms(x):  # in (e, log A, log B, α, β)
            e, la, lb, alpha, beta = x
            t = np.stack([e * one, la - alpha * log_n, lb - beta * log_d])
            jac = np.stack(
                [
                    np.stack([one, zero, zero, zero, zero], -1),
                    np.stack([zero, one, zero, -log_n, zero], -1),
                    np.stack([zero, zero, one, zero, -log_d], -1),
                ]
            )
            return t, jac

        grid = itertools.product(
            [-1.0, 0.0, 0.5, 1.0],
            [0.0, 5.0, 10.0, 15.0],
            [0.0, 5.0, 10.0, 15.0],
            [0.2, 0.5],
            [0.2, 0.5],
        )

    def objective(x):
        t, jac = terms(x)
        pred = logsumexp(t, axis=0)
        r = pred - y
        weights = np.exp(t - pred)  # softmax over the terms: d LSE / d t
        dpred = np.einsum("kn,knp->np", weights, jac)
        psi = np.clip(r, -delta, delta)  # derivative of the Huber loss
        return float(np.sum(huber(delta, r))), psi @ dpred

    best = _best_start(objective, grid)
    if form == "overtraining":
        e, la, lb, eta = best
        return {"E": np.exp(e), "a": np.exp(la), "b": np.exp(lb), "eta": eta}
    e, la, lb, alpha, beta = best
    return {"E": np.exp(e), "A": np.exp(la), "B": np.exp(lb), "alpha": alpha, "beta": beta}


def _best_start(objective: Callable[[np.ndarray], tuple[float, np.ndarray]], starts) -> np.ndarray:
    best_x, best_f = None, np.inf
    for x0 in starts:
        res = minimize(objective, np.asarray(x0, dtype=float), jac=True, method="L-BFGS-B")
        if res.fun < best_f:
            best_x, best_f = res.x, res.fun
    assert best_x is not None
    return best_x


LOSS_BASELINES = {"curve_fit": fit_loss_curve_fit, "huber": fit_loss_huber}


# --- downstream baselines -------------------------------------------------------------------

# Gadre et al. (2024) fit Err(L) = ε − k·exp(−γL) with ``curve_fit`` per training dataset on a
# task average; the OLMo ladder (Bhagia et al. 2024) chains a Huber fit of L(N, D) on final
# checkpoints (step 1) into a ``curve_fit`` of the sigmoid on all checkpoints after the first
# 10% plus a synthetic point (L = 0, Acc = task max) (step 2). Point fits, no pooling.


ERROR_PARAMS = ("epsilon", "k", "gamma")
SIGMOID_PARAMS = ("a", "k", "L0", "b")


def _curve_fit_best(f, x: np.ndarray, y: np.ndarray, starts, **kwargs) -> np.ndarray:
    """``curve_fit`` from each start; the parameters with the smallest squared error."""
    best: tuple[float, np.ndarray] | None = None
    for p0 in starts:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizeWarning)
                popt, _ = curve_fit(f, x, y, p0=p0, **kwargs)
        except RuntimeError:
            continue
        sse = float(np.sum((f(x, *popt) - y) ** 2))
        if best is None or sse < best[0]:
            best = (sse, popt)
    if best is None:
        raise RuntimeError(f"curve_fit of {f.__doc__ or 'the law'} failed from every start")
    return best[1]


def fit_error_curve_fit(loss: np.ndarray, error: np.ndarray) -> dict[str, float]:
    """``Err(L) = ε − k·exp(−γL)`` by least squares (``scipy.optimize.curve_fit``)."""

    def f(x, epsilon, k, gamma):
        """Err(L)"""
        return laws.error_from_loss(x, epsilon, k, gamma)

    eps0 = float(np.max(error)) + 0.05
    starts = [
        (eps0, max((eps0 - float(np.min(error))) * np.exp(g * float(np.min(loss))), 1e-3), g)
        for g in (0.3, 0.7, 1.5)
    ]
    popt = _curve_fit_best(
        f, loss, error, starts, bounds=([0.0, 0.0, 0.0], [2.0, np.inf, 20.0]), maxfev=20000
    )
    return dict(zip(ERROR_PARAMS, map(float, popt), strict=True))


def fit_sigmoid_curve_fit(
    loss: np.ndarray, accuracy: np.ndarray, *, task_max: float = 1.0
) -> dict[str, float]:
    """The OLMo ladder's step 2: ``Acc(L) = a/(1 + exp(−k(L − L0))) + b`` by ``curve_fit``
    with the synthetic point ``(L = 0, Acc = task_max)`` appended."""
    x = np.append(loss, 0.0)
    y = np.append(accuracy, task_max)

    def f(x, a, k, L0, b):
        """the accuracy sigmoid"""
        return laws.accuracy_sigmoid(x, a, k, L0, b)

    lo = float(np.min(accuracy))
    starts = [(task_max - lo, k0, float(np.median(loss)), lo) for k0 in (-2.0, -5.0, -10.0)]
    popt = _curve_fit_best(f, x, y, starts, maxfev=100000)
    return dict(zip(SIGMOID_PARAMS, map(float, popt), strict=True))


def fit_average_error(
    rows: pd.DataFrame, tasks: Sequence[str], *, by: str | None = "dataset"
) -> dict[str, dict[str, float]]:
    """Gadre et al.'s fit: ``Err(L)`` on the mean error over ``tasks``, one fit per ``by``.

    ``rows`` are response rows as :meth:`DownstreamModel.points` returns them (``run``,
    ``task``, ``loss``, ``truth`` as error). Returns parameters per group (``"all"`` when
    ``by`` is ``None`` or absent).
    """
    sub = rows[rows["task"].isin(tasks)]
    key = by if by and by in sub.columns else None
    groups = sub.groupby([key, "run"] if key else ["run"])
    avg = groups.agg(loss=("loss", "first"), error=("truth", "mean"), n=("task", "nunique"))
    avg = avg[avg["n"] == len(tasks)].reset_index()
    out = {}
    for g, part in avg.groupby(key) if key else [("all", avg)]:
        out[str(g)] = fit_error_curve_fit(part["loss"].to_numpy(), part["error"].to_numpy())
    return out


def downstream_baselines(model, train, points: pd.DataFrame) -> dict[str, np.ndarray]:
    """Point-fit predictions for the response rows ``points`` of a downstream model.

    Exponential form: ``curve_fit`` (per task, every training run) and ``curve_fit_dataset``
    (per task and pretraining dataset, Gadre et al.'s grouping) at each point's observed loss.
    Sigmoid form: ``curve_fit`` (the OLMo ladder's step 2 at the observed task loss) and
    ``two_step`` (step 1, a Huber fit of the task loss L(N, D) on the final checkpoints, then
    step 2: a prediction from N and D alone). Values are on the model's reporting scale
    (error or accuracy); NaN where a task is absent from ``train`` or a fit fails.
    """
    rows = model.points(train)
    report_error = model.report == "error"
    err_train = rows["truth"] if report_error else 1.0 - rows["truth"]
    rows = rows.assign(error=err_train.to_numpy())
    n = len(points)
    loss = points["loss"].to_numpy(dtype="float64")
    out: dict[str, np.ndarray] = {}
    if model.spec.form == "exponential":
        per_task = np.full(n, np.nan)
        per_set = np.full(n, np.nan)
        has_set = "dataset" in rows.columns and "dataset" in points.columns
        for task, part in rows.groupby("task"):
            at = np.flatnonzero(points["task"].to_numpy() == task)
            if not len(at):
                continue
            p = _try(fit_error_curve_fit, part["loss"].to_numpy(), part["error"].to_numpy())
            if p:
                per_task[at] = laws.error_from_loss(loss[at], p["epsilon"], p["k"], p["gamma"])
            if not has_set:
                continue
            for ds, sub in part.groupby("dataset"):
                at_ds = at[points["dataset"].to_numpy()[at] == ds]
                q = _try(fit_error_curve_fit, sub["loss"].to_numpy(), sub["error"].to_numpy())
                if q and len(at_ds):
                    per_set[at_ds] = laws.error_from_loss(
                        loss[at_ds], q["epsilon"], q["k"], q["gamma"]
                    )
        out["curve_fit"] = per_task
        if has_set:
            out["curve_fit_dataset"] = per_set
    else:
        direct = np.full(n, np.nan)
        chained = np.full(n, np.nan)
        inputs = _final_input_rows(model, train)
        for task, part in rows.groupby("task"):
            at = np.flatnonzero(points["task"].to_numpy() == task)
            if not len(at):
                continue
            p = _try(fit_sigmoid_curve_fit, part["loss"].to_numpy(), 1.0 - part["error"].to_numpy())
            if not p:
                continue
            direct[at] = 1.0 - laws.accuracy_sigmoid(loss[at], p["a"], p["k"], p["L0"], p["b"])
            fin = inputs[inputs["task"] == task] if model.per_task else inputs
            if len(fin) > len(LOSS_PARAMS["chinchilla"]):
                q = fit_loss_huber(
                    "chinchilla",
                    fin["params"].to_numpy(),
                    fin["tokens"].to_numpy(),
                    fin["value"].to_numpy(),
                )
                pts = points.iloc[at]
                l_hat = loss_law(
                    "chinchilla", pts["params"].to_numpy(), pts["tokens"].to_numpy(), q
                )
                chained[at] = 1.0 - laws.accuracy_sigmoid(l_hat, p["a"], p["k"], p["L0"], p["b"])
        out["curve_fit"] = direct
        out["two_step"] = chained
    if not report_error:
        out = {k: 1.0 - v for k, v in out.items()}
    return out


def _final_input_rows(model, train) -> pd.DataFrame:
    """The input-loss rows of each run's final checkpoint (step 1's data)."""
    f = train.frame
    rows = f[f["metric"] == model.input_metric]
    if not model.per_task:
        rows = rows[rows["task"] == model.input_task]
    last = rows.groupby(["run", "task"])["tokens"].transform("max")
    return rows[rows["tokens"] == last]


def _try(fn, *args) -> dict[str, float] | None:
    try:
        return fn(*args)
    except (RuntimeError, ValueError):
        return None
