"""Multi-table synthesis from single-table models: parents first, then children per parent.

Each table is learned on its own (keys and identifiers excluded); fresh keys are issued and every
synthetic foreign key points at a synthetic parent. Two strategies, chosen by the backend
parameter `parent_context`:

- off (independent): the number of children of a parent is drawn from the training data's
  children-per-parent distribution and child rows are sampled without regard to their parent,
  so parent-child relations (income vs transaction amount) are lost.
- on (parent context, the default): a parent's model also learns its number of children (a
  column `__n_<child>`), and a child's model learns its rows joined with its parent's modelled
  columns (`__parent__<column>`). Sampling draws parents with their child counts (rank-matched
  onto the training counts, so the children-per-parent distribution stays exact), then as many
  child rows as the counts add up to, each with an imagined parent, and gives every child row to
  the synthetic parent nearest to its imagined one (standardised numerics, one-hot categories)
  that still has a free slot. It works over any single-table backend because it needs only
  `sample`, not conditional sampling.

Measured on the demo (4,000 training customers, 40,000 transactions, SDV GaussianCopula, seed 0),
Spearman correlation per customer, synthetic (training data):
  income vs mean transaction amount: independent -0.013, parent context 0.290 (0.392);
  income vs number of transactions:  independent -0.016, parent context 0.231 (0.314);
  KS distance of children per parent: independent 0.008, parent context 0.009.
SDV's HMA on 800 training customers: 0.106 (0.364), 0.269 (0.277), KS 0.101, and a transaction
amount marginal far off (KS 0.63 against 0.13 for both strategies here).
"""

from __future__ import annotations

import abc
import time
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import polars as pl
from sklearn.neighbors import NearestNeighbors

from anon_platform.catalog.schema import ColumnSchema, TableSchema
from anon_platform.catalog.specs import ColumnType, Role
from anon_platform.common.frames import from_pandas, to_pandas
from anon_platform.common.progress import Progress, ProgressEvent
from anon_platform.errors import GeneratorError
from anon_platform.generators.base import Generator
from anon_platform.generators.protection import (
    GUARD_RARE_CATEGORIES,
    ProtectionParams,
    apply_value_guards,
    fit_value_guards,
    protection_record,
)
from anon_platform.sources.readers import POLARS_TYPES

PARENT_PREFIX = "__parent__"
COUNT_PREFIX = "__n_"
NEIGHBOURS = 32


def fresh_keys(column: ColumnSchema, count: int, prefix: str) -> pl.Series:
    """Synthetic key values 1..count (integers) or '<prefix>-000001'.. (strings)."""
    if column.type == ColumnType.INTEGER:
        return pl.Series(column.name, np.arange(1, count + 1), dtype=pl.Int64)
    if column.type == ColumnType.STRING:
        return pl.Series(column.name, [f"{prefix}-{i:07d}" for i in range(1, count + 1)])
    raise GeneratorError(f"key column '{column.name}' must be integer or string, not {column.type}")


def assemble_table(
    table: TableSchema, body: pl.DataFrame, n_rows: int, fk_values: pl.Series | None
) -> pl.DataFrame:
    """A synthetic table in its declared column order and types: fresh primary keys, the given
    foreign-key values, the learned columns from `body`; identifier columns are never learned,
    so they are absent."""
    parts: dict[str, pl.Series] = {}
    for column in table.columns:
        if column.name == table.primary_key:
            parts[column.name] = fresh_keys(column, n_rows, f"syn-{table.name}")
        elif fk_values is not None and column.name == table.foreign_keys[0].column:
            parts[column.name] = fk_values.alias(column.name)
        elif column.name in body.columns and column.role not in (Role.KEY, Role.IDENTIFIER):
            parts[column.name] = body[column.name].cast(POLARS_TYPES[column.type])
    return pl.DataFrame(parts)


class TableByTableParams(ProtectionParams):
    """Parameters every table-by-table backend has (see the module docstring), value
    protection included (anon_platform.generators.protection)."""

    parent_context: bool = True


def _count_column(child: str) -> str:
    return f"{COUNT_PREFIX}{child}"


class ContextEncoder:
    """Numeric vectors of a parent's modelled columns for nearest-parent matching: numerics and
    dates standardised (nulls at the mean plus a null flag), categories one-hot."""

    def __init__(self, frame: pl.DataFrame, columns: list[ColumnSchema]) -> None:
        self.columns = columns
        self.stats: dict[str, tuple[float, float]] = {}
        self.categories: dict[str, list[Any]] = {}
        for column in columns:
            values = self._numeric(frame[column.name], column)
            if values is None:
                self.categories[column.name] = (
                    frame[column.name].drop_nulls().unique().sort().to_list()
                )
            else:
                finite = values[np.isfinite(values)]
                mean = float(finite.mean()) if finite.size else 0.0
                std = float(finite.std()) if finite.size else 1.0
                self.stats[column.name] = (mean, std if std > 0 else 1.0)

    @staticmethod
    def _numeric(series: pl.Series, column: ColumnSchema) -> np.ndarray | None:
        if column.type in (ColumnType.INTEGER, ColumnType.FLOAT):
            return series.cast(pl.Float64).to_numpy()
        if column.type in (ColumnType.DATE, ColumnType.DATETIME):
            return series.cast(pl.Datetime("us")).dt.epoch("s").cast(pl.Float64).to_numpy()
        if column.type == ColumnType.BOOLEAN:
            return series.cast(pl.Float64).to_numpy()
        return None

    def encode(self, frame: pl.DataFrame, prefix: str = "") -> np.ndarray:
        """One row of features per row of `frame` (columns named `prefix` + parent column)."""
        parts = []
        for column in self.columns:
            series = frame[prefix + column.name]
            if column.name in self.stats:
                mean, std = self.stats[column.name]
                values = self._numeric(series, column)
                missing = ~np.isfinite(values)
                parts.append(np.where(missing, 0.0, (values - mean) / std))
                parts.append(missing.astype(float))
            else:
                for category in self.categories[column.name]:
                    parts.append((series == category).fill_null(False).to_numpy().astype(float))
        return np.column_stack(parts) if parts else np.zeros((frame.height, 1))


def assign_to_parents(
    child_features: np.ndarray, parent_features: np.ndarray, capacity: np.ndarray, seed: int
) -> np.ndarray:
    """Parent index per child row: the nearest parent with a free slot, children in random
    order; every parent receives exactly `capacity[i]` children (sum(capacity) == rows)."""
    rng = np.random.default_rng(seed)
    left = capacity.astype(np.int64).copy()
    owner = np.full(len(child_features), -1, dtype=np.int64)
    pending = rng.permutation(len(child_features))
    while pending.size:
        open_parents = np.flatnonzero(left > 0)
        k = min(NEIGHBOURS, open_parents.size)
        index = NearestNeighbors(n_neighbors=k).fit(parent_features[open_parents])
        neighbours = open_parents[index.kneighbors(child_features[pending], return_distance=False)]
        unplaced = []
        for row, candidates in zip(pending, neighbours, strict=True):
            for parent in candidates:
                if left[parent] > 0:
                    owner[row] = parent
                    left[parent] -= 1
                    break
            else:
                unplaced.append(row)
        pending = np.asarray(unplaced, dtype=np.int64)
    return owner


class TableByTableGenerator(Generator):
    """Base of backends that learn one single-table model per table."""

    # backends that send their own per-epoch ProgressEvents; the others get one per table
    reports_epochs: ClassVar[bool] = False

    @property
    def parent_context(self) -> bool:
        return bool(getattr(self.config, "parent_context", False))

    def _children(self, table: TableSchema) -> list[TableSchema]:
        return [
            t
            for t in self.schema.tables
            if any(fk.parent_table == table.name for fk in t.foreign_keys)
        ]

    def _model_table(self, table: TableSchema) -> TableSchema:
        """The table a backend model learns: modelled columns, plus (with parent context) the
        parent's modelled columns and one children count per child table."""
        columns = list(table.modelled_columns)
        if self.parent_context:
            if table.foreign_keys:
                parent = self.schema.table(table.foreign_keys[0].parent_table)
                columns = [
                    ColumnSchema(name=PARENT_PREFIX + c.name, type=c.type, role=Role.ATTRIBUTE)
                    for c in parent.modelled_columns
                ] + columns
            columns += [
                ColumnSchema(
                    name=_count_column(c.name), type=ColumnType.INTEGER, role=Role.ATTRIBUTE
                )
                for c in self._children(table)
            ]
        return TableSchema(name=table.name, columns=tuple(columns))

    def _training_frame(self, table: TableSchema, tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
        frame = tables[table.name]
        if not self.parent_context:
            return frame
        for child in self._children(table):
            fk = child.foreign_keys[0]
            counts = tables[child.name].group_by(fk.column).len(name=_count_column(child.name))
            frame = frame.join(
                counts, left_on=fk.parent_column, right_on=fk.column, how="left"
            ).with_columns(pl.col(_count_column(child.name)).fill_null(0).cast(pl.Int64))
        if table.foreign_keys:
            fk = table.foreign_keys[0]
            parent = self.schema.table(fk.parent_table)
            context = tables[parent.name].select(
                pl.col(fk.parent_column).alias(fk.column),
                *[pl.col(c.name).alias(PARENT_PREFIX + c.name) for c in parent.modelled_columns],
            )
            frame = frame.join(context, on=fk.column, how="left")
        return frame

    def _fit(self, tables: dict[str, pl.DataFrame], progress: Progress) -> None:
        self.progress = progress
        self.models: dict[str, Any] = {}
        self.child_counts: dict[str, np.ndarray] = {}
        self.encoders: dict[str, ContextEncoder] = {}
        self.guards = fit_value_guards(self.schema.tables, tables, self.config)
        for table in self.schema.ordered():
            if len(table.foreign_keys) > 1:
                raise GeneratorError(
                    f"generator '{self.name}': table '{table.name}' has several foreign keys; "
                    "only one parent per table is supported"
                )
            frame = self._training_frame(table, tables)
            learned = self._model_table(table)
            columns = list(learned.columns)
            started = time.perf_counter()
            self.models[table.name] = (
                self._fit_table(learned, to_pandas(frame, columns)) if columns else None
            )
            if not self.reports_epochs:
                seconds = time.perf_counter() - started
                progress(
                    ProgressEvent(
                        step=len(self.models),
                        total=len(self.schema.tables),
                        rows_per_second=frame.height / seconds if seconds > 0 else None,
                        message=f"table {table.name} fitted",
                    )
                )
            for fk in table.foreign_keys:
                parent_keys = tables[fk.parent_table][fk.parent_column]
                counts = (
                    pl.DataFrame({"k": parent_keys})
                    .join(
                        tables[table.name].group_by(fk.column).len(),
                        left_on="k",
                        right_on=fk.column,
                        how="left",
                    )["len"]
                    .fill_null(0)
                    .to_numpy()
                )
                self.child_counts[table.name] = counts.astype(np.int64)
                if self.parent_context:
                    parent = self.schema.table(fk.parent_table)
                    self.encoders[table.name] = ContextEncoder(
                        tables[parent.name], parent.modelled_columns
                    )

    def _sample(self, root_rows: int) -> dict[str, pl.DataFrame]:
        rng = np.random.default_rng(np.random.randint(0, 2**31 - 1))
        out: dict[str, pl.DataFrame] = {}
        bodies: dict[str, pl.DataFrame] = {}
        for table in self.schema.ordered():
            learned = self._model_table(table)
            if not table.foreign_keys:
                n_rows, fk_values = root_rows, None
                body = self._sample_body(table, learned, n_rows)
            else:
                fk = table.foreign_keys[0]
                parent_ids = out[fk.parent_table][fk.parent_column]
                count_column = _count_column(table.name)
                per_parent = rng.choice(self.child_counts[table.name], size=len(parent_ids))
                if self.parent_context and count_column in bodies[fk.parent_table].columns:
                    # the model's counts rank the parents; the training counts give the values
                    # (rank matching keeps the exact children-per-parent distribution and the
                    # count's relation to the parent's attributes)
                    modelled = bodies[fk.parent_table][count_column].fill_null(0).to_numpy()
                    ranks = np.lexsort((rng.random(len(modelled)), modelled))
                    matched = np.empty_like(per_parent)
                    matched[ranks] = np.sort(per_parent)
                    per_parent = matched
                n_rows = int(per_parent.sum())
                body = self._sample_body(table, learned, n_rows)
                if self.parent_context and n_rows:
                    encoder = self.encoders[table.name]
                    owner = assign_to_parents(
                        encoder.encode(body, PARENT_PREFIX),
                        encoder.encode(bodies[fk.parent_table]),
                        per_parent,
                        int(rng.integers(0, 2**31 - 1)),
                    )
                    order = np.argsort(owner, kind="stable")
                    body = body[order]
                    fk_values = parent_ids.gather(owner[order])
                else:
                    fk_values = parent_ids.gather(np.repeat(np.arange(len(parent_ids)), per_parent))
            bodies[table.name] = body
            out[table.name] = assemble_table(table, body, n_rows, fk_values)
        return apply_value_guards(self.guards, out, int(rng.integers(0, 2**31 - 1)))

    def _sample_body(self, table: TableSchema, learned: TableSchema, n_rows: int) -> pl.DataFrame:
        columns = list(learned.columns)
        model = self.models[table.name]
        if n_rows == 0:
            return pl.DataFrame(schema={c.name: POLARS_TYPES[c.type] for c in columns})
        if model is None:
            return pl.DataFrame()
        return from_pandas(self._sample_table(model, learned, n_rows), columns)

    def _state(self) -> Any:
        return {
            "models": self.models,
            "child_counts": self.child_counts,
            "encoders": self.encoders,
            "guards": self.guards,
        }

    def _restore(self, state: Any) -> None:
        self.models = state["models"]
        self.child_counts = state["child_counts"]
        self.encoders = state.get("encoders", {})
        self.guards = state.get("guards", {})

    def _card_extras(self) -> dict[str, Any]:
        return {"value_protection": protection_record(self.config, GUARD_RARE_CATEGORIES)}

    @abc.abstractmethod
    def _fit_table(self, table: TableSchema, frame: pd.DataFrame) -> Any:
        """Fit and return a single-table model on the modelled columns of `table`."""

    @abc.abstractmethod
    def _sample_table(self, model: Any, table: TableSchema, n_rows: int) -> pd.DataFrame:
        """Sample `n_rows` rows of the modelled columns from a model made by `_fit_table`."""
