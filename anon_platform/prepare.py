"""Integrity checks of staged tables and the deterministic train/holdout split."""

from __future__ import annotations

import numpy as np
import polars as pl

from anon_platform.catalog.schema import DatasetSchema, TableSchema
from anon_platform.catalog.specs import ColumnType
from anon_platform.errors import SourceDataError

MAX_STRATA = 10


def check_integrity(schema: DatasetSchema, tables: dict[str, pl.DataFrame]) -> None:
    """Every table is non-empty, primary keys are unique and non-null, foreign keys resolve."""
    for table in schema.tables:
        frame = tables[table.name]
        if frame.height == 0:
            raise SourceDataError(table.name, None, "the staged table is empty (0 rows)")
        if table.primary_key:
            key = frame[table.primary_key]
            if key.is_null().any() or key.is_duplicated().any():
                raise SourceDataError(
                    table.name, table.primary_key, "staged primary key has nulls or duplicates"
                )
        for fk in table.foreign_keys:
            parent = tables[fk.parent_table][fk.parent_column]
            values = frame[fk.column]
            dangling = values.is_not_null() & ~values.is_in(parent.implode(), nulls_equal=False)
            if dangling.any():
                raise SourceDataError(
                    table.name,
                    fk.column,
                    f"{int(dangling.sum())} staged row(s) refer to no row of '{fk.references}'",
                )


def _strata(frame: pl.DataFrame, table: TableSchema) -> np.ndarray:
    """A stratum label per row: the target's value, or its decile for a numeric target."""
    if table.target is None:
        return np.zeros(frame.height, dtype=np.int64)
    target = frame[table.target]
    column = next(c for c in table.columns if c.name == table.target)
    if column.type in (ColumnType.FLOAT, ColumnType.INTEGER) and target.n_unique() > MAX_STRATA:
        ranks = target.rank("ordinal").fill_null(0).to_numpy()
        return (ranks * MAX_STRATA // (frame.height + 1)).astype(np.int64)
    return target.cast(pl.String).fill_null("<null>").rank("dense").to_numpy().astype(np.int64)


def split_dataset(
    schema: DatasetSchema, tables: dict[str, pl.DataFrame], holdout_fraction: float, seed: int
) -> tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame]]:
    """Split the root table (stratified on its target) and let every child row follow its parent.

    Deterministic for a given seed and input order. The holdout is never shown to a generator.
    """
    rng = np.random.default_rng(seed)
    root = schema.root
    frame = tables[root.name]
    strata = _strata(frame, root)
    in_holdout = np.zeros(frame.height, dtype=bool)
    for stratum in np.unique(strata):
        members = np.flatnonzero(strata == stratum)
        rng.shuffle(members)
        take = round(len(members) * holdout_fraction)
        in_holdout[members[:take]] = True
    mask = pl.Series(in_holdout)
    train = {root.name: frame.filter(~mask)}
    holdout = {root.name: frame.filter(mask)}
    for table in schema.ordered():
        if not table.foreign_keys:
            continue
        fk = table.foreign_keys[0]
        child = tables[table.name]
        held_parents = holdout[fk.parent_table][fk.parent_column].implode()
        goes_to_holdout = child[fk.column].is_in(held_parents, nulls_equal=False)
        train[table.name] = child.filter(~goes_to_holdout)
        holdout[table.name] = child.filter(goes_to_holdout)
    return train, holdout
