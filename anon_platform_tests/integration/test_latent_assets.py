"""The latent assets on a small copy of the demo project: encoder, codes with the blocking latent
gate, and the release of codes and encoder (never the decoder) — or nothing when the gate fails."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest

from anon_platform.catalog import load_catalog
from anon_platform.catalog.specs import SHIPPED_LATENT_PRIVACY, SHIPPED_LATENT_SHAPE
from anon_platform.definitions import build_definitions
from anon_platform.errors import CatalogError, ReleaseError
from anon_platform.latent.noise import analytic_sigma
from anon_platform.pipeline import latent_steps
from anon_platform.storage import Zones, read_json
from anon_platform_tests.conftest import build_project

DATASET = "bank"
CUSTOMERS = 600
ENCODER = dg.AssetKey([DATASET, "models", "encoder"])
CODES = dg.AssetKey([DATASET, "latent", "codes"])
RELEASE = dg.AssetKey([DATASET, "release", "latent"])
UPSTREAM = [
    dg.AssetKey([DATASET, "raw", "customers"]),
    dg.AssetKey([DATASET, "raw", "transactions"]),
    dg.AssetKey([DATASET, "staging", "stg_customers"]),
    dg.AssetKey([DATASET, "staging", "stg_transactions"]),
    dg.AssetKey([DATASET, "prepared", "train"]),
    dg.AssetKey([DATASET, "prepared", "holdout"]),
]
LENIENT = {
    "utility_drop_max": 1.0,
    "reconstruction_advantage_max": 1.0,
    "attribute_inference_gain_max": 1.0,
}


def latent_plan(thresholds: dict, dp: dict | None = None) -> Callable[[dict], None]:
    def edit(plan: dict) -> None:
        dataset = plan["datasets"][0]
        dataset["encode"] = True
        dataset["latent"] = {"epochs": 10, "thresholds": thresholds}
        if dp:
            dataset["latent"]["dp"] = dp

    return edit


def run_latent(project: Path, home: Path) -> dg.ExecuteInProcessResult:
    """Materialize raw -> release/latent (and the latent gate) of the bank dataset."""
    job = build_definitions(load_catalog(project), str(home)).resolve_job_def("bank_pipeline")
    return job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        asset_selection=[*UPSTREAM, ENCODER, CODES, RELEASE],
        raise_on_error=False,
    )


def materialized(result: dg.ExecuteInProcessResult) -> dict[dg.AssetKey, dict]:
    return {
        e.asset_key: e.materialization.metadata for e in result.get_asset_materialization_events()
    }


def latent_gate(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.asset_key == CODES]
    return evaluation


def release_versions(home: Path) -> list[str]:
    folder = home / "release" / DATASET
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() or p.name == "LATEST")


@dataclass(frozen=True)
class Run:
    project: Path
    home: Path
    result: dg.ExecuteInProcessResult

    @property
    def release_folder(self) -> Path:
        latest = self.home / "release" / DATASET / "LATEST"
        return latest.parent / latest.read_text().strip()


@pytest.fixture(scope="module")
def passing(tmp_path_factory: pytest.TempPathFactory) -> Run:
    base = tmp_path_factory.mktemp("latent_run")
    project = build_project(base / "project", CUSTOMERS, latent_plan(LENIENT))
    home = base / "home"
    home.mkdir()
    return Run(project, home, run_latent(project, home))


def test_latent_assets_materialize_through_the_release_when_the_gate_passes(
    passing: Run,
) -> None:
    assert passing.result.success
    assert {ENCODER, CODES, RELEASE} <= set(materialized(passing.result))
    assert latent_gate(passing.result).passed


def test_latent_gate_metadata_lists_every_expectation_with_observed_and_threshold(
    passing: Run,
) -> None:
    metadata = latent_gate(passing.result).metadata
    entries = {
        name.split(" ", 1)[1]: value.value for name, value in metadata.items() if name[:2].isdigit()
    }
    assert set(entries) == {
        "utility_drop <= utility_drop_max",
        "reconstruction_advantage <= reconstruction_advantage_max",
        "attribute_inference_gain <= attribute_inference_gain_max",
        "linkage_qi_top1 (reported)",
        "active_set_unique_share (reported)",
    }
    report = read_json(Zones(passing.home).latent(DATASET) / "report.json")
    utility = entries["utility_drop <= utility_drop_max"]
    assert utility["observed"] == pytest.approx(report["scorecard"]["utility_drop"])
    assert utility["threshold"] == 1.0
    assert all(e["passed"] for e in entries.values())


def test_encoder_asset_is_a_gpu_pool_pytorch_model_with_card_metadata(passing: Run) -> None:
    definitions = build_definitions(load_catalog(passing.project), str(passing.home))
    encoder_def = definitions.resolve_assets_def(ENCODER)
    spec = next(iter(encoder_def.specs))
    assert spec.group_name == "models"
    assert spec.kinds == {"pytorch"}
    assert spec.tags["sensitivity"] == "restricted"
    assert encoder_def.op.pool == "gpu"
    metadata = materialized(passing.result)[ENCODER]
    train = pl.read_parquet(Zones(passing.home).prepared(DATASET, "train") / "customers.parquet")
    assert metadata["dagster/row_count"].value == train.height
    columns = [c.name for c in metadata["dagster/column_schema"].value.columns]
    assert columns == ["age", "postcode_district", "gender", "occupation", "income", "credit_score"]
    assert isinstance(metadata["reconstruction/income/r2"], dg.FloatMetadataValue)
    assert isinstance(metadata["dead_unit_share"], dg.FloatMetadataValue)


def test_codes_table_holds_both_splits_codes_and_target_but_no_key(passing: Run) -> None:
    codes = pl.read_parquet(Zones(passing.home).latent(DATASET) / "codes.parquet")
    assert codes.height == CUSTOMERS
    assert codes["split"].value_counts()["count"].sum() == CUSTOMERS
    assert set(codes["split"].unique()) == {"train", "holdout"}
    code_columns = [c for c in codes.columns if c.startswith("code_")]
    assert len(code_columns) == 256
    assert "churned" in codes.columns
    assert "customer_id" not in codes.columns
    matrix = codes.select(code_columns).to_numpy()
    assert ((matrix != 0).sum(axis=1) == 13).all()
    metadata = materialized(passing.result)[CODES]
    assert metadata["dagster/row_count"].value == CUSTOMERS
    assert isinstance(metadata["scorecard/reconstruction_advantage_max"], dg.FloatMetadataValue)


def test_release_holds_codes_encoder_and_a_no_guarantee_manifest_but_no_decoder(
    passing: Run,
) -> None:
    folder = passing.release_folder
    files = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert {
        "tables/codes.parquet",
        "encoder/encoder.pt2",
        "encoder/schema.json",
        "encoder/encode_file.py",
        "report.json",
        "manifest.json",
    } <= files
    assert not any("decoder" in name for name in files)
    assert (Zones(passing.home).decoder(DATASET) / "decoder.pt").is_file()
    manifest = read_json(folder / "manifest.json")
    assert manifest["kind"] == "latent"
    assert manifest["privacy"]["differential_privacy"] is None
    assert "no formal privacy guarantee" in manifest["privacy"]["note"]
    released = pl.read_parquet(folder / "tables" / "codes.parquet")
    stored = pl.read_parquet(Zones(passing.home).latent(DATASET) / "codes.parquet")
    assert released.equals(stored)
    metadata = materialized(passing.result)[RELEASE]
    assert metadata["dagster/row_count"].value == CUSTOMERS
    assert "Formal guarantee: none" in metadata["summary"].value
    assert manifest["metrics"]["utility_drop"] == pytest.approx(
        read_json(folder / "report.json")["scorecard"]["utility_drop"]
    )


def test_with_dp_the_manifest_records_mechanism_clip_norm_and_sigma(
    passing: Run, make_project, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(passing.home, home)
    dp = {"epsilon": 2.0, "delta": 1e-5, "clip": 1.0}
    catalog = load_catalog(make_project(customers=CUSTOMERS, releases=latent_plan(LENIENT, dp)))
    zones = Zones(home)
    plain = pl.read_parquet(zones.latent(DATASET) / "codes.parquet")
    frame, report = latent_steps.encode(catalog, zones, DATASET)
    folder = latent_steps.release(catalog, zones, DATASET)

    privacy = read_json(folder / "manifest.json")["privacy"]["differential_privacy"]
    assert privacy["mechanism"] == "gaussian (analytic)"
    assert privacy["epsilon"] == 2.0 and privacy["delta"] == 1e-5
    assert privacy["clip_norm"] == 1.0
    assert privacy["sigma"] == pytest.approx(analytic_sigma(2.0, 1e-5, 2.0))
    assert report["privacy"]["differential_privacy"] == privacy
    noisy = latent_steps.code_matrix(frame)
    assert ((noisy != 0).sum(axis=1) == 13).all()
    assert not np.array_equal(
        np.sort(noisy, axis=None), np.sort(latent_steps.code_matrix(plain), axis=None)
    )


def test_failing_latent_gate_blocks_the_release_inside_and_outside_dagster(
    make_project, anon_home: Path
) -> None:
    strict = {**LENIENT, "reconstruction_advantage_max": 0.0}
    project = make_project(customers=CUSTOMERS, releases=latent_plan(strict))
    result = run_latent(project, anon_home)

    assert not result.success
    gate = latent_gate(result)
    assert not gate.passed
    failed = gate.metadata["01 reconstruction_advantage <= reconstruction_advantage_max"].value
    assert failed["passed"] is False and failed["threshold"] == 0.0
    assert failed["observed"] > 0.0
    assert CODES in materialized(result)
    assert RELEASE not in materialized(result)
    assert release_versions(anon_home) == []

    with pytest.raises(ReleaseError, match="latent"):
        latent_steps.release(load_catalog(project), Zones(anon_home), DATASET)
    assert release_versions(anon_home) == []


def test_releases_yml_refuses_a_latent_table_outside_the_release(make_project) -> None:
    def unknown_table(plan: dict) -> None:
        plan["datasets"][0]["latent"] = {"table": "accounts"}

    with pytest.raises(CatalogError, match=r"latent\.table 'accounts' is not a table"):
        load_catalog(make_project(customers=50, releases=unknown_table))


def test_releases_yml_refuses_an_active_fraction_above_ten_percent(make_project) -> None:
    def too_dense(plan: dict) -> None:
        plan["datasets"][0]["latent"] = {"active_fraction": 0.2}

    with pytest.raises(CatalogError, match=r"latent\.active_fraction"):
        load_catalog(make_project(customers=50, releases=too_dense))


def test_the_shipped_privacy_trained_setting_runs_through_the_steps_with_k_anonymous_codes(
    passing: Run, make_project, tmp_path: Path
) -> None:
    """The demo's latent setting (releases.yml: SHIPPED_LATENT_PRIVACY) through train, encode,
    gate and release: every released training code is shared by >= k training rows."""

    def shipped(plan: dict) -> None:
        dataset = plan["datasets"][0]
        dataset["encode"] = True
        dataset["latent"] = {
            **SHIPPED_LATENT_SHAPE,
            "epochs": 5,
            "privacy": SHIPPED_LATENT_PRIVACY.model_dump(mode="json"),
            "thresholds": LENIENT,
        }

    home = tmp_path / "home"
    shutil.copytree(passing.home, home)
    catalog = load_catalog(make_project(customers=CUSTOMERS, releases=shipped))
    zones = Zones(home)
    card = latent_steps.train(catalog, zones, DATASET)
    frame, report = latent_steps.encode(catalog, zones, DATASET)
    k = SHIPPED_LATENT_PRIVACY.k_anonymous
    assert card["privacy_training"]["codebook"]["min_rows_per_code"] >= k
    train_codes = latent_steps.code_matrix(frame.filter(pl.col("split") == "train"))
    _, counts = np.unique(train_codes, axis=0, return_counts=True)
    assert train_codes.shape[1] == SHIPPED_LATENT_SHAPE["dense_size"] and counts.min() >= k
    assert report["linkage"]["full_row_top1"] <= 0.05
    folder = latent_steps.release(catalog, zones, DATASET)
    assert (folder / "encoder" / "encoder.pt2").is_file()
