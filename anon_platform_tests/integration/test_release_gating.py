"""Releases happen only downstream of passed blocking checks, inside a run and under declarative
automation, and every attempt leaves a line in the release zone's audit log."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from anon_platform.assets import dataset_definitions
from anon_platform.catalog import load_catalog
from anon_platform.release import read_audit_log
from anon_platform.resources import AnonHome
from anon_platform.storage import Zones
from anon_platform_tests.conftest import build_project, synthetic_only

DATASET = "bank"
GENERATOR = "gaussian_copula"
RELEASE_KEY = dg.AssetKey([DATASET, "release", GENERATOR])
CUSTOMERS = 400


def auto_release(strict: bool):
    def edit(plan: dict) -> None:
        synthetic_only(plan)
        plan["datasets"][0]["auto_release"] = True
        plan["datasets"][0]["generators"] = [{"name": GENERATOR}]
        if strict:
            plan["datasets"][0]["thresholds"]["quality_min"] = 0.999

    return edit


def release_defs(project: Path, home: Path) -> tuple[list, dg.Definitions]:
    catalog = load_catalog(project)
    definitions = dataset_definitions(catalog, DATASET)
    defs = dg.Definitions(
        assets=[d for d in definitions if not isinstance(d, dg.AssetChecksDefinition)],
        asset_checks=[d for d in definitions if isinstance(d, dg.AssetChecksDefinition)],
        resources={"anon_home": AnonHome(path=str(home))},
    )
    return definitions, defs


def materialize_upstream(
    definitions: list, home: Path, instance: dg.DagsterInstance
) -> dg.ExecuteInProcessResult:
    """Everything but the release, with its blocking checks."""
    return dg.materialize(
        definitions,
        instance=instance,
        resources={"anon_home": AnonHome(path=str(home))},
        selection=dg.AssetSelection.key_prefixes([DATASET]) - dg.AssetSelection.keys(RELEASE_KEY),
        raise_on_error=False,
    )


def releases_requested_after_upstream_run(project: Path, home: Path) -> int:
    """How many release runs declarative automation requests once everything upstream of the
    release (and its checks) was materialized; a first tick before that sets the cursor."""
    definitions, defs = release_defs(project, home)
    instance = dg.DagsterInstance.ephemeral()
    selection = dg.AssetSelection.keys(RELEASE_KEY)
    first = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, asset_selection=selection
    )
    materialize_upstream(definitions, home, instance)
    second = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, asset_selection=selection, cursor=first.cursor
    )
    return second.get_num_requested(RELEASE_KEY)


def test_automation_requests_the_release_once_every_blocking_check_passed(
    tmp_path: Path,
) -> None:
    project = build_project(tmp_path / "project", CUSTOMERS, auto_release(strict=False))
    assert releases_requested_after_upstream_run(project, tmp_path / "home") == 1


def test_automation_does_not_release_after_a_failed_blocking_check(tmp_path: Path) -> None:
    project = build_project(tmp_path / "project", CUSTOMERS, auto_release(strict=True))
    home = tmp_path / "home"
    assert releases_requested_after_upstream_run(project, home) == 0
    assert not list((home / "release").glob(f"{DATASET}/*/manifest.json"))


def test_release_is_not_automated_unless_the_dataset_allows_it() -> None:
    catalog = load_catalog()
    assert not catalog.releases[DATASET].auto_release
    release = next(
        d
        for d in dataset_definitions(catalog, DATASET)
        if isinstance(d, dg.AssetsDefinition) and RELEASE_KEY in d.keys
    )
    assert release.automation_conditions_by_key.get(RELEASE_KEY) is None


def test_a_blocked_release_is_audited_with_the_failed_expectation(tmp_path: Path) -> None:
    project = build_project(tmp_path / "project", CUSTOMERS, auto_release(strict=True))
    home = tmp_path / "home"
    definitions, _ = release_defs(project, home)
    materialize_upstream(definitions, home, dg.DagsterInstance.ephemeral())
    entries = read_audit_log(Zones(home), DATASET)
    assert entries, "a failed gate must leave an audit line"
    last = entries[-1]
    assert last["released"] is False
    assert last["generator"] == GENERATOR
    assert any("quality >= quality_min" in reason for reason in last["reasons"])
    assert not [p for p in (home / "release" / DATASET).iterdir() if p.name != "audit.jsonl"]


def test_a_release_is_audited_with_its_version_and_fingerprints(tmp_path: Path) -> None:
    project = build_project(tmp_path / "project", CUSTOMERS, auto_release(strict=False))
    home = tmp_path / "home"
    catalog = load_catalog(project)
    result = dg.materialize(
        dataset_definitions(catalog, DATASET),
        instance=dg.DagsterInstance.ephemeral(),
        resources={"anon_home": AnonHome(path=str(home))},
        raise_on_error=False,
    )
    assert result.success
    last = read_audit_log(Zones(home), DATASET)[-1]
    assert last["released"] is True
    assert (home / "release" / DATASET / last["version"] / "manifest.json").is_file()
    assert set(last["source_fingerprints"]) == {"customers", "transactions"}
    raw = (home / "release" / DATASET / "audit.jsonl").read_text()
    emails = json.dumps(raw)
    assert "@" not in emails
