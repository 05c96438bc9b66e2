"""Removes, before anything is stored, synthetic rows that copy a training row which is unique on
its quasi-identifiers, and synthetic parents whose whole history in a sequence table copies the
history of exactly one training parent, with the children of any removed parent row.

Why a filter and not only a gate: a generator that draws values on the training data's grid
(timestamps to the second, amounts to the cent) emits such a copy now and then by chance. On the
demo, `autoregressive` drew 51 of 39,385 transaction timestamps equal to a training timestamp,
and one of those rows matched a training transaction (a common 80.00 ATM withdrawal) in every
column, so the zero-tolerance copy rule blocked a generator that had memorised nothing. The
count of removed rows is kept (`CopyFilterResult`) and gated separately (at most
`Thresholds.copies_removed_max` of the sampled rows), so a generator that copies many training
rows still fails: the filter hides a chance collision, not memorisation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
import polars as pl

from anon_platform.catalog.schema import DatasetSchema
from anon_platform.catalog.specs import Role
from anon_platform.common.frames import to_pandas
from anon_platform.evaluation.privacy import copies_of_unique_training_rows
from anon_platform.evaluation.sequences import history_signatures


@dataclass(frozen=True)
class CopyFilterResult:
    """Per table: rows sampled, copies of unique training rows removed, and rows removed
    because their parent row was removed."""

    sampled: int
    copies_removed: int
    orphans_removed: int

    @property
    def copies_share(self) -> float:
        return self.copies_removed / self.sampled if self.sampled else 0.0

    def as_dict(self) -> dict[str, int | float]:
        return {**asdict(self), "copies_share": self.copies_share}


def merge_results(
    parts: Iterable[dict[str, CopyFilterResult]],
) -> dict[str, CopyFilterResult]:
    """Per table, the counts of filtering several shards added up: what filtering them as one
    dataset counts, since the filter judges each row on its own and a shard's children belong
    to its own parents (generators/shards.py)."""
    totals: dict[str, CopyFilterResult] = {}
    for part in parts:
        for name, result in part.items():
            before = totals.get(name, CopyFilterResult(0, 0, 0))
            totals[name] = CopyFilterResult(
                before.sampled + result.sampled,
                before.copies_removed + result.copies_removed,
                before.orphans_removed + result.orphans_removed,
            )
    return totals


def history_copies(
    schema: DatasetSchema, synthetic: dict[str, pl.DataFrame], train: dict[str, pl.DataFrame]
) -> dict[str, pl.Series]:
    """Per parent table, the keys of synthetic parents whose whole history in a sequence table
    equals the history of exactly one training parent (evaluation/sequences.py
    `history_signatures`): the history would single that person out even when none of its rows
    is unique. A history shared by several training parents identifies none of them."""
    copied: dict[str, list[pl.Series]] = {}
    for table in schema.ordered():
        if table.sequence is None or not table.foreign_keys:
            continue
        parent = table.foreign_keys[0]
        frame = synthetic[table.name]
        if frame.height == 0:
            continue
        columns = [c.name for c in table.modelled_columns if c.name != table.sequence.order_by]
        args = (parent.column, table.sequence.order_by, columns)
        real = history_signatures(train[table.name], *args)["signature"]
        unique = real.filter(~real.is_duplicated())
        drawn = history_signatures(frame, *args)
        hits = drawn.filter(pl.col("signature").is_in(unique.implode()))[parent.column]
        copied.setdefault(parent.parent_table, []).append(hits)
    return {name: pl.concat(keys) for name, keys in copied.items()}


def remove_unique_row_copies(
    schema: DatasetSchema,
    synthetic: dict[str, pl.DataFrame],
    train: dict[str, pl.DataFrame],
) -> tuple[dict[str, pl.DataFrame], dict[str, CopyFilterResult]]:
    """The synthetic tables without rows equal (on every modelled column) to a training row that
    is unique on its quasi-identifiers, without parents whose history copies a training
    parent's (`history_copies`; counted as the parent table's copies), and without the children
    of removed rows; what was removed, per table. Tables without quasi-identifiers or sequences
    lose no row of their own."""
    kept: dict[str, pl.DataFrame] = {}
    results: dict[str, CopyFilterResult] = {}
    removed_keys: dict[str, pl.Series] = {}
    copied_histories = history_copies(schema, synthetic, train)
    for table in schema.ordered():
        frame = synthetic[table.name]
        sampled = frame.height
        orphan = pl.Series([False] * frame.height)
        for fk in table.foreign_keys:
            gone = removed_keys.get(fk.parent_table)
            if gone is not None and gone.len():
                orphan = orphan | frame[fk.column].is_in(gone.implode()).fill_null(False)
        modelled = [c for c in table.modelled_columns if c.name in frame.columns]
        qis = [c.name for c in modelled if c.role == Role.QUASI_IDENTIFIER]
        copies = pl.Series(
            copies_of_unique_training_rows(
                to_pandas(train[table.name], modelled), to_pandas(frame, modelled), modelled, qis
            )
            if qis and frame.height
            else np.zeros(frame.height, dtype=bool)
        )
        copied = copied_histories.get(table.name)
        if copied is not None and table.primary_key:
            copies = copies | frame[table.primary_key].is_in(copied.implode()).fill_null(False)
        copies = copies & ~orphan
        drop = copies | orphan
        if table.primary_key:
            removed_keys[table.name] = frame.filter(drop)[table.primary_key]
        kept[table.name] = frame.filter(~drop)
        results[table.name] = CopyFilterResult(sampled, int(copies.sum()), int(orphan.sum()))
    return kept, results
