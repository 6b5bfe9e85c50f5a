"""An unseen task predicted from its domain, updated by a few of its own observations
(sampling-importance-resampling of the population draws)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from bayes_scaling import hierarchy
from bayes_scaling.data.schema import DataError, Observations
from bayes_scaling.models.base import Fit
from bayes_scaling.models.downstream import DownstreamModel
from bayes_scaling.models.prediction import Prediction
from bayes_scaling.spec import SpecError


def predict_new_task(
    fit: Fit,
    grid: pd.DataFrame,
    *,
    observations: Observations | None = None,
    seed: int = 0,
    min_ess: float = 50.0,
    **options: Any,
) -> Prediction:
    """Predict tasks absent from the fit, optionally conditioned on a few observations.

    Without ``observations`` this is ``fit.predict``: an unseen task's parameters are drawn
    from its domain's population. With them, a cheap conditional update: each posterior draw
    of the population gives one draw of the new task's parameters, weighted by the likelihood
    of its observations (the same likelihood as the fit), and the draws are resampled by
    weight (sampling-importance-resampling). The domain and global hyperparameters stay at
    their fitted posterior — the few new observations are assumed not to move them — so this
    equals refitting with the task included up to that feedback. When the weights' effective
    sample size falls below ``min_ess`` a warning recommends a refit
    (``model_for(fit.spec, data).fit()`` with the rows added).

    Parameters
    ----------
    fit
        A downstream fit.
    grid
        Points to predict (as :meth:`~bayes_scaling.models.base.Fit.predict`; unseen tasks
        need ``chance`` and, for count likelihoods, ``n_items``, and ``domain`` unless the
        default domain map knows them).
    observations
        Tidy rows (response and input loss, as the fit's data) of the unseen task(s).
    options
        ``tasks=``, ``loss_fit=`` as for ``fit.predict``.

    Returns
    -------
    Prediction
        ``draws.attrs["ess"]`` holds the importance-sampling ESS per updated task; a point
        beyond the fitted runs carries the spec's extrapolation error, as in ``fit.predict``.
    """
    model = fit.model
    if not isinstance(model, DownstreamModel):
        raise SpecError(f"{fit.spec.source}: predict_new_task needs a downstream fit")
    grid, inputs = model.prepare_grid(grid, **options)
    rng = np.random.default_rng(seed)
    posterior = hierarchy.stacked(fit.posterior)
    v = model.task_draws(posterior, grid, rng)
    ess: dict[str, float] = {}
    if observations is not None:
        obs = model._rows(observations, None)
        for task, rows in obs.groupby("task"):
            if task in model.tasks:
                raise DataError(f"task {task!r} is in the fit; refit to update a fitted task")
            cols = np.flatnonzero(grid["task"].to_numpy() == task)
            if not len(cols):
                continue
            probe = rows.assign(**{c: grid[c].iloc[cols[0]] for c in ("domain", "chance")})
            w = model.task_draws(posterior, probe, rng)  # one draw per sample, every row
            logw = model._loglik(w, probe)
            weights = np.exp(logw - logw.max())
            weights /= weights.sum()
            ess[str(task)] = float(1.0 / np.sum(weights**2))
            if ess[str(task)] < min_ess:
                warnings.warn(
                    f"new task {task!r}: importance-sampling ESS {ess[str(task)]:.0f} < "
                    f"{min_ess:g}; the observations are too informative for a cheap update — "
                    "refit with them included",
                    stacklevel=2,
                )
            idx = rng.choice(len(weights), size=len(weights), p=weights)
            for k in v:  # resample whole samples: the task's parameters and the loss shift
                v[k][:, cols] = v[k][idx][:, cols] if k == "loss_shift" else w[k][idx, :1]
    mean, new = model._predict_from(v, grid, rng, inputs)
    return fit.assemble(grid, mean, new, rng, attrs={"ess": ess})
