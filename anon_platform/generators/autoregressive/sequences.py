"""Histories: a child table declared a sequence (`sequence: {order_by: ...}`) as ordered rows.

A row of a sequence is modelled given its parent's codes and, as extra context columns, the
previous row's codes (a start token for the first row), its position in the sequence and how
many rows remain (both bucketed), so the network learns how a history moves and ends (training
uses the real previous rows: teacher forcing; sampling goes position by position, all parents
at once). The network (network.SequenceMADE) also reads, per numeric column, the previous and
the mean bin of the rows before, with learned curves by distance from both, so that a value
stays near last year's and near the person's level (`numeric_bins`). The order column is not
modelled as a value but as two columns: its first value (`__first__<col>`, null after the
first row) and the non-negative increment from the previous row (`__step__<col>`, null on the
first row); the order is their running sum, so it is ordered by construction. A numeric column
that drifts (`drifting_columns`) is modelled the same way: one that moves in step with a
number order (age with the year, also across gaps of several years) as its offset from the
order's increment, so it stays in step by construction wherever the offset is 0; one that
never falls in training (total experience) with non-negative increments, so it never falls;
one with one increment shared by most rows (+1 a wave) with signed increments. Value
protection holds: first values and increments are protected numeric codecs, each running sum
stays inside its column's protected training range: a history that would pass the high is
moved down by the excess (clipping it would repeat the top value, a tie no real history has),
an order or never-falling history longer than the whole range is squeezed into it, and what
still falls outside is clipped; sequence lengths are the parent's protected child count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from anon_platform.catalog.schema import ColumnSchema, TableSchema
from anon_platform.catalog.specs import ColumnType, Role
from anon_platform.generators.autoregressive.encoding import (
    Codec,
    NumericCodec,
    from_numbers,
    to_numbers,
)

FIRST_PREFIX = "__first__"
STEP_PREFIX = "__step__"
POSITION_BUCKETS = 16  # positions 0..14 exactly, 15 = "15 or later" (same for rows remaining)
DRIFT_MIN_DISTINCT = 20
DRIFT_MODAL_SHARE = 0.5


@dataclass
class DiffColumn:
    """A column of a sequence table modelled as its first value and increments."""

    name: str
    type: ColumnType
    low: float
    high: float
    first_index: int  # index of the first-value column among the table's codecs
    step_index: int  # index of the increment column among the table's codecs
    non_negative: bool  # the order column, and columns that never fall: increments >= 0
    in_step: bool = False  # the increment is the order's increment plus the modelled offset
    grid: float = 0.0  # the values' grid (1 for whole numbers): the least step kept when squeezed


@dataclass
class SequenceModel:
    """How a sequence table's order column (first) and drifting columns are rebuilt."""

    order_by: str
    columns: list[DiffColumn]


@dataclass(frozen=True)
class Drift:
    """How one drifting column's increments are modelled (`drifting_columns`)."""

    name: str
    in_step: bool  # modelled as the offset from the order's increment
    non_negative: bool  # never falls in training: increments kept >= 0


def drifting_columns(frame: pl.DataFrame, table: TableSchema, group: np.ndarray) -> list[Drift]:
    """Numeric columns (besides the order) better modelled as increments than as levels:
    - in step: with a number order, the column's increment equals the order's in at least
      DRIFT_MODAL_SHARE of the steps (age with the year, across gaps too);
    - cumulative: it never falls within any training history and does rise (total experience);
    - one increment shared by at least DRIFT_MODAL_SHARE of the steps, and either a non-zero
      one (+1 a wave) or at least DRIFT_MIN_DISTINCT distinct values (a column that mostly
      stays put with few values is a status, better kept as a level)."""
    assert table.sequence is not None
    position = _positions(group)
    order_column = next(c for c in table.columns if c.name == table.sequence.order_by)
    order_steps = None
    if order_column.type in (ColumnType.INTEGER, ColumnType.FLOAT):
        order_steps = np.diff(to_numbers(frame[order_column.name], order_column.type),
                              prepend=np.nan)  # fmt: skip
    out = []
    for column in table.modelled_columns:
        if column.name == order_column.name or column.type not in (
            ColumnType.INTEGER,
            ColumnType.FLOAT,
        ):
            continue
        numbers = to_numbers(frame[column.name], column.type)
        all_steps = np.diff(numbers, prepend=np.nan)
        later = (position > 0) & ~np.isnan(all_steps)
        steps = all_steps[later]
        if steps.size == 0:
            continue
        cumulative = bool((steps >= 0).all() and (steps > 0).any())
        in_step = False
        if order_steps is not None:
            offsets = (all_steps - order_steps)[later]
            offsets = offsets[~np.isnan(offsets)]
            in_step = offsets.size > 0 and (np.mean(np.abs(offsets) < 1e-9) >= DRIFT_MODAL_SHARE)
        values, counts = np.unique(steps, return_counts=True)
        many = np.unique(numbers[~np.isnan(numbers)]).size >= DRIFT_MIN_DISTINCT
        shared = counts.max() >= DRIFT_MODAL_SHARE * steps.size and (
            many or values[counts.argmax()] != 0
        )
        if in_step or cumulative or shared:
            out.append(Drift(column.name, bool(in_step), cumulative))
    return out


def diff_schemas(column: ColumnSchema) -> tuple[ColumnSchema, ColumnSchema]:
    """The first-value and increment columns that replace `column`."""
    step_type = (
        ColumnType.INTEGER
        if column.type in (ColumnType.INTEGER, ColumnType.DATE)
        else ColumnType.FLOAT
    )
    return (
        ColumnSchema(name=FIRST_PREFIX + column.name, type=column.type, role=Role.ATTRIBUTE),
        ColumnSchema(name=STEP_PREFIX + column.name, type=step_type, role=Role.ATTRIBUTE),
    )


def with_diff_columns(
    frame: pl.DataFrame,
    columns: list[ColumnSchema],
    group: np.ndarray,
    order_by: str,
    in_step: frozenset[str] = frozenset(),
) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """`frame` (sorted by parent, then order; `columns` starting with the order) with
    first-value and increment columns of `columns` (the order's increments clipped at 0; an
    `in_step` column's increment less the order's), and each row's position and rows
    remaining in its parent's sequence."""
    position = _positions(group)
    length = np.bincount(np.unique(group, return_inverse=True)[1])
    remaining = np.repeat(length, length) - position - 1
    added = []
    order_increments = np.zeros(frame.height)
    for column in columns:
        first, step = diff_schemas(column)
        numbers = to_numbers(frame[column.name], column.type)
        increments = np.diff(numbers, prepend=np.nan)
        increments[position == 0] = np.nan
        if column.name == order_by:
            increments = np.where(np.isnan(increments), np.nan, np.maximum(increments, 0.0))
            order_increments = increments
        elif column.name in in_step:
            increments = increments - order_increments
        series = pl.Series(step.name, increments).fill_nan(None).cast(pl.Float64)
        if step.type == ColumnType.INTEGER:
            series = series.round(0).cast(pl.Int64)
        added += [from_numbers(np.where(position == 0, numbers, np.nan), first.type, first.name),
                  series]  # fmt: skip
    return frame.with_columns(added), position, remaining


def _positions(group: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of equal values of `group` (rows grouped contiguously)."""
    starts = np.r_[True, group[1:] != group[:-1]] if len(group) else np.zeros(0, dtype=bool)
    index = np.arange(len(group))
    return index - np.maximum.accumulate(np.where(starts, index, 0))


def bucket(values: np.ndarray) -> np.ndarray:
    """Position (or rows remaining) as one of POSITION_BUCKETS codes."""
    return np.minimum(np.asarray(values, dtype=np.int64), POSITION_BUCKETS - 1)


def history_context(
    codes: np.ndarray, cardinalities: list[int], position: np.ndarray, remaining: np.ndarray
) -> np.ndarray:
    """Context columns of each row: the previous row's codes (each column's start token, its
    cardinality, on a first row), the position bucket and the rows-remaining bucket."""
    previous = np.empty_like(codes, dtype=np.int64)
    previous[1:] = codes[:-1]
    first = position == 0
    previous[first] = np.asarray(cardinalities, dtype=np.int64)
    return np.column_stack([previous, bucket(position), bucket(remaining)]).astype(np.int64)


def history_cardinalities(cardinalities: list[int]) -> list[int]:
    """Cardinalities of the history context columns (`history_context`)."""
    return [c + 1 for c in cardinalities] + [POSITION_BUCKETS, POSITION_BUCKETS]


def numeric_bins(codec: Codec) -> tuple[int, int] | None:
    """(code of the first bin, number of bins) of a numeric column with at least two bins;
    None for any other column (what SequenceMADE reads as numbers)."""
    if not isinstance(codec, NumericCodec) or len(codec.bins) < 2:
        return None
    return int(codec.has_null), len(codec.bins)


def rebuild_order(
    values: pl.DataFrame, model: SequenceModel, per_parent: np.ndarray
) -> pl.DataFrame:
    """`values` (rows grouped by parent, in position order) with the order column and the
    drifting columns rebuilt as first value + running sum of increments, each clipped into its
    protected training range without breaking it (`_fit_into`), the helper columns dropped."""
    starts = np.concatenate([[0], np.cumsum(per_parent)[:-1]]).astype(np.int64)
    group = np.repeat(np.arange(len(per_parent)), per_parent)
    position = np.arange(len(group)) - starts[group]
    order_steps = np.zeros(len(group))
    rebuilt, helpers = [], []
    for column in model.columns:  # the order column comes first
        first_name = values.columns[column.first_index]
        step_name = values.columns[column.step_index]
        helpers += [first_name, step_name]
        firsts = to_numbers(values[first_name], column.type)
        steps = to_numbers(values[step_name].cast(pl.Float64), ColumnType.FLOAT)
        present = steps[(position > 0) & ~np.isnan(steps)]
        fallback = float(np.median(present)) if present.size else 0.0
        steps = np.where(np.isnan(steps), fallback, steps)
        if column.in_step:
            steps = steps + order_steps
        if column.non_negative:
            steps = np.maximum(steps, 0.0)
        steps[position == 0] = 0.0
        start_values = firsts[starts[group]]
        start_values = np.where(np.isnan(start_values), column.low, start_values)
        running = np.cumsum(steps)
        running = running - running[starts[group]]
        unclipped = start_values + running
        if len(group):
            unclipped = _fit_into(unclipped, starts, per_parent, column)
        numbers = np.clip(unclipped, column.low, column.high)
        if column.name == model.order_by:
            # the emitted order's own increments (whole units for an integer order)
            emitted = to_numbers(from_numbers(numbers, column.type, column.name), column.type)
            order_steps = np.diff(emitted, prepend=np.nan)
            order_steps[position == 0] = 0.0
        rebuilt.append(from_numbers(numbers, column.type, column.name))
    return values.with_columns(rebuilt).drop(helpers)


def _fit_into(
    values: np.ndarray, starts: np.ndarray, per_parent: np.ndarray, column: DiffColumn
) -> np.ndarray:
    """Histories of one column moved inside [low, high] without breaking them: one that
    would pass the high moves down by the excess (its increments stay as drawn); an order
    history longer than the whole range is then squeezed into it (its increments scaled)."""
    nonempty = per_parent > 0
    group = np.repeat(np.arange(len(per_parent)), per_parent)
    top = np.full(len(per_parent), -np.inf)
    top[nonempty] = np.maximum.reduceat(values, starts[nonempty])
    values = values - np.maximum(top - column.high, 0.0)[group]
    if not column.non_negative:
        return values
    first = values[starts[group]]
    span = np.zeros(len(per_parent))
    span[nonempty] = np.maximum.reduceat(values, starts[nonempty]) - values[starts[nonempty]]
    width = column.high - column.low
    # each step keeps at least the grid (so whole-number orders stay distinct when rounded)
    # where the history's rows fit the range one grid step apart
    floor = column.grid * np.maximum(per_parent - 1, 0)
    floor = np.where(floor <= width, floor, 0.0)
    too_long = (span > width)[group]
    scale = ((width - floor) / np.where(span > width, span - floor, 1.0))[group]
    position = np.arange(len(values)) - starts[group]
    kept = position * np.where(floor > 0, column.grid, 0.0)[group]
    squeezed = column.low + kept + (values - first - kept) * scale
    if column.grid > 0:
        # rounding half up: values at least one grid step apart stay apart (half-to-even
        # rounds 1.5 and 2.5 alike)
        squeezed = np.floor(squeezed / column.grid + 0.5) * column.grid
    return np.where(too_long, squeezed, np.maximum(values, column.low))
