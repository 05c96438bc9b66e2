"""The code location: one Definitions object built from the catalog."""

from __future__ import annotations

import dagster as dg

from anon_platform.assets import dataset_definitions
from anon_platform.catalog import Catalog, load_catalog
from anon_platform.executors import deployment_executor
from anon_platform.jobs import evaluation_job, pipeline_job, refresh_job, retrain_job
from anon_platform.resources import AnonHome
from anon_platform.schedules import schedules
from anon_platform.sensors import release_automation_sensors, source_changes_sensor


def build_definitions(
    catalog: Catalog, anon_home: str = "", executor: dg.ExecutorDefinition | None = None
) -> dg.Definitions:
    """Assets, checks, jobs, the source sensor and the schedules of every dataset in `catalog`,
    on the given ANON_HOME; jobs run on `executor`, else on the one ANON_EXECUTOR names
    (anon_platform/executors.py), else on Dagster's default."""
    assets, checks = [], []
    keys_by_dataset: dict[str, list[dg.AssetKey]] = {}
    for dataset in catalog.releases:
        for definition in dataset_definitions(catalog, dataset):
            if isinstance(definition, dg.AssetChecksDefinition):
                checks.append(definition)
            else:
                assets.append(definition)
                keys_by_dataset.setdefault(dataset, []).extend(definition.keys)
    retrain_jobs = [retrain_job(dataset) for dataset in catalog.releases]
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[
            *(pipeline_job(dataset) for dataset in catalog.releases),
            *retrain_jobs,
            refresh_job(),
            evaluation_job(),
        ],
        sensors=[
            source_changes_sensor(catalog, retrain_jobs),
            *release_automation_sensors(catalog),
        ],
        schedules=schedules(catalog, keys_by_dataset),
        resources={"anon_home": AnonHome(path=anon_home)},
        executor=executor or deployment_executor(),
    )


defs = build_definitions(load_catalog())
