"""Noticing source changes: what the `source_changes` sensor decides, as plain Python.

A dataset needs a retrain run when the content digest of its sources differs from the digest
recorded when they were last ingested, and no run was already requested for that digest. The
state between ticks (the last fingerprints, for the cheap stat-only path, and the last
requested digest) is the sensor's cursor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from anon_platform.catalog import Catalog
from anon_platform.catalog.loader import CATALOG_DIR
from anon_platform.errors import AnonPlatformError
from anon_platform.pipeline import stored
from anon_platform.sources.fingerprints import content_digest, source_fingerprint
from anon_platform.storage import Zones


@dataclass
class SourceCheck:
    """The outcome of looking at one dataset's sources."""

    dataset: str
    digest: str | None = None
    needs_retrain: bool = False
    unreadable: str = ""
    fingerprints: dict[str, dict[str, Any]] = field(default_factory=dict)


def check_sources(
    catalog: Catalog, zones: Zones, dataset: str, state: dict[str, Any]
) -> SourceCheck:
    """Fingerprint the dataset's sources and decide whether a retrain is due.

    `state` is this dataset's part of the sensor cursor ({'fingerprints', 'requested'});
    a source that cannot be read makes the check `unreadable` with the reason, not an error.
    """
    check = SourceCheck(dataset)
    known = state.get("fingerprints", {})
    ingested = {
        t.name: stored.ingested_source_fingerprint(zones, dataset, t.name)
        for t in catalog.sources[dataset].tables
    }
    try:
        for table in catalog.sources[dataset].tables:
            check.fingerprints[table.name] = source_fingerprint(
                table, catalog.root / CATALOG_DIR, known.get(table.name) or ingested[table.name]
            )
    except AnonPlatformError as err:
        check.unreadable = str(err)
        return check
    check.digest = content_digest(check.fingerprints)
    ingested_digest = (
        content_digest(ingested) if all(v is not None for v in ingested.values()) else None
    )
    check.needs_retrain = check.digest != ingested_digest and check.digest != state.get("requested")
    return check
