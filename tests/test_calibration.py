"""Simulation-based calibration of the over-training loss law (slow tier).

Parameters and datasets are drawn from the prior predictive of ``loss_overtraining`` (the
shipped spec, full prior) on a small Gadre-like design — 3 sizes × 4 token multipliers × 2
pretraining datasets, 24 runs — and each dataset is refitted with the same model. If the
sampler and the model agree, the rank of each true parameter among its posterior draws is
uniform on 0..L. Datasets with a loss outside (0.5, 12) nats are rejected before fitting (and
counted): a rejection that looks at the data alone leaves SBC exact.

Measured (2 shared cores, ``nutpie``, 1 chain × 200 draws after 200 tuning steps, L = 99):
40 replicates in 2–3 min (133–175 s; ~4 s per fit, compilation included) when each replicate
compiled its own model; one model compiled once, its data swapped per replicate, takes ~0.5 s
per fit after one compilation (``benchmarks/bench_sbc.py --parts compile_once``); 15 of 55 prior
draws rejected (27%: the prior on a_ref, b_ref allows losses of tens of nats); no divergences.
Over the 27 scalars the smallest p-values were 0.055 (chi-square, E[c4]) and 0.11 (KS),
against a threshold of 9e-4. On the same fits, posteriors shifted by one sd, or shrunk to a
quarter of their spread, were flagged for all 27 scalars (largest p 3e-4 and 8e-4); half an
sd of shift, or half the spread, for about half of them — this size of SBC sees gross
miscalibration only.
"""

from dataclasses import replace

import numpy as np
import pytest

from bayes_scaling.data.simulate import GADRE_TABLE6, simulate_overtraining
from bayes_scaling.validate import sbc

pytestmark = pytest.mark.slow

REPLICATES = 40
#: Two tests (chi-square, KS) per scalar parameter: with 27 scalars, a per-test threshold of
#: 0.05 / 54 ≈ 1e-3 (Bonferroni) keeps the chance of a false alarm at 5% for a calibrated model.
FAMILY_ALPHA = 0.05


@pytest.fixture(scope="module")
def design():
    return simulate_overtraining(
        truth={k: GADRE_TABLE6[k] for k in ("c4", "refinedweb")},
        sizes=(10_569_312, 78_914_048, 411_616_256),
        multipliers=(5, 20, 80, 320),
        seed=1,
    ).observations


def plausible(sim):  # y is log loss (the spec's likelihood scale)
    return bool(np.all((sim["y"] > np.log(0.5)) & (sim["y"] < np.log(12.0))))


def _sbc(design, replicates, **options):
    return sbc(
        "loss_overtraining",
        design,
        replicates=replicates,
        thin_to=99,
        seed=0,
        plausible=plausible,
        draws=200,
        tune=200,
        chains=1,
        progressbar=False,
        **options,
    )


@pytest.fixture(scope="module")
def loss_sbc(design):
    return _sbc(design, REPLICATES)


def test_one_compiled_model_refits_like_fresh_models(loss_sbc, design):
    # The SBC loop compiles its model once and swaps the simulated data in; a fresh model
    # built and compiled per replicate must give the very same draws
    fresh = _sbc(design, 2, compile_once=False)
    reused = loss_sbc.draws.isel(replicate=slice(0, 2))
    np.testing.assert_array_equal(fresh.draws.to_numpy(), reused.to_numpy())
    np.testing.assert_array_equal(
        fresh.truth.to_numpy(), loss_sbc.truth.isel(replicate=slice(0, 2)).to_numpy()
    )


def _threshold(uniformity):
    return FAMILY_ALPHA / (2 * len(uniformity))


def test_loss_overtraining_ranks_are_uniform(loss_sbc):
    u = loss_sbc.uniformity()
    assert len(loss_sbc.replicates) == REPLICATES
    assert loss_sbc.rejected < REPLICATES  # reported, and not most of the prior
    assert len(u) == 27  # 13 free variables (17 scalars) + E, a, b, eta, M_star per dataset
    alpha = _threshold(u)
    bad = u[(u["chi2_p"] < alpha) | (u["ks_p"] < alpha)]
    assert bad.empty, f"non-uniform SBC ranks (per-test alpha {alpha:.1e}):\n{bad}"


def test_loss_overtraining_sbc_detects_a_shifted_posterior(loss_sbc):
    # The same fits, every posterior moved up by one of its own sds: a bias this size must
    # fail the uniformity test above for (nearly) every parameter.
    draws = loss_sbc.draws
    shifted = replace(loss_sbc, draws=draws + draws.std("draw"))
    u = shifted.uniformity()
    detected = (u["chi2_p"] < _threshold(u)) | (u["ks_p"] < _threshold(u))
    assert detected.mean() > 0.9, u


def test_loss_overtraining_sbc_detects_an_overconfident_posterior(loss_sbc):
    # Posterior draws pulled to a quarter of their spread around their mean: U-shaped ranks.
    draws = loss_sbc.draws
    mean = draws.mean("draw")
    narrow = replace(loss_sbc, draws=mean + 0.25 * (draws - mean))
    u = narrow.uniformity()
    detected = (u["chi2_p"] < _threshold(u)) | (u["ks_p"] < _threshold(u))
    assert detected.mean() > 0.9, u
