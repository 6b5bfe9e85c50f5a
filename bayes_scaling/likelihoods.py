"""Every noise model once: its PyMC term, its new draws and its log density, one object each.

A family computes the law's value at each row (``center``) and its noise parameter; the
:class:`Likelihood` of the spec's ``[likelihood] kind`` does the rest, the same way when the
model is built (:meth:`~Likelihood.term`), when a prediction draws a new evaluation or run
(:meth:`~Likelihood.draw`), when a held-out point is scored or an unseen task is reweighted
(:meth:`~Likelihood.logpdf`), and when a testbed is simulated (``bayes_scaling.data.simulate``).
``tests/test_likelihoods.py`` checks that the three faces agree. The shape follows bambi's
``families/likelihood.py``: one table, :data:`LIKELIHOODS`, of small objects.

Scales. The count and beta likelihoods observe a proportion ``y`` in [0, 1] around the
proportion ``center`` (clipped to ``[P_MIN, 1 - P_MIN]``); ``noise`` is the Beta concentration
``κ`` (``binomial``: none). Counts are ``round(y·n)`` out of ``n`` items; a column whose ``n``
is unknown (NaN) draws the beta-binomial's proportion without the binomial step (its limit of
many items). ``student_t`` and ``normal`` observe a real ``y`` around ``center`` with scale
``noise`` (σ) and, for ``student_t``, ``nu`` degrees of freedom (a number or one per draw).
``frontier`` is the stochastic frontier of production economics: ``y = center + v + u``,
``v ~ Normal(0, σ)``, ``u ~ Exponential`` with mean ``nu`` (PyMC's ``ExGaussian``): ``center``
is the best a run can reach and ``u ≥ 0`` how far a run falls short of it (an under-tuned run
is worse than the law, never better).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from scipy import stats

#: Proportions are kept this far from 0 and 1 (the Beta has no mass at either end).
P_MIN = 1e-6
#: Observed proportions of the beta likelihood are clipped to ``[Y_MIN, 1 - Y_MIN]``.
Y_MIN = 1e-4


@dataclass(frozen=True)
class Likelihood:
    """A noise model: ``name`` (the spec's ``kind``), ``noise`` (its noise parameter's usual
    name, ``None`` for none) and whether it observes ``counts`` out of ``n_items``."""

    name: str
    noise: str | None
    counts: bool

    def term(
        self,
        name: str,
        center: Any,
        noise: Any,
        y: np.ndarray,
        *,
        n=None,
        nu=None,
        dims=None,
        groups: np.ndarray | None = None,
    ) -> Any:
        """The PyMC observed variable ``name`` of ``y`` (a proportion or a value).

        ``groups`` (optional, one integer per row) says which rows share one value of
        ``noise``; a likelihood may use it to compute terms that depend only on the noise
        parameter (and ``n``) once per group instead of once per row.
        """
        raise NotImplementedError

    def draw(
        self, center: np.ndarray, noise: Any, rng: np.random.Generator, *, n=None, nu=None
    ) -> np.ndarray:
        """New observations around ``center`` (on the scale of ``y``)."""
        raise NotImplementedError

    def logpdf(self, y: np.ndarray, center: np.ndarray, noise: Any, *, n=None, nu=None):
        """Log density (mass, for counts) of ``y``, broadcast over ``center``'s shape."""
        raise NotImplementedError


def _proportion(center: Any) -> Any:
    clip = pt.clip if isinstance(center, pt.TensorVariable) else np.clip
    return clip(center, P_MIN, 1.0 - P_MIN)


def _counts(y: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = np.rint(np.asarray(n, dtype="float64")).astype("int64")
    return np.rint(np.asarray(y, dtype="float64") * n).astype("int64"), n


class Binomial(Likelihood):
    def term(self, name, center, noise, y, *, n=None, nu=None, dims=None, groups=None):
        k, n = _counts(y, n)
        return pm.Binomial(name, n=n, p=_proportion(center), observed=k, dims=dims)

    def draw(self, center, noise, rng, *, n=None, nu=None):
        p = _proportion(center)
        n = np.broadcast_to(np.rint(np.asarray(n, dtype="float64")).astype("int64"), p.shape)
        return rng.binomial(n, p) / n

    def logpdf(self, y, center, noise, *, n=None, nu=None):
        n = np.asarray(n, dtype="float64")
        return stats.binom.logpmf(np.rint(y * n), n, _proportion(center))


def _first_of_each(*keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows keyed by ``keys``: the first row of each distinct key, and each row's key."""
    _, first, inverse = np.unique(
        np.stack([np.asarray(k, dtype="int64") for k in keys]),
        axis=1,
        return_index=True,
        return_inverse=True,
    )
    return first, inverse.ravel()


class BetaBinomial(Likelihood):
    def term(self, name, center, noise, y, *, n=None, nu=None, dims=None, groups=None):
        k, n = _counts(y, n)
        p = _proportion(center)
        if groups is None:
            return pm.BetaBinomial(
                name, alpha=p * noise, beta=(1.0 - p) * noise, n=n, observed=k, dims=dims
            )
        # log C(n, k) + log B(k + α, n − k + β) − log B(α, β), α + β = κ: of its six log-gammas
        # per row, ln Γ(κ) − ln Γ(n + κ) depends on the row only through (group, n), so it is
        # computed once per distinct pair (the tasks, typically) and indexed back to the rows.
        # (The terms in the observed counts alone are constants, folded when compiled.)
        first, inverse = _first_of_each(groups, n)
        n_real, n_first = n.astype("float64"), n[first].astype("float64")

        def logp(value, p, kappa):
            a, b = p * kappa, (1.0 - p) * kappa
            choose = pt.gammaln(n_real + 1.0) - pt.gammaln(value + 1.0)
            choose = choose - pt.gammaln(n_real - value + 1.0)
            per_pair = pt.gammaln(kappa[first]) - pt.gammaln(n_first + kappa[first])
            rows = pt.gammaln(value + a) + pt.gammaln(n_real - value + b)
            return choose + rows - pt.gammaln(a) - pt.gammaln(b) + per_pair[inverse]

        def random(p, kappa, rng=None, size=None):
            return rng.binomial(n, rng.beta(p * kappa, (1.0 - p) * kappa, size=size))

        kappa = pt.broadcast_to(noise, (len(k),))
        return pm.CustomDist(
            name, p, kappa, logp=logp, random=random, dtype="int64", observed=k, dims=dims
        )

    def draw(self, center, noise, rng, *, n=None, nu=None):
        p = _proportion(center)
        q = rng.beta(p * noise, (1.0 - p) * noise)
        n = np.broadcast_to(np.asarray(n, dtype="float64"), q.shape[-1:])
        counted = np.isfinite(n)
        if not counted.any():
            return q
        n_int = np.rint(np.where(counted, n, 1.0)).astype("int64")
        out = q.copy()
        out[..., counted] = rng.binomial(n_int[counted], q[..., counted]) / n_int[counted]
        return out

    def logpdf(self, y, center, noise, *, n=None, nu=None):
        n = np.asarray(n, dtype="float64")
        p = _proportion(center)
        return stats.betabinom.logpmf(np.rint(y * n), n, p * noise, (1.0 - p) * noise)


class Beta(Likelihood):
    def term(self, name, center, noise, y, *, n=None, nu=None, dims=None, groups=None):
        p = _proportion(center)
        observed = np.clip(y, Y_MIN, 1.0 - Y_MIN)
        if groups is None:
            return pm.Beta(
                name, alpha=p * noise, beta=(1.0 - p) * noise, observed=observed, dims=dims
            )
        # (α − 1) ln y + (β − 1) ln(1 − y) − ln B(α, β): ln Γ(κ) once per group, as above.
        first, inverse = _first_of_each(groups)

        def logp(value, p, kappa):
            a, b = p * kappa, (1.0 - p) * kappa
            rows = (a - 1.0) * pt.log(value) + (b - 1.0) * pt.log1p(-value)
            rows = rows - pt.gammaln(a) - pt.gammaln(b)
            return rows + pt.gammaln(kappa[first])[inverse]

        def random(p, kappa, rng=None, size=None):
            return rng.beta(p * kappa, (1.0 - p) * kappa, size=size)

        kappa = pt.broadcast_to(noise, (len(observed),))
        return pm.CustomDist(name, p, kappa, logp=logp, random=random, observed=observed, dims=dims)

    def draw(self, center, noise, rng, *, n=None, nu=None):
        p = _proportion(center)
        return rng.beta(p * noise, (1.0 - p) * noise)

    def logpdf(self, y, center, noise, *, n=None, nu=None):
        p = _proportion(center)
        return stats.beta.logpdf(np.clip(y, Y_MIN, 1.0 - Y_MIN), p * noise, (1.0 - p) * noise)


class StudentT(Likelihood):
    def term(self, name, center, noise, y, *, n=None, nu=None, dims=None, groups=None):
        return pm.StudentT(name, nu=nu, mu=center, sigma=noise, observed=y, dims=dims)

    def draw(self, center, noise, rng, *, n=None, nu=None):
        center = np.asarray(center, dtype="float64")
        return center + noise * rng.standard_t(np.broadcast_to(nu, center.shape))

    def logpdf(self, y, center, noise, *, n=None, nu=None):
        return stats.t.logpdf(y, nu, loc=center, scale=noise)


class Normal(Likelihood):
    def term(self, name, center, noise, y, *, n=None, nu=None, dims=None, groups=None):
        return pm.Normal(name, mu=center, sigma=noise, observed=y, dims=dims)

    def draw(self, center, noise, rng, *, n=None, nu=None):
        center = np.asarray(center, dtype="float64")
        return center + noise * rng.standard_normal(center.shape)

    def logpdf(self, y, center, noise, *, n=None, nu=None):
        return stats.norm.logpdf(y, loc=center, scale=noise)


class Frontier(Likelihood):
    def term(self, name, center, noise, y, *, n=None, nu=None, dims=None, groups=None):
        return pm.ExGaussian(name, mu=center, sigma=noise, nu=nu, observed=y, dims=dims)

    def draw(self, center, noise, rng, *, n=None, nu=None):
        center = np.asarray(center, dtype="float64")
        shortfall = rng.exponential(np.broadcast_to(nu, center.shape))
        return center + noise * rng.standard_normal(center.shape) + shortfall

    def logpdf(self, y, center, noise, *, n=None, nu=None):
        return stats.exponnorm.logpdf(y, np.asarray(nu) / noise, loc=center, scale=noise)


#: The spec's ``[likelihood] kind`` → its noise model.
LIKELIHOODS: dict[str, Likelihood] = {
    lik.name: lik
    for lik in (
        Binomial("binomial", None, True),
        BetaBinomial("beta_binomial", "kappa", True),
        Beta("beta", "kappa", False),
        StudentT("student_t", "sigma", False),
        Normal("normal", "sigma", False),
        Frontier("frontier", "sigma", False),
    )
}
