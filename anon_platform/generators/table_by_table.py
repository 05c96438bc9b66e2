"""Multi-table synthesis from single-table models: parents first, then children per parent.

Each table is learned on its own (keys and identifiers excluded); the number of children of a
parent is drawn from the training data's children-per-parent distribution; fresh keys are issued
and every synthetic foreign key points at a synthetic parent. Parent attributes do not condition
child attributes here: that is a known limit of this strategy.
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from anon_platform.catalog.schema import ColumnSchema, TableSchema
from anon_platform.catalog.specs import ColumnType
from anon_platform.errors import GeneratorError
from anon_platform.generators.base import Generator, Progress
from anon_platform.sources.readers import POLARS_TYPES


def to_pandas(frame: pl.DataFrame, columns: list[ColumnSchema]) -> pd.DataFrame:
    """The modelled columns of `frame` as pandas, dates widened to datetimes."""
    out = frame.select([c.name for c in columns]).to_pandas()
    for column in columns:
        if column.type == ColumnType.DATE:
            out[column.name] = pd.to_datetime(out[column.name])
    return out


def from_pandas(frame: pd.DataFrame, columns: list[ColumnSchema]) -> pl.DataFrame:
    """A sampled pandas frame back in the declared polars types."""
    series = []
    for column in columns:
        values = frame[column.name]
        if column.type == ColumnType.INTEGER:
            values = pd.to_numeric(values, errors="coerce").round()
        elif column.type == ColumnType.BOOLEAN:
            values = values.astype("boolean")
        elif column.type in (ColumnType.DATE, ColumnType.DATETIME):
            values = pd.to_datetime(values, errors="coerce")
        s = pl.from_pandas(values).alias(column.name)
        series.append(s.cast(POLARS_TYPES[column.type], strict=False))
    return pl.DataFrame(series)


def fresh_keys(column: ColumnSchema, count: int, prefix: str) -> pl.Series:
    """Synthetic key values 1..count (integers) or '<prefix>-000001'.. (strings)."""
    if column.type == ColumnType.INTEGER:
        return pl.Series(column.name, np.arange(1, count + 1), dtype=pl.Int64)
    if column.type == ColumnType.STRING:
        return pl.Series(column.name, [f"{prefix}-{i:07d}" for i in range(1, count + 1)])
    raise GeneratorError(f"key column '{column.name}' must be integer or string, not {column.type}")


class TableByTableGenerator(Generator):
    """Base of backends that learn one single-table model per table."""

    def _fit(self, tables: dict[str, pl.DataFrame], progress: Progress) -> None:
        self.progress = progress
        self.models: dict[str, Any] = {}
        self.child_counts: dict[str, np.ndarray] = {}
        for table in self.schema.ordered():
            if len(table.foreign_keys) > 1:
                raise GeneratorError(
                    f"generator '{self.name}': table '{table.name}' has several foreign keys; "
                    "only one parent per table is supported"
                )
            frame = tables[table.name]
            columns = table.modelled_columns
            self.models[table.name] = (
                self._fit_table(table, to_pandas(frame, columns)) if columns else None
            )
            for fk in table.foreign_keys:
                parent_keys = tables[fk.parent_table][fk.parent_column]
                counts = (
                    pl.DataFrame({"k": parent_keys})
                    .join(
                        frame.group_by(fk.column).len(), left_on="k", right_on=fk.column, how="left"
                    )["len"]
                    .fill_null(0)
                    .to_numpy()
                )
                self.child_counts[table.name] = counts.astype(np.int64)

    def _sample(self, root_rows: int) -> dict[str, pl.DataFrame]:
        rng = np.random.default_rng(np.random.randint(0, 2**31 - 1))
        out: dict[str, pl.DataFrame] = {}
        for table in self.schema.ordered():
            if table.foreign_keys:
                fk = table.foreign_keys[0]
                parent_ids = out[fk.parent_table][fk.parent_column]
                per_parent = rng.choice(self.child_counts[table.name], size=len(parent_ids))
                n_rows = int(per_parent.sum())
                fk_values = parent_ids.gather(np.repeat(np.arange(len(parent_ids)), per_parent))
            else:
                n_rows, fk_values = root_rows, None
            out[table.name] = self._sample_rows(table, n_rows, fk_values)
        return out

    def _sample_rows(
        self, table: TableSchema, n_rows: int, fk_values: pl.Series | None
    ) -> pl.DataFrame:
        columns = table.modelled_columns
        model = self.models[table.name]
        if n_rows == 0:
            body = pl.DataFrame(schema={c.name: POLARS_TYPES[c.type] for c in columns})
        elif model is None:
            body = pl.DataFrame()
        else:
            body = from_pandas(self._sample_table(model, table, n_rows), columns)
        parts: dict[str, pl.Series] = {}
        for column in table.columns:
            if column.name == table.primary_key:
                parts[column.name] = fresh_keys(column, n_rows, f"syn-{table.name}")
            elif fk_values is not None and column.name == table.foreign_keys[0].column:
                parts[column.name] = fk_values.alias(column.name)
            elif column.name in body.columns:
                parts[column.name] = body[column.name]
        # identifier columns are never learned, so they are absent from the synthetic table
        return pl.DataFrame(parts)

    def _state(self) -> Any:
        return {"models": self.models, "child_counts": self.child_counts}

    def _restore(self, state: Any) -> None:
        self.models = state["models"]
        self.child_counts = state["child_counts"]

    @abc.abstractmethod
    def _fit_table(self, table: TableSchema, frame: pd.DataFrame) -> Any:
        """Fit and return a single-table model on the modelled columns of `table`."""

    @abc.abstractmethod
    def _sample_table(self, model: Any, table: TableSchema, n_rows: int) -> pd.DataFrame:
        """Sample `n_rows` rows of the modelled columns from a model made by `_fit_table`."""
