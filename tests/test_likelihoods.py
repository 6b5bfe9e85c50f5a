"""Each noise model's three faces agree: the PyMC term, the numpy draws, the log density."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest

from bayes_scaling.likelihoods import LIKELIHOODS

N_ITEMS = np.array([40.0, 200.0, 1000.0])
NU = 5.0
FAST = "FAST_COMPILE"  # no numba compile for a few thousand draws


def _setting(kind: str) -> tuple[np.ndarray, float, np.ndarray]:
    """``center``, ``noise`` and observed ``y`` on the likelihood's scale."""
    if LIKELIHOODS[kind].noise == "sigma":
        return np.array([-1.0, 0.3, 2.0]), 0.4, np.array([-0.7, 0.1, 2.9])
    return np.array([0.1, 0.5, 0.85]), 30.0, np.array([0.125, 0.44, 0.861])


@pytest.mark.parametrize("grouped", [False, True], ids=["per_row", "grouped"])
@pytest.mark.parametrize("kind", sorted(LIKELIHOODS))
def test_pymc_term_draws_and_log_density_agree(kind, grouped):
    # grouped: the noise is one value per group of rows, and the term is told the groups
    # (beta_binomial and beta then compute their noise-only log-gammas once per group)
    noise_model = LIKELIHOODS[kind]
    center, noise, y = _setting(kind)
    groups = np.array([0, 1, 1]) if grouped else None
    n = np.array([40.0, 200.0, 200.0]) if grouped else N_ITEMS
    if grouped:
        noise = noise * np.array([1.0, 0.5, 0.5])
    with pm.Model() as model:
        term = noise_model.term("y", center, noise, y, n=n, nu=NU, groups=groups)
    # the log density: PyMC's of the observed values against the scipy face
    (logp,) = model.compile_logp(sum=False, mode=FAST)({})
    np.testing.assert_allclose(logp, noise_model.logpdf(y, center, noise, n=n, nu=NU), rtol=1e-7)
    # the draws: PyMC's forward draws of the same term against the numpy face, by moments
    draws = 20_000
    from_pymc = pm.draw(term, draws=draws, random_seed=1, mode=FAST)
    if noise_model.counts:
        from_pymc = from_pymc / n
    rng = np.random.default_rng(2)
    from_numpy = noise_model.draw(np.tile(center, (draws, 1)), noise, rng, n=n, nu=NU)
    sd = from_pymc.std(axis=0)
    gap = np.abs(from_numpy.mean(axis=0) - from_pymc.mean(axis=0))
    assert np.all(gap < 5 * sd * np.sqrt(2 / draws)), (gap, sd)
    np.testing.assert_allclose(from_numpy.std(axis=0), sd, rtol=0.05)


def test_a_point_without_item_counts_draws_the_proportion():
    noise_model = LIKELIHOODS["beta_binomial"]
    rng = np.random.default_rng(0)
    n = np.array([np.nan, 10.0])
    new = noise_model.draw(np.full((4000, 2), 0.3), 20.0, rng, n=n)
    counts = new[:, 1] * 10
    assert np.allclose(counts, np.rint(counts))  # out of 10 items
    assert not np.allclose(new[:, 0] * 10, np.rint(new[:, 0] * 10))  # a proportion
    assert abs(new[:, 0].mean() - 0.3) < 0.01
