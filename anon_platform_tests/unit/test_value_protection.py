"""One value protection for every backend: a category held by fewer than `rare_category_k`
training rows, and a number beyond which fewer than k training rows lie (or outside the
[quantile_low, quantile_high] training quantiles when set), are never emitted, by the SDV
backends as by `autoregressive`, with the same model-card record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from anon_platform.catalog.schema import ColumnSchema, DatasetSchema, TableSchema
from anon_platform.catalog.specs import ColumnType, Role
from anon_platform.cli.main import main
from anon_platform.errors import GeneratorError
from anon_platform.generators import generator_class
from anon_platform.generators.protection import (
    RARE_PLACEHOLDER,
    ProtectionParams,
    fit_value_guard,
)
from anon_platform.storage import read_json
from anon_platform_tests.conftest import read_demo_csv, write_small_demo

PEOPLE = 300


def people() -> pl.DataFrame:
    """300 demo customers: id, occupation, income, a birth date and one token per person."""
    frame = read_demo_csv("customers").head(PEOPLE)
    return frame.select(
        pl.col("customer_id").cast(pl.Int64),
        "occupation",
        pl.col("income").cast(pl.Float64),
        pl.col("date_of_birth").str.to_date(),
        (pl.lit("AC-") + pl.col("customer_id").str.reverse()).alias("account_ref"),
    )


def schema_of(frame: pl.DataFrame) -> DatasetSchema:
    types = {
        pl.Int64: ColumnType.INTEGER,
        pl.Float64: ColumnType.FLOAT,
        pl.Date: ColumnType.DATE,
        pl.String: ColumnType.STRING,
    }
    columns = tuple(
        ColumnSchema(name=n, type=types[d], role=Role.KEY if n == "customer_id" else Role.ATTRIBUTE)
        for n, d in frame.schema.items()
    )
    table = TableSchema(name="people", columns=columns, primary_key="customer_id")
    return DatasetSchema(name="people", tables=(table,))


def rare_occupations(frame: pl.DataFrame, k: int) -> list[str]:
    counts = frame["occupation"].drop_nulls().value_counts()
    return counts.filter(pl.col("count") < k)["occupation"].to_list()


def protected_bounds(series: pl.Series, k: int = 20) -> tuple[float, float]:
    """The k-th smallest and the k-th largest training value: at least k rows lie at or
    beyond each."""
    values = series.drop_nulls().to_physical().cast(pl.Float64).sort().to_numpy()
    return float(values[k - 1]), float(values[-k])


# --- the guard itself -----------------------------------------------------------------------


def test_the_guard_replaces_rare_and_unique_categories_and_out_of_range_numbers() -> None:
    train = people()
    params = ProtectionParams()
    guard = fit_value_guard(schema_of(train).root, train, params)
    # a "synthetic" table that copies training rows, rare categories and extremes included
    copied = guard.apply(train, seed=1)
    assert not copied["account_ref"].is_in(train["account_ref"].implode()).any()
    assert (copied["account_ref"] == RARE_PLACEHOLDER).all()
    rare = rare_occupations(train, params.rare_category_k)
    assert rare, "the demo customers have occupations held by fewer than 20 people"
    assert not copied["occupation"].is_in(rare).any()
    for column in ("income", "date_of_birth"):
        low, high = protected_bounds(train[column], params.rare_category_k)
        values = copied[column].drop_nulls().to_physical().cast(pl.Float64)
        assert values.min() >= low and values.max() <= high
        inside = train[column].to_physical().cast(pl.Float64).is_between(low, high)
        assert (copied[column].filter(inside) == train[column].filter(inside)).all()


def test_the_guard_replaces_a_number_beyond_an_end_by_one_near_that_end() -> None:
    train = people()
    guard = fit_value_guard(schema_of(train).root, train, ProtectionParams())
    low, high = protected_bounds(train["income"])
    copied = guard.apply(train, seed=3)
    incomes, replaced = train["income"], copied["income"]
    above, below = incomes > high, incomes < low
    inside = replaced.filter(incomes.is_between(low, high))
    # the quarter of the in-range values nearest each end is the pool of its replacements
    quarter = -(-inside.len() // 4)
    assert replaced.filter(above).min() >= inside.sort(descending=True)[quarter - 1]
    assert replaced.filter(below).max() <= inside.sort()[quarter - 1]


def test_the_guard_keeps_nulls_and_frequent_categories() -> None:
    train = people()
    guard = fit_value_guard(schema_of(train).root, train, ProtectionParams())
    frequent = train.filter(~pl.col("occupation").is_in(rare_occupations(train, 20)))
    kept = guard.apply(frequent.with_columns(pl.lit(None).cast(pl.Float64).alias("income")), 2)
    assert kept["occupation"].to_list() == frequent["occupation"].to_list()
    assert kept["income"].null_count() == frequent.height


@pytest.mark.parametrize("backend", ["gaussian_copula", "ctgan", "tvae", "hma"])
def test_sdv_backends_take_the_protection_settings_and_refuse_a_k_below_2(backend: str) -> None:
    generator_class(backend).validate_params({"rare_category_k": 5, "quantile_high": 0.99})
    with pytest.raises(GeneratorError, match="rare_category_k"):
        generator_class(backend).validate_params({"rare_category_k": 1})


# --- every backend --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["gaussian_copula", "tvae", "hma"])
def test_sdv_backends_never_emit_rare_categories_or_out_of_range_values(backend: str) -> None:
    train = people()
    params = {"epochs": 2} if backend == "tvae" else {}
    model = generator_class(backend)(schema_of(train), params, 0)
    model.fit({"people": train})
    synthetic = model.sample(PEOPLE, seed=3)["people"]
    assert synthetic.height == PEOPLE
    assert not synthetic["account_ref"].is_in(train["account_ref"].implode()).any()
    assert not synthetic["occupation"].is_in(rare_occupations(train, 20)).any()
    for column in ("income", "date_of_birth"):
        low, high = protected_bounds(train[column])
        values = synthetic[column].drop_nulls().to_physical().cast(pl.Float64)
        assert values.min() >= low and values.max() <= high
    record = model.card.value_protection
    assert record["rare_category_k"] == 20
    assert record["numeric_range_quantiles"] == [0.0, 1.0]
    assert record["numeric_range_rows_beyond_each_end"] == 20
    assert record["numeric_values_outside_range"] == "never emitted"


def test_every_backend_records_the_same_value_protection_settings() -> None:
    from anon_platform.generators.autoregressive import AutoregressiveGenerator

    train = people()
    shared = {"rare_category_k": 30, "quantile_low": 0.01, "quantile_high": 0.99}
    records = {}
    for backend in ("gaussian_copula", "autoregressive"):
        extra = {"epochs": 1} if backend == "autoregressive" else {}
        model = generator_class(backend)(schema_of(train), {**shared, **extra}, 0)
        model.fit({"people": train})
        records[backend] = model.card.value_protection
    assert generator_class("autoregressive") is AutoregressiveGenerator
    common = (
        "rare_category_k",
        "numeric_range_quantiles",
        "numeric_range_rows_beyond_each_end",
        "numeric_values_outside_range",
    )
    for key in common:
        assert records["gaussian_copula"][key] == records["autoregressive"][key]
    assert records["gaussian_copula"]["rare_category_k"] == 30


def test_a_multi_table_model_protects_every_table(tmp_path: Path) -> None:
    write_small_demo(tmp_path, 80)
    customers = pl.read_csv(tmp_path / "customers.csv", try_parse_dates=True)
    transactions = pl.read_csv(tmp_path / "transactions.csv", try_parse_dates=True)
    out = tmp_path / "model"
    train = ["train", str(tmp_path), "--generator", "gaussian_copula", "--out", str(out)]
    assert main(train) == 0
    assert main(["generate", str(out), "-n", "100", "--out", str(tmp_path / "syn")]) == 0
    synthetic = pl.read_csv(tmp_path / "syn" / "transactions.csv", try_parse_dates=True)
    low, high = protected_bounds(transactions["amount"])
    assert synthetic["amount"].min() >= low and synthetic["amount"].max() <= high
    syn_customers = pl.read_csv(tmp_path / "syn" / "customers.csv", try_parse_dates=True)
    rare = rare_occupations(customers, 20)
    assert rare, "80 demo customers have occupations held by fewer than 20 of them"
    assert not syn_customers["occupation"].is_in(rare).any()


# --- the command line -----------------------------------------------------------------------


def test_cli_gaussian_copula_no_longer_emits_a_column_of_one_token_per_person(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = people()
    train.write_csv(tmp_path / "people.csv")
    # the column is declared a plain attribute, so only value protection stands in the way
    config = tmp_path / "people.yml"
    config.write_text(
        "tables:\n  - name: people\n    primary_key: customer_id\n"
        "    roles: {account_ref: attribute}\n"
    )
    model = tmp_path / "model"
    code = main(
        ["train", str(tmp_path / "people.csv"), "-c", str(config),
         "--generator", "gaussian_copula", "--out", str(model)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    out = tmp_path / "synthetic.csv"
    assert main(["generate", str(model), "-n", str(PEOPLE), "--out", str(out)]) == 0
    emitted = pl.read_csv(out, infer_schema=False)["account_ref"]
    assert emitted.len() == PEOPLE
    assert not emitted.is_in(train["account_ref"].implode()).any()
    card = read_json(model / "model.json")
    assert card["value_protection"]["rare_category_k"] == 20


def test_the_numeric_range_keeps_k_training_rows_beyond_each_end_and_honours_quantiles() -> None:
    from anon_platform.generators.protection import protected_range

    # 100 values 0..99 and two outliers: the range ends at the 20th value from each end
    numbers = np.r_[np.arange(100.0), [-1e6, 1e6]]
    assert protected_range(numbers, 20, 0.0, 1.0) == (18.0, 81.0)
    # a value shared by many rows at the edge stays inside (Honolulu's distance on flights)
    shared_edge = np.r_[np.arange(100.0), np.full(30, 500.0)]
    assert protected_range(shared_edge, 20, 0.0, 1.0)[1] == 500.0
    # quantiles narrow it further; fewer than 2k values leave only the median
    assert protected_range(numbers, 20, 0.25, 0.75) == (24.0, 74.0)
    assert protected_range(np.arange(30.0), 20, 0.0, 1.0) == (14.0, 14.0)
