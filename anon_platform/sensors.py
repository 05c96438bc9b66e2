"""The `source_changes` sensor: one retrain run per changed dataset, never a storm."""

from __future__ import annotations

import json

import dagster as dg

from anon_platform.automation import check_sources
from anon_platform.catalog import Catalog
from anon_platform.jobs import DATASET_TAG, retrain_job_name
from anon_platform.resources import AnonHome

SOURCE_DIGEST_TAG = "anon/source_digest"


def source_changes_sensor(
    catalog: Catalog, retrain_jobs: list[dg.UnresolvedAssetJobDefinition]
) -> dg.SensorDefinition:
    """Fingerprints every source of every dataset each tick; a dataset whose sources differ
    from what was last ingested gets exactly one retrain run (run key = dataset + digest).
    A source that cannot be read is reported in the tick's skip reason and logs."""
    settings = catalog.automation.source_sensor

    @dg.sensor(
        name="source_changes",
        jobs=retrain_jobs,
        minimum_interval_seconds=settings.interval_seconds,
        default_status=(
            dg.DefaultSensorStatus.RUNNING if settings.enabled else dg.DefaultSensorStatus.STOPPED
        ),
        description="Requests one retrain run per dataset whose raw sources changed since they "
        "were last ingested (files: size and mtime, confirmed by a content hash; SQL: a count "
        "and checksum query).",
    )
    def source_changes(context: dg.SensorEvaluationContext, anon_home: AnonHome):
        cursor = json.loads(context.cursor) if context.cursor else {}
        zones = anon_home.zones()
        requests, problems = [], []
        for dataset in catalog.releases:
            state = cursor.get(dataset, {})
            check = check_sources(catalog, zones, dataset, state)
            if check.unreadable:
                problems.append(f"{dataset}: {check.unreadable}")
                context.log.warning(f"skipped {dataset}: {check.unreadable}")
                continue
            state["fingerprints"] = check.fingerprints
            if check.needs_retrain and check.digest:
                state["requested"] = check.digest
                requests.append(
                    dg.RunRequest(
                        run_key=f"{dataset}:{check.digest[:16]}",
                        job_name=retrain_job_name(dataset),
                        tags={DATASET_TAG: dataset, SOURCE_DIGEST_TAG: check.digest[:16]},
                    )
                )
            cursor[dataset] = state
        new_cursor = json.dumps(cursor, sort_keys=True)
        if requests:
            return dg.SensorResult(run_requests=requests, cursor=new_cursor)
        reason = "; ".join(problems) if problems else "no source changed"
        return dg.SensorResult(skip_reason=dg.SkipReason(reason), cursor=new_cursor)

    return source_changes


def release_automation_sensors(catalog: Catalog) -> list[dg.AutomationConditionSensorDefinition]:
    """One sensor per dataset evaluating its release assets' automation conditions (releases.yml
    `auto_release`): on by default exactly when the dataset allows automated releases. Its runs
    carry the dataset tag, so they queue behind any other run of the dataset. Without it
    Dagster's default automation sensor would have to be switched on by hand in the UI."""
    return [
        dg.AutomationConditionSensorDefinition(
            f"{dataset}_release_automation",
            target=dg.AssetSelection.groups("release") & dg.AssetSelection.key_prefixes([dataset]),
            run_tags={DATASET_TAG: dataset},
            default_status=(
                dg.DefaultSensorStatus.RUNNING
                if release.auto_release
                else dg.DefaultSensorStatus.STOPPED
            ),
            minimum_interval_seconds=30,
            description=f"Releases `{dataset}` by declarative automation where releases.yml sets "
            "auto_release: true, once every blocking check upstream passed.",
        )
        for dataset, release in catalog.releases.items()
    ]
