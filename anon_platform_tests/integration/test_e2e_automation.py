"""End to end against a running instance: the real dagster-daemon and dagster-webserver on a
temporary DAGSTER_HOME. A source file changes; the source_changes sensor launches one retrain
run per dataset reading it; declarative automation then releases the dataset whose gates pass
and holds back the one whose gate fails. Everything is observed through the GraphQL API."""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl
import pytest

from anon_platform.catalog import load_catalog
from anon_platform.pipeline import steps
from anon_platform.storage import Zones
from anon_platform_tests.dagster_processes import (
    latest_materialization,
    location_loaded,
    releasable_demo,
    running_instance,
    runs,
    wait_for,
)

CUSTOMERS = 150
PASSING, FAILING = "bank", "strict"
DEADLINE_S = 900


def two_dataset_project(make_project) -> Path:
    """The small demo as two datasets reading the same csv files: `bank` (gates pass,
    auto_release) and `strict` (an impossible quality threshold, auto_release)."""

    def sources(spec: dict) -> None:
        twin = json.loads(json.dumps(spec["sources"][0]))
        twin["name"] = FAILING
        spec["sources"].append(twin)

    def releases(plan: dict) -> None:
        releasable_demo(plan)
        bank = plan["datasets"][0]
        bank["auto_release"] = True
        strict = json.loads(json.dumps(bank))
        strict["name"] = FAILING
        strict["thresholds"]["quality_min"] = 0.999
        for table in strict["tables"]:
            table["model"] = table["model"].replace("stg_", f"{FAILING}_")
        plan["datasets"].append(strict)
        plan["automation"] = {"source_sensor": {"enabled": True, "interval_seconds": 5}}

    project = make_project(customers=CUSTOMERS, sources=sources, releases=releases)
    models = project / "dbt_like_sql" / "models"
    (models / FAILING).mkdir()
    for sql in (models / "bank").glob("*.sql"):
        renamed = sql.name.replace("stg_", f"{FAILING}_")
        text = sql.read_text().replace("stg_customers", f"{FAILING}_customers")
        (models / FAILING / renamed).write_text(text)
    return project


@pytest.mark.e2e
def test_a_changed_source_is_retrained_and_only_the_passing_dataset_released(
    make_project, tmp_path: Path
) -> None:
    project = two_dataset_project(make_project)
    catalog = load_catalog(project)
    anon_home = tmp_path / "anon_home"
    for dataset in (PASSING, FAILING):
        for table in catalog.sources[dataset].tables:
            steps.ingest(catalog, Zones(anon_home), dataset, table.name)

    with running_instance(project, tmp_path) as (port, home):
        deadline = time.time() + DEADLINE_S
        wait_for("the code location", lambda: location_loaded(port), deadline)
        time.sleep(15)  # a few sensor ticks over unchanged sources
        assert runs(port) == [], "unchanged sources must not start a run"

        customers = project / "data" / "customers.csv"
        frame = pl.read_csv(customers, infer_schema=False)
        pl.concat(
            [frame, frame.tail(1).with_columns(pl.lit("999999").alias("customer_id"))]
        ).write_csv(customers)
        changed_at = time.time()

        def retrains_finished() -> list[dict] | None:
            retrains = [r for r in runs(port) if r["jobName"].endswith("_retrain")]
            done = [r for r in retrains if r["status"] in ("SUCCESS", "FAILURE", "CANCELED")]
            return retrains if len(retrains) == 2 and len(done) == 2 else None

        retrains = wait_for("both retrain runs", retrains_finished, deadline)
        retrained_after = time.time() - changed_at
        by_job = {r["jobName"]: r["status"] for r in retrains}
        assert by_job == {f"{PASSING}_retrain": "SUCCESS", f"{FAILING}_retrain": "FAILURE"}

        released = wait_for(
            "the automated release of the passing dataset",
            lambda: latest_materialization(port, [PASSING, "release", "gaussian_copula"]),
            deadline,
        )
        assert released["runId"] not in {r["runId"] for r in retrains}
        time.sleep(20)  # more automation ticks: the failing dataset must stay unreleased
        assert latest_materialization(port, [FAILING, "release", "gaussian_copula"]) is None
        assert list((home / "release" / PASSING).glob("*/manifest.json"))
        assert not list((home / "release" / FAILING).glob("*/manifest.json"))
        retrain_runs = [r for r in runs(port) if r["jobName"].endswith("_retrain")]
        assert len(retrain_runs) == 2, "one retrain per dataset, no storm"
        print(f"file change -> both retrains finished in {retrained_after:.0f} s")
