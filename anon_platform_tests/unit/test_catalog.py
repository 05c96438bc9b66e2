"""The catalog: sources.yml, releases.yml and the SQL models load into typed specs, and anything
invalid fails at load time naming the file, the place inside it and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from anon_platform.catalog import Role, load_catalog
from anon_platform.catalog.specs import ColumnType
from anon_platform.errors import CatalogError, SqlModelError

DATASET = "bank"


def write_model(project: Path, name: str, sql: str) -> Path:
    path = project / "dbt_like_sql" / "models" / DATASET / f"{name}.sql"
    path.write_text(sql)
    return path


# --- what a valid catalog gives ----------------------------------------------------------------


def test_shipped_catalog_types_staging_output_from_the_sql() -> None:
    catalog = load_catalog()
    assert catalog.model_schemas["stg_customers"]["age"] == ColumnType.INTEGER
    assert catalog.model_schemas["stg_transactions"]["transaction_time"] == ColumnType.DATETIME


def test_model_dependencies_come_from_the_sql() -> None:
    catalog = load_catalog()
    transactions = catalog.models["stg_transactions"]
    assert transactions.source_refs == ("transactions",)
    assert transactions.model_refs == ("stg_customers",)
    assert [m.name for m in catalog.dataset_models(DATASET)] == [
        "stg_customers",
        "stg_transactions",
    ]


def test_release_columns_inherit_source_roles_and_take_explicit_ones() -> None:
    catalog = load_catalog()
    roles = {c.name: c.role for c in catalog.columns(DATASET, "customers")}
    assert roles["customer_id"] == Role.KEY
    assert roles["income"] == Role.SENSITIVE
    assert roles["gender"] == Role.QUASI_IDENTIFIER
    assert roles["age"] == Role.QUASI_IDENTIFIER
    assert roles["churned"] == Role.TARGET
    assert "full_name" not in roles


def test_a_cte_is_not_mistaken_for_a_dependency(make_project) -> None:
    project = make_project(customers=20)
    write_model(
        project,
        "stg_rich",
        "with rich as (select * from stg_customers where income > 50000)\n"
        "select customer_id, income from rich",
    )
    model = load_catalog(project).models["stg_rich"]
    assert model.model_refs == ("stg_customers",)
    assert model.source_refs == ()


# --- sources.yml ------------------------------------------------------------------------------


def test_unknown_role_names_sources_yml_and_the_path_inside(make_project) -> None:
    def bad_role(spec: dict) -> None:
        spec["sources"][0]["tables"][0]["columns"][1]["role"] = "secret"

    with pytest.raises(CatalogError) as err:
        load_catalog(make_project(customers=20, sources=bad_role))
    message = str(err.value)
    assert "sources.yml" in message
    assert "sources[0].tables[0].columns[1].role" in message
    assert "identifier" in message


def test_unknown_key_is_an_error_not_ignored(make_project) -> None:
    def typo(spec: dict) -> None:
        spec["sources"][0]["tables"][0]["primary_kee"] = "customer_id"

    with pytest.raises(CatalogError, match=r"sources\[0\]\.tables\[0\]\.primary_kee"):
        load_catalog(make_project(customers=20, sources=typo))


def test_foreign_key_to_an_unknown_table_is_named(make_project) -> None:
    def dangling(spec: dict) -> None:
        spec["sources"][0]["tables"][1]["foreign_keys"][0]["references"] = "clients.customer_id"

    with pytest.raises(CatalogError, match=r"unknown table 'clients'"):
        load_catalog(make_project(customers=20, sources=dangling))


def test_malformed_yaml_names_the_file(make_project) -> None:
    project = make_project(customers=20)
    (project / "dbt_like_sql" / "sources.yml").write_text("sources: [\n  - name: bank\n")
    with pytest.raises(CatalogError, match=r"sources.yml: not valid YAML"):
        load_catalog(project)


def test_missing_sources_file_is_named(make_project) -> None:
    project = make_project(customers=20)
    (project / "dbt_like_sql" / "sources.yml").unlink()
    with pytest.raises(CatalogError, match=r"sources.yml: file not found"):
        load_catalog(project)


# --- releases.yml -----------------------------------------------------------------------------


def test_absurd_holdout_fraction_names_releases_yml(make_project) -> None:
    def absurd(plan: dict) -> None:
        plan["datasets"][0]["holdout_fraction"] = 1.5

    with pytest.raises(CatalogError) as err:
        load_catalog(make_project(customers=20, releases=absurd))
    assert "releases.yml" in str(err.value)
    assert "datasets[0].holdout_fraction" in str(err.value)


def test_target_that_the_model_does_not_return_is_named(make_project) -> None:
    def wrong_target(plan: dict) -> None:
        plan["datasets"][0]["tables"][0]["target"] = "defaulted"

    with pytest.raises(CatalogError, match=r"target 'defaulted' is not an output column"):
        load_catalog(make_project(customers=20, releases=wrong_target))


def test_release_of_an_unknown_source_is_named(make_project) -> None:
    def unknown(plan: dict) -> None:
        plan["datasets"][0]["name"] = "insurer"

    with pytest.raises(CatalogError, match=r"datasets\[0\] \('insurer'\).*no source"):
        load_catalog(make_project(customers=20, releases=unknown))


# --- SQL models -------------------------------------------------------------------------------


def test_model_reading_an_unknown_name_names_its_file(make_project) -> None:
    project = make_project(customers=20)
    path = write_model(project, "stg_orphan", "select * from accounts")
    with pytest.raises(SqlModelError) as err:
        load_catalog(project)
    assert str(path) in str(err.value)
    assert "unknown table or model 'accounts'" in str(err.value)


def test_dependency_cycle_names_the_files(make_project) -> None:
    project = make_project(customers=20)
    write_model(project, "stg_a", "select * from stg_b")
    write_model(project, "stg_b", "select * from stg_a")
    with pytest.raises(SqlModelError, match=r"dependency cycle") as err:
        load_catalog(project)
    assert "stg_a.sql" in str(err.value)
    assert "stg_b.sql" in str(err.value)


def test_sql_that_does_not_parse_names_its_file(make_project) -> None:
    project = make_project(customers=20)
    write_model(project, "stg_broken", "select from where")
    with pytest.raises(SqlModelError, match=r"stg_broken.sql"):
        load_catalog(project)


def test_sql_reading_an_unknown_column_names_its_file(make_project) -> None:
    project = make_project(customers=20)
    write_model(project, "stg_bad_column", "select no_such_column from customers")
    with pytest.raises(SqlModelError, match=r"stg_bad_column.sql.*no_such_column"):
        load_catalog(project)


def test_a_statement_other_than_select_is_refused(make_project) -> None:
    project = make_project(customers=20)
    write_model(project, "stg_drop", "drop table customers")
    with pytest.raises(SqlModelError, match=r"must be a SELECT"):
        load_catalog(project)


def test_faking_a_column_the_model_releases_is_refused(make_project) -> None:
    def fake_income(plan: dict) -> None:
        plan["datasets"][0]["tables"][0]["fake"] = {"income": "token"}

    with pytest.raises(CatalogError, match=r"fake column 'income' is an output column"):
        load_catalog(make_project(customers=20, releases=fake_income))
