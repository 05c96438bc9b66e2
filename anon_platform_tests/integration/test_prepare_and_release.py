"""The train/holdout split, atomic writes, the release refusal, the DCR distance and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sdmetrics.single_table.privacy.dcr_utils import calculate_dcr

from anon_platform.catalog.schema import DatasetSchema, TableSchema
from anon_platform.catalog.specs import ColumnType
from anon_platform.common.frames import sdv_metadata, to_pandas
from anon_platform.errors import ReleaseError
from anon_platform.evaluation.distance import GowerEncoder, dcr_share, nearest_distances
from anon_platform.evidence import Evidence
from anon_platform.gates import Expectation, GateResult
from anon_platform.pipeline import stored
from anon_platform.prepare import split_dataset
from anon_platform.release import ReleaseSource, write_release
from anon_platform.storage import Zones, atomic_folder, file_sha256
from anon_platform_tests.conftest import REPO, staged_project

DATASET = "bank"
ANON = Path(sys.executable).with_name("anon")


@pytest.fixture
def staged(make_project, anon_home: Path) -> tuple[DatasetSchema, dict[str, pl.DataFrame], float]:
    """Schema, staged tables and configured holdout fraction of the 600-customer demo."""
    catalog = staged_project(make_project(customers=600), anon_home)
    return (
        catalog.dataset_schema(DATASET),
        stored.staged_tables(catalog, Zones(anon_home), DATASET),
        catalog.releases[DATASET].holdout_fraction,
    )


# --- the split ---------------------------------------------------------------------------------


def test_split_is_deterministic_for_a_seed(staged) -> None:
    schema, tables, fraction = staged
    first = split_dataset(schema, tables, fraction, seed=5)
    second = split_dataset(schema, tables, fraction, seed=5)
    for left, right in zip(first, second, strict=True):
        assert list(left) == list(right)
        for name in left:
            assert left[name].equals(right[name]), name
    other = split_dataset(schema, tables, fraction, seed=6)
    assert not first[1]["customers"].equals(other[1]["customers"])


def test_split_is_stratified_on_the_target(staged) -> None:
    schema, tables, fraction = staged
    train, holdout = split_dataset(schema, tables, fraction, seed=0)
    train_rate = train["customers"]["churned"].mean()
    holdout_rate = holdout["customers"]["churned"].mean()
    assert abs(train_rate - holdout_rate) <= 0.03


@pytest.mark.parametrize("fraction", [None, 0.1, 0.35])
def test_holdout_fraction_is_the_configured_one(staged, fraction: float | None) -> None:
    schema, tables, configured = staged
    wanted = configured if fraction is None else fraction
    train, holdout = split_dataset(schema, tables, wanted, seed=0)
    total = tables["customers"].height
    assert train["customers"].height + holdout["customers"].height == total
    assert abs(holdout["customers"].height / total - wanted) <= 0.01


def test_split_children_follow_their_parent(staged) -> None:
    schema, tables, fraction = staged
    train, holdout = split_dataset(schema, tables, fraction, seed=0)
    train_ids = train["customers"]["customer_id"].implode()
    holdout_ids = holdout["customers"]["customer_id"].implode()
    assert train["transactions"]["customer_id"].is_in(train_ids).all()
    assert holdout["transactions"]["customer_id"].is_in(holdout_ids).all()
    assert (
        train["transactions"].height + holdout["transactions"].height
        == tables["transactions"].height
    )


# --- atomic folders ----------------------------------------------------------------------------


class Boom(RuntimeError):
    pass


def test_atomic_folder_leaves_nothing_when_the_block_raises(tmp_path: Path) -> None:
    target = tmp_path / "zone" / "folder"
    with pytest.raises(Boom), atomic_folder(target) as tmp:
        (tmp / "half.txt").write_text("half written")
        raise Boom
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_atomic_folder_replaces_an_existing_folder_whole(tmp_path: Path) -> None:
    target = tmp_path / "folder"
    target.mkdir()
    (target / "old.txt").write_text("old")
    (target / "shared.txt").write_text("old shared")
    with atomic_folder(target) as tmp:
        (tmp / "new.txt").write_text("new")
        (tmp / "shared.txt").write_text("new shared")
    assert sorted(p.name for p in target.iterdir()) == ["new.txt", "shared.txt"]
    assert (target / "shared.txt").read_text() == "new shared"
    assert [p.name for p in tmp_path.iterdir()] == ["folder"]


def test_atomic_folder_keeps_the_existing_folder_when_the_replacement_fails(
    tmp_path: Path,
) -> None:
    target = tmp_path / "folder"
    target.mkdir()
    (target / "old.txt").write_bytes(b"old bytes")
    with pytest.raises(Boom), atomic_folder(target) as tmp:
        (tmp / "new.txt").write_text("new")
        raise Boom
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    assert (target / "old.txt").read_bytes() == b"old bytes"
    assert [p.name for p in tmp_path.iterdir()] == ["folder"]


# --- release refusal ---------------------------------------------------------------------------


def passed_gate() -> GateResult:
    return GateResult("synthetic tables", (Expectation("customers: table present", True, 1, 1),))


def failed_gate() -> GateResult:
    return GateResult(
        "scorecard",
        (Expectation("quality >= quality_min", False, 0.5, 0.7, "short by 0.2000"),),
    )


@pytest.mark.parametrize(
    "gates",
    [[failed_gate()], [passed_gate(), failed_gate()], []],
    ids=["failed", "one-of-two-failed", "no-gate"],
)
def test_write_release_refuses_unless_every_gate_passed(
    anon_home: Path, gates: list[GateResult]
) -> None:
    zones = Zones(anon_home)
    synthetic = zones.synthetic(DATASET, "gaussian_copula")
    synthetic.mkdir(parents=True)
    pl.DataFrame({"customer_id": [1, 2], "age": [30, 40]}).write_parquet(
        synthetic / "customers.parquet"
    )
    files = {
        "tables/customers.parquet": ReleaseSource(
            "synthetic/gaussian_copula",
            "customers.parquet",
            file_sha256(synthetic / "customers.parquet"),
        )
    }
    model = Evidence(
        artifact="models/gaussian_copula",
        step="train",
        files={},
        digest="sha256:0",
        inputs={},
        recorded_at="2026-12-01T00:00:00Z",
    )
    with pytest.raises(ReleaseError, match="not released"):
        write_release(
            zones, DATASET, "gaussian_copula", files, gates, {"customers": "sha256:0"}, [], model
        )
    assert not zones.release.exists()


# --- DCR ---------------------------------------------------------------------------------------


@pytest.fixture
def complete_customers(make_project, anon_home: Path) -> tuple[TableSchema, pd.DataFrame]:
    """The staged customers of the 300-customer demo (modelled columns, rows without nulls)."""
    catalog = staged_project(make_project(customers=300), anon_home, models=("stg_customers",))
    table = catalog.dataset_schema(DATASET).table("customers")
    staged = pl.read_parquet(Zones(anon_home).staging_model(DATASET, "stg_customers"))
    frame = to_pandas(staged, table.modelled_columns).dropna().reset_index(drop=True)
    assert len(frame) >= 250
    return table, frame


def assert_dcr_agrees_with_sdmetrics(
    table: TableSchema, data: pd.DataFrame, reference: pd.DataFrame
) -> None:
    columns = table.modelled_columns
    metadata = sdv_metadata(table, columns, reference).to_dict()["tables"][table.name]
    encoder = GowerEncoder(columns).fit(reference)
    ours = nearest_distances(encoder.transform(data), encoder.transform(reference))
    theirs = calculate_dcr(dataset=data, reference_dataset=reference, metadata=metadata)
    differ = np.flatnonzero(np.abs(ours - theirs.to_numpy()) > 1e-6)
    outside = {
        c.name: (c.type.value, metadata["columns"][c.name]["sdtype"])
        for c in columns
        if metadata["columns"][c.name]["sdtype"] == "numerical"
        and not data[c.name].between(reference[c.name].min(), reference[c.name].max()).all()
    }
    assert differ.size == 0, (
        f"{differ.size} of {len(data)} rows differ by up to "
        f"{np.abs(ours - theirs.to_numpy()).max():.4f}; numeric columns (catalog type, "
        f"sdtype) with values outside the reference range: {outside}"
    )


def test_gower_distances_agree_with_sdmetrics_dcr(complete_customers) -> None:
    table, frame = complete_customers
    half = len(frame) // 2
    data = frame.iloc[:half].reset_index(drop=True)
    reference = frame.iloc[half:].reset_index(drop=True)
    assert_dcr_agrees_with_sdmetrics(table, data, reference)
    assert_dcr_agrees_with_sdmetrics(table, reference, data)


def test_gower_distances_agree_with_sdmetrics_outside_the_reference_range(
    complete_customers,
) -> None:
    """Per-column differences are clipped at 1 (distance.py's docstring and SDMetrics), also
    for query values beyond the reference's range, as synthetic rows often are."""
    table, frame = complete_customers
    ordered = frame.sort_values("income", kind="stable").reset_index(drop=True)
    half = len(ordered) // 2
    poorer = ordered.iloc[:half].reset_index(drop=True)
    richer = ordered.iloc[half:].reset_index(drop=True)
    assert_dcr_agrees_with_sdmetrics(table, richer, poorer)


@pytest.fixture
def customer_thirds(make_project, anon_home: Path) -> tuple[pd.DataFrame, ...]:
    """1,500 real customers (modelled columns) shuffled into three disjoint thirds."""
    catalog = staged_project(make_project(customers=1500), anon_home, models=("stg_customers",))
    table = catalog.dataset_schema(DATASET).table("customers")
    staged = pl.read_parquet(Zones(anon_home).staging_model(DATASET, "stg_customers"))
    frame = to_pandas(staged.sample(fraction=1.0, shuffle=True, seed=1), table.modelled_columns)
    third = len(frame) // 3
    return (
        table.modelled_columns,
        frame.iloc[:third].reset_index(drop=True),
        frame.iloc[third : 2 * third].reset_index(drop=True),
        frame.iloc[2 * third :].reset_index(drop=True),
    )


def test_dcr_share_of_copied_train_rows_is_far_above_half(customer_thirds) -> None:
    columns, train, holdout, _ = customer_thirds
    result = dcr_share(train, holdout, train.copy(), columns, max_rows=2000, seed=0)
    assert result["dcr_share"] > 0.9
    assert result["dcr_share_p_value"] < 0.001


def test_synthetic_rows_sharing_one_nearest_row_are_one_piece_of_evidence(
    customer_thirds,
) -> None:
    """500 synthetic copies of one training row: every one is closer to train (share 1.0), but
    whether that row was in train or holdout is a single coin flip under no membership signal,
    so the share is not significant (a binomial test over 500 'trials' would say p < 1e-100)."""
    columns, train, holdout, _ = customer_thirds
    copies = pd.concat([train.iloc[[0]]] * 500, ignore_index=True)
    result = dcr_share(train.iloc[:500], holdout.iloc[:500], copies, columns, 500, seed=0)
    assert result["dcr_share"] == 1.0
    assert result["dcr_share_p_value"] > 0.3


def test_dcr_share_of_unseen_real_rows_is_near_half(customer_thirds) -> None:
    columns, train, holdout, unseen = customer_thirds
    result = dcr_share(train, holdout, unseen, columns, max_rows=2000, seed=0)
    assert 0.4 <= result["dcr_share"] <= 0.6
    assert any(c.type == ColumnType.FLOAT for c in columns)


# --- the CLI -----------------------------------------------------------------------------------


def run_anon(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ANON_PROJECT_DIR"}
    return subprocess.run(
        [str(ANON), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def test_cli_validate_accepts_the_shipped_project() -> None:
    done = run_anon("validate")
    assert done.returncode == 0, done.stderr
    assert "catalog OK" in done.stdout


def test_cli_validate_names_releases_yml_for_an_unknown_model(make_project) -> None:
    def unknown_model(plan: dict) -> None:
        plan["datasets"][0]["tables"][0]["model"] = "stg_no_such_model"

    project = make_project(customers=50, releases=unknown_model)
    done = run_anon("--project", str(project), "validate")
    assert done.returncode == 2
    assert "releases.yml" in done.stderr
    assert "stg_no_such_model" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "catalog OK" not in done.stdout
