"""The utility and attack measurements on real codes (wa_churn): they see what a deterministic
encoder leaks, and stop seeing it once heavy noise is added; the gate reads them."""

from __future__ import annotations

import numpy as np
import pytest

from anon_platform.catalog.specs import LatentSettings, LatentThresholds
from anon_platform.latent import lifecycle
from anon_platform.latent.noise import privatize
from anon_platform_tests.conftest import Trained, train_and_export

SETTINGS = LatentSettings(epochs=25)


def evaluate(trained: Trained, epsilon: float | None = None) -> dict:
    encoder = trained.exported
    train_codes = encoder.encode(trained.train)
    holdout_codes = encoder.encode(trained.holdout)
    if epsilon is not None:
        train_codes, _ = privatize(train_codes, epsilon, 1e-5, clip=1.0, sparse_k=13)
        holdout_codes, _ = privatize(holdout_codes, epsilon, 1e-5, clip=1.0, sparse_k=13)
    return lifecycle.evaluate_latent(
        trained.schema,
        encoder.spec,
        encoder.encode,
        trained.train,
        trained.holdout,
        train_codes,
        holdout_codes,
        SETTINGS,
        seed=0,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    return train_and_export(tmp_path_factory.mktemp("attacks") / "sparse")


@pytest.fixture(scope="module")
def plain(trained: Trained) -> dict:
    """The report on deterministic codes."""
    return evaluate(trained)


@pytest.fixture(scope="module")
def noisy(trained: Trained) -> dict:
    """The report on codes with Gaussian noise at epsilon 0.5 (sigma about 19 on norm-1 codes)."""
    return evaluate(trained, epsilon=0.5)


def test_codes_keep_downstream_auc_close_to_the_raw_features(plain: dict) -> None:
    utility = plain["utility"]
    assert utility["metric"] == "auc" and utility["target"] == "churn"
    assert utility["raw"] > 0.75
    assert utility["drop"] == pytest.approx(utility["raw"] - utility["latent"])
    assert utility["drop"] < 0.05


def test_leaked_pairs_invert_deterministic_codes(plain: dict) -> None:
    one_percent = plain["reconstruction_attack"]["fractions"]["0.01"]
    ten_percent = plain["reconstruction_attack"]["fractions"]["0.1"]
    assert ten_percent["monthly_charges"] > 0.5
    assert ten_percent["contract"] > 0.5
    assert ten_percent["monthly_charges"] > one_percent["monthly_charges"]
    assert plain["scorecard"]["reconstruction_advantage_max"] > 0.5
    assert set(plain["reconstruction_attack"]["fractions"]) == {"0.01", "0.1"}


def test_whoever_holds_a_row_and_the_encoder_finds_its_code(plain: dict) -> None:
    link = plain["linkage"]
    assert link["full_row_top1"] > 0.9
    assert link["chance"] == pytest.approx(1 / 500)


def test_codes_add_to_what_quasi_identifiers_say_about_sensitive_columns(plain: dict) -> None:
    gain = plain["attribute_inference"]["columns"]["monthly_charges"]
    assert gain["gain"] == pytest.approx(gain["auc_qi_codes"] - gain["auc_qi"])
    assert gain["gain"] > 0.1


def test_heavy_noise_removes_inversion_linkage_and_utility(noisy: dict) -> None:
    card = noisy["scorecard"]
    assert card["reconstruction_advantage_max"] < 0.1
    assert card["linkage_full_row_top1"] < 0.05
    assert noisy["utility"]["drop"] > 0.1


def test_gate_fails_on_deterministic_codes_and_names_the_worst_column(plain: dict) -> None:
    result = lifecycle.gate_latent(plain, SETTINGS)
    assert not result.passed
    failed = {e.name: e for e in result.failures}
    reconstruction = failed["reconstruction_advantage <= reconstruction_advantage_max"]
    assert reconstruction.threshold == 0.10
    assert plain["reconstruction_attack"]["worst"]["column"] in reconstruction.detail


def test_gate_passes_when_every_measured_value_is_inside_its_threshold(plain: dict) -> None:
    lenient = LatentSettings(
        thresholds=LatentThresholds(
            utility_drop_max=1.0, reconstruction_advantage_max=1.0, attribute_inference_gain_max=1.0
        )
    )
    assert lifecycle.gate_latent(plain, lenient).passed


def test_active_sets_of_deterministic_codes_single_out_most_rows(plain: dict) -> None:
    assert 0.5 < plain["active_set_unique_share"] <= 1.0
    assert np.isfinite(list(plain["scorecard"].values())).all()


def test_report_has_no_raw_value_of_a_sensitive_column(plain: dict, trained: Trained) -> None:
    text = str(plain)
    values = trained.holdout["monthly_charges"].head(50).to_list()
    assert not any(f"{v}" in text for v in values if len(f"{v}") > 4)
