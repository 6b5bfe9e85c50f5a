"""Package-wide defaults, in one place."""

CI_PROB: float = 0.9
"""Default credible-interval probability for every table, plot and prediction (equal-tailed)."""

RHAT_MAX: float = 1.01
"""Largest acceptable split R-hat (Vehtari et al. 2021)."""

ESS_MIN_PER_CHAIN: int = 100
"""Smallest acceptable bulk and tail ESS, per chain."""
