"""Writing a release: gate-passed synthetic tables, the report and a manifest, atomically."""

from __future__ import annotations

import datetime
import functools
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

import anon_platform
from anon_platform.errors import ReleaseError
from anon_platform.evaluation import QualityReport
from anon_platform.evidence import (
    Evidence,
    StaleEvidenceError,
    artifact_path,
    asset_name,
    bytes_sha256,
    digest_of_files,
)
from anon_platform.gates.results import GateResult
from anon_platform.generators.base import ModelCard
from anon_platform.storage import Zones, atomic_folder, atomic_path, file_sha256

MANIFEST = "manifest.json"
CARD_FILE = "model.json"  # the model card of a generator or an encoder folder
AUDIT_LOG = "audit.jsonl"


@functools.cache
def code_version() -> str:
    """The package version plus the git commit of the checkout it runs from, when there is one."""
    root = Path(anon_platform.__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        return f"{anon_platform.__version__}+g{sha}{'.dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return anon_platform.__version__


NO_FORMAL_GUARANTEE = {
    "differential_privacy": None,
    "note": "no formal (epsilon, delta) guarantee; gated on measured metrics",
}
MODEL_FIELDS = (
    "generator",
    "params",
    "seed",
    "rows_trained_on",
    "training_seconds",
    "device",
    "library_versions",
    "training_data_fingerprint",
    "trained_at",
)


class ReleaseSource(NamedTuple):
    """A file to release: `file` of the stored `artifact`, with the digest the chain holds."""

    artifact: str
    file: str
    sha256: str


class ReleasedFile(BaseModel):
    """One file of a release: its digest, size, and for tables the row count; `source` names
    the chain artifact and file it is an exact copy of."""

    model_config = ConfigDict(extra="forbid")

    sha256: str
    bytes: int
    rows: int | None = None
    source: str | None = None  # '<artifact>:<file>'


class ReleaseManifest(BaseModel):
    """manifest.json of a release: what was released, from what, judged by which gates.

    `chain` holds the evidence record of every artifact from the raw tables to the judged
    report (evidence.py); `files` the digest of every released file. `anon verify` checks both
    offline: each file against its digest and its chain source, the chain's links against each
    other, and the gates' judged digests against the chain.
    """

    model_config = ConfigDict(extra="forbid")

    dataset: str
    version: str
    kind: str
    generator: str
    released_at: str
    code_version: str
    source_fingerprints: dict[str, str]
    model: dict[str, Any]
    metrics: dict[str, float]
    gates: list[dict[str, Any]]
    privacy: dict[str, Any]
    # every membership-inference attack the report ran, with its numbers (`attack_record`)
    attacks: dict[str, Any] = Field(default_factory=dict)
    files: dict[str, ReleasedFile]
    chain: list[Evidence]

    @classmethod
    def read(cls, folder: Path) -> ReleaseManifest:
        """The manifest of the release in `folder`."""
        return cls.model_validate_json((folder / MANIFEST).read_text())


def _verified_copy(source: Path, destination: Path, expected: str, name: str) -> str:
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, destination)
    digest = file_sha256(destination)
    if digest != expected:
        raise StaleEvidenceError(
            f"{name} changed after its gates judged it ({source.name}: {digest[:19]}... != "
            f"{expected[:19]}...): not released; re-run the release"
        )
    return digest


def write_release(
    zones: Zones,
    dataset: str,
    generator: str,
    files: dict[str, ReleaseSource],
    gates: list[GateResult],
    source_fingerprints: dict[str, str],
    chain: list[Evidence],
    model: Evidence,
    kind: str = "synthetic",
    report_file: str = "report.json",
    privacy: dict[str, Any] | None = None,
) -> Path:
    """Write `release/<dataset>/<version>/` and point `release/<dataset>/LATEST` at it.

    One mechanism for every way out of a table: `kind` is 'synthetic' (generator tables),
    'latent' (codes and the exported encoder) or another sibling. `files` maps release-relative
    names to the chain files they copy; each copy's digest is checked against the chain, so
    the release is byte for byte what the gates judged. The metrics and the model card in the
    manifest are read from those verified copies (`report_file`) and the chain's model record.
    `privacy` describes a formal guarantee when there is one; without it the manifest says there
    is none. Refuses (ReleaseError, nothing written) unless every gate passed. The folder
    appears whole or not at all.
    """
    failed = [g.gate for g in gates if not g.passed]
    if failed or not gates:
        raise ReleaseError(
            f"dataset '{dataset}', generator '{generator}': not released, gate(s) failed: "
            f"{', '.join(failed) or 'no gate was run'}"
        )
    # microseconds: two releases of one dataset within a second (a fast machine, a test) must
    # not collide; the stamp still sorts in time order
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    version = f"{stamp}-{generator}"
    target = zones.release_dataset(dataset) / version
    if target.exists():
        raise ReleaseError(f"release {target} already exists; refusing to overwrite a release")
    scratch = zones.release_scratch(dataset)
    with atomic_folder(target, scratch) as tmp:
        released = {}
        for name, source in sorted(files.items()):
            stored = artifact_path(zones, dataset, source.artifact)
            destination = tmp / name
            digest = _verified_copy(
                stored / source.file,
                destination,
                source.sha256,
                asset_name(dataset, source.artifact),
            )
            released[name] = ReleasedFile(
                sha256=digest,
                bytes=destination.stat().st_size,
                rows=pl.scan_parquet(destination).select(pl.len()).collect().item()
                if name.endswith(".parquet")
                else None,
                source=f"{source.artifact}:{source.file}",
            )
        report = QualityReport.from_bytes((tmp / report_file).read_bytes())
        card = _model_card(zones, dataset, model)
        manifest = ReleaseManifest(
            dataset=dataset,
            version=version,
            kind=kind,
            generator=generator,
            released_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            code_version=code_version(),
            source_fingerprints=source_fingerprints,
            model={k: card.get(k) for k in MODEL_FIELDS if k in card},
            metrics=report.scorecard,
            gates=[g.as_dict() for g in gates],
            privacy=privacy
            or (
                card.get("differential_privacy")
                and {"differential_privacy": card["differential_privacy"]}
            )
            or NO_FORMAL_GUARANTEE,
            attacks=attack_record(report),
            files=released,
            chain=chain,
        )
        (tmp / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n")
    with atomic_path(zones.release_dataset(dataset) / "LATEST", scratch) as tmp_latest:
        tmp_latest.write_text(version + "\n")
    return target


def attack_record(report: QualityReport) -> dict[str, Any]:
    """The report's membership-inference attacks for the manifest: per table the density-ratio
    attack's metrics (AUC, TPR at 1 % and 0.1 % FPR with bounds and p-values, on all candidates
    and on the outliers), and the weekly shadow-model attack where the report ran it."""
    record: dict[str, Any] = {
        "density_ratio": {
            t.table: {k: v for k, v in t.metrics.items() if k.startswith("membership_")}
            for t in report.tables
            if any(k.startswith("membership_") for k in t.metrics)
        }
    }
    if report.shadow is not None:
        record["shadow_model"] = report.shadow.model_dump(mode="json")
    return record


def release_version(manifest: ReleaseManifest) -> str:
    """A release's data version for Dagster: the digest of its released files."""
    digest = digest_of_files({name: f.sha256 for name, f in manifest.files.items()})
    return digest.removeprefix("sha256:")[:24]


def _model_card(zones: Zones, dataset: str, model: Evidence) -> dict[str, Any]:
    """The model card of the chain's model record, read from bytes whose digest is checked."""
    data = (artifact_path(zones, dataset, model.artifact) / CARD_FILE).read_bytes()
    if bytes_sha256(data) != model.files.get(CARD_FILE):
        raise StaleEvidenceError(
            f"{asset_name(dataset, model.artifact)} changed while it was released: re-run the "
            "release"
        )
    if model.artifact == "models/encoder":  # the latent path: the encoder's own card
        return json.loads(data)
    return ModelCard.model_validate_json(data).to_json()


def failure_reasons(gates: list[GateResult]) -> list[str]:
    """One audit line per failed expectation: gate, expectation and by how much."""
    return [f"{g.gate}: {e.name} ({e.detail})" for g in gates for e in g.failures]


def gates_blocked(dataset: str, what: str, gates: list[GateResult]) -> ReleaseError | None:
    """The error of a release of `what` that failed gates block (None when every gate passed);
    its reasons are the failed expectations, for the audit log."""
    failed = sorted({g.gate for g in gates if not g.passed})
    if not failed:
        return None
    return ReleaseError(
        f"dataset '{dataset}', {what}: not released, gate(s) failed: {', '.join(failed)}",
        reasons=failure_reasons(gates),
    )


@contextmanager
def refusals_audited(
    zones: Zones, dataset: str, generator: str, source_fingerprints: dict[str, str]
) -> Iterator[None]:
    """Run a release attempt: a ReleaseError raised inside (a failed gate, a stale chain) is
    written to the audit log with its reasons and the source fingerprints, then re-raised."""
    try:
        yield
    except ReleaseError as err:
        record_attempt(zones, dataset, generator, False, err.reasons, source_fingerprints)
        raise


def audit_log_path(zones: Zones, dataset: str) -> Path:
    """The dataset's append-only audit log of release attempts, in the release zone."""
    return zones.release_dataset(dataset) / AUDIT_LOG


def record_attempt(
    zones: Zones,
    dataset: str,
    generator: str,
    passed: bool,
    reasons: list[str],
    source_fingerprints: dict[str, str] | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    """Append one line to the audit log: time, dataset, generator, source fingerprints, whether
    the attempt released, and why not. Reasons name gates and expectations, never raw values.

    The line is written with a single append, so a crash never leaves a half line behind.
    """
    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "dataset": dataset,
        "generator": generator,
        "released": passed,
        "version": version,
        "reasons": reasons,
        "source_fingerprints": source_fingerprints or {},
        "code_version": code_version(),
    }
    path = audit_log_path(zones, dataset)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(entry, sort_keys=False) + "\n").encode()
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, line)
    finally:
        os.close(descriptor)
    return entry


def read_audit_log(zones: Zones, dataset: str) -> list[dict[str, Any]]:
    """Every audit entry of a dataset, oldest first (empty when nothing was attempted)."""
    path = audit_log_path(zones, dataset)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def verify_release(folder: Path) -> list[str]:
    """Every way the release in `folder` differs from its manifest (empty when it verifies):
    a file whose digest differs, a file missing or not listed, a released file that is not the
    chain file it names, a chain link whose input is not its upstream link, a gate that judged
    other bytes than the chain's. Needs nothing but the release folder."""
    try:
        manifest = ReleaseManifest.read(folder)
    except FileNotFoundError:
        return [f"{folder}: no {MANIFEST}; not a release folder"]
    except ValueError as err:
        return [f"{folder / MANIFEST}: not a manifest of this platform ({str(err)[:200]})"]
    problems = []
    present = {
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST
    }
    for name in sorted(present - set(manifest.files)):
        problems.append(f"{name}: not listed in the manifest")
    links = {link.artifact: link for link in manifest.chain}
    for name, listed in sorted(manifest.files.items()):
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: listed in the manifest but missing")
            continue
        if file_sha256(path) != listed.sha256:
            problems.append(f"{name}: content differs from the manifest's sha256")
        artifact, _, source_file = (listed.source or "").partition(":")
        if listed.source and links.get(artifact) is None:
            problems.append(f"{name}: copied from {artifact}, which is not in the chain")
        elif listed.source and links[artifact].files.get(source_file) != listed.sha256:
            problems.append(f"{name}: not the file {source_file} of {artifact} that was judged")
    if not manifest.chain:
        problems.append("the manifest has no evidence chain")
    for link in manifest.chain:
        if digest_of_files(link.files) != link.digest:
            problems.append(f"chain: {link.artifact}: its digest is not that of its files")
        for upstream, digest in link.inputs.items():
            if upstream in links and links[upstream].digest != digest:
                problems.append(f"chain: {link.artifact} was not made from {upstream} as chained")
    for gate in manifest.gates:
        if not gate.get("passed"):
            problems.append(f"gate {gate.get('gate')}: did not pass")
        for artifact, digest in (gate.get("judged") or {}).items():
            if artifact not in links or links[artifact].digest != digest:
                problems.append(f"gate {gate.get('gate')}: judged another {artifact}")
    if not any(gate.get("judged") for gate in manifest.gates):
        problems.append("no gate names the digests it judged")
    return problems
