"""Writing a release: gate-passed synthetic tables, the report and a manifest, atomically."""

from __future__ import annotations

import datetime
import functools
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import polars as pl

import anon_platform
from anon_platform.errors import ReleaseError
from anon_platform.gates.results import GateResult
from anon_platform.storage import Zones, atomic_folder, atomic_path, file_sha256, write_json

MANIFEST = "manifest.json"
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


def write_release(
    zones: Zones,
    dataset: str,
    generator: str,
    tables: dict[str, pl.DataFrame],
    report: dict[str, Any],
    gates: list[GateResult],
    source_fingerprints: dict[str, str],
    model_card: dict[str, Any],
    kind: str = "synthetic",
    artifacts: dict[str, Path] | None = None,
    privacy: dict[str, Any] | None = None,
) -> Path:
    """Write `release/<dataset>/<version>/` and point `release/<dataset>/LATEST` at it.

    One mechanism for every way out of a table: `kind` is 'synthetic' (generator tables),
    'latent' (codes; `artifacts` maps release-relative names to files or folders to copy, such as
    the exported encoder) or another sibling. `privacy` describes a formal guarantee when there
    is one (mechanism, epsilon, delta, ...); without it the manifest says there is none.
    Refuses (ReleaseError, nothing written) unless every gate passed. The folder appears whole
    or not at all.
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
    with atomic_folder(target) as tmp:
        files = {}
        for name, frame in tables.items():
            path = tmp / "tables" / f"{name}.parquet"
            path.parent.mkdir(exist_ok=True)
            frame.write_parquet(path)
            files[f"tables/{name}.parquet"] = {"rows": frame.height, "sha256": file_sha256(path)}
        for name, source in (artifacts or {}).items():
            destination = tmp / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, destination)
                copied = sorted(p for p in destination.rglob("*") if p.is_file())
            else:
                shutil.copy2(source, destination)
                copied = [destination]
            for path in copied:
                files[str(path.relative_to(tmp))] = {
                    "bytes": path.stat().st_size,
                    "sha256": file_sha256(path),
                }
        write_json(report, tmp / "report.json")
        manifest = {
            "dataset": dataset,
            "version": version,
            "kind": kind,
            "generator": generator,
            "released_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "code_version": code_version(),
            "source_fingerprints": source_fingerprints,
            "model": {
                k: model_card.get(k)
                for k in (
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
            },
            "metrics": report.get("scorecard", {}),
            "gates": [g.as_dict() for g in gates],
            "privacy": privacy or NO_FORMAL_GUARANTEE,
            "files": files,
        }
        write_json(manifest, tmp / MANIFEST)
    with atomic_path(zones.release_dataset(dataset) / "LATEST") as tmp_latest:
        tmp_latest.write_text(version + "\n")
    return target


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
