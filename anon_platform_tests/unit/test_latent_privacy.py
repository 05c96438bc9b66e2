"""Privacy-trained encoders and the PCA reference on a real table (modeldata `wa_churn`), judged
by the gate's own attackers on the exported encoder's codes: what PCA leaks, that k-anonymous
codes share every released value among >= k training rows, that a task-aware variational
bottleneck and adversarial censoring leak less than the codes they replace, and which settings
the catalog refuses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from anon_platform.catalog import load_catalog
from anon_platform.catalog.specs import (
    SHIPPED_LATENT_PRIVACY,
    SHIPPED_LATENT_SHAPE,
    LatentPrivacy,
    LatentSettings,
)
from anon_platform.latent import lifecycle
from anon_platform.latent.preprocessing import to_arrays
from anon_platform_tests.conftest import churn_table

EPOCHS = 15
TASK = {"task_weight": 1.0, "reconstruct": "none"}


def measure(folder: Path, **values: object) -> tuple[dict, np.ndarray, lifecycle.TrainedEncoder]:
    """Train on wa_churn's train rows, export, encode with the exported program, and run the
    gate's measurements. Returns the report, the train codes, and the trained encoder."""
    schema, train, holdout = churn_table()
    settings = LatentSettings(epochs=EPOCHS, **values)
    trained = lifecycle.train_encoder(train, schema, settings, seed=0)
    lifecycle.save_encoder(trained, folder, None)
    encoder = lifecycle.load_encoder(folder)
    train_codes, holdout_codes = encoder.encode(train), encoder.encode(holdout)
    report = lifecycle.evaluate_latent(
        schema,
        encoder.spec,
        encoder.encode,
        train,
        holdout,
        train_codes,
        holdout_codes,
        settings,
        0,
    )
    report["gate"] = lifecycle.gate_latent(report, settings)
    return report, train_codes, trained


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("privacy")


@pytest.fixture(scope="module")
def pca(folder: Path) -> tuple[dict, np.ndarray, lifecycle.TrainedEncoder]:
    return measure(folder / "pca", bottleneck="pca", dense_size=8)


@pytest.fixture(scope="module")
def task_code(folder: Path) -> tuple[dict, np.ndarray, lifecycle.TrainedEncoder]:
    """A 2-wide task-aware variational code (beta 1) without adversary or codebook."""
    return measure(
        folder / "vib",
        bottleneck="dense",
        dense_size=2,
        privacy=LatentPrivacy(**TASK, vib_beta=1.0),
    )


@pytest.fixture(scope="module")
def censored(folder: Path) -> tuple[dict, np.ndarray, lifecycle.TrainedEncoder]:
    """The same code with gradient-reversal heads on every quasi-identifier and sensitive
    column."""
    privacy = LatentPrivacy(**TASK, vib_beta=1.0, adversary_weight=5.0)
    return measure(folder / "adv", bottleneck="dense", dense_size=2, privacy=privacy)


@pytest.fixture(scope="module")
def k_anonymous(folder: Path) -> tuple[dict, np.ndarray, lifecycle.TrainedEncoder]:
    return measure(folder / "kanon", bottleneck="sparse", privacy=LatentPrivacy(k_anonymous=25))


def test_pca_codes_are_the_projection_of_the_preprocessed_rows_on_the_principal_axes(
    pca,
) -> None:
    report, train_codes, trained = pca
    assert train_codes.shape[1] == 8 and report["code_size"] == 8
    numeric, categorical = to_arrays(trained.spec, churn_table()[1])
    with torch.no_grad():
        x = trained.encoder.inputs(torch.from_numpy(numeric), torch.from_numpy(categorical))
    x = x.numpy().astype(np.float64)
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    # the same subspace (signs of principal axes are arbitrary)
    np.testing.assert_allclose(np.abs(train_codes), np.abs(centred @ vt[:8].T), atol=1e-3)
    assert np.allclose(train_codes.mean(axis=0), 0.0, atol=1e-3)


def test_pca_reference_is_measured_by_the_same_attacks_and_leaks_like_an_autoencoder(pca) -> None:
    report = pca[0]
    card = report["scorecard"]
    assert report["utility"]["drop"] < 0.05
    assert card["reconstruction_advantage_max"] > 0.5
    assert card["attribute_inference_gain_max"] > 0.1
    assert card["linkage_full_row_top1"] > 0.9
    assert not report["gate"].passed


def test_k_anonymous_codes_are_each_shared_by_at_least_k_training_rows(k_anonymous) -> None:
    report, train_codes, trained = k_anonymous
    _, counts = np.unique(train_codes, axis=0, return_counts=True)
    assert counts.min() >= 25
    codebook = trained.card["privacy_training"]["codebook"]
    assert codebook["min_rows_per_code"] >= 25 and codebook["prototypes"] == len(counts)
    # still sparse codes: exactly k active units
    assert ((train_codes != 0).sum(axis=1) == 13).all()
    # whoever holds a row and the encoder no longer finds its code among the holdout codes
    assert report["linkage"]["full_row_top1"] < 0.15
    assert report["active_set_unique_share"] == 0.0


def test_a_task_aware_variational_code_keeps_the_task_and_leaks_less_than_pca(
    task_code, pca
) -> None:
    report = task_code[0]
    assert report["utility"]["drop"] < 0.10
    assert (
        report["scorecard"]["reconstruction_advantage_max"]
        < pca[0]["scorecard"]["reconstruction_advantage_max"] - 0.2
    )
    assert task_code[2].card["privacy_training"]["vib_beta"] == 1.0


def test_adversarial_censoring_lowers_what_the_gate_attackers_recover(censored, task_code) -> None:
    plain, hidden = task_code[0]["scorecard"], censored[0]["scorecard"]
    assert hidden["reconstruction_advantage_max"] < plain["reconstruction_advantage_max"]
    assert hidden["attribute_inference_gain_max"] < plain["attribute_inference_gain_max"]


def test_the_shipped_setting_is_a_valid_privacy_trained_dense_setting() -> None:
    settings = LatentSettings(**SHIPPED_LATENT_SHAPE, privacy=SHIPPED_LATENT_PRIVACY)
    assert settings.privacy is not None and settings.privacy.k_anonymous
    assert settings.privacy.task_weight > 0 and settings.privacy.adversary_weight > 0


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"bottleneck": "sparse", "privacy": {"vib_beta": 1.0}}, "dense bottleneck"),
        ({"privacy": {"reconstruct": "none"}}, "task_weight > 0"),
        ({"bottleneck": "pca", "privacy": {"adversary_weight": 1.0}}, "pca bottleneck"),
        ({"privacy": {"k_anonymous": 1}}, "greater than or equal to 2"),
        ({"privacy": {"adversary": 1.0}}, "Extra inputs are not permitted"),
    ],
)
def test_latent_privacy_settings_refuse_what_cannot_work(values: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        LatentSettings(**values)


def test_the_demo_latent_release_uses_the_shipped_setting() -> None:
    latent = load_catalog().releases["bank"].latent
    assert latent.privacy == SHIPPED_LATENT_PRIVACY
    assert latent.bottleneck == SHIPPED_LATENT_SHAPE["bottleneck"]
    assert latent.dense_size == SHIPPED_LATENT_SHAPE["dense_size"]
