"""report.json as a typed artifact: the report step writes it only through `QualityReport`,
and every reader (gates, release, summaries, CLI, HTML report) reads it back through it.

The scorecard is a flat mapping of metric names (evaluation/metrics.py) to floats, so that the
gate's one-row frame, the release manifest and Dagster metadata take it as it is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TableReport(BaseModel):
    """Every metric of one synthetic table against its train and holdout tables."""

    model_config = ConfigDict(extra="forbid")

    table: str
    train_rows: int
    holdout_rows: int
    synthetic_rows: int
    metrics: dict[str, float]
    dcr_worst_subset: str = ""
    dcr_histogram: dict[str, list[int] | list[float]] = Field(default_factory=dict)
    risks: dict[str, dict[str, float]] = Field(default_factory=dict)
    # column -> {"synthetic": share, "reference": share} of rows holding a rare training value
    rare_values: dict[str, dict[str, float]] = Field(default_factory=dict)


class ShadowTarget(BaseModel):
    """The shadow-model attack on one target record, named by its vulnerability rank only."""

    model_config = ConfigDict(extra="forbid")

    target_rank: int
    auc: float
    lowest_fpr: float
    tpr_at_lowest_fpr: float
    tpr_at_fpr_10pct: float
    runs_with: float
    runs_without: float


class ShadowAttack(BaseModel):
    """The weekly shadow-model membership attack (pipeline/shadow.py): per target, and the
    worst target's numbers, with its settings and cost."""

    model_config = ConfigDict(extra="forbid")

    targets: list[ShadowTarget]
    worst_auc: float
    worst_tpr_at_lowest_fpr: float
    runs_per_side: int
    shadow_rows: int
    generator: str
    seconds: float


class QualityReport(BaseModel):
    """The quality report of one generator's synthetic dataset: per-table metrics, the dataset
    scorecard the gate judges, and (when stored) the digest of every table it measured."""

    model_config = ConfigDict(extra="allow")  # other helpers' sections (e.g. membership) stay

    dataset: str = ""
    generator: str = ""
    measured: dict[str, Any] = Field(default_factory=dict)
    scorecard: dict[str, float]
    tables: list[TableReport]
    # the weekly full evaluation's shadow-model attack (None in a run's own evaluation)
    shadow: ShadowAttack | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object written as report.json."""
        return self.model_dump(mode="json")

    @classmethod
    def from_bytes(cls, data: bytes) -> QualityReport:
        """A report read from report.json's bytes (e.g. the verified copy in a release)."""
        return cls.model_validate(json.loads(data))

    @classmethod
    def read(cls, path: Path) -> QualityReport:
        """The report stored at `path` (a report.json file)."""
        return cls.from_bytes(path.read_bytes())
