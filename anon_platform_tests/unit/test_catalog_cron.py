"""releases.yml's cron strings are checked with the catalog, without Dagster: the catalog
accepts a cron string exactly when a Dagster schedule does, for the forms releases.yml uses
(five fields of numbers, names, lists, ranges and steps, and the @ aliases)."""

from __future__ import annotations

import dagster as dg
import pytest

from anon_platform.catalog.cron import is_valid_cron

CRONS = [
    "0 2 * * *",
    "0 4 * * 0",
    "*/15 * * * *",
    "0 9-17/2 * * mon-fri",
    "0 0 1 jan *",
    "0 0 1,15 * *",
    "0 0 29 2 *",
    "0 0 * * 7",
    "@daily",
    "@weekly",
    "@yearly",
    # refused by both
    "every sunday",
    "* * * *",
    "* * * * * *",
    "60 * * * *",
    "0 24 * * *",
    "0 0 0 * *",
    "0 0 * 13 *",
    "0 0 * * 8",
    "*/0 * * * *",
    "0 0 30 2 *",
    "0 0 31 feb *",
]


def dagster_accepts(cron: str) -> bool:
    try:
        dg.ScheduleDefinition(name="probe", cron_schedule=cron, job_name="probe")
    except dg.DagsterInvalidDefinitionError:
        return False
    return True


@pytest.mark.parametrize("cron", CRONS)
def test_the_catalog_accepts_a_cron_exactly_when_dagster_does(cron: str) -> None:
    assert is_valid_cron(cron) == dagster_accepts(cron)
