"""Raw tables in: files and PostgreSQL read and conformed to sources.yml, and bad input refused
with a message naming table, column and problem, before any model is trained."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import sqlalchemy as sa

from anon_platform.catalog import load_catalog
from anon_platform.definitions import build_definitions
from anon_platform.errors import SourceDataError
from anon_platform.pipeline import steps
from anon_platform.storage import Zones
from anon_platform_tests.conftest import read_demo_csv

DATASET = "bank"
CUSTOMERS = 120


def ingest_all(project: Path, home: Path) -> dict[str, pl.DataFrame]:
    catalog = load_catalog(project)
    zones = Zones(home)
    return {
        t.name: steps.ingest(catalog, zones, DATASET, t.name).frame
        for t in catalog.sources[DATASET].tables
    }


def edit_csv(project: Path, table: str, edit) -> None:
    path = project / "data" / f"{table}.csv"
    edit(pl.read_csv(path, infer_schema=False)).write_csv(path)


def run_pipeline(project: Path, home: Path) -> dg.ExecuteInProcessResult:
    definitions = build_definitions(load_catalog(project), str(home))
    return definitions.resolve_job_def("bank_pipeline").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )


def root_error(result: dg.ExecuteInProcessResult) -> str:
    failure = result.get_step_failure_events()[0]
    error = failure.event_specific_data.error
    while error.cause is not None:
        error = error.cause
    return error.message


# --- csv files --------------------------------------------------------------------------------


def test_csv_tables_are_conformed_to_the_declared_types(make_project, anon_home: Path) -> None:
    tables = ingest_all(make_project(customers=CUSTOMERS), anon_home)
    customers = tables["customers"]
    assert customers.height == CUSTOMERS
    assert customers.schema["customer_id"] == pl.Int64
    assert customers.schema["date_of_birth"] == pl.Date
    assert customers.schema["income"] == pl.Float64
    assert tables["transactions"].schema["timestamp"] == pl.Datetime("us")


def test_ingest_writes_parquet_and_fingerprint_in_the_restricted_zone(
    make_project, anon_home: Path
) -> None:
    ingest_all(make_project(customers=CUSTOMERS), anon_home)
    zones = Zones(anon_home)
    for table in ("customers", "transactions"):
        assert zones.raw_table(DATASET, table).is_file()
        assert zones.raw_table(DATASET, table).is_relative_to(zones.restricted)
    assert not zones.release.exists()


def test_parquet_source_reads_like_its_csv(make_project, anon_home: Path, tmp_path: Path) -> None:
    def as_parquet(spec: dict) -> None:
        spec["sources"][0]["tables"][0]["location"] = {"path": "../data/customers.parquet"}

    project = make_project(customers=CUSTOMERS, sources=as_parquet)
    read_demo_csv("customers").head(CUSTOMERS).write_parquet(project / "data" / "customers.parquet")
    from_parquet = ingest_all(project, anon_home)["customers"]
    from_csv = ingest_all(make_project(customers=CUSTOMERS, name="csv"), tmp_path / "home2")
    assert from_parquet.equals(from_csv["customers"])


# --- bad input --------------------------------------------------------------------------------


def test_missing_column_names_table_and_column(make_project, anon_home: Path) -> None:
    project = make_project(customers=CUSTOMERS)
    edit_csv(project, "customers", lambda f: f.drop("credit_score"))
    with pytest.raises(SourceDataError, match=r"table 'customers', column 'credit_score'") as err:
        ingest_all(project, anon_home)
    assert "missing" in str(err.value)


def test_unknown_column_is_reported_as_schema_drift(make_project, anon_home: Path) -> None:
    project = make_project(customers=CUSTOMERS)
    edit_csv(project, "customers", lambda f: f.with_columns(pl.lit("x").alias("loyalty_tier")))
    with pytest.raises(SourceDataError, match=r"column 'loyalty_tier'") as err:
        ingest_all(project, anon_home)
    assert "schema drift" in str(err.value)


def test_wrong_type_names_the_rows_but_never_the_values(make_project, anon_home: Path) -> None:
    project = make_project(customers=CUSTOMERS)
    secret = "NOT-A-NUMBER-9431"
    edit_csv(
        project,
        "customers",
        lambda f: f.with_columns(
            pl.when(pl.int_range(pl.len()) == 6)
            .then(pl.lit(secret))
            .otherwise(pl.col("income"))
            .alias("income")
        ),
    )
    with pytest.raises(SourceDataError, match=r"table 'customers', column 'income'") as err:
        ingest_all(project, anon_home)
    message = str(err.value)
    assert "not of declared type float" in message
    assert "row 7" in message
    assert secret not in message


def test_empty_table_is_refused(make_project, anon_home: Path) -> None:
    project = make_project(customers=CUSTOMERS)
    edit_csv(project, "transactions", lambda f: f.head(0))
    with pytest.raises(SourceDataError, match=r"table 'transactions'.*empty"):
        ingest_all(project, anon_home)


def test_duplicate_primary_key_is_refused(make_project, anon_home: Path) -> None:
    project = make_project(customers=CUSTOMERS)
    edit_csv(project, "customers", lambda f: pl.concat([f, f.slice(3, 1)]))
    with pytest.raises(SourceDataError, match=r"column 'customer_id'.*duplicate primary key"):
        ingest_all(project, anon_home)


def test_dangling_foreign_key_is_refused(make_project, anon_home: Path) -> None:
    project = make_project(customers=CUSTOMERS)
    edit_csv(
        project,
        "transactions",
        lambda f: f.with_columns(
            pl.when(pl.int_range(pl.len()) < 2)
            .then(pl.lit("999999999"))
            .otherwise(pl.col("customer_id"))
            .alias("customer_id")
        ),
    )
    with pytest.raises(SourceDataError, match=r"table 'transactions', column 'customer_id'") as err:
        ingest_all(project, anon_home)
    assert "2 foreign key value(s) match no row of 'customers.customer_id'" in str(err.value)


def test_null_in_a_non_nullable_column_is_refused(make_project, anon_home: Path) -> None:
    project = make_project(customers=CUSTOMERS)
    edit_csv(
        project,
        "transactions",
        lambda f: f.with_columns(
            pl.when(pl.int_range(pl.len()) == 0)
            .then(None)
            .otherwise(pl.col("transaction_id"))
            .alias("transaction_id")
        ),
    )
    with pytest.raises(SourceDataError, match=r"column 'transaction_id'.*null"):
        ingest_all(project, anon_home)


def test_bad_source_fails_the_run_at_raw_before_any_model_is_trained(
    make_project, anon_home: Path
) -> None:
    project = make_project(customers=CUSTOMERS)
    edit_csv(project, "customers", lambda f: pl.concat([f, f.slice(0, 1)]))

    result = run_pipeline(project, anon_home)

    assert not result.success
    failed_steps = {e.step_key for e in result.get_step_failure_events()}
    assert any("raw" in step and "customers" in step for step in failed_steps), failed_steps
    assert "duplicate primary key" in root_error(result)
    materialized = {e.asset_key.path[1] for e in result.get_asset_materialization_events()}
    assert materialized.isdisjoint({"prepared", "models", "synthetic", "release"})
    assert not (anon_home / "restricted" / DATASET / "models").exists()
    assert not (anon_home / "release").exists()


def test_missing_source_file_names_the_table(make_project, anon_home: Path) -> None:
    project = make_project(customers=CUSTOMERS)
    (project / "data" / "customers.csv").unlink()
    with pytest.raises(SourceDataError, match=r"table 'customers'.*source file not found"):
        ingest_all(project, anon_home)


# --- PostgreSQL -------------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_tables_ingest_equal_to_the_csv_files(
    make_project, anon_home: Path, tmp_path: Path, postgres_url: str, postgres_schema: str
) -> None:
    csv_project = make_project(customers=CUSTOMERS, name="from_csv")
    expected = ingest_all(csv_project, tmp_path / "csv_home")

    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        for name, frame in expected.items():
            frame.to_pandas().to_sql(name, connection, schema=postgres_schema, index=False)
    engine.dispose()

    def from_postgres(spec: dict) -> None:
        for table in spec["sources"][0]["tables"]:
            table["location"] = {
                "url_env": "ANON_TEST_BANK_DB",
                "schema": postgres_schema,
                "table": table["name"],
            }

    sql_project = make_project(customers=CUSTOMERS, sources=from_postgres, name="from_sql")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ANON_TEST_BANK_DB", postgres_url)
        ingested = ingest_all(sql_project, anon_home)

    for name, frame in expected.items():
        assert ingested[name].schema == frame.schema, name
        assert (
            ingested[name].sort(ingested[name].columns[0]).equals(frame.sort(frame.columns[0]))
        ), name


@pytest.mark.postgres
def test_postgres_missing_table_is_a_source_error(
    make_project, anon_home: Path, postgres_url: str, postgres_schema: str
) -> None:
    def from_postgres(spec: dict) -> None:
        spec["sources"][0]["tables"][0]["location"] = {
            "url": postgres_url,
            "schema": postgres_schema,
            "table": "no_such_table",
        }

    project = make_project(customers=CUSTOMERS, sources=from_postgres)
    with pytest.raises(SourceDataError, match=r"table 'customers'.*no_such_table"):
        ingest_all(project, anon_home)


def test_unset_database_url_variable_names_the_variable(make_project, anon_home: Path) -> None:
    def from_env(spec: dict) -> None:
        spec["sources"][0]["tables"][0]["location"] = {
            "url_env": "ANON_NO_SUCH_URL_VARIABLE",
            "table": "customers",
        }

    project = make_project(customers=CUSTOMERS, sources=from_env)
    with pytest.raises(SourceDataError, match=r"ANON_NO_SUCH_URL_VARIABLE"):
        ingest_all(project, anon_home)
