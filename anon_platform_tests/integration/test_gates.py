"""Release gates on real data: negative controls that must fail, a positive control that must
pass, each synthetic-table expectation catching what it names, and a misconfigured gate
reported as an error rather than a data failure."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from anon_platform.assets.gating import gate_check_result
from anon_platform.catalog.schema import DatasetSchema, TableSchema
from anon_platform.catalog.specs import EvaluationSettings, Thresholds
from anon_platform.errors import GateError
from anon_platform.evaluation import evaluate_dataset
from anon_platform.gates import GateResult, check_scorecard, check_synthetic_tables
from anon_platform.gates.suites import Rule, run_suite
from anon_platform.pipeline import stored
from anon_platform.storage import Zones
from anon_platform_tests.conftest import staged_project

DATASET = "bank"
SETTINGS = EvaluationSettings(
    singling_out_attacks=200,
    linkability_attacks=200,
    inference_attacks=200,
    discriminator_rows=1000,
)


@dataclass(frozen=True)
class Customers:
    schema: DatasetSchema
    table: TableSchema
    train: pl.DataFrame
    holdout: pl.DataFrame


@pytest.fixture(scope="module")
def customers(tmp_path_factory: pytest.TempPathFactory) -> Customers:
    """1,500 staged demo customers split 1,000 / 500 (the customers table alone)."""
    from anon_platform_tests.conftest import build_project

    base = tmp_path_factory.mktemp("gates")
    catalog = staged_project(build_project(base / "project", 1500), base / "home")
    zones = Zones(base / "home")
    staged = stored.staged_tables(catalog, zones, DATASET)["customers"]
    shuffled = staged.sample(fraction=1.0, shuffle=True, seed=3)
    table = catalog.dataset_schema(DATASET).table("customers")
    schema = DatasetSchema(name=DATASET, tables=(table,))
    return Customers(schema, table, shuffled.head(1000), shuffled.slice(1000, 500))


def scorecard_of(data: Customers, synthetic: pl.DataFrame) -> GateResult:
    report = evaluate_dataset(
        data.schema,
        {"customers": data.train},
        {"customers": data.holdout},
        {"customers": synthetic},
        settings=SETTINGS,
        seed=0,
    )
    return check_scorecard(report.scorecard, Thresholds())


def outcome(result: GateResult, starts_with: str):
    matches = [e for e in result.expectations if e.name.startswith(starts_with)]
    assert len(matches) == 1, [e.name for e in result.expectations]
    return matches[0]


def perturb_cells(frame: pl.DataFrame, table: TableSchema, share: float, seed: int) -> pl.DataFrame:
    """`frame` with `share` of its modelled cells changed: numbers scaled by a random factor
    in [0.8, 1.2], categories replaced by another value of the column."""
    rng = np.random.default_rng(seed)
    columns = {}
    for column in table.modelled_columns:
        values = frame[column.name].to_list()
        hit = rng.random(len(values)) < share
        levels = sorted({v for v in values if v is not None}, key=str)
        for i in np.flatnonzero(hit):
            if values[i] is None:
                continue
            if isinstance(values[i], (int, float)) and not isinstance(values[i], bool):
                scaled = values[i] * rng.uniform(0.8, 1.2)
                values[i] = round(scaled) if isinstance(values[i], int) else scaled
            elif len(levels) > 1:
                values[i] = rng.choice([v for v in levels if v != values[i]])
        columns[column.name] = pl.Series(column.name, values, dtype=frame.schema[column.name])
    return frame.with_columns(**columns)


# --- the scorecard gate: negative and positive controls ---------------------------------------


def test_a_copy_of_train_fails_the_privacy_gates(customers: Customers) -> None:
    result = scorecard_of(customers, customers.train)
    assert not result.passed
    assert not outcome(result, "identical_match_share").passed
    assert not outcome(result, "dcr_share").passed


def test_train_with_a_tenth_of_cells_perturbed_fails_on_dcr_share(customers: Customers) -> None:
    noisy = perturb_cells(customers.train, customers.table, share=0.10, seed=1)
    result = scorecard_of(customers, noisy)
    dcr = outcome(result, "dcr_share")
    assert not dcr.passed
    assert dcr.observed > Thresholds().dcr_share_max


def test_a_holdout_sample_passed_off_as_synthetic_passes_every_privacy_gate(
    customers: Customers,
) -> None:
    result = scorecard_of(customers, customers.holdout.sample(n=400, seed=2))
    privacy = [
        "identical_match_share",
        "dcr_share",
        "dcr_tail_ratio",
        "nndr_tail_ratio",
        "singling_out_risk",
        "linkability_risk",
        "inference_risk",
    ]
    for name in privacy:
        expectation = outcome(result, name)
        assert expectation.passed, (name, expectation.observed, expectation.detail)


def test_scorecard_gate_fails_closed_when_a_privacy_metric_is_missing() -> None:
    card = {
        "quality": 0.9,
        "column_shapes": 0.9,
        "column_pair_trends": 0.9,
        "discriminator_auc": 0.6,
        "identical_match_share": 0.0,
        "identical_match_reference": 0.0,
        "identical_match_p_value": 1.0,
        "dcr_share": 0.5,
        "dcr_share_p_value": 0.5,
        "dcr_tail_ratio": 1.0,
        "nndr_tail_ratio": 1.0,
        "rare_value_reproduction": 0.0,
        "linkability_risk": 0.0,
        "inference_risk": 0.0,
        "k_anonymity": 1.0,
        "membership_tpr_at_fpr_1pct": 0.01,
        "membership_tpr_at_fpr_1pct_p_value": 1.0,
        "membership_outlier_tpr_at_fpr_1pct": 0.01,
        "membership_outlier_tpr_at_fpr_1pct_p_value": 1.0,
    }
    result = check_scorecard(card, Thresholds())
    assert [e.name for e in result.failures] == ["singling_out_risk (upper bound) <= risk_max"]
    assert result.failures[0].detail == "not measured"


def test_dcr_share_above_its_maximum_passes_only_when_not_significant() -> None:
    card = {"dcr_share": 0.56, "dcr_share_p_value": 0.2}
    thresholds = Thresholds()
    assert outcome(check_scorecard(card, thresholds), "dcr_share").passed
    card["dcr_share_p_value"] = 0.001
    assert not outcome(check_scorecard(card, thresholds), "dcr_share").passed


# --- the synthetic-table gate -----------------------------------------------------------------


def synthetic_gate(data: Customers, synthetic: pl.DataFrame) -> GateResult:
    """The synthetic-table gate without a holdout: domain and range rules are strict."""
    return check_synthetic_tables(
        data.schema, {"customers": synthetic}, {"customers": data.train}, raw_identifiers={}
    )


def fresh_rows(data: Customers) -> pl.DataFrame:
    """Holdout rows under fresh keys: plausible synthetic rows inside the training domain."""
    return data.holdout.with_columns(pl.int_range(1, data.holdout.height + 1).alias("customer_id"))


def test_holdout_rows_pass_the_synthetic_table_gate(customers: Customers) -> None:
    rows = fresh_rows(customers)
    inside = rows.filter(
        pl.col("occupation").is_in(customers.train["occupation"].unique().implode())
        & pl.col("postcode_district").is_in(customers.train["postcode_district"].unique().implode())
        & pl.col("income").is_between(
            customers.train["income"].min(), customers.train["income"].max()
        )
        & pl.col("age").is_between(customers.train["age"].min(), customers.train["age"].max())
        & pl.col("credit_score").is_between(
            customers.train["credit_score"].min(), customers.train["credit_score"].max()
        )
    )
    result = synthetic_gate(customers, inside)
    assert result.passed, [(e.name, e.detail) for e in result.failures]


def test_a_category_outside_the_training_domain_fails_and_is_counted(customers: Customers) -> None:
    rows = fresh_rows(customers).with_columns(
        pl.when(pl.int_range(pl.len()) < 3)
        .then(pl.lit("astronaut"))
        .otherwise(pl.col("occupation"))
        .alias("occupation")
    )
    failed = outcome(synthetic_gate(customers, rows), "customers.occupation: categories")
    assert not failed.passed
    assert failed.observed * rows.height >= 3  # the share of rows, strict without a holdout
    assert "3 of" in failed.detail or failed.observed * rows.height > 3


def test_a_value_outside_the_training_range_fails_without_showing_the_range(
    customers: Customers,
) -> None:
    top = customers.train["income"].max()
    rows = fresh_rows(customers).with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(top * 10)
        .otherwise(pl.col("income"))
        .alias("income")
    )
    failed = outcome(synthetic_gate(customers, rows), "customers.income: values inside")
    assert not failed.passed
    assert failed.threshold == 0.0  # without a holdout nothing outside the range is allowed
    assert str(round(top)) not in f"{failed.observed} {failed.detail} {failed.threshold}"


def test_a_copy_of_a_training_row_unique_on_quasi_identifiers_fails(customers: Customers) -> None:
    qis = ["age", "postcode_district", "gender"]
    unique = customers.train.filter(pl.struct(qis).is_unique()).head(2)
    rows = pl.concat(
        [
            fresh_rows(customers),
            unique.with_columns(pl.lit(-1, dtype=pl.Int64).alias("customer_id")),
        ]
    )
    failed = outcome(synthetic_gate(customers, rows), "customers: no copy")
    assert not failed.passed
    assert failed.observed == 2


def test_a_column_of_the_wrong_type_fails_the_type_expectation(customers: Customers) -> None:
    rows = fresh_rows(customers).with_columns(pl.col("credit_score").cast(pl.Float64))
    failed = outcome(synthetic_gate(customers, rows), "customers.credit_score: values of type")
    assert not failed.passed
    assert "Float64" in failed.detail


def test_a_missing_column_fails_the_schema_expectation(customers: Customers) -> None:
    rows = fresh_rows(customers).drop("gender")
    failed = outcome(synthetic_gate(customers, rows), "customers: columns equal")
    assert not failed.passed
    assert "missing gender" in failed.observed


def test_a_source_identifier_value_fails_and_only_counts_are_shown(customers: Customers) -> None:
    secret = "jane.doe.71@example.org"
    rows = fresh_rows(customers).with_columns(
        pl.when(pl.int_range(pl.len()) < 4)
        .then(pl.lit(secret))
        .otherwise(pl.col("occupation"))
        .alias("occupation")
    )
    result = check_synthetic_tables(
        customers.schema,
        {"customers": rows},
        {"customers": customers.train},
        raw_identifiers={"customers.email": pl.Series([secret, "other@example.org"])},
    )
    failed = outcome(result, "customers: no identifier value")
    assert not failed.passed
    assert failed.observed == 4
    assert "occupation (4 cells)" in failed.detail
    assert secret not in str(result.as_dict())


# --- a misconfigured gate is an error, not a data failure ---------------------------------------


def test_an_expectation_on_an_unknown_column_is_a_gate_error(customers: Customers) -> None:
    import great_expectations.expectations as gxe

    rule = Rule(
        "no_such_column is small",
        gxe.ExpectColumnValuesToBeBetween(column="no_such_column", max_value=1),
        1,
    )
    result = run_suite("custom", "customers", customers.train.to_pandas(), [rule])
    assert not result.passed
    assert result.errors and "no_such_column" in result.errors[0].error
    assert result.verdict.startswith("ERROR")
    with pytest.raises(GateError, match=r"misconfigured.*no_such_column"):
        gate_check_result(result)


def test_a_data_failure_is_a_failed_check_not_an_error(customers: Customers) -> None:
    result = check_scorecard({"quality": 0.1}, Thresholds())
    assert not result.errors
    check = gate_check_result(result)
    assert check.passed is False
    assert check.metadata["expectations_failed"].value == len(result.failures)


def test_gate_results_are_deterministic(customers: Customers, tmp_path: Path) -> None:
    rows = fresh_rows(customers)
    assert synthetic_gate(customers, rows).as_dict() == synthetic_gate(customers, rows).as_dict()


def test_anonymeter_risks_are_the_same_for_the_same_inputs_and_seed(customers: Customers) -> None:
    from anon_platform.common.frames import to_pandas
    from anon_platform.evaluation.attacks import anonymeter_risks

    columns = customers.table.modelled_columns
    train, holdout = (to_pandas(f, columns) for f in (customers.train, customers.holdout))
    synthetic = to_pandas(perturb_cells(customers.holdout, customers.table, 0.3, seed=4), columns)
    first = anonymeter_risks(train, holdout, synthetic, columns, SETTINGS, seed=0)
    second = anonymeter_risks(train, holdout, synthetic, columns, SETTINGS, seed=0)
    assert first == second
    assert set(first) >= {"singling_out_univariate", "linkability", "inference/income"}


def test_a_synthetic_table_of_one_repeated_row_still_gets_singling_out_risks(
    customers: Customers,
) -> None:
    """Multivariate singling-out queries rarely single out a row of a collapsed table; the
    query search stops after a bounded number of attempts instead of running for hours."""
    from anon_platform.common.frames import to_pandas
    from anon_platform.evaluation.attacks import anonymeter_risks

    columns = customers.table.modelled_columns
    train, holdout = (to_pandas(f, columns) for f in (customers.train, customers.holdout))
    collapsed = pd.concat([holdout.iloc[[0]]] * len(holdout), ignore_index=True)
    risks = anonymeter_risks(train, holdout, collapsed, columns, SETTINGS, seed=0)
    assert {"singling_out_univariate", "singling_out_multivariate"} <= set(risks)
    assert 0.0 <= risks["singling_out_multivariate"]["high"] <= 1.0


def test_without_sensitive_columns_the_inference_attack_targets_the_label(
    customers: Customers,
) -> None:
    from anon_platform.catalog import Role
    from anon_platform.evaluation.attacks import inference_secrets

    columns = customers.table.modelled_columns
    assert {c.name for c in inference_secrets(columns)} == {"income", "credit_score"}
    unlabelled = [
        c.model_copy(update={"role": Role.ATTRIBUTE}) if c.role == Role.SENSITIVE else c
        for c in columns
    ]
    assert [c.name for c in inference_secrets(unlabelled)] == ["churned"]
