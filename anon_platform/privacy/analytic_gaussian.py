"""The analytic Gaussian mechanism (Balle & Wang, ICML 2018): the smallest σ for (ε, δ).

Releasing f(D) + N(0, σ² I) where ‖f(D) − f(D')‖₂ ≤ Δ on neighbouring datasets is (ε, δ)-DP
if and only if (Balle & Wang 2018, Theorem 8)

    Φ(Δ/(2σ) − εσ/Δ) − e^ε · Φ(−Δ/(2σ) − εσ/Δ) ≤ δ.

The left side falls strictly as σ grows, so the smallest admissible σ is one root of a monotone
function; this module finds it with scipy's Brent solver instead of the paper's Algorithm 1
(which reparametrises the same condition). e^ε·Φ(·) is evaluated as exp(ε + log Φ(·)) so that
ε up to 50 neither overflows nor loses the tail. The classic bound σ = Δ·√(2 ln(1.25/δ))/ε
(Dwork & Roth 2014, valid for ε < 1) is kept for comparison: the analytic σ is never larger.
"""

from __future__ import annotations

import math

from scipy.optimize import brentq
from scipy.stats import norm


def gaussian_delta(sigma: float, epsilon: float, sensitivity: float = 1.0) -> float:
    """The exact δ at which N(0, σ²) noise on a query of L2 sensitivity Δ is (ε, δ)-DP."""
    if sigma <= 0 or sensitivity <= 0:
        raise ValueError("sigma and sensitivity must be positive")
    a = sensitivity / (2.0 * sigma)
    b = epsilon * sigma / sensitivity
    tail = math.exp(epsilon + norm.logcdf(-a - b)) if epsilon < 700 else 0.0
    return max(0.0, float(norm.cdf(a - b)) - tail)


def analytic_gaussian_sigma(epsilon: float, delta: float, sensitivity: float = 1.0) -> float:
    """The smallest σ for which the Gaussian mechanism with L2 sensitivity Δ is (ε, δ)-DP.

    Promises gaussian_delta(σ, ε, Δ) ≤ δ within a relative tolerance of 1e-12 on σ.
    """
    if not epsilon > 0:
        raise ValueError(f"epsilon must be positive, got {epsilon}")
    if not 0 < delta < 1:
        raise ValueError(f"delta must lie in (0, 1), got {delta}")
    if not sensitivity > 0:
        raise ValueError(f"sensitivity must be positive, got {sensitivity}")
    # work with Δ = 1 and scale: the condition depends on σ/Δ only
    low, high = 1e-6, 1.0
    while gaussian_delta(high, epsilon) > delta:
        low, high = high, high * 2.0
    while gaussian_delta(low, epsilon) <= delta:
        low /= 2.0
    sigma = brentq(lambda s: gaussian_delta(s, epsilon) - delta, low, high, xtol=1e-14, rtol=1e-13)
    # never return a σ that misses δ by rounding: nudge up until the condition holds
    while gaussian_delta(sigma, epsilon) > delta:
        sigma *= 1.0 + 1e-12
    return float(sigma * sensitivity)


def classic_gaussian_sigma(epsilon: float, delta: float, sensitivity: float = 1.0) -> float:
    """Dwork & Roth's σ = Δ·√(2 ln(1.25/δ))/ε (a sufficient condition for ε < 1)."""
    return sensitivity * math.sqrt(2.0 * math.log(1.25 / delta)) / epsilon
