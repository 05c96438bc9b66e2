"""The nightly refresh and the weekly full evaluation, both off unless releases.yml enables
them (`automation:`), with cron and timezone from there."""

from __future__ import annotations

import dagster as dg

from anon_platform.catalog import Catalog
from anon_platform.catalog.specs import ScheduleSettings
from anon_platform.jobs import EVALUATION_JOB, REFRESH_JOB


def _status(settings: ScheduleSettings) -> dg.DefaultScheduleStatus:
    return (
        dg.DefaultScheduleStatus.RUNNING if settings.enabled else dg.DefaultScheduleStatus.STOPPED
    )


def schedules(catalog: Catalog) -> list[dg.ScheduleDefinition]:
    """`nightly_refresh` (every dataset up to its gated reports) and `weekly_evaluation`
    (every report with the expensive attacks)."""
    nightly = catalog.automation.nightly_refresh
    weekly = catalog.automation.weekly_evaluation
    return [
        dg.ScheduleDefinition(
            name="nightly_refresh",
            job_name=REFRESH_JOB,
            cron_schedule=nightly.cron,
            execution_timezone=nightly.timezone,
            default_status=_status(nightly),
            description="Refresh every dataset from its sources up to the gated reports.",
        ),
        dg.ScheduleDefinition(
            name="weekly_evaluation",
            job_name=EVALUATION_JOB,
            cron_schedule=weekly.cron,
            execution_timezone=weekly.timezone,
            default_status=_status(weekly),
            description="Re-measure every quality report with the expensive attacks.",
        ),
    ]
