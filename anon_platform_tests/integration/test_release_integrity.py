"""A release is exactly the bytes its gates judged: every step seals what it wrote with the
digests of what it read, the release verifies that chain and copies only the judged bytes,
and `anon verify` re-checks a release offline."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from anon_platform import evidence
from anon_platform.assets import dataset_definitions
from anon_platform.catalog import load_catalog
from anon_platform.cli.main import main as anon
from anon_platform.evidence import StaleEvidenceError
from anon_platform.pipeline import steps
from anon_platform.release import ReleaseManifest, read_audit_log, verify_release
from anon_platform.resources import AnonHome
from anon_platform.storage import Zones
from anon_platform_tests.conftest import build_project, measured_project, synthetic_only
from anon_platform_tests.dagster_processes import (
    DEMO_CUSTOMERS,
    launch_job,
    location_loaded,
    releasable_demo,
    running_instance,
    runs,
    wait_for,
)

DATASET = "bank"
GENERATOR = "gaussian_copula"
CUSTOMERS = 400
RELEASE_KEY = dg.AssetKey([DATASET, "release", GENERATOR])
SYNTHETIC = f"synthetic/{GENERATOR}"


def one_generator(plan: dict) -> None:
    synthetic_only(plan)
    plan["datasets"][0]["generators"] = [{"name": GENERATOR}]
    plan["datasets"][0]["evaluation"] = {"html": False}


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A project and an ANON_HOME on which every step up to the report ran (once per module)."""
    root = tmp_path_factory.mktemp("integrity")
    project = build_project(root / "project", CUSTOMERS, one_generator)
    home = root / "home"
    measured_project(project, home, GENERATOR)
    return project, home


@pytest.fixture
def home(measured: tuple[Path, Path], tmp_path: Path) -> Path:
    """A private copy of the measured ANON_HOME for one test."""
    copy = tmp_path / "home"
    shutil.copytree(measured[1], copy)
    return copy


@pytest.fixture
def catalog(measured: tuple[Path, Path]):
    return load_catalog(measured[0])


def released_versions(home: Path) -> list[Path]:
    folder = Zones(home).release_dataset(DATASET)
    return [p for p in folder.iterdir() if p.is_dir()] if folder.is_dir() else []


def replace_synthetic_with_holdout(home: Path) -> None:
    """The tamper experiment: real unseen rows where the synthetic tables were."""
    zones = Zones(home)
    for path in zones.prepared(DATASET, "holdout").glob("*.parquet"):
        shutil.copyfile(path, zones.synthetic(DATASET, GENERATOR) / path.name)


def test_a_fresh_chain_is_released_and_verifies_offline(catalog, home: Path) -> None:
    folder = steps.release(catalog, Zones(home), DATASET, GENERATOR)

    manifest = ReleaseManifest.read(folder)
    assert verify_release(folder) == []
    assert [link.artifact for link in manifest.chain][-3:] == [
        f"models/{GENERATOR}",
        SYNTHETIC,
        f"reports/quality_{GENERATOR}",
    ]
    synthetic = next(link for link in manifest.chain if link.artifact == SYNTHETIC)
    for name in ("customers.parquet", "transactions.parquet"):
        assert manifest.files[f"tables/{name}"].sha256 == synthetic.files[name]
    judged = {a: d for gate in manifest.gates for a, d in gate["judged"].items()}
    assert judged[SYNTHETIC] == synthetic.digest


def test_synthetic_tables_replaced_by_real_rows_are_refused(catalog, home: Path) -> None:
    replace_synthetic_with_holdout(home)

    with pytest.raises(StaleEvidenceError, match=f"{DATASET}/{SYNTHETIC} was changed"):
        steps.release(catalog, Zones(home), DATASET, GENERATOR)

    assert released_versions(home) == []
    last = read_audit_log(Zones(home), DATASET)[-1]
    assert not last["released"]
    assert "re-run" in last["reasons"][0]
    assert set(last["source_fingerprints"]) == {"customers", "transactions"}


def test_a_resampled_synthetic_table_makes_its_report_stale(catalog, home: Path) -> None:
    zones = Zones(home)
    # sampled again, differently (a deterministic re-run writes the same bytes: still fresh)
    catalog.releases[DATASET] = catalog.releases[DATASET].model_copy(update={"synthetic_rows": 350})
    steps.synthesize(catalog, zones, DATASET, GENERATOR)  # the report is not re-run

    with pytest.raises(StaleEvidenceError) as refused:
        steps.release(catalog, zones, DATASET, GENERATOR)
    assert str(refused.value).startswith(
        f"report {DATASET}/reports/quality_{GENERATOR} is stale: {DATASET}/{SYNTHETIC} changed"
    )
    assert released_versions(home) == []


def test_a_retrained_model_is_released_only_after_its_tables_and_report_are_rerun(
    catalog, home: Path
) -> None:
    zones = Zones(home)
    steps.train(catalog, zones, DATASET, GENERATOR)

    with pytest.raises(StaleEvidenceError, match=f"synthetic tables {DATASET}/{SYNTHETIC} is"):
        steps.release(catalog, zones, DATASET, GENERATOR)
    assert released_versions(home) == []

    steps.synthesize(catalog, zones, DATASET, GENERATOR)
    steps.report(catalog, zones, DATASET, GENERATOR)
    folder = steps.release(catalog, zones, DATASET, GENERATOR)
    assert verify_release(folder) == []


def test_a_changed_source_makes_the_whole_chain_stale(catalog, home: Path) -> None:
    zones = Zones(home)
    raw = zones.raw_table(DATASET, "customers")
    pl.read_parquet(raw).head(300).write_parquet(raw)  # as if re-ingested from a changed file

    with pytest.raises(StaleEvidenceError, match=f"{DATASET}/raw/customers was changed"):
        steps.release(catalog, zones, DATASET, GENERATOR)


def test_a_one_byte_change_fails_verification_naming_the_file(
    catalog, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = steps.release(catalog, Zones(home), DATASET, GENERATOR)
    assert anon(["verify", str(folder)]) == 0
    table = folder / "tables" / "transactions.parquet"
    data = bytearray(table.read_bytes())
    data[len(data) // 2] ^= 0x01
    table.write_bytes(bytes(data))
    capsys.readouterr()

    assert anon(["verify", str(folder)]) == 3
    out = capsys.readouterr().out
    assert "FAILED tables/transactions.parquet: content differs" in out
    assert "customers.parquet" not in out


def test_verify_refuses_a_folder_that_is_not_a_release(tmp_path: Path) -> None:
    assert anon(["verify", str(tmp_path)]) == 2


def test_the_release_asset_alone_refuses_tampered_tables_in_dagster(catalog, home: Path) -> None:
    replace_synthetic_with_holdout(home)

    result = dg.materialize(
        dataset_definitions(catalog, DATASET),
        selection=dg.AssetSelection.keys(RELEASE_KEY),
        resources={"anon_home": AnonHome(path=str(home))},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )

    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error.cause
    assert failure.cls_name == "StaleEvidenceError"
    assert f"{DATASET}/{SYNTHETIC} was changed" in failure.message
    assert released_versions(home) == []


def test_dagster_asset_materialize_of_the_release_refuses_tampered_tables(
    measured: tuple[Path, Path], home: Path, tmp_path: Path
) -> None:
    replace_synthetic_with_holdout(home)
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    env = {
        **os.environ,
        "ANON_HOME": str(home),
        "ANON_PROJECT_DIR": str(measured[0]),
        "DAGSTER_HOME": str(dagster_home),
    }
    command = [
        str(Path(sys.executable).parent / "dagster"),
        "asset",
        "materialize",
        "-m",
        "anon_platform.definitions",
        "--select",
        RELEASE_KEY.to_user_string(),
    ]

    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)

    assert done.returncode != 0
    assert f"{DATASET}/{SYNTHETIC} was changed" in done.stdout + done.stderr
    assert released_versions(home) == []
    assert not read_audit_log(Zones(home), DATASET)[-1]["released"]


def test_materializations_carry_their_content_digest_as_data_version(catalog, home: Path) -> None:
    result = dg.materialize(
        dataset_definitions(catalog, DATASET),
        selection=dg.AssetSelection.keys(
            dg.AssetKey([DATASET, "synthetic", GENERATOR]),
            dg.AssetKey([DATASET, "reports", f"quality_{GENERATOR}"]),
        ),
        resources={"anon_home": AnonHome(path=str(home))},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )

    versions = {
        e.asset_key.path[1]: e.materialization.tags["dagster/data_version"]
        for e in result.get_asset_materialization_events()
    }
    zones = Zones(home)
    for group, artifact in (("synthetic", SYNTHETIC), ("reports", f"reports/quality_{GENERATOR}")):
        record = evidence.read_evidence(zones, DATASET, artifact)
        assert versions[group] == record.digest.removeprefix("sha256:")[:24]
    report = evidence.read_evidence(zones, DATASET, f"reports/quality_{GENERATOR}")
    assert report.inputs[SYNTHETIC] == evidence.read_evidence(zones, DATASET, SYNTHETIC).digest


def test_an_artifact_digest_ignores_its_evidence_record_and_temporaries(tmp_path: Path) -> None:
    folder = tmp_path / "artifact"
    folder.mkdir()
    (folder / "a.parquet").write_bytes(b"one")
    before = evidence.file_digests(folder)
    evidence.seal(folder, "synthetic/x", "synthesize", {})
    (folder / ".a.parquet.tmp-123").write_bytes(b"half")

    assert evidence.file_digests(folder) == before == {"a.parquet": evidence.bytes_sha256(b"one")}


@pytest.mark.e2e
def test_two_runs_of_one_dataset_launched_together_run_one_after_the_other(
    make_project, tmp_path: Path
) -> None:
    project = make_project(customers=DEMO_CUSTOMERS, releases=releasable_demo)

    with running_instance(project, tmp_path) as (port, home):
        deadline = time.time() + 900
        wait_for("the code location", lambda: location_loaded(port), deadline)
        first = launch_job(port, f"{DATASET}_pipeline")
        second = launch_job(port, f"{DATASET}_pipeline")

        def both_ended() -> bool:
            ended = {r["runId"] for r in runs(port) if r["status"] in ("SUCCESS", "FAILURE")}
            return {first, second} <= ended

        wait_for("both pipeline runs", both_ended, deadline)
        with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
            records = [instance.get_run_record_by_id(run) for run in (first, second)]
        assert [r.dagster_run.status for r in records] == [dg.DagsterRunStatus.SUCCESS] * 2
        assert all(r.dagster_run.tags["dataset"] == DATASET for r in records)
        earlier, later = sorted(records, key=lambda r: r.start_time)
        assert later.start_time >= earlier.end_time, "the second run started before the first ended"

    releases = sorted(p.parent for p in (home / "release" / DATASET).glob("*/manifest.json"))
    assert len(releases) == 2
    for folder in releases:
        assert verify_release(folder) == [], folder


def test_a_release_is_assembled_outside_the_release_zone(
    catalog, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process killed while copying leaves nothing in the release zone: every file is
    written under the restricted zone's scratch folder and appears by one rename."""
    written: list[Path] = []
    copy = shutil.copy2

    def recording_copy(source, destination, **kwargs):
        written.append(Path(destination))
        return copy(source, destination, **kwargs)

    monkeypatch.setattr(shutil, "copy2", recording_copy)
    zones = Zones(home)
    folder = steps.release(catalog, zones, DATASET, GENERATOR)

    assert written
    assert all(zones.release_scratch(DATASET) in p.parents for p in written)
    assert not any(zones.release in p.parents for p in written)
    assert verify_release(folder) == []
    hidden = [p for p in zones.release_dataset(DATASET).iterdir() if p.name.startswith(".")]
    assert hidden == []
