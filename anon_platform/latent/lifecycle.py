"""Plain functions over frames that the Dagster assets and the CLI call: train an encoder,
export it, encode rows, measure a latent release, and gate it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from threadpoolctl import threadpool_limits

from anon_platform.catalog.schema import ColumnSchema, TableSchema
from anon_platform.catalog.specs import LatentSettings, Role
from anon_platform.common.progress import Progress, no_progress
from anon_platform.common.seeding import seeded
from anon_platform.common.versions import library_versions
from anon_platform.devices import torch_device
from anon_platform.gates.results import Expectation, GateResult
from anon_platform.latent import attacks
from anon_platform.latent.errors import EncoderError
from anon_platform.latent.export import ExportedEncoder, export_encoder
from anon_platform.latent.model import (
    Decoder,
    Encoder,
    NetworkShape,
    TrainingResult,
    TrainingSettings,
    cpu_threads,
    fit_autoencoder,
)
from anon_platform.latent.preprocessing import (
    PreprocessingSpec,
    fit_spec,
    scaled_targets,
    to_arrays,
)
from anon_platform.latent.privacy import TrainingObjective, fit_codebook, fit_pca, target_arrays
from anon_platform.latent.similarity import active_sets
from anon_platform.latent.utility import downstream_utility
from anon_platform.sources.readers import fingerprint
from anon_platform.storage import atomic_folder, write_json

EXPORT = "export"
CARD = "model.json"


def encoded_columns(table: TableSchema) -> list[ColumnSchema]:
    """The columns an encoder reads: the modelled ones (no keys, no direct identifiers) except
    the target, which is released beside the codes, not inside them."""
    return [c for c in table.modelled_columns if c.name != table.target]


def code_names(width: int) -> list[str]:
    """Column names of a code in a table: code_000, code_001, ..."""
    digits = len(str(width - 1))
    return [f"code_{i:0{digits}d}" for i in range(width)]


@dataclass
class TrainedEncoder:
    """A trained autoencoder with its preprocessing, settings and model card."""

    spec: PreprocessingSpec
    encoder: Encoder  # or privacy.PCAEncoder / privacy.KAnonymousCodes: same inputs, a code
    decoder: Decoder
    settings: LatentSettings
    card: dict[str, Any]

    def codes(self, frame: pl.DataFrame) -> np.ndarray:
        """Codes of `frame`'s rows from the in-memory encoder (on the CPU)."""
        numeric, categorical = to_arrays(self.spec, frame)
        module = self.encoder.to("cpu").eval()
        with torch.no_grad():
            return module(torch.from_numpy(numeric), torch.from_numpy(categorical)).numpy()


def _reconstruction_quality(
    spec: PreprocessingSpec, encoder: Encoder, decoder: Decoder, frame: pl.DataFrame
) -> dict[str, dict[str, float]]:
    """Per column on the validation rows: R^2 of the scaled numeric values (non-null rows), or
    accuracy of the categories next to the accuracy of always guessing the most frequent one."""
    numeric, categorical = to_arrays(spec, frame)
    targets, mask = scaled_targets(spec, numeric)
    encoder, decoder = encoder.to("cpu").eval(), decoder.to("cpu").eval()
    with torch.no_grad():
        out, logits = decoder(encoder(torch.from_numpy(numeric), torch.from_numpy(categorical)))
    quality: dict[str, dict[str, float]] = {}
    for j, column in enumerate(spec.numeric):
        keep = mask[:, j] > 0
        truth, guess = targets[keep, j], out.numpy()[keep, j]
        variance = float(((truth - truth.mean()) ** 2).sum())
        r2 = 1.0 - float(((truth - guess) ** 2).sum()) / variance if variance > 0 else 1.0
        quality[column.name] = {"r2": round(r2, 4)}
    for j, column in enumerate(spec.categorical):
        truth = categorical[:, j]
        accuracy = float((logits[j].argmax(1).numpy() == truth).mean())
        baseline = float(np.bincount(truth).max() / len(truth))
        quality[column.name] = {"accuracy": round(accuracy, 4), "baseline": round(baseline, 4)}
    return quality


def train_encoder(
    frame: pl.DataFrame,
    table: TableSchema,
    settings: LatentSettings,
    seed: int = 0,
    progress: Progress = no_progress,
) -> TrainedEncoder:
    """Fit preprocessing and autoencoder on `frame` (training rows only); seeded; CUDA when
    present. The card records code size, sparsity, dead units and per-column reconstruction."""
    columns = encoded_columns(table)
    if not columns:
        raise EncoderError(f"table '{table.name}': no column to encode")
    if frame.height < 20:
        raise EncoderError(f"table '{table.name}': {frame.height} rows; need at least 20")
    started = time.perf_counter()
    device = torch_device()
    spec = fit_spec(frame, columns)
    shape = NetworkShape(
        settings.bottleneck, settings.width, settings.active_units, settings.hidden
    )
    training = TrainingSettings(
        epochs=settings.epochs,
        patience=settings.patience,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        validation_fraction=settings.validation_fraction,
    )
    numeric, categorical = to_arrays(spec, frame)
    privacy = settings.privacy
    with seeded(seed), cpu_threads(device):
        if settings.bottleneck == "pca":
            result = _pca_result(spec, numeric, categorical, settings.width)
        else:
            objective = _objective(spec, frame, table, settings, numeric, categorical)
            result = fit_autoencoder(
                spec, shape, numeric, categorical, training, seed, device, progress, objective
            )
        codebook: dict[str, float] | None = None
        if privacy is not None and privacy.k_anonymous is not None:
            result.encoder, codebook = fit_codebook(
                result.encoder.to("cpu"),
                numeric,
                categorical,
                privacy.k_anonymous,
                seed,
                settings.active_units if settings.bottleneck == "sparse" else None,
            )
    validation = frame[result.validation_rows]
    quality = _reconstruction_quality(spec, result.encoder, result.decoder, validation)
    trained = TrainedEncoder(spec, result.encoder, result.decoder, settings, {})
    codes = trained.codes(frame)
    ever_active = active_sets(codes).any(axis=0)
    trained.card = {
        "generator": f"latent_{settings.bottleneck}",
        "kind": "encoder",
        "table": table.name,
        "params": settings.model_dump(mode="json", exclude={"dp", "thresholds"}),
        "seed": seed,
        "bottleneck": settings.bottleneck,
        "code_size": settings.width,
        "active_units": settings.active_units if settings.bottleneck == "sparse" else None,
        "active_fraction": (
            settings.active_units / settings.width if settings.bottleneck == "sparse" else 1.0
        ),
        "dead_units": int((~ever_active).sum()) if settings.bottleneck == "sparse" else 0,
        "dead_unit_share": (
            float((~ever_active).mean()) if settings.bottleneck == "sparse" else 0.0
        ),
        "columns": [{"name": c.name, "type": c.type.value, "role": c.role.value} for c in columns],
        "privacy_training": (
            None if privacy is None else {**privacy.model_dump(mode="json"), "codebook": codebook}
        ),
        "reconstruction": quality,
        "rows_trained_on": {table.name: frame.height},
        "validation_rows": len(result.validation_rows),
        "epochs_run": len(result.validation_loss),
        "best_epoch": result.best_epoch,
        "loss_curve": [round(v, 6) for v in result.validation_loss],
        "training_seconds": round(time.perf_counter() - started, 3),
        "device": result.device,
        "library_versions": library_versions("torch", "numpy", "polars"),
        "training_data_fingerprint": {table.name: fingerprint(frame)},
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return trained


def _pca_result(
    spec: PreprocessingSpec, numeric: np.ndarray, categorical: np.ndarray, components: int
) -> TrainingResult:
    """PCA in the place of a trained autoencoder (its 'validation rows' are every row: nothing
    is fitted but the axes)."""
    encoder, decoder = fit_pca(spec, numeric, categorical, components)
    return TrainingResult(
        encoder,  # type: ignore[arg-type]
        decoder,  # type: ignore[arg-type]
        validation_loss=[0.0],
        best_epoch=0,
        validation_rows=np.arange(len(numeric)),
    )


def _objective(
    spec: PreprocessingSpec,
    frame: pl.DataFrame,
    table: TableSchema,
    settings: LatentSettings,
    numeric: np.ndarray,
    categorical: np.ndarray,
) -> TrainingObjective | None:
    """The privacy-training objective of `settings.privacy` (None: plain reconstruction).
    Censored columns are the encoded quasi-identifiers and sensitive columns."""
    privacy = settings.privacy
    if privacy is None or (
        privacy.task_weight == 0.0
        and privacy.vib_beta is None
        and privacy.adversary_weight == 0.0
        and privacy.reconstruct == "all"
    ):
        return None
    gated = set(table.names_with_role(Role.QUASI_IDENTIFIER)) | set(
        table.names_with_role(Role.SENSITIVE)
    )
    keep = {
        "all": set(spec.columns),
        "attributes": set(spec.columns) - gated,
        "none": set(),
    }[privacy.reconstruct]
    target = target_arrays(frame[table.target]) if table.target else None
    if privacy.task_weight > 0 and target is None:
        raise EncoderError(f"table '{table.name}': privacy.task_weight needs a target column")
    return TrainingObjective(
        spec,
        settings.width,
        settings.hidden,
        numeric,
        categorical,
        target,
        keep,
        [c for c in spec.columns if c in gated],
        privacy.task_weight,
        privacy.vib_beta,
        privacy.adversary_weight,
    )


def save_encoder(trained: TrainedEncoder, folder: Path, decoder_folder: Path | None) -> Path:
    """Write `folder/model.json` and `folder/export/` (the partner artifact); the decoder goes to
    `decoder_folder` (restricted zone) when given, never into `folder`."""
    with atomic_folder(folder) as tmp:
        write_json(trained.card, tmp / CARD)
        export_encoder(trained.encoder, trained.spec, tmp / EXPORT, trained.card)
    if decoder_folder is not None:
        with atomic_folder(decoder_folder) as tmp:
            torch.save(trained.decoder.to("cpu").state_dict(), tmp / "decoder.pt")
            write_json(
                {"encoder_card": trained.card, "preprocessing": trained.spec.to_json()},
                tmp / CARD,
            )
    return folder


def load_encoder(folder: Path) -> ExportedEncoder:
    """The exported encoder inside an encoder folder, or an export folder itself."""
    folder = Path(folder)
    return ExportedEncoder(folder / EXPORT if (folder / EXPORT).is_dir() else folder)


def encode_rows(encoder: ExportedEncoder, frame: pl.DataFrame, source: str = "data") -> np.ndarray:
    """Codes of `frame` from the exported encoder (the same program partners run)."""
    return encoder.encode(frame, source)


def codes_frame(
    codes: np.ndarray, split: str, target: pl.Series | None, seed: int | None
) -> pl.DataFrame:
    """A table of codes (code_000...), the split name and the target when there is one; rows in
    a shuffled order when `seed` is given, so that row order links nothing."""
    frame = pl.DataFrame(
        {name: codes[:, i] for i, name in enumerate(code_names(codes.shape[1]))}
    ).with_columns(pl.lit(split).alias("split"))
    if target is not None:
        frame = frame.with_columns(target.alias(target.name))
    if seed is not None:
        order = np.random.default_rng(seed).permutation(frame.height)
        frame = frame[order]
    return frame


def evaluate_latent(
    table: TableSchema,
    spec: PreprocessingSpec,
    encode: Any,
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    train_codes: np.ndarray,
    holdout_codes: np.ndarray,
    settings: LatentSettings,
    seed: int = 0,
) -> dict[str, Any]:
    """Utility and every attack on the released codes (`encode(frame)` is the attacker's copy of
    the encoder). Returns the report with a flat float `scorecard` and the seconds each part
    took. scikit-learn and torch run single-threaded here: on the demo customers with the
    2-core machine shared (load average 13) this took 232 s with their default threads and 10 s
    with one."""
    with threadpool_limits(limits=1), cpu_threads("cpu"):
        return _evaluate(
            table, spec, encode, train, holdout, train_codes, holdout_codes, settings, seed
        )


def _evaluate(
    table: TableSchema,
    spec: PreprocessingSpec,
    encode: Any,
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    train_codes: np.ndarray,
    holdout_codes: np.ndarray,
    settings: LatentSettings,
    seed: int,
) -> dict[str, Any]:
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    sparse = settings.bottleneck == "sparse"
    qi = table.names_with_role(Role.QUASI_IDENTIFIER)
    sensitive = table.names_with_role(Role.SENSITIVE)
    features = spec.columns
    utility = (
        downstream_utility(train, holdout, train_codes, holdout_codes, features, table.target, seed)
        if table.target
        else None
    )
    timings["utility"], clock = time.perf_counter() - clock, time.perf_counter()
    reconstruction = attacks.reconstruction_attacks(
        train, train_codes, holdout, holdout_codes, spec, settings.attack_fractions, seed
    )
    timings["reconstruction"], clock = time.perf_counter() - clock, time.perf_counter()
    gated_columns = [c for c in features if c in {*qi, *sensitive}]
    worst = max(
        (
            (advantage, column, fraction)
            for fraction, per_column in reconstruction.items()
            for column, advantage in per_column.items()
            if column in gated_columns
        ),
        default=(0.0, None, None),
    )
    rows = pl.concat([train, holdout], how="vertical_relaxed")
    codes = np.concatenate([train_codes, holdout_codes])
    inference = attacks.attribute_inference(
        rows, codes, qi, sensitive, max(settings.attack_fractions), seed
    )
    worst_gain = max(((v["gain"], column) for column, v in inference.items()), default=(0.0, None))
    timings["attribute_inference"], clock = time.perf_counter() - clock, time.perf_counter()
    link = attacks.linkage(encode, holdout, holdout_codes, spec, qi, sparse, seed)
    unique = attacks.uniqueness(codes) if sparse else None
    timings["linkage"] = time.perf_counter() - clock
    scorecard: dict[str, float] = {
        "reconstruction_advantage_max": float(worst[0]),
        "attribute_inference_gain_max": float(worst_gain[0]),
        "linkage_qi_top1": link["qi_top1"],
        "linkage_full_row_top1": link["full_row_top1"],
        "linkage_chance": link["chance"],
    }
    if utility is not None:
        scorecard.update(
            {
                "utility_raw": utility["raw"],
                "utility_latent": utility["latent"],
                "utility_drop": utility["drop"],
            }
        )
    if unique is not None:
        scorecard["active_set_unique_share"] = unique
    for fraction, per_column in reconstruction.items():
        for column, advantage in per_column.items():
            scorecard[f"reconstruction/{fraction}/{column}"] = float(advantage)
    for column, values in inference.items():
        scorecard[f"attribute_inference/{column}/gain"] = float(values["gain"])
    return {
        "table": table.name,
        "bottleneck": settings.bottleneck,
        "code_size": settings.width,
        "rows": {"train": train.height, "holdout": holdout.height},
        "utility": utility,
        "reconstruction_attack": {
            "fractions": reconstruction,
            "gated_columns": gated_columns,
            "worst": {"advantage": worst[0], "column": worst[1], "fraction": worst[2]},
        },
        "attribute_inference": {
            "known_fraction": max(settings.attack_fractions),
            "quasi_identifiers": qi,
            "columns": inference,
            "worst": {"gain": worst_gain[0], "column": worst_gain[1]},
        },
        "linkage": link,
        "active_set_unique_share": unique,
        "scorecard": scorecard,
        "seconds": {k: round(v, 3) for k, v in timings.items()},
    }


def gate_latent(report: dict[str, Any], settings: LatentSettings) -> GateResult:
    """Expectations: utility drop, worst reconstruction advantage and worst attribute-inference
    gain within their thresholds; linkage and uniqueness are reported with no threshold."""
    limits = settings.thresholds
    card = report["scorecard"]
    expectations = []
    if "utility_drop" in card:
        drop = card["utility_drop"]
        expectations.append(
            Expectation(
                "utility_drop <= utility_drop_max",
                drop <= limits.utility_drop_max,
                drop,
                limits.utility_drop_max,
                f"codes score {card['utility_latent']:.4f} vs raw {card['utility_raw']:.4f}",
            )
        )
    else:
        expectations.append(
            Expectation(
                "utility_drop <= utility_drop_max",
                True,
                None,
                limits.utility_drop_max,
                "no target column: not measured",
            )
        )
    worst = report["reconstruction_attack"]["worst"]
    advantage = card["reconstruction_advantage_max"]
    expectations.append(
        Expectation(
            "reconstruction_advantage <= reconstruction_advantage_max",
            advantage <= limits.reconstruction_advantage_max,
            advantage,
            limits.reconstruction_advantage_max,
            f"column '{worst['column']}' reconstructed from {worst['fraction']} leaked pairs",
        )
    )
    gain = card["attribute_inference_gain_max"]
    expectations.append(
        Expectation(
            "attribute_inference_gain <= attribute_inference_gain_max",
            gain <= limits.attribute_inference_gain_max,
            gain,
            limits.attribute_inference_gain_max,
            f"column '{report['attribute_inference']['worst']['column']}'",
        )
    )
    link = report["linkage"]
    expectations.append(
        Expectation(
            "linkage_qi_top1 (reported)",
            True,
            link["qi_top1"],
            None,
            f"chance {link['chance']:.4f}; with the full row known {link['full_row_top1']:.4f}",
        )
    )
    if report.get("active_set_unique_share") is not None:
        expectations.append(
            Expectation(
                "active_set_unique_share (reported)",
                True,
                report["active_set_unique_share"],
                None,
            )
        )
    return GateResult("latent", tuple(expectations))
