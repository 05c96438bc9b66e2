"""Disclosure-controlled statistics of a column, real next to synthetic: the cells a chart of
the quality report may draw (evaluation only; rendering is anon_platform/html_report).

What the cells may show of the real (train) data, and why that is no individual's value:
- Counts per bin or category, kept only when at least `min_count` real rows fall in it
  (threshold cell suppression, as in statistical disclosure control); smaller cells are
  suppressed and counted. A cell of 1 to k-1 rows would let a reader learn that someone has a
  rare value; a cell of at least k rows hides each member among k.
- Bin edges on a rounded grid: the step is a 1-2-5 number and the edges are its multiples, laid
  from the 1 % to the 99 % quantile; the outermost bins are open ("< a", ">= b"). No minimum or
  maximum of a real column is computed for display, so an outlier shows up only as one more row
  in an open bin.
- Category labels only for categories held by at least k real rows (the 30 most frequent); all
  others, real or synthetic, go into one "other" cell.
- Association matrices: Cramér's V over the same cells (a mixed measure: numbers, dates and
  categories alike), one number per column pair aggregated over all rows.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from scipy.stats.contingency import association

from anon_platform.catalog.schema import ColumnSchema
from anon_platform.catalog.specs import ColumnType

MAX_BINS = 20
MAX_CATEGORIES = 30
DISCRETE_MAX_VALUES = 20
MISSING = "(missing)"
OTHER = "(other)"


@dataclass(frozen=True)
class Binning:
    """How one column is cut into labelled cells; the same cells for real and synthetic."""

    labels: list[str]
    kind: str  # "numeric" or "categorical"
    edges: np.ndarray | None = None  # numeric: inner edges, cells (-inf,e0), [e0,e1)..[en,inf)
    categories: dict[str, int] = field(default_factory=dict)

    def codes(self, series: pl.Series) -> np.ndarray:
        """Cell index of every value; nulls go to the last cell (`MISSING`)."""
        missing = len(self.labels) - 1
        nulls = series.is_null().to_numpy()
        if self.kind == "numeric":
            values = _as_numbers(series)
            codes = np.searchsorted(self.edges, np.nan_to_num(values), side="right")
        else:
            codes = (
                series.cast(pl.String)
                .replace_strict(self.categories, default=self.categories[OTHER])
                .cast(pl.Int64)
                .fill_null(missing)
                .to_numpy()
            )
        codes = np.where(nulls, missing, codes)
        return codes.astype(np.int64)


@dataclass(frozen=True)
class Marginal:
    """Counts per cell of one column; real counts under the threshold are None (suppressed)."""

    column: str
    labels: list[str]
    real: list[int | None]
    synthetic: list[int]
    suppressed: int


def _as_numbers(series: pl.Series) -> np.ndarray:
    """Numbers, dates (days since 1970) and datetimes (days, fractional) as float64."""
    if series.dtype == pl.Date:
        series = series.cast(pl.Int64)
    elif isinstance(series.dtype, pl.Datetime):
        series = series.dt.epoch("ms").cast(pl.Float64) / 86_400_000.0
    elif series.dtype == pl.Boolean:
        series = series.cast(pl.Int64)
    return series.cast(pl.Float64).to_numpy().astype(np.float64)


def nice_step(span: float, bins: int) -> float:
    """The 1-2-5 number nearest above span / bins (e.g. 850 -> 1000, 0.13 -> 0.2)."""
    raw = span / bins if span > 0 else 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _format_edge(value: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{value:,.{decimals}f}"


def _calendar_edges(low: float, high: float) -> tuple[np.ndarray, list[str]]:
    """Edges (days since 1970) on whole years, months or days, whichever gives at most about
    20 cells between `low` and `high`, with their labels (1990, 1990-04 or 1990-04-17)."""
    span = high - low
    for unit, days, fmt in (("Y", 365.25, 4), ("M", 30.44, 7), ("D", 1.0, 10)):
        if span >= 2 * days or unit == "D":
            step = max(1, round(nice_step(span / days, MAX_BINS)))
            first = np.datetime64(int(low), "D").astype(f"datetime64[{unit}]").astype(np.int64)
            last = np.datetime64(math.ceil(high), "D").astype(f"datetime64[{unit}]")
            start = (first // step) * step
            stop = -(-(last.astype(np.int64) + 1) // step) * step
            edges = np.arange(start, stop + 1, step).astype(f"datetime64[{unit}]")
            labels = [str(e)[:fmt] for e in edges]
            return edges.astype("datetime64[D]").astype(np.int64).astype(np.float64), labels
    raise AssertionError(unit)


def _numeric_binning(real: np.ndarray, column_type: ColumnType) -> Binning:
    """Rounded-grid edges from the 1 % to the 99 % quantile of the real values, open outer bins:
    1-2-5 steps for numbers, whole years, months or days for dates."""
    values = real[~np.isnan(real)]
    if values.size == 0:
        return Binning(labels=[MISSING], kind="numeric", edges=np.array([]))
    low, high = (float(q) for q in np.quantile(values, [0.01, 0.99]))
    if column_type in (ColumnType.DATE, ColumnType.DATETIME):
        edges, text = _calendar_edges(low, high)
    else:
        step = nice_step(high - low, MAX_BINS)
        start = math.floor(low / step) * step
        stop = max(math.ceil(high / step) * step, start + step)
        edges = np.arange(start, stop + step / 2, step)
        text = [_format_edge(e, step) for e in edges]
    labels = [f"< {text[0]}"]
    labels += [f"[{a}, {b})" for a, b in itertools.pairwise(text)]
    labels += [f"≥ {text[-1]}", MISSING]
    return Binning(labels=labels, kind="numeric", edges=edges)


def _categorical_binning(real: pl.Series, min_count: int) -> Binning:
    """Categories held by at least `min_count` real rows (the most frequent first), then other."""
    counts = real.drop_nulls().cast(pl.String).value_counts(sort=True, name="n")
    shown = [
        str(v)
        for v, n in zip(counts[real.name].to_list(), counts["n"].to_list(), strict=True)
        if n >= min_count
    ][:MAX_CATEGORIES]
    shown = sorted(shown) if len(shown) <= DISCRETE_MAX_VALUES else shown
    labels = [*shown, OTHER, MISSING]
    return Binning(
        labels=labels, kind="categorical", categories={v: i for i, v in enumerate(labels[:-1])}
    )


def column_binning(column: ColumnSchema, real: pl.Series, min_count: int) -> Binning:
    """Cells for one modelled column: categories for text, booleans and numbers with at most
    20 distinct values (each shown only when held by `min_count` real rows), else a numeric grid."""
    if column.type in (ColumnType.STRING, ColumnType.BOOLEAN):
        return _categorical_binning(real, min_count)
    if column.type == ColumnType.INTEGER and real.drop_nulls().n_unique() <= DISCRETE_MAX_VALUES:
        return _categorical_binning(real, min_count)
    return _numeric_binning(_as_numbers(real), column.type)


def marginal(
    column: ColumnSchema, real: pl.Series, synthetic: pl.Series | None, min_count: int
) -> tuple[Marginal, Binning]:
    """Real and synthetic counts per cell, with real cells of 1..min_count-1 rows suppressed."""
    binning = column_binning(column, real, min_count)
    size = len(binning.labels)
    real_counts = np.bincount(binning.codes(real), minlength=size)
    syn_counts = (
        np.bincount(binning.codes(synthetic), minlength=size)
        if synthetic is not None
        else np.zeros(size, dtype=np.int64)
    )
    keep = [i for i in range(size) if real_counts[i] > 0 or syn_counts[i] > 0]
    small = [i for i in keep if 0 < real_counts[i] < min_count]
    shown_real: list[int | None] = [None if i in small else int(real_counts[i]) for i in keep]
    result = Marginal(
        column=column.name,
        labels=[binning.labels[i] for i in keep],
        real=shown_real,
        synthetic=[int(syn_counts[i]) for i in keep],
        suppressed=len(small),
    )
    return result, binning


def cramers_v_matrix(codes: dict[str, np.ndarray]) -> np.ndarray:
    """Cramér's V of every column pair over their cells (scipy); 1 on the diagonal, NaN where a
    column has a single non-empty cell."""
    names = list(codes)
    size = len(names)
    matrix = np.eye(size)
    for i in range(size):
        for j in range(i + 1, size):
            a, b = codes[names[i]], codes[names[j]]
            width = int(b.max()) + 1 if b.size else 1
            table = np.bincount(a * width + b, minlength=(int(a.max()) + 1) * width)
            table = table.reshape(-1, width)
            table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
            value = float(association(table, method="cramer")) if min(table.shape) > 1 else math.nan
            matrix[i, j] = matrix[j, i] = value
    return matrix
