"""The nightly refresh and the weekly full evaluation, both off unless releases.yml enables
them (`automation:`), with cron and timezone from there."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import dagster as dg

from anon_platform.catalog import Catalog
from anon_platform.catalog.specs import ScheduleSettings
from anon_platform.jobs import DATASET_TAG, EVALUATION_JOB, REFRESH_JOB


def _status(settings: ScheduleSettings) -> dg.DefaultScheduleStatus:
    return (
        dg.DefaultScheduleStatus.RUNNING if settings.enabled else dg.DefaultScheduleStatus.STOPPED
    )


def _one_run_per_dataset(
    keys_by_dataset: dict[str, list[dg.AssetKey]], wanted: Callable[[dg.AssetKey], bool]
) -> Callable[[dg.ScheduleEvaluationContext], Iterator[dg.RunRequest]]:
    """A schedule body asking for one run per dataset, tagged with it: the instance runs at
    most one run per dataset at a time (`dataset` tag limit), so a scheduled refresh queues
    behind a sensor's retrain of the same dataset instead of writing its files meanwhile."""

    def requests(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest]:
        for dataset, keys in keys_by_dataset.items():
            selected = [k for k in keys if wanted(k)]
            if selected:
                yield dg.RunRequest(tags={DATASET_TAG: dataset}, asset_selection=selected)

    return requests


def schedules(
    catalog: Catalog, keys_by_dataset: dict[str, list[dg.AssetKey]]
) -> list[dg.ScheduleDefinition]:
    """`nightly_refresh` (every dataset up to its gated reports) and `weekly_evaluation`
    (every report with the expensive attacks), each as one run per dataset."""
    nightly = catalog.automation.nightly_refresh
    weekly = catalog.automation.weekly_evaluation
    return [
        dg.ScheduleDefinition(
            name="nightly_refresh",
            job_name=REFRESH_JOB,
            cron_schedule=nightly.cron,
            execution_timezone=nightly.timezone,
            default_status=_status(nightly),
            execution_fn=_one_run_per_dataset(keys_by_dataset, lambda k: k.path[1] != "release"),
            description="Refresh every dataset from its sources up to the gated reports "
            "(one run per dataset).",
        ),
        dg.ScheduleDefinition(
            name="weekly_evaluation",
            job_name=EVALUATION_JOB,
            cron_schedule=weekly.cron,
            execution_timezone=weekly.timezone,
            default_status=_status(weekly),
            execution_fn=_one_run_per_dataset(keys_by_dataset, lambda k: k.path[1] == "reports"),
            description="Re-measure every quality report with the expensive attacks (one run "
            "per dataset).",
        ),
    ]
