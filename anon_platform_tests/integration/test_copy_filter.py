"""The copy filter: synthetic rows copying a training row unique on its quasi-identifiers are
removed with their children, counted, and the count is gated."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from anon_platform.catalog.schema import DatasetSchema
from anon_platform.copy_filter import remove_unique_row_copies
from anon_platform.gates import check_synthetic_tables
from anon_platform.pipeline import steps
from anon_platform.storage import Zones
from anon_platform_tests.conftest import staged_project

DATASET = "bank"

PLANTED_CUSTOMER = 999_999_001


@dataclass(frozen=True)
class Split:
    schema: DatasetSchema
    train: dict[str, pl.DataFrame]
    holdout: dict[str, pl.DataFrame]


@pytest.fixture
def split(make_project, anon_home: Path) -> Split:
    """The 600-customer demo, staged and split."""
    catalog = staged_project(make_project(customers=600), anon_home)
    train, holdout = steps.prepare(catalog, Zones(anon_home), DATASET)
    return Split(catalog.dataset_schema(DATASET), train, holdout)


def unique_training_customer(split: Split) -> pl.DataFrame:
    """A training customer whose quasi-identifiers (age, postcode district) no other has."""
    customers = split.train["customers"]
    counts = customers.group_by(["age", "postcode_district"]).len()
    unique = customers.join(counts.filter(pl.col("len") == 1), on=["age", "postcode_district"])
    return unique.drop("len").head(1)


def holdout_with_a_planted_copy(split: Split) -> dict[str, pl.DataFrame]:
    """Real holdout rows (no copies) plus one training customer's row under a fresh key, with
    two transactions of its own."""
    copy = unique_training_customer(split).with_columns(
        pl.lit(PLANTED_CUSTOMER, dtype=split.train["customers"]["customer_id"].dtype).alias(
            "customer_id"
        )
    )
    children = (
        split.holdout["transactions"]
        .head(2)
        .with_columns(
            pl.lit(PLANTED_CUSTOMER, dtype=copy["customer_id"].dtype).alias("customer_id"),
            (pl.col("transaction_id") + 10_000_000).alias("transaction_id"),
        )
    )
    return {
        "customers": pl.concat([split.holdout["customers"], copy]),
        "transactions": pl.concat([split.holdout["transactions"], children]),
    }


def test_a_copy_of_a_unique_training_row_is_removed_with_its_children(split: Split) -> None:
    synthetic = holdout_with_a_planted_copy(split)
    kept, removed = remove_unique_row_copies(split.schema, synthetic, split.train)
    assert PLANTED_CUSTOMER not in kept["customers"]["customer_id"].to_list()
    assert PLANTED_CUSTOMER not in kept["transactions"]["customer_id"].to_list()
    assert removed["customers"].copies_removed == 1
    assert removed["transactions"].orphans_removed == 2
    assert kept["customers"].height == split.holdout["customers"].height
    assert kept["transactions"].height == split.holdout["transactions"].height


def test_real_unseen_rows_pass_the_filter_untouched(split: Split) -> None:
    kept, removed = remove_unique_row_copies(split.schema, split.holdout, split.train)
    for name, frame in split.holdout.items():
        assert kept[name].equals(frame)
        assert removed[name].copies_removed == removed[name].orphans_removed == 0


def gate(split: Split, record: dict | None):
    return check_synthetic_tables(
        split.schema,
        split.holdout,
        split.train,
        {},
        copy_filter=record,
        copies_removed_max=0.001,
    )


def filter_record(split: Split, customers_removed: int) -> dict[str, dict]:
    sampled = split.holdout["customers"].height
    return {
        "customers": {
            "sampled": sampled,
            "copies_removed": customers_removed,
            "orphans_removed": 0,
            "copies_share": customers_removed / sampled,
        },
        "transactions": {
            "sampled": 100,
            "copies_removed": 0,
            "orphans_removed": 0,
            "copies_share": 0.0,
        },
    }


def failed_copy_filter_rules(split: Split, record: dict | None) -> list[str]:
    failures = gate(split, record).failures
    return [e.name for e in failures if "removed before storing" in e.name]


def test_the_gate_passes_no_more_removed_copies_than_chance_allows(split: Split) -> None:
    assert failed_copy_filter_rules(split, filter_record(split, 0)) == []


def test_the_gate_fails_a_generator_whose_copies_the_filter_had_to_remove_in_numbers(
    split: Split,
) -> None:
    assert failed_copy_filter_rules(split, filter_record(split, 5)) == [
        "customers: copies of unique training rows removed before storing <= 0.001"
    ]


def test_the_gate_fails_closed_without_a_copy_filter_record(split: Split) -> None:
    assert len(failed_copy_filter_rules(split, {})) == 2
