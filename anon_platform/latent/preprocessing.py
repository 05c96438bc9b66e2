"""Mixed-type tabular preprocessing for the autoencoder, fitted on the training rows only.

Numeric columns (integer, float, date, datetime) are scaled robustly: (x - median) / IQR (the
standard deviation, then 1, when the IQR is 0), clipped to +-CLIP, with nulls set to 0 and a
null-indicator input when the training column had nulls. Categorical columns (string, boolean)
become an index into the training categories seen at least `min_category_count` times;
index 0 is the 'unseen' slot for rarer and new values (and for nulls when training had none).

The fitted spec is plain JSON (`PreprocessingSpec.to_json`): the exported encoder carries it, and
a partner needs only pandas/numpy to turn a file into the two input arrays (see export.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl

from anon_platform.catalog.schema import ColumnSchema
from anon_platform.catalog.specs import ColumnType
from anon_platform.latent.errors import EncoderError, EncoderInputError

CLIP = 5.0
NUMERIC_TYPES = (ColumnType.INTEGER, ColumnType.FLOAT, ColumnType.DATE, ColumnType.DATETIME)
SPEC_FORMAT = 1


@dataclass(frozen=True)
class NumericColumn:
    """A numeric input: robust centre and scale from train; whether it gets a null indicator."""

    name: str
    type: str
    median: float
    scale: float
    null_indicator: bool
    kind: Literal["numeric"] = "numeric"


@dataclass(frozen=True)
class CategoricalColumn:
    """A categorical input: training categories (index i+1), and the index a null maps to."""

    name: str
    type: str
    categories: tuple[str, ...]
    null_index: int
    kind: Literal["categorical"] = "categorical"

    @property
    def size(self) -> int:
        """Number of indices: the unseen slot, the categories, and a null slot if trained on."""
        return 1 + len(self.categories) + (1 if self.null_index else 0)


@dataclass(frozen=True)
class PreprocessingSpec:
    """The fitted preprocessing of one table, in encoder input order."""

    numeric: tuple[NumericColumn, ...]
    categorical: tuple[CategoricalColumn, ...]
    clip: float = CLIP
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        return [c.name for c in self.numeric] + [c.name for c in self.categorical]

    @property
    def numeric_outputs(self) -> int:
        """Numeric reconstruction targets: the scaled values plus the null indicators."""
        return len(self.numeric) + sum(c.null_indicator for c in self.numeric)

    @property
    def input_width(self) -> int:
        return self.numeric_outputs + sum(c.size for c in self.categorical)

    def to_json(self) -> dict[str, Any]:
        """The spec as JSON (also the partner-facing input schema of an exported encoder)."""
        return {
            "format": SPEC_FORMAT,
            "clip": self.clip,
            "numeric": [
                {
                    "name": c.name,
                    "type": c.type,
                    "median": c.median,
                    "scale": c.scale,
                    "null_indicator": c.null_indicator,
                }
                for c in self.numeric
            ],
            "categorical": [
                {
                    "name": c.name,
                    "type": c.type,
                    "categories": list(c.categories),
                    "null_index": c.null_index,
                }
                for c in self.categorical
            ],
        }

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> PreprocessingSpec:
        """Read a spec written by `to_json`."""
        if payload.get("format") != SPEC_FORMAT:
            raise EncoderError(f"unsupported preprocessing spec format {payload.get('format')!r}")
        return cls(
            numeric=tuple(
                NumericColumn(c["name"], c["type"], c["median"], c["scale"], c["null_indicator"])
                for c in payload["numeric"]
            ),
            categorical=tuple(
                CategoricalColumn(c["name"], c["type"], tuple(c["categories"]), c["null_index"])
                for c in payload["categorical"]
            ),
            clip=payload["clip"],
        )


def numeric_values(series: pl.Series) -> np.ndarray:
    """A numeric, date or datetime column as float64 (dates as days since 1970-01-01), NaN for
    nulls."""
    if series.dtype == pl.Date:
        series = series.cast(pl.Int32).cast(pl.Float64)
    elif isinstance(series.dtype, pl.Datetime):
        series = series.dt.epoch("ms").cast(pl.Float64) / 86_400_000.0
    elif series.dtype == pl.Null:
        series = series.cast(pl.Float64)
    return series.cast(pl.Float64).fill_nan(None).to_numpy().astype(np.float64)


def category_strings(series: pl.Series) -> list[str | None]:
    """A categorical column as strings (booleans as 'true'/'false'), None for nulls."""
    if series.dtype == pl.Boolean:
        return [None if v is None else ("true" if v else "false") for v in series.to_list()]
    return series.cast(pl.String).to_list()


def fit_spec(
    frame: pl.DataFrame,
    columns: list[ColumnSchema],
    min_category_count: int = 5,
    max_categories: int = 100,
) -> PreprocessingSpec:
    """Fit the preprocessing of `columns` on `frame` (the training rows only)."""
    numeric, categorical = [], []
    for column in columns:
        series = frame[column.name]
        if column.type in NUMERIC_TYPES:
            values = numeric_values(series)
            present = values[~np.isnan(values)]
            if present.size == 0:
                raise EncoderInputError(
                    "training data", column.name, "every value is null; drop the column"
                )
            median = float(np.median(present))
            q25, q75 = np.percentile(present, [25, 75])
            scale = float(q75 - q25) or float(present.std()) or 1.0
            numeric.append(
                NumericColumn(
                    column.name, column.type.value, median, scale, bool(np.isnan(values).any())
                )
            )
        else:
            strings = pl.Series(category_strings(series), dtype=pl.String)
            counts = strings.drop_nulls().value_counts(sort=True)
            kept = counts.filter(pl.col("count") >= min_category_count).head(max_categories)
            categories = tuple(sorted(kept[strings.name or ""].to_list()))
            null_index = len(categories) + 1 if strings.null_count() else 0
            categorical.append(
                CategoricalColumn(column.name, column.type.value, categories, null_index)
            )
    return PreprocessingSpec(tuple(numeric), tuple(categorical))


def to_arrays(spec: PreprocessingSpec, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The encoder's two inputs: raw numeric values (float32, NaN = null) and category indices
    (int64). Scaling happens inside the model, so the exported encoder applies it too."""
    numeric = np.empty((frame.height, len(spec.numeric)), dtype=np.float32)
    for j, column in enumerate(spec.numeric):
        numeric[:, j] = numeric_values(frame[column.name])
    indices = np.zeros((frame.height, len(spec.categorical)), dtype=np.int64)
    for j, column in enumerate(spec.categorical):
        lookup = {value: i + 1 for i, value in enumerate(column.categories)}
        indices[:, j] = [
            column.null_index if v is None else lookup.get(v, 0)
            for v in category_strings(frame[column.name])
        ]
    return numeric, indices


def scaled_targets(spec: PreprocessingSpec, numeric: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reconstruction targets of the numeric block (scaled values then null indicators) and a
    mask that is 0 where a value was null (its scaled target is not learned)."""
    medians = np.array([c.median for c in spec.numeric], dtype=np.float32)
    scales = np.array([c.scale for c in spec.numeric], dtype=np.float32)
    nulls = np.isnan(numeric)
    scaled = np.clip(np.nan_to_num((numeric - medians) / scales), -spec.clip, spec.clip)
    indicator = (
        np.stack([nulls[:, j] for j, c in enumerate(spec.numeric) if c.null_indicator], axis=1)
        if any(c.null_indicator for c in spec.numeric)
        else np.zeros((len(numeric), 0))
    )
    targets = np.concatenate([scaled, indicator.astype(np.float32)], axis=1).astype(np.float32)
    mask = np.concatenate([~nulls, np.ones_like(indicator, dtype=bool)], axis=1)
    return targets, mask.astype(np.float32)
