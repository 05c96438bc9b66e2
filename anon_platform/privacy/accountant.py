"""A Gaussian-DP accountant: split one (ε, δ) budget over adaptively composed Gaussian mechanisms.

Every mechanism in this package adds N(0, σ² I) to a query of L2 sensitivity Δ. Such a
mechanism is μ-GDP with μ = Δ/σ (Dong, Roth & Su 2022, "Gaussian differential privacy", JRSS-B,
Theorem 2.7), and the adaptive composition of μ_1-, ..., μ_T-GDP mechanisms is exactly
√(Σ μ_t²)-GDP (ibid., Corollary 3.3) — no slack, unlike basic composition. A μ-GDP mechanism
is (ε, δ(ε))-DP for every ε with δ(ε) = Φ(−ε/μ + μ/2) − e^ε Φ(−ε/μ − μ/2) (ibid., Corollary
2.13), which is the analytic Gaussian condition of Balle & Wang (2018) at Δ/σ = μ: so the total
μ for a target (ε, δ) is 1/σ of the analytic Gaussian mechanism with Δ = 1.

A budget is split by weights w_i (Σ w_i = 1): mechanism i gets μ_i = μ·√w_i, hence
Σ μ_i² = μ², and its σ_i = Δ_i/μ_i. The ledger records each mechanism's Δ, σ, μ and weight.

Written from the formulas rather than taken from Google's `dp-accounting` 0.6.0 because that
release pins attrs~=23 and would downgrade the attrs 26 that Dagster's stack uses here; the
test suite checks this accountant against dp-accounting's published Balle & Wang σ values.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from scipy.optimize import brentq

from anon_platform.privacy.analytic_gaussian import analytic_gaussian_sigma, gaussian_delta

ACCOUNTANT = "gaussian_dp (Dong, Roth & Su 2022), exact composition of Gaussian mechanisms"


def mu_for(epsilon: float, delta: float) -> float:
    """The largest μ for which a μ-GDP mechanism is (ε, δ)-DP."""
    return 1.0 / analytic_gaussian_sigma(epsilon, delta, 1.0)


def epsilon_for(mu: float, delta: float) -> float:
    """The smallest ε for which a μ-GDP mechanism is (ε, δ)-DP."""
    if mu <= 0:
        return 0.0
    if gaussian_delta(1.0 / mu, 0.0) <= delta:
        return 0.0
    high = 1.0
    while gaussian_delta(1.0 / mu, high) > delta:
        high *= 2.0
    return float(brentq(lambda e: gaussian_delta(1.0 / mu, e) - delta, 0.0, high, xtol=1e-12))


def compose(mus: list[float]) -> float:
    """μ of the adaptive composition of μ_i-GDP mechanisms: √(Σ μ_i²)."""
    return math.sqrt(sum(m * m for m in mus))


@dataclass(frozen=True)
class Charge:
    """One Gaussian mechanism: its L2 sensitivity, noise σ, μ = Δ/σ and budget weight."""

    mechanism: str
    sensitivity: float
    sigma: float
    mu: float
    weight: float
    note: str = ""


@dataclass
class GaussianBudget:
    """A total (ε, δ) turned into μ-GDP and handed out to mechanisms by weight.

    `charge(name, Δ)` returns the σ mechanism `name` must use; the sum of the weights handed out
    never exceeds 1, so the composed μ never exceeds the total and the release is (ε, δ)-DP.
    """

    epsilon: float
    delta: float
    weights: dict[str, float]
    mu: float = field(init=False)
    charges: list[Charge] = field(default_factory=list)

    def __post_init__(self) -> None:
        total = sum(self.weights.values())
        if not all(w > 0 for w in self.weights.values()) or abs(total - 1.0) > 1e-9:
            raise ValueError(f"budget weights must be positive and sum to 1, got {self.weights}")
        self.mu = mu_for(self.epsilon, self.delta)

    def sigma(self, mechanism: str, sensitivity: float) -> float:
        """The σ that spends `mechanism`'s share of the budget on a query of sensitivity Δ."""
        return sensitivity / (self.mu * math.sqrt(self.weights[mechanism]))

    def charge(self, mechanism: str, sensitivity: float, note: str = "") -> float:
        """Record one use of `mechanism` (each name at most once) and return its σ."""
        if any(c.mechanism == mechanism for c in self.charges):
            raise ValueError(f"mechanism '{mechanism}' was already charged")
        sigma = self.sigma(mechanism, sensitivity)
        weight = self.weights[mechanism]
        self.charges.append(
            Charge(mechanism, sensitivity, sigma, sensitivity / sigma, weight, note)
        )
        return sigma

    @property
    def spent_mu(self) -> float:
        """μ of everything charged so far (at most `mu`)."""
        return compose([c.mu for c in self.charges])

    def ledger(self) -> list[dict[str, float | str]]:
        """The charges as plain dicts (for the model card and the release manifest)."""
        return [
            {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(c).items()}
            for c in self.charges
        ]
