"""ClustMix through the pipeline: the release manifest carries the model's DP claim."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anon_platform.catalog import load_catalog
from anon_platform.pipeline import steps
from anon_platform.storage import Zones


def customers_only_with_clustmix(plan: dict) -> None:
    """The demo release reduced to the customers table, trained by clustmix at ε = 10, with every
    threshold opened so that this test is about the manifest, not about the gates."""
    dataset = plan["datasets"][0]
    dataset["tables"] = [t for t in dataset["tables"] if t["name"] == "customers"]
    dataset["generators"] = [{"name": "clustmix", "params": {"epsilon": 10.0, "group_size": 50}}]
    dataset["encode"] = False
    dataset.pop("latent", None)
    dataset["evaluation"] = {
        "singling_out_attacks": 20,
        "multivariate_singling_out": False,
        "linkability_attacks": 20,
        "inference_attacks": 20,
        "discriminator_rows": 200,
        "utility_rows": 500,
        "html": False,
    }
    dataset["thresholds"] = {
        "quality_min": 0.0,
        "column_shapes_min": 0.0,
        "column_pair_trends_min": 0.0,
        "discriminator_auc_max": 1.0,
        "utility_ratio_min": 0.0,
        "dcr_share_max": 1.0,
        "dcr_tail_ratio_min": 0.0,
        "nndr_tail_ratio_min": 0.0,
        "risk_max": 1.0,
        # the rules against real-data references, off as well
        "quality_tolerance": 1.0,
        "column_shapes_tolerance": 1.0,
        "column_pair_trends_tolerance": 1.0,
        "discriminator_auc_tolerance": 0.5,
        "rare_value_tolerance": 1.0,
        "risk_tolerance": 1.0,
    }


def test_the_release_manifest_carries_the_dp_claim_of_the_model(
    make_project, anon_home: Path
) -> None:
    catalog = load_catalog(make_project(customers=2000, releases=customers_only_with_clustmix))
    zones = Zones(anon_home)
    for table in catalog.sources["bank"].tables:
        steps.ingest(catalog, zones, "bank", table.name)
    for sql_model in catalog.dataset_models("bank"):
        steps.stage(catalog, zones, "bank", sql_model.name)
    steps.prepare(catalog, zones, "bank")
    model = steps.train(catalog, zones, "bank", "clustmix")
    steps.synthesize(catalog, zones, "bank", "clustmix")
    steps.report(catalog, zones, "bank", "clustmix")
    folder = steps.release(catalog, zones, "bank", "clustmix")
    assert folder is not None
    manifest = json.loads((folder / "manifest.json").read_text())
    claim = manifest["privacy"]["differential_privacy"]
    assert claim == json.loads(json.dumps(model.card.differential_privacy))
    assert claim["epsilon"] == 10.0
    assert claim["delta"] == pytest.approx(1 / (10 * model.card.rows_trained_on["customers"]))
    assert {"accountant", "sigma", "budget_split", "mechanism"} <= set(claim)
