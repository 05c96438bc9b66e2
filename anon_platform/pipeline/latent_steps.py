"""The latent pipeline of one dataset over ANON_HOME, one function per step:

train (models/encoder, decoder beside it) -> encode (latent/codes + report) -> gate -> release.
Each step reads what the previous one wrote; the Dagster assets are thin shells over these.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from anon_platform import evidence
from anon_platform.catalog import Catalog
from anon_platform.catalog.schema import TableSchema
from anon_platform.catalog.specs import LatentSettings
from anon_platform.common.progress import Progress, no_progress
from anon_platform.errors import ReleaseError
from anon_platform.gates.results import GateResult
from anon_platform.latent import lifecycle
from anon_platform.latent.noise import NO_GUARANTEE, privatize
from anon_platform.pipeline.release_policy import upstream_chain
from anon_platform.pipeline.stored import source_fingerprints
from anon_platform.release import (
    ReleaseSource,
    gates_blocked,
    record_attempt,
    refusals_audited,
    write_release,
)
from anon_platform.storage import Zones, read_json, read_parquet

CODES = "codes.parquet"
REPORT = "report.json"
RELEASE_NAME = "latent"
ENCODER_ARTIFACT = "models/encoder"
CODES_ARTIFACT = "latent/codes"


def settings_of(catalog: Catalog, dataset: str) -> tuple[LatentSettings, TableSchema]:
    """The dataset's latent settings and the schema of the table it encodes (default: root)."""
    release = catalog.releases[dataset]
    schema = catalog.dataset_schema(dataset)
    table = schema.table(release.latent.table) if release.latent.table else schema.root
    return release.latent, table


def _split(zones: Zones, dataset: str, split: str, table: str) -> pl.DataFrame:
    return read_parquet(zones.prepared(dataset, split) / f"{table}.parquet")


def train(
    catalog: Catalog, zones: Zones, dataset: str, progress: Progress = no_progress
) -> dict[str, Any]:
    """Train the encoder on the train split only; write the card and exported encoder to
    models/encoder and the decoder to models/decoder (restricted). Returns the card."""
    settings, table = settings_of(catalog, dataset)
    read = evidence.input_digests(zones, dataset, ["prepared/train"])
    trained = lifecycle.train_encoder(
        _split(zones, dataset, "train", table.name),
        table,
        settings,
        catalog.releases[dataset].seed,
        progress,
    )
    lifecycle.save_encoder(trained, zones.encoder(dataset), zones.decoder(dataset))
    evidence.record(zones, dataset, ENCODER_ARTIFACT, "train_encoder", read)
    return trained.card


def encode(catalog: Catalog, zones: Zones, dataset: str) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Encode the train and holdout rows with the exported encoder, add the configured noise,
    measure utility and attacks on exactly what would be released, and store the codes table
    (shuffled rows, split name, target) and report.json in the restricted zone."""
    settings, table = settings_of(catalog, dataset)
    seed = catalog.releases[dataset].seed
    read = evidence.input_digests(
        zones, dataset, [ENCODER_ARTIFACT, "prepared/train", "prepared/holdout"]
    )
    encoder = lifecycle.load_encoder(zones.encoder(dataset))
    card = read_json(zones.encoder(dataset) / lifecycle.CARD)
    train_rows = _split(zones, dataset, "train", table.name)
    holdout_rows = _split(zones, dataset, "holdout", table.name)
    codes = {
        "train": encoder.encode(train_rows, f"table '{table.name}' (train)"),
        "holdout": encoder.encode(holdout_rows, f"table '{table.name}' (holdout)"),
    }
    privacy: dict[str, Any] = NO_GUARANTEE
    if settings.dp is not None:
        dp = settings.dp
        k = settings.active_units if settings.bottleneck == "sparse" else None
        for split in codes:
            codes[split], privacy = privatize(
                codes[split], dp.epsilon, dp.delta, dp.clip, dp.mechanism, sparse_k=k
            )
    report = lifecycle.evaluate_latent(
        table,
        encoder.spec,
        encoder.encode,
        train_rows,
        holdout_rows,
        codes["train"],
        codes["holdout"],
        settings,
        seed,
    )
    report = {
        "dataset": dataset,
        "generator": RELEASE_NAME,
        "encoder": {
            k: card[k]
            for k in (
                "bottleneck",
                "code_size",
                "active_units",
                "active_fraction",
                "dead_units",
                "dead_unit_share",
                "reconstruction",
            )
        },
        "privacy": privacy,
        **report,
        # the release reads every report.json as a QualityReport: codes have no synthetic tables
        "tables": [],
    }
    target = table.target
    frame = pl.concat(
        [
            lifecycle.codes_frame(codes[split], split, rows[target] if target else None, seed + i)
            for i, (split, rows) in enumerate((("train", train_rows), ("holdout", holdout_rows)))
        ]
    )
    evidence.write_sealed(
        zones,
        dataset,
        CODES_ARTIFACT,
        "encode",
        read,
        tables={CODES.removesuffix(".parquet"): frame},
        json_files={REPORT: report},
    )
    return frame, report


def stored_report(zones: Zones, dataset: str) -> dict[str, Any]:
    """The report written by `encode`."""
    return read_json(zones.latent(dataset) / REPORT)


def gate(catalog: Catalog, zones: Zones, dataset: str) -> GateResult:
    """The latent gate over the stored report and the dataset's thresholds."""
    settings, _ = settings_of(catalog, dataset)
    with evidence.pinned(zones, dataset, [CODES_ARTIFACT]) as judged:
        result = lifecycle.gate_latent(stored_report(zones, dataset), settings)
    return dataclasses.replace(result, judged=judged)


def latent_chain(catalog: Catalog, dataset: str) -> list[str]:
    """Every artifact a latent release rests on, upstream first."""
    return [*upstream_chain(catalog, dataset), ENCODER_ARTIFACT, CODES_ARTIFACT]


def release(catalog: Catalog, zones: Zones, dataset: str) -> Path:
    """Verify the evidence chain from the raw tables to the codes, re-run the gate on the
    stored report and, only if the chain is fresh and the gate passes on exactly its bytes,
    release the codes and the exported encoder (never the decoder) with the privacy statement
    and the chain in the manifest. Every attempt, released or not, appends a line to the
    dataset's audit log."""
    fingerprints = source_fingerprints(catalog, zones, dataset)
    with refusals_audited(zones, dataset, RELEASE_NAME, fingerprints):
        chain = evidence.verify_chain(zones, dataset, latent_chain(catalog, dataset))
        result = gate(catalog, zones, dataset)
        blocked = gates_blocked(dataset, "latent codes", [result])
        if blocked:
            raise blocked
        evidence.ensure_judged(dataset, chain, [result])
        links = {link.artifact: link for link in chain}
        encoder, codes = links[ENCODER_ARTIFACT], links[CODES_ARTIFACT]
        exported = {n: d for n, d in encoder.files.items() if n.startswith(f"{lifecycle.EXPORT}/")}
        if not exported:
            raise ReleaseError(f"dataset '{dataset}': no trained encoder to release")
        files = {
            f"tables/{CODES}": ReleaseSource(CODES_ARTIFACT, CODES, codes.files[CODES]),
            REPORT: ReleaseSource(CODES_ARTIFACT, REPORT, codes.files[REPORT]),
        }
        files.update(
            {
                "encoder/" + name.removeprefix(f"{lifecycle.EXPORT}/"): ReleaseSource(
                    ENCODER_ARTIFACT, name, digest
                )
                for name, digest in exported.items()
            }
        )
        privacy = stored_report(zones, dataset)["privacy"]
        folder = write_release(
            zones,
            dataset,
            RELEASE_NAME,
            files,
            [result],
            fingerprints,
            chain,
            model=encoder,
            kind="latent",
            report_file=REPORT,
            privacy=privacy,
        )
    record_attempt(zones, dataset, RELEASE_NAME, True, [], fingerprints, folder.name)
    return folder


def code_matrix(frame: pl.DataFrame) -> np.ndarray:
    """The code columns of a codes table as a float32 matrix."""
    return frame.select(pl.col("^code_.*$")).to_numpy().astype(np.float32)
