"""Gates as Dagster asset check results: metadata that explains a failure without opening the
logs, misconfigured gates raised as errors, and every failure written to the audit log."""

from __future__ import annotations

import dagster as dg

from anon_platform.errors import GateError
from anon_platform.gates import GateResult
from anon_platform.release import failure_reasons, record_attempt
from anon_platform.storage import Zones


def gate_check_result(result: GateResult) -> dg.AssetCheckResult:
    """A gate as a check result: a markdown table plus one JSON entry per expectation
    (passed, observed, its real-data reference and band where the rule has one, threshold,
    detail). A gate with an expectation that could not be
    evaluated raises GateError: the check errors (and blocks like a failure) instead of
    reporting a data failure."""
    if result.errors:
        raise GateError(
            f"gate '{result.gate}' is misconfigured: "
            + "; ".join(f"{e.name}: {e.error}" for e in result.errors)
        )
    metadata: dict = {"summary": dg.MetadataValue.md(result.markdown())}
    for index, e in enumerate(result.expectations):
        metadata[f"{index:02d} {e.name}"] = dg.MetadataValue.json(
            {
                "passed": e.passed,
                "observed": e.observed,
                "reference": e.reference,
                "band": e.band,
                "threshold": e.threshold,
                "detail": e.detail,
            }
        )
    metadata["expectations_failed"] = len(result.failures)
    # which bytes were judged: the release copies only files with these digests
    metadata.update({f"judged/{artifact}": digest for artifact, digest in result.judged.items()})
    return dg.AssetCheckResult(
        passed=result.passed, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata
    )


def audited_gate(
    result: GateResult,
    zones: Zones,
    dataset: str,
    generator: str,
    source_fingerprints: dict[str, str],
) -> dg.AssetCheckResult:
    """`gate_check_result`, and a line in the release zone's audit log (with the source
    fingerprints) when the gate blocks a release (failed or misconfigured)."""
    if not result.passed:
        record_attempt(
            zones, dataset, generator, False, failure_reasons([result]), source_fingerprints
        )
    return gate_check_result(result)
