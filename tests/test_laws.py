"""The laws agree between numpy and PyTensor, and derived optima are optima."""

import numpy as np
import pytensor.tensor as pt
from scipy.optimize import minimize_scalar

from bayes_scaling import laws


def test_numpy_and_pytensor_agree():
    c, m = np.array([1e18, 1e21]), np.array([5.0, 640.0])
    expected = laws.overtraining_loss(c, m, 1.5, 141.0, 190.0, 0.121)
    sym = laws.overtraining_loss(pt.as_tensor(c), pt.as_tensor(m), 1.5, 141.0, 190.0, 0.121)
    np.testing.assert_allclose(sym.eval(), expected)
    n, d = np.array([1e8, 1e10]), np.array([2e9, 2e11])
    expected = laws.chinchilla_loss(n, d, 1.8, 482.0, 2085.0, 0.35, 0.37)
    sym = laws.chinchilla_loss(pt.as_tensor(n), pt.as_tensor(d), 1.8, 482.0, 2085.0, 0.35, 0.37)
    np.testing.assert_allclose(sym.eval(), expected)


def test_gadre_form_matches_its_definition():
    c, m = 6 * 4e8 * 8e9, 20.0
    value = laws.overtraining_loss(c, m, 1.51, 141.0, 190.0, 0.121)
    assert np.isclose(value, 1.51 + (141 * m**0.121 + 190 * m**-0.121) * c**-0.121)


def test_reference_scaling_round_trips():
    a, b, eta, c0, m0 = 141.0, 190.0, 0.121, 3e19, 40.0
    a_ref, b_ref = a * m0**eta * c0**-eta, b * m0**-eta * c0**-eta
    back = laws.overtraining_coefficients(a_ref, b_ref, eta, c0, m0)
    np.testing.assert_allclose(back, (a, b))
    c, m = 1e21, 80.0
    np.testing.assert_allclose(
        laws.overtraining_loss(c / c0, m / m0, 1.5, a_ref, b_ref, eta),
        laws.overtraining_loss(c, m, 1.5, a, b, eta),
    )


def test_optimal_multipliers_minimise_the_loss():
    a, b, eta, c = 141.0, 190.0, 0.121, 1e21
    best = minimize_scalar(
        lambda lm: laws.overtraining_loss(c, np.exp(lm), 1.5, a, b, eta), bounds=(-5, 10)
    )
    assert np.isclose(np.exp(best.x), laws.overtraining_optimal_multiplier(a, b, eta), rtol=1e-3)

    E, A, B, al, be = 1.8, 482.0, 2085.0, 0.348, 0.366

    def loss_at(log_n):
        n = np.exp(log_n)
        return laws.chinchilla_loss(n, c / (6 * n), E, A, B, al, be)

    best = minimize_scalar(loss_at, bounds=(10, 40))
    n = np.exp(best.x)
    m_star = laws.chinchilla_optimal_multiplier(c, A, B, al, be)
    assert np.isclose(c / (6 * n) / n, m_star, rtol=1e-3)
