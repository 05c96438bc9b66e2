"""Column domains released with differential privacy: categories kept and numeric bounds.

Two Gaussian mechanisms, both on count vectors where one record adds 1 to exactly one cell per
column, so that replacing one record moves at most 2 cells per column by 1 and the L2
sensitivity over d columns is √(2d):

1. `release_domains` — for each categorical column the counts of its observed values (null is a
   value), for each numeric column the counts over a fixed, public grid of signed powers of two
   (dates and datetimes: of calendar years), plus a null cell. Categories are kept when their
   noisy count exceeds τ = σ·z, with z chosen so that a count-0 cell passes with probability
   at most η per column ("stability-based histogram", Korolova et al. 2009; Wilson et al.
   2020). Argument: let M* release the same noisy counts over the union of the keys of D and
   D'; M* is a plain Gaussian mechanism. M(D) and M*(D) differ only if a key absent from D
   passes τ, so TV(M(D), M*(D)) ≤ d_cat·η =: η', and
   P[M(D) ∈ S] ≤ e^ε P[M(D') ∈ S] + δ_gauss + (1 + e^ε)·η'. The generator spends
   δ_threshold = (1 + e^ε)·η' out of its δ. Numeric bounds are the outer edges of the grid cells
   whose noisy count exceeds about 4.5σ (the grid is public, so no δ is spent there).
2. `release_marginals` — per class, a histogram of every non-class column over the released
   domain (numerics: BINS equal-width cells within the bounds, plus null; categoricals: the kept
   categories plus 'other'). Gives the noisy class-conditional marginals that seed the clusters
   and tighter numeric bounds (noisy quantiles). A record adds to one class only, so the class
   histograms together are still one count vector of sensitivity √(2d).
Everything after the noise is post-processing of these releases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy.stats import norm

from anon_platform.catalog.schema import ColumnSchema
from anon_platform.catalog.specs import ColumnType
from anon_platform.errors import GeneratorError
from anon_platform.sources.readers import POLARS_TYPES

NUMERIC_TYPES = (ColumnType.INTEGER, ColumnType.FLOAT, ColumnType.DATE, ColumnType.DATETIME)
MAX_EXPONENT = 62  # the grid covers |v| up to 2^63
MIN_EXPONENT = -20  # |v| below 2^-20 counts as zero
BINS = 32
QUANTILE = 0.002  # refined bounds cut this share of the (noisy) mass off each end


@dataclass(frozen=True)
class NumericDomain:
    """A numeric (or date) column scaled to [0, 1] between DP bounds; `nullable` adds a flag."""

    name: str
    type: ColumnType
    low: float
    high: float
    nullable: bool


@dataclass(frozen=True)
class CategoricalDomain:
    """A categorical column with the categories released by the stability histogram."""

    name: str
    type: ColumnType
    categories: tuple[Any, ...]


Domain = NumericDomain | CategoricalDomain


def is_numeric(column: ColumnSchema) -> bool:
    """Whether the encoding treats `column` as a number (integers, floats, dates, datetimes)."""
    return column.type in NUMERIC_TYPES


def to_numeric(series: pl.Series, column_type: ColumnType) -> np.ndarray:
    """Float values of a numeric column (days for dates, seconds for datetimes; NaN for null)."""
    if column_type == ColumnType.DATE:
        series = series.dt.epoch("d")
    elif column_type == ColumnType.DATETIME:
        series = series.dt.epoch("us").cast(pl.Float64) / 1e6
    return series.cast(pl.Float64).fill_null(float("nan")).to_numpy().astype(np.float64)


def from_numeric(name: str, values: np.ndarray, column_type: ColumnType) -> pl.Series:
    """The inverse of `to_numeric`, in the column's declared polars type (NaN becomes null)."""
    series = pl.Series(name, values, dtype=pl.Float64).fill_nan(None)
    if column_type in (ColumnType.INTEGER, ColumnType.DATE):
        series = series.round(0).cast(pl.Int64)
        if column_type == ColumnType.DATE:
            series = series.cast(pl.Int32).cast(pl.Date)
    elif column_type == ColumnType.DATETIME:
        series = (series * 1e6).round(0).cast(pl.Int64).cast(pl.Datetime("us"))
    return series.cast(POLARS_TYPES[column_type])


def grid_cells(values: np.ndarray) -> np.ndarray:
    """Public grid cell of each value: 0 null, 1 zero, then ±[2^e, 2^(e+1)) for e in range."""
    cells = np.zeros(len(values), dtype=np.int64)
    present = ~np.isnan(values)
    magnitude = np.abs(values[present])
    exponent = np.floor(np.log2(np.maximum(magnitude, 2.0**MIN_EXPONENT)))
    exponent = np.clip(exponent, MIN_EXPONENT, MAX_EXPONENT).astype(np.int64) - MIN_EXPONENT
    offset = np.where(values[present] > 0, 2 + exponent, 2 + GRID_SIDE + exponent)
    cells[present] = np.where(magnitude < 2.0**MIN_EXPONENT, 1, offset)
    return cells


GRID_SIDE = MAX_EXPONENT - MIN_EXPONENT + 1
GRID_CELLS = 2 + 2 * GRID_SIDE


def cell_edges(cell: int) -> tuple[float, float]:
    """The interval [low, high] a grid cell (other than null) covers."""
    if cell == 1:
        return (-(2.0**MIN_EXPONENT), 2.0**MIN_EXPONENT)
    index = cell - 2
    negative = index >= GRID_SIDE
    exponent = (index % GRID_SIDE) + MIN_EXPONENT
    low, high = 2.0**exponent, 2.0 ** (exponent + 1)
    if exponent == MIN_EXPONENT:
        low = 0.0
    return (-high, -low) if negative else (low, high)


FIRST_YEAR, LAST_YEAR = 1800, 2200
YEAR_CELLS = 1 + (LAST_YEAR - FIRST_YEAR + 1)
DAYS_PER_YEAR = 365.2425


def _per_day(column_type: ColumnType) -> float:
    return 1.0 if column_type == ColumnType.DATE else 86400.0


def year_cells(values: np.ndarray, column_type: ColumnType) -> np.ndarray:
    """Public grid of dates and datetimes: 0 null, then one cell per (mean Gregorian) year
    from FIRST_YEAR to LAST_YEAR, counted from the Unix epoch (values outside are clamped)."""
    years = np.floor(np.nan_to_num(values) / _per_day(column_type) / DAYS_PER_YEAR) + 1970
    cells = 1 + np.clip(years, FIRST_YEAR, LAST_YEAR).astype(np.int64) - FIRST_YEAR
    return np.where(np.isnan(values), 0, cells)


def year_edges(cell: int, column_type: ColumnType) -> tuple[float, float]:
    """The interval a year cell covers, in the column's unit (days or seconds)."""
    start = (cell - 1 + FIRST_YEAR - 1970) * DAYS_PER_YEAR * _per_day(column_type)
    return (start, start + DAYS_PER_YEAR * _per_day(column_type))


def category_keys(series: pl.Series) -> list[Any]:
    """The values of a categorical column as hashable Python objects (None for null)."""
    return series.to_list()


def threshold_z(eta_per_column: float) -> float:
    """z with P[N(0,1) > z] = η: a count-0 cell passes σ·z with probability η."""
    return float(norm.isf(eta_per_column))


def release_domains(
    frame: pl.DataFrame,
    columns: list[ColumnSchema],
    sigma: float,
    eta_per_column: float,
    public_bounds: dict[str, tuple[float, float]],
    rng: np.random.Generator,
    table: str,
) -> list[Domain]:
    """Noisy category counts and grid counts of every column (σ calibrated by the caller to
    sensitivity √(2·len(columns))); returns the kept categories and the DP numeric bounds."""
    tau = sigma * threshold_z(eta_per_column)
    domains: list[Domain] = []
    for column in columns:
        series = frame[column.name]
        if is_numeric(column):
            values = to_numeric(series, column.type)
            temporal = column.type in (ColumnType.DATE, ColumnType.DATETIME)
            cells, size = (
                (year_cells(values, column.type), YEAR_CELLS)
                if temporal
                else (
                    grid_cells(values),
                    GRID_CELLS,
                )
            )
            noisy = np.bincount(cells, minlength=size).astype(float)
            noisy += rng.normal(0.0, sigma, size)
            nullable = bool(noisy[0] > 3 * sigma)
            if column.name in public_bounds:
                low, high = public_bounds[column.name]
            else:
                # public cells: the threshold only keeps pure-noise cells out (about 1 in 1000
                # columns gets one false cell), it is not part of the privacy argument
                bar = sigma * float(norm.isf(0.001 / size))
                kept = [c for c in range(1, size) if noisy[c] > bar]
                if not kept:
                    raise GeneratorError(
                        f"table '{table}', column '{column.name}': too few rows to estimate "
                        "DP bounds at this epsilon; give public bounds in the 'bounds' parameter"
                    )
                edges = [year_edges(c, column.type) if temporal else cell_edges(c) for c in kept]
                low, high = min(e[0] for e in edges), max(e[1] for e in edges)
            domains.append(NumericDomain(column.name, column.type, low, high, nullable))
        else:
            keys = category_keys(series)
            uniques, counts = np.unique(
                np.array([repr(k) for k in keys], dtype=object), return_counts=True
            )
            first = {}
            for key in keys:
                first.setdefault(repr(key), key)
            noisy = counts + rng.normal(0.0, sigma, len(counts))
            order = np.argsort(-noisy, kind="stable")
            kept = [first[uniques[i]] for i in order if noisy[i] > tau]
            if not kept:
                raise GeneratorError(
                    f"table '{table}', column '{column.name}': no category is frequent enough "
                    f"to be released at this epsilon (threshold {tau:.0f} rows)"
                )
            domains.append(CategoricalDomain(column.name, column.type, tuple(kept)))
    return domains


def marginal_cells(domain: Domain, series: pl.Series) -> np.ndarray:
    """Cell of each value in the marginal histogram of `domain` (see `release_marginals`)."""
    if isinstance(domain, NumericDomain):
        values = to_numeric(series, domain.type)
        width = (domain.high - domain.low) or 1.0
        scaled = np.clip((values - domain.low) / width, 0.0, 1.0)
        cells = 1 + np.minimum(np.nan_to_num(scaled * BINS).astype(np.int64), BINS - 1)
        return np.where(np.isnan(values), 0, cells)
    index = {repr(k): i for i, k in enumerate(domain.categories)}
    other = len(domain.categories)
    return np.array([index.get(repr(k), other) for k in series.to_list()], dtype=np.int64)


def marginal_size(domain: Domain) -> int:
    """Number of cells of the marginal histogram of `domain`."""
    if isinstance(domain, NumericDomain):
        return BINS + 1
    return len(domain.categories) + 1


def release_marginals(
    frame: pl.DataFrame,
    domains: list[Domain],
    row_class: np.ndarray,
    n_classes: int,
    sigma: float,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Per column, a (n_classes × cells) array of noisy counts (negative counts set to 0).

    Rows with class −1 (a class that was not released) count nowhere. σ is calibrated by the
    caller to sensitivity √(2·len(domains)).
    """
    out = []
    keep = row_class >= 0
    for domain in domains:
        cells = marginal_cells(domain, frame[domain.name])
        size = marginal_size(domain)
        flat = np.bincount(row_class[keep] * size + cells[keep], minlength=n_classes * size)
        noisy = flat.reshape(n_classes, size) + rng.normal(0.0, sigma, (n_classes, size))
        out.append(np.maximum(noisy, 0.0))
    return out


def refined_bounds(domain: NumericDomain, histogram: np.ndarray, floor: float) -> NumericDomain:
    """Tighter bounds from a noisy marginal (cells 1..BINS), inside the data's range.

    Low is the upper edge of the cell holding the noisy QUANTILE-quantile, high the lower edge
    of the cell holding the (1 − QUANTILE)-quantile: up to noise, both lie between the column's
    minimum and maximum, so decoded values stay inside the training range. Post-processing of
    `release_marginals`; keeps the old bounds when the histogram is empty or degenerate. Cells
    whose pooled noisy count is below `floor` (about 3 noise sds) count as empty: otherwise the
    positive part of pure noise in empty cells would drag the bounds outwards.
    """
    counts = histogram.sum(axis=0)[1:]
    counts = np.where(counts >= floor, counts, 0.0)
    total = counts.sum()
    if total <= 0:
        return domain
    cumulative = np.cumsum(counts) / total
    first = int(np.searchsorted(cumulative, QUANTILE))
    last = int(np.searchsorted(cumulative, 1.0 - QUANTILE))
    width = (domain.high - domain.low) / BINS
    low = domain.low + min(first + 1, BINS) * width
    high = domain.low + last * width
    if domain.type in (ColumnType.INTEGER, ColumnType.DATE):
        low, high = math.ceil(low), math.floor(high)
    if not high > low:  # the bulk sits in one or two cells: take their outer edges instead
        low = domain.low + first * width
        high = domain.low + min(last + 1, BINS) * width
    if not high > low:
        return domain
    return NumericDomain(domain.name, domain.type, low, high, domain.nullable)
