"""Sampling in seeded shards: the same rows whether one process or K workers sample.

A shard plan cuts the root rows to sample into shards of `shard_rows` (the last one shorter).
Shard i samples its root rows and their children with the generator's own
`sample(rows, seed=...)` under a seed fixed by (run seed, i), so its rows depend on the plan
alone, never on which worker samples it or how many workers there are. Shard 0 samples under
the run's seed itself: a one-shard plan gives exactly what `sample(n, seed)` gives.

Each shard's keys are re-issued so that the shards concatenate into one dataset:

- a root table's primary keys are its rows' global positions, 1..N across the plan (shard i
  holds `first_row + 1 ..`);
- any other table's primary keys are interleaved by shard: the j-th row (0-based) of shard i
  of S gets key j * S + i + 1. The rows of a child table per shard are known only once
  sampled, so no shard can know where the previous one ended; interleaving keeps every key
  unique without that, and is 1..n again when S is 1;
- every foreign key is mapped through its parent's new keys, so a child points at its own
  shard's parents only.

String keys take the form the table-by-table backends issue, 'syn-<table>-<number:07d>'.
Peak memory of sampling is one shard, not the table (docs/scale-out.md, "Big tables").
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from anon_platform.catalog.schema import DatasetSchema, TableSchema
from anon_platform.catalog.specs import ColumnType
from anon_platform.errors import GeneratorError
from anon_platform.generators.base import Generator

SEED_BITS = 31  # shard seeds stay below 2**31, as the backends' own draws do


def shard_seed(seed: int, index: int) -> int:
    """The seed of shard `index` of a run seeded `seed`: `seed` itself for shard 0, else 31 bits
    of sha256 over (seed, index). It depends on nothing else (not the shard or worker count)."""
    if index < 0:
        raise GeneratorError(f"shard index {index}: shards are numbered from 0")
    if index == 0:
        return seed
    digest = hashlib.sha256(f"anon-shard:{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (1 << SEED_BITS)


class Shard(BaseModel):
    """One shard of a plan: its number, the root rows before it and in it, and its seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int
    first_row: int
    rows: int
    seed: int


class ShardPlan(BaseModel):
    """`root_rows` root rows cut into shards of `shard_rows`, seeded from `seed`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    root_rows: int = Field(ge=1)
    shard_rows: int = Field(ge=1)
    seed: int

    @property
    def count(self) -> int:
        """How many shards the plan has (the last may be shorter)."""
        return -(-self.root_rows // self.shard_rows)

    def shard(self, index: int) -> Shard:
        """Shard `index` (0-based); GeneratorError outside the plan."""
        if not 0 <= index < self.count:
            raise GeneratorError(
                f"shard {index} is not in a plan of {self.count} shard(s) (0..{self.count - 1})"
            )
        first = index * self.shard_rows
        rows = min(self.shard_rows, self.root_rows - first)
        return Shard(index=index, first_row=first, rows=rows, seed=shard_seed(self.seed, index))

    def shards(self) -> Iterator[Shard]:
        """Every shard, in order."""
        return (self.shard(i) for i in range(self.count))

    def for_worker(self, worker: int, workers: int) -> list[Shard]:
        """The shards worker `worker` of `workers` samples: a contiguous run, so that the
        workers' outputs concatenated in worker order are the plan's rows in plan order. Every
        worker gets at least one shard; GeneratorError for a worker outside 0..workers-1 or
        more workers than shards."""
        if workers < 1:
            raise GeneratorError(f"{workers} workers: give at least 1")
        if not 0 <= worker < workers:
            raise GeneratorError(f"worker {worker} is not one of 0..{workers - 1}")
        if workers > self.count:
            raise GeneratorError(
                f"{workers} workers for a plan of {self.count} shard(s) of {self.shard_rows:,} "
                "rows: use at most as many workers as shards, or smaller shards"
            )
        start = worker * self.count // workers
        stop = (worker + 1) * self.count // workers
        return [self.shard(i) for i in range(start, stop)]


def plan_shards(root_rows: int, shard_rows: int, seed: int) -> ShardPlan:
    """The shard plan of sampling `root_rows` root rows in shards of `shard_rows` under `seed`;
    GeneratorError for fewer than 1 row or a shard size below 1."""
    if root_rows < 1:
        raise GeneratorError(f"cannot sample {root_rows} rows: ask for at least 1")
    if shard_rows < 1:
        raise GeneratorError(f"shard_rows {shard_rows}: a shard holds at least 1 root row")
    return ShardPlan(root_rows=root_rows, shard_rows=shard_rows, seed=seed)


def key_values(table: TableSchema, numbers: np.ndarray) -> pl.Series:
    """Primary-key values of `table` for key numbers (integers as they are, strings as
    'syn-<table>-<number:07d>'); GeneratorError for a key of another type."""
    column = next(c for c in table.columns if c.name == table.primary_key)
    if column.type == ColumnType.INTEGER:
        return pl.Series(column.name, numbers, dtype=pl.Int64)
    if column.type == ColumnType.STRING:
        return pl.Series(column.name, [f"syn-{table.name}-{n:07d}" for n in numbers.tolist()])
    raise GeneratorError(
        f"table '{table.name}': key column '{column.name}' must be integer or string to be "
        f"re-keyed per shard, not {column.type}"
    )


def _key_numbers(table: TableSchema, rows: int, shard: Shard, shards: int) -> np.ndarray:
    if not table.foreign_keys:  # the root: global row positions
        return np.arange(shard.first_row + 1, shard.first_row + rows + 1, dtype=np.int64)
    return np.arange(rows, dtype=np.int64) * shards + shard.index + 1


def rekey(
    schema: DatasetSchema,
    tables: dict[str, pl.DataFrame],
    shard: Shard,
    shards: int,
    keep_root_keys: bool = False,
) -> dict[str, pl.DataFrame]:
    """The tables of one sampled shard with the plan-wide keys of shard `shard` of `shards`
    (module docstring; `keep_root_keys`: the root's keys stay as they are, e.g. the user's own
    parent rows): unique across shards, each foreign key pointing at a parent of the same
    shard. GeneratorError when a primary key repeats or a foreign key names no parent row."""
    new_keys: dict[str, tuple[pl.Series, pl.Series]] = {}
    out: dict[str, pl.DataFrame] = {}
    for table in schema.ordered():
        frame = tables[table.name]
        columns: list[pl.Series] = []
        for fk in table.foreign_keys:
            parent = schema.table(fk.parent_table)
            if fk.parent_column != parent.primary_key:
                raise GeneratorError(
                    f"table '{table.name}': foreign key '{fk.column}' references "
                    f"'{fk.references}', not the primary key of '{parent.name}'"
                )
            old, new = new_keys[parent.name]
            values = frame[fk.column]
            mapped = values.replace_strict(old, new, default=None, return_dtype=new.dtype)
            lost = int((mapped.is_null() & values.is_not_null()).sum())
            if lost:
                raise GeneratorError(
                    f"shard {shard.index}: table '{table.name}': {lost} row(s) whose "
                    f"'{fk.column}' names no '{parent.name}' row of the shard"
                )
            columns.append(mapped.alias(fk.column))
        if table.primary_key is not None:
            old = frame[table.primary_key]
            if old.null_count() or old.n_unique() != old.len():
                raise GeneratorError(
                    f"shard {shard.index}: table '{table.name}': the generator issued null or "
                    f"repeated '{table.primary_key}' values"
                )
            new = (
                old
                if keep_root_keys and not table.foreign_keys
                else key_values(table, _key_numbers(table, frame.height, shard, shards))
            )
            new_keys[table.name] = (old, new)
            columns.append(new)
        out[table.name] = frame.with_columns(columns) if columns else frame
    return out


def sample_shard(
    model: Generator,
    plan: ShardPlan,
    shard: Shard,
    conditions: dict[str, Any] | None = None,
    parents: pl.DataFrame | None = None,
) -> dict[str, pl.DataFrame]:
    """Shard `shard` of `plan` sampled from `model` (its root rows and their children, under the
    shard's seed) with the plan-wide keys: the same frames whichever process samples it. With
    `parents` (the plan's root rows, as `Generator.typed_parents` returns them), the shard's
    slice of them is the root and only their children are drawn; their keys are kept."""
    if parents is None:
        tables = model.sample(shard.rows, seed=shard.seed, conditions=conditions)
        return rekey(model.schema, tables, shard, plan.count)
    part = parents.slice(shard.first_row, shard.rows)
    tables = model.sample_for_parents(part, seed=shard.seed)
    return rekey(model.schema, tables, shard, plan.count, keep_root_keys=True)
