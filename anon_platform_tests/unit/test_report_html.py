"""The HTML quality report: self-contained, every modelled column drawn, no individual's value."""

from __future__ import annotations

import json
import re
from datetime import date

import numpy as np
import polars as pl
import pytest

from anon_platform.catalog.schema import ColumnSchema, DatasetSchema, TableSchema
from anon_platform.catalog.specs import ColumnType, EvaluationSettings, Role
from anon_platform.evaluation.marginals import cramers_v_matrix
from anon_platform.gates.results import Expectation, GateResult
from anon_platform.html_report import render_report_html
from anon_platform_tests.conftest import DEMO_DATA

TYPES = {
    "customer_id": ColumnType.INTEGER,
    "date_of_birth": ColumnType.DATE,
    "income": ColumnType.FLOAT,
    "credit_score": ColumnType.INTEGER,
    "churned": ColumnType.INTEGER,
}
ROLES = {
    "customer_id": Role.KEY,
    "full_name": Role.IDENTIFIER,
    "email": Role.IDENTIFIER,
    "phone": Role.IDENTIFIER,
    "national_id": Role.IDENTIFIER,
    "date_of_birth": Role.QUASI_IDENTIFIER,
    "postcode": Role.QUASI_IDENTIFIER,
    "income": Role.SENSITIVE,
    "churned": Role.TARGET,
}
IDENTIFIERS = ["customer_id", "full_name", "email", "phone", "national_id"]
OUTLIER_INCOME = 987_654.32
OUTLIER_BIRTH = date(1901, 2, 3)
MIN_COUNT = 10


@pytest.fixture(scope="module")
def customers() -> pl.DataFrame:
    """The demo customers, typed, with their identifier columns."""
    return pl.read_csv(DEMO_DATA / "customers.csv", try_parse_dates=True).with_columns(
        pl.col("income").cast(pl.Float64)
    )


@pytest.fixture(scope="module")
def schema(customers: pl.DataFrame) -> DatasetSchema:
    columns = tuple(
        ColumnSchema(
            name=n, type=TYPES.get(n, ColumnType.STRING), role=ROLES.get(n, Role.ATTRIBUTE)
        )
        for n in customers.columns
    )
    table = TableSchema(
        name="customers", columns=columns, primary_key="customer_id", target="churned"
    )
    return DatasetSchema(name="bank", tables=(table,))


@pytest.fixture(scope="module")
def train(customers: pl.DataFrame) -> pl.DataFrame:
    """2,000 customers with a planted unique outlier (income and birth date of one person), a
    category held by exactly MIN_COUNT people and one held by MIN_COUNT - 1 people."""
    frame = customers.head(2000).with_row_index("i")
    occupation = (
        pl.when(pl.col("i") < MIN_COUNT)
        .then(pl.lit("lighthouse_keeper"))
        .when(pl.col("i") < 2 * MIN_COUNT - 1)
        .then(pl.lit("astronaut"))
        .otherwise(pl.col("occupation"))
    )
    return frame.with_columns(
        occupation.alias("occupation"),
        pl.when(pl.col("i") == 100)
        .then(pl.lit(OUTLIER_INCOME))
        .otherwise(pl.col("income"))
        .alias("income"),
        pl.when(pl.col("i") == 100)
        .then(pl.lit(OUTLIER_BIRTH))
        .otherwise(pl.col("date_of_birth"))
        .alias("date_of_birth"),
    ).drop("i")


def hand_made_report() -> dict:
    """A report of the shape evaluate_dataset returns."""
    metrics = {"quality": 0.91, "dcr_share": 0.55, "dcr_share_p_value": 0.001, "k_anonymity": 1.0}
    return {
        "dataset": "bank",
        "generator": "gaussian_copula",
        "scorecard": dict(metrics),
        "tables": [
            {
                "table": "customers",
                "train_rows": 2000,
                "holdout_rows": 2000,
                "synthetic_rows": 2000,
                "metrics": metrics,
                "dcr_histogram": {
                    "edges": [0.0, 0.05, 0.1, 0.15, 0.2],
                    "to_train": [120, 800, 700, 380],
                    "to_holdout": [90, 780, 720, 410],
                },
                "risks": {
                    "singling_out_univariate": {"value": 0.02, "low": 0.0, "high": 0.08},
                    "singling_out_multivariate": {"value": 0.01, "low": 0.0, "high": 0.05},
                    "linkability": {"value": 0.0, "low": 0.0, "high": 0.03},
                    "inference/income": {"value": 0.12, "low": 0.05, "high": 0.19},
                },
            }
        ],
        "membership": {"customers": {"roc": ROC, "outlier_roc": OUTLIER_ROC}},
    }


# the membership attack's ROC curves as the report stores them: aggregate points on a fixed grid
ROC = {"fpr": [0.001, 0.01, 0.1, 1.0], "tpr": [0.0017, 0.0123, 0.1049, 1.0]}
OUTLIER_ROC = {"fpr": [0.001, 0.01, 0.1, 1.0], "tpr": [0.0, 0.0277, 0.1388, 1.0]}


GATES = [
    GateResult(
        "scorecard",
        (
            Expectation("quality >= quality_min", True, 0.91, 0.7),
            Expectation("dcr_share <= dcr_share_max", False, 0.55, 0.52, "over by 0.0300"),
        ),
    )
]


@pytest.fixture(scope="module")
def page(customers: pl.DataFrame, schema: DatasetSchema, train: pl.DataFrame) -> str:
    # other real customers stand in for the synthetic table: the page treats both alike
    synthetic = customers.slice(2000, 2000)
    return render_report_html(
        hand_made_report(),
        schema,
        {"customers": train},
        {"customers": synthetic},
        EvaluationSettings(plot_min_count=MIN_COUNT),
        GATES,
    )


def body(page: str) -> str:
    """The page without the embedded plotly.js library."""
    return page[page.index("</head>") :]


def test_page_loads_nothing_from_the_network(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    tags = re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", page)
    assert not [t for t in tags if re.search(r"\b(src|href)\s*=", t)]
    assert "Plotly.newPlot" in page
    assert page.count("<script>") - page.count("Plotly.newPlot") == 1  # plotly.js, once


def test_every_modelled_column_has_its_chart(page: str, schema: DatasetSchema) -> None:
    for column in schema.root.modelled_columns:
        assert f'"title":{{"text":"{column.name}"}}' in page


def test_identifier_and_key_columns_are_never_shown(page: str, train: pl.DataFrame) -> None:
    shown = body(page)
    for column in IDENTIFIERS:
        assert column not in shown
    for email in train["email"].head(200).to_list():
        assert email not in shown


def test_category_held_by_fewer_than_plot_min_count_rows_is_not_drawn(page: str) -> None:
    shown = body(page)
    assert "astronaut" not in shown  # MIN_COUNT - 1 rows
    assert "lighthouse_keeper" in shown  # MIN_COUNT rows
    assert re.search(r"Suppressed real cells:[^.]*<code>occupation</code> 1\b", shown)


def test_planted_unique_outlier_does_not_appear(page: str) -> None:
    shown = body(page)
    labels = re.findall(r'"([^"]*)"', shown)
    for text in ("987654", "987,654", "1901"):
        assert not [label for label in labels if text in label]
    edges = [
        float(n.replace(",", ""))
        for label in labels
        if label.startswith(("[", "\\u003c", "\\u2265"))  # bins: [a, b), < a, >= b
        for n in re.findall(r"\d{1,3}(?:,\d{3})+", label)
    ]
    assert max(edges) < 500_000  # the outlier sits in an open bin, not at a grid edge


def test_privacy_charts_show_every_attack_and_both_distances(page: str) -> None:
    shown = body(page)
    for attack in hand_made_report()["tables"][0]["risks"]:
        as_json = attack.replace("/", "\\u002f")  # how plotly writes a slash
        assert f'"{as_json}"' in shown
    assert "synthetic to train" in shown
    assert "synthetic to holdout" in shown


def test_failed_gate_gives_the_verdict_and_names_the_expectation(page: str) -> None:
    shown = body(page)
    assert "<span class='fail' id='verdict'>FAILED</span>" in shown
    assert "dcr_share &lt;= dcr_share_max" in shown
    assert "over by 0.0300" in shown


def test_cramers_v_is_one_for_a_function_of_a_column_and_zero_for_independent_ones() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, 5000)
    matrix = cramers_v_matrix({"a": a, "parity": a % 2, "noise": rng.integers(0, 3, 5000)})
    assert matrix[0, 1] == pytest.approx(1.0)
    assert matrix[0, 2] < 0.05


def test_the_membership_attack_roc_curves_are_drawn_from_their_aggregate_points(page: str) -> None:
    shown = body(page)
    assert "Membership attack ROC" in shown
    assert "chance (learned nothing)" in shown
    for curve in (ROC, OUTLIER_ROC):
        assert json.dumps(curve["tpr"], separators=(",", ":")) in shown
