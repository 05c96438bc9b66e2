"""Automation: the source_changes sensor requests exactly one retrain run per changed dataset
(files and PostgreSQL), never a storm, and reports unreadable sources; the schedules exist, are
off by default and take cron and timezone from releases.yml."""

from __future__ import annotations

import os
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import sqlalchemy as sa

from anon_platform.catalog import load_catalog
from anon_platform.definitions import build_definitions
from anon_platform.errors import CatalogError
from anon_platform.pipeline import steps
from anon_platform.resources import AnonHome
from anon_platform.sources.fingerprints import file_fingerprint
from anon_platform.storage import Zones

DATASET = "bank"
CUSTOMERS = 60


def ingest_all(project: Path, home: Path) -> None:
    catalog = load_catalog(project)
    for table in catalog.sources[DATASET].tables:
        steps.ingest(catalog, Zones(home), DATASET, table.name)


class Sensor:
    """The project's source_changes sensor, ticked by hand on a real (ephemeral) instance."""

    def __init__(self, project: Path, home: Path) -> None:
        self.definitions = build_definitions(load_catalog(project), str(home))
        self.sensor = self.definitions.resolve_sensor_def("source_changes")
        self.instance = dg.DagsterInstance.ephemeral()
        self.home = home
        self.cursor: str | None = None

    def tick(self) -> dg.SensorResult:
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            resources={"anon_home": AnonHome(path=str(self.home))},
            definitions=self.definitions,
        )
        result = self.sensor(context)
        self.cursor = result.cursor
        return result


def append_customer(project: Path) -> None:
    path = project / "data" / "customers.csv"
    frame = pl.read_csv(path, infer_schema=False)
    extra = frame.tail(1).with_columns(pl.lit("999999").alias("customer_id"))
    pl.concat([frame, extra]).write_csv(path)


@pytest.fixture
def ingested(make_project, anon_home: Path) -> Path:
    project = make_project(customers=CUSTOMERS)
    ingest_all(project, anon_home)
    return project


def test_unchanged_sources_request_no_run(ingested: Path, anon_home: Path) -> None:
    sensor = Sensor(ingested, anon_home)
    result = sensor.tick()
    assert result.run_requests == []
    assert "no source changed" in str(result.skip_reason)


def test_a_changed_csv_requests_exactly_one_retrain_of_its_dataset(
    ingested: Path, anon_home: Path
) -> None:
    sensor = Sensor(ingested, anon_home)
    sensor.tick()
    append_customer(ingested)

    first = sensor.tick()
    assert len(first.run_requests) == 1
    request = first.run_requests[0]
    assert request.job_name == "bank_retrain"
    assert request.run_key.startswith("bank:")
    assert request.tags["dataset"] == DATASET

    second = sensor.tick()
    assert second.run_requests == []


def test_after_the_retrain_ingests_the_change_no_run_is_requested(
    ingested: Path, anon_home: Path
) -> None:
    sensor = Sensor(ingested, anon_home)
    append_customer(ingested)
    assert len(sensor.tick().run_requests) == 1
    ingest_all(ingested, anon_home)
    fresh = Sensor(ingested, anon_home)
    assert fresh.tick().run_requests == []


def test_touching_a_file_without_changing_it_is_not_a_change(
    ingested: Path, anon_home: Path
) -> None:
    sensor = Sensor(ingested, anon_home)
    path = ingested / "data" / "transactions.csv"
    later = time.time() + 60
    os.utime(path, (later, later))
    assert sensor.tick().run_requests == []


def test_a_dataset_never_ingested_gets_its_first_run(make_project, anon_home: Path) -> None:
    sensor = Sensor(make_project(customers=CUSTOMERS), anon_home)
    result = sensor.tick()
    assert [r.job_name for r in result.run_requests] == ["bank_retrain"]


def test_an_unreadable_source_is_skipped_with_its_reason(ingested: Path, anon_home: Path) -> None:
    (ingested / "data" / "transactions.csv").unlink()
    result = Sensor(ingested, anon_home).tick()
    assert result.run_requests == []
    reason = str(result.skip_reason)
    assert "bank" in reason
    assert "transactions" in reason
    assert "not found" in reason


def test_the_file_hash_is_reused_while_size_and_mtime_are_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n")
    first = file_fingerprint(path)
    stale = {**first, "content": "sha256:stale"}
    assert file_fingerprint(path, stale)["content"] == "sha256:stale"
    path.write_text("a,b\n1,3\n")
    assert file_fingerprint(path, stale)["content"] != "sha256:stale"


@pytest.mark.postgres
def test_a_changed_postgres_table_requests_one_retrain(
    make_project, anon_home: Path, postgres_url: str, postgres_schema: str
) -> None:
    engine = sa.create_engine(postgres_url)
    csv_project = make_project(customers=CUSTOMERS, name="csv")
    with engine.begin() as connection:
        for table in ("customers", "transactions"):
            frame = pl.read_csv(csv_project / "data" / f"{table}.csv", try_parse_dates=True)
            frame.to_pandas().to_sql(table, connection, schema=postgres_schema, index=False)

    def from_postgres(spec: dict) -> None:
        for table in spec["sources"][0]["tables"]:
            table["location"] = {
                "url": postgres_url,
                "schema": postgres_schema,
                "table": table["name"],
            }

    project = make_project(customers=CUSTOMERS, sources=from_postgres, name="sql")
    ingest_all(project, anon_home)
    sensor = Sensor(project, anon_home)
    assert sensor.tick().run_requests == []

    customers = f'"{postgres_schema}".customers'
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                f"update {customers} set income = income + 1 "
                f"where customer_id = (select min(customer_id) from {customers})"
            )
        )
    engine.dispose()
    changed = sensor.tick()
    assert [r.job_name for r in changed.run_requests] == ["bank_retrain"]
    assert sensor.tick().run_requests == []


# --- schedules and jobs -----------------------------------------------------------------------


def test_schedules_exist_and_are_off_by_default() -> None:
    definitions = build_definitions(load_catalog())
    for name in ("nightly_refresh", "weekly_evaluation"):
        schedule = definitions.resolve_schedule_def(name)
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert definitions.resolve_sensor_def("source_changes").default_status == (
        dg.DefaultSensorStatus.STOPPED
    )


def test_schedules_take_cron_and_timezone_from_releases_yml(make_project) -> None:
    def enable(plan: dict) -> None:
        plan["automation"] = {
            "nightly_refresh": {"enabled": True, "cron": "30 1 * * *", "timezone": "Europe/London"},
            "source_sensor": {"enabled": True, "interval_seconds": 30},
        }

    definitions = build_definitions(load_catalog(make_project(customers=20, releases=enable)))
    nightly = definitions.resolve_schedule_def("nightly_refresh")
    assert nightly.cron_schedule == "30 1 * * *"
    assert nightly.execution_timezone == "Europe/London"
    assert nightly.default_status == dg.DefaultScheduleStatus.RUNNING
    assert definitions.resolve_schedule_def("weekly_evaluation").default_status == (
        dg.DefaultScheduleStatus.STOPPED
    )
    sensor = definitions.resolve_sensor_def("source_changes")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == 30


def test_an_invalid_cron_names_releases_yml(make_project) -> None:
    def broken(plan: dict) -> None:
        plan["automation"] = {"weekly_evaluation": {"cron": "every sunday"}}

    with pytest.raises(CatalogError, match=r"automation\.weekly_evaluation\.cron"):
        load_catalog(make_project(customers=20, releases=broken))


def test_retrain_and_refresh_jobs_never_select_a_release() -> None:
    definitions = build_definitions(load_catalog())
    for name in ("bank_retrain", "refresh_all"):
        job = definitions.resolve_job_def(name)
        keys = job.asset_layer.executable_asset_keys
        assert keys, name
        assert not [k for k in keys if k.path[1] == "release"], name
        assert dg.AssetKey(["bank", "raw", "customers"]) in keys


def test_schedules_ask_for_one_run_per_dataset_tagged_with_it() -> None:
    definitions = build_definitions(load_catalog())
    for name, group in (("nightly_refresh", None), ("weekly_evaluation", "reports")):
        schedule = definitions.resolve_schedule_def(name)
        requests = list(schedule.evaluate_tick(dg.build_schedule_context()).run_requests)
        assert [r.tags["dataset"] for r in requests] == ["bank"], name
        keys = requests[0].asset_selection
        assert keys and all(k.path[0] == "bank" for k in keys), name
        assert not [k for k in keys if k.path[1] == "release"], name
        if group:
            assert {k.path[1] for k in keys} == {group}, name


def test_release_automation_runs_carry_their_dataset_tag() -> None:
    definitions = build_definitions(load_catalog())
    sensor = definitions.resolve_sensor_def("bank_release_automation")
    assert sensor.run_tags == {"dataset": "bank"}
