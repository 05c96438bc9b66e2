"""Evidence binds to bytes: what every step read and wrote, as content digests.

Each stored artifact of a dataset (a staged model, a split, a trained generator, a synthetic
dataset, a report, an encoder, the latent codes) carries an evidence record beside its files:
the sha256 of every file it consists of, and the digest of every artifact the step read to
make it. A chain of records from the raw tables to a report is *fresh* when

- every artifact's files still have the digests its own record lists (nothing rewrote or
  replaced them after the step that wrote them), and
- every record's inputs still have the digests the step read (nothing upstream changed since).

The release step verifies the chain of what it is about to release and refuses a stale one
(`StaleEvidenceError`, naming the asset to re-run); the manifest carries the chain so that
`anon verify` can check a release offline.

What the records do not defend against: somebody with write access to the restricted zone who
rewrites files *and* their evidence records consistently. They bind the platform's own steps
and ordinary click sequences (a tampered or re-materialized upstream asset, interleaved runs)
to the bytes the gates judged; access to the restricted zone is the operating system's job.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict

from anon_platform.errors import ReleaseError
from anon_platform.gates.results import GateResult
from anon_platform.storage import Zones, atomic_folder, atomic_path, file_sha256, write_json

EVIDENCE_FILE = "evidence.json"
SIDE_SUFFIX = ".evidence.json"  # beside a one-file artifact (a staged model's parquet)


class StaleEvidenceError(ReleaseError):
    """An artifact on the way to a release is not the one its downstream steps measured."""


class Evidence(BaseModel):
    """The record one step leaves beside the artifact it wrote."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    artifact: str  # dataset-relative name, as in the asset key: 'synthetic/gaussian_copula'
    step: str  # the step that wrote it: 'stage', 'prepare', 'train', 'synthesize', ...
    files: dict[str, str]  # file (relative to the artifact) -> 'sha256:...'
    digest: str  # digest of `files`: the artifact's content digest
    inputs: dict[str, str]  # artifact name -> content digest, as read by the step
    recorded_at: str


def digest_of_files(files: dict[str, str]) -> str:
    """One digest for a set of files: sha256 over their sorted names and digests."""
    canonical = json.dumps(sorted(files.items()), separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def bytes_sha256(data: bytes) -> str:
    """'sha256:<hex>' of bytes in memory (the same form as `storage.file_sha256`)."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _content_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and p.name != EVIDENCE_FILE and not p.name.startswith(".")
    )


def file_digests(path: Path) -> dict[str, str]:
    """sha256 of every content file of an artifact (a file, or a folder without its evidence
    record and hidden temporary files), keyed by path relative to the artifact."""
    if not path.exists():
        return {}
    base = path.parent if path.is_file() else path
    return {str(p.relative_to(base)): file_sha256(p) for p in _content_files(path)}


def evidence_path(path: Path) -> Path:
    """Where the evidence record of the artifact at `path` lives."""
    return path.with_name(path.name + SIDE_SUFFIX) if path.suffix else path / EVIDENCE_FILE


def seal(
    path: Path, artifact: str, step: str, inputs: dict[str, str], record_at: Path | None = None
) -> Evidence:
    """Digest the files at `path` and write their evidence record (atomically). `record_at`
    names the artifact's final place when `path` is a temporary folder about to be renamed."""
    files = file_digests(path)
    evidence = Evidence(
        artifact=artifact,
        step=step,
        files=files,
        digest=digest_of_files(files),
        inputs=dict(sorted(inputs.items())),
        recorded_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    target = path / EVIDENCE_FILE if path.is_dir() else evidence_path(record_at or path)
    with atomic_path(target) as tmp:
        tmp.write_text(evidence.model_dump_json(indent=2) + "\n")
    return evidence


def artifact_path(zones: Zones, dataset: str, artifact: str) -> Path:
    """The stored place of a dataset-relative artifact name."""
    group, _, name = artifact.partition("/")
    if group == "staging":
        return zones.staging_model(dataset, name)
    if group == "raw":
        return zones.raw_table(dataset, name)
    if group == "prepared":
        return zones.prepared(dataset, name)
    if group == "models":
        return zones.encoder(dataset) if name == "encoder" else zones.model(dataset, name)
    if group == "synthetic":
        return zones.synthetic(dataset, name)
    if group == "reports":
        return zones.report(dataset, name.removeprefix("quality_"))
    if group == "latent" and name == "codes":
        return zones.latent(dataset)
    raise ValueError(f"unknown artifact '{artifact}'")


def current_digest(zones: Zones, dataset: str, artifact: str) -> str | None:
    """Content digest of an artifact as it is stored now (None when absent). Raw tables have
    no record of their own: their digest is that of their one file."""
    path = artifact_path(zones, dataset, artifact)
    files = file_digests(path)
    return digest_of_files(files) if files else None


def read_evidence(zones: Zones, dataset: str, artifact: str) -> Evidence | None:
    """The evidence record of a stored artifact (None when it has none)."""
    path = evidence_path(artifact_path(zones, dataset, artifact))
    return Evidence.model_validate_json(path.read_text()) if path.is_file() else None


def record(zones: Zones, dataset: str, artifact: str, step: str, read: dict[str, str]) -> Evidence:
    """Seal a stored artifact with the digests of the inputs its step read (`read`, taken
    with `input_digests` before reading). Refuses when an input changed meanwhile."""
    ensure_unchanged(zones, dataset, read, asset_name(dataset, artifact))
    return seal(artifact_path(zones, dataset, artifact), artifact, step, read)


@dataclass
class PendingArtifact:
    """A folder artifact being written: `path` is its temporary folder; `evidence` is its
    record once `sealed_folder` sealed it."""

    path: Path
    evidence: Evidence | None = None


@contextmanager
def sealed_folder(
    zones: Zones, dataset: str, artifact: str, step: str, read: dict[str, str]
) -> Iterator[PendingArtifact]:
    """Publish a folder artifact written piece by piece (a table row group at a time): yields
    its empty temporary folder; on a clean exit the inputs are checked unchanged, the files are
    sealed and the folder appears by one rename, else it vanishes."""
    with atomic_folder(artifact_path(zones, dataset, artifact)) as tmp:
        pending = PendingArtifact(tmp)
        yield pending
        ensure_unchanged(zones, dataset, read, asset_name(dataset, artifact))
        pending.evidence = seal(tmp, artifact, step, read)


def write_sealed(
    zones: Zones,
    dataset: str,
    artifact: str,
    step: str,
    read: dict[str, str],
    tables: dict[str, pl.DataFrame] | None = None,
    json_files: dict[str, Any] | None = None,
    text_files: dict[str, str] | None = None,
) -> Evidence:
    """Publish a folder artifact whole: its tables (`<name>.parquet`), JSON and text files and
    its evidence record appear together by one rename, or not at all."""
    with atomic_folder(artifact_path(zones, dataset, artifact)) as tmp:
        for name, frame in (tables or {}).items():
            frame.write_parquet(tmp / f"{name}.parquet")
        for name, payload in (json_files or {}).items():
            write_json(payload, tmp / name)
        for name, text in (text_files or {}).items():
            (tmp / name).write_text(text)
        ensure_unchanged(zones, dataset, read, asset_name(dataset, artifact))
        return seal(tmp, artifact, step, read)


def input_digests(zones: Zones, dataset: str, inputs: Iterable[str]) -> dict[str, str]:
    """Current digest of each named input artifact; a missing one is an error of the step."""
    digests = {}
    for name in inputs:
        digest = current_digest(zones, dataset, name)
        if digest is None:
            raise StaleEvidenceError(
                f"{asset_name(dataset, name)} is missing: materialize it first"
            )
        digests[name] = digest
    return digests


def ensure_unchanged(zones: Zones, dataset: str, read: dict[str, str], reader: str) -> None:
    """Refuse when an artifact changed since `read` was taken: another run of the dataset wrote
    it while `reader` (an asset name) was reading it, so its result would mix two versions."""
    for name, digest in read.items():
        if current_digest(zones, dataset, name) != digest:
            raise StaleEvidenceError(
                f"{asset_name(dataset, name)} changed while {reader} read it (another run of "
                f"'{dataset}' wrote it): re-run {reader}"
            )


@contextmanager
def pinned(zones: Zones, dataset: str, artifacts: Iterable[str]) -> Iterator[dict[str, str]]:
    """The digests of `artifacts` for a reader (a gate) that must judge exactly those bytes:
    yields them, and raises on exit when any changed during the block."""
    digests = input_digests(zones, dataset, artifacts)
    yield digests
    ensure_unchanged(
        zones, dataset, digests, "the gate of " + ", ".join(asset_name(dataset, a) for a in digests)
    )


def read_frames_with_digests(folder: Path) -> tuple[dict[str, pl.DataFrame], dict[str, str]]:
    """Every `<name>.parquet` of a folder read from bytes read once, with the sha256 of those
    very bytes: what a step measured and the digest it records are the same thing."""
    frames, digests = {}, {}
    for path in sorted(folder.glob("*.parquet")):
        data = path.read_bytes()
        frames[path.stem] = pl.read_parquet(io.BytesIO(data))
        digests[path.name] = bytes_sha256(data)
    return frames, digests


def asset_name(dataset: str, artifact: str) -> str:
    """The Dagster asset key path of an artifact, as a user types it ('bank/reports/...')."""
    return f"{dataset}/{artifact}"


def verify_chain(zones: Zones, dataset: str, chain: list[str]) -> list[Evidence]:
    """Check that the artifacts `chain` names (upstream first) are fresh, and return their
    records. Raises StaleEvidenceError naming the first stale artifact and what to re-run."""
    records = []
    for artifact in chain:
        evidence = read_evidence(zones, dataset, artifact)
        name = asset_name(dataset, artifact)
        if evidence is None:
            raise StaleEvidenceError(
                f"{name} has no evidence record (written before digests were kept, or by "
                f"something else than its step): re-run {name}"
            )
        now = file_digests(artifact_path(zones, dataset, artifact))
        if digest_of_files(now) != evidence.digest:
            changed = sorted(
                f for f in set(now) | set(evidence.files) if now.get(f) != evidence.files.get(f)
            )
            raise StaleEvidenceError(
                f"{name} was changed after its step wrote it ({', '.join(changed)} differ from "
                f"its evidence record): re-run {name}"
            )
        for upstream, digest in evidence.inputs.items():
            if current_digest(zones, dataset, upstream) != digest:
                raise StaleEvidenceError(
                    f"{_what(artifact)} {name} is stale: {asset_name(dataset, upstream)} changed "
                    f"since it was made; re-run {name}"
                )
        records.append(evidence)
    return records


def _what(artifact: str) -> str:
    group = artifact.split("/", 1)[0]
    return {
        "reports": "report",
        "synthetic": "synthetic tables",
        "models": "model",
        "prepared": "split",
        "staging": "staged model",
        "latent": "codes",
    }.get(group, "artifact")


def ensure_judged(dataset: str, chain: list[Evidence], gates: list[GateResult]) -> None:
    """Refuse unless every gate judged exactly the digests of the (verified) chain."""
    digests = {link.artifact: link.digest for link in chain}
    for gate in gates:
        for artifact, digest in gate.judged.items():
            if digests.get(artifact) != digest:
                raise StaleEvidenceError(
                    f"gate '{gate.gate}' judged another version of {asset_name(dataset, artifact)} "
                    f"than the one to release (another run wrote it meanwhile): re-run the release"
                )
