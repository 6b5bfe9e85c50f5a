"""Package-wide defaults, in one place."""

CI_PROB: float = 0.9
"""Default credible-interval probability for every table, plot and prediction (equal-tailed)."""

RHAT_MAX: float = 1.01
"""Largest acceptable split R-hat (Vehtari et al. 2021)."""

AUTO_CENTER_ROWS: int = 20
"""``centered = "auto"``: a group with at least this many rows of data is centred (its data pin
it down), one with fewer non-centred (its prior does). On the full Pythia trajectories fit it
cut the leapfrog steps per draw from 882 to 319 (2 × 300 draws,
``benchmarks/results/speed.json``)."""

ESS_MIN_PER_CHAIN: int = 100
"""Smallest acceptable bulk and tail ESS, per chain."""

CALIBRATED_DISTANCE: float = 2.6
"""Farthest distance (decades beyond the fitted range) at which the loss specs' extrapolation
error was checked on held-out runs (Epoch's Chinchilla points fitted below 3e19 FLOPs;
``benchmarks/results/calibration.json``): the default of a spec's ``[extrapolation] checked``,
beyond which reports warn."""
