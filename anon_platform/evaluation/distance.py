"""Distance to closest record (DCR) on mixed-type rows, vectorised.

The distance between two rows is the mean over columns of a per-column distance in [0, 1]
(Gower): min(|a - b| / range, 1) for numbers, dates and booleans (range taken from the
reference data), 0/1 mismatch for categories; a null is 0 away from a null and 1 away from any
value. This is the distance SDMetrics' DCR metrics use (a test checks agreement to 1e-6);
written here because SDMetrics compares pairs in pandas chunks (about 25x slower on the demo's
2,000-row samples) and counts ties as 'closer to holdout', which biases the DCR share down on
discrete data.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from scipy import sparse

from anon_platform.catalog.schema import ColumnSchema
from anon_platform.catalog.specs import ColumnType

NUMERIC_TYPES = {
    ColumnType.INTEGER,
    ColumnType.FLOAT,
    ColumnType.BOOLEAN,
    ColumnType.DATE,
    ColumnType.DATETIME,
}
NULL_CODE = -1
UNSEEN_CODE = -2
CHUNK_CELLS = 4_000_000


def as_number(values: pd.Series, column: ColumnSchema) -> np.ndarray:
    """A numeric, date or boolean column as floats (dates in seconds), NaN for nulls."""
    if column.type in (ColumnType.DATE, ColumnType.DATETIME):
        stamps = pd.to_datetime(values, errors="coerce")
        out = stamps.astype("int64").to_numpy(dtype=float) / 1e9
        out[stamps.isna().to_numpy()] = np.nan
        return out
    if column.type == ColumnType.BOOLEAN:
        values = values.astype("float64")
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)


class GowerEncoder:
    """Encodes rows for `nearest_distances`: numbers scaled by the reference range, categories
    as integer codes (null and unseen values get codes of their own)."""

    def __init__(self, columns: list[ColumnSchema]) -> None:
        self.columns = columns
        self.numeric = [c for c in columns if c.type in NUMERIC_TYPES]
        self.categorical = [c for c in columns if c.type not in NUMERIC_TYPES]

    def fit(self, reference: pd.DataFrame) -> GowerEncoder:
        self.lows: dict[str, float] = {}
        self.spans: dict[str, float] = {}
        self.codes: dict[str, dict[str, int]] = {}
        for column in self.numeric:
            values = as_number(reference[column.name], column)
            finite = values[~np.isnan(values)]
            low = float(finite.min()) if finite.size else 0.0
            high = float(finite.max()) if finite.size else 1.0
            self.lows[column.name], self.spans[column.name] = low, (high - low) or 1.0
        for column in self.categorical:
            seen = sorted(reference[column.name].dropna().astype(str).unique())
            self.codes[column.name] = {value: i for i, value in enumerate(seen)}
        return self

    def transform(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(scaled numbers with NaN for nulls, integer category codes)."""
        numbers = np.column_stack(
            [
                (as_number(frame[c.name], c) - self.lows[c.name]) / self.spans[c.name]
                for c in self.numeric
            ]
            or [np.zeros(len(frame))]
        )[:, : len(self.numeric)]
        codes = np.column_stack(
            [
                frame[c.name]
                .astype("string")
                .map(
                    lambda v, m=self.codes[c.name]: (
                        NULL_CODE if pd.isna(v) else m.get(v, UNSEEN_CODE)
                    )
                )
                .to_numpy(dtype=np.int64)
                for c in self.categorical
            ]
            or [np.zeros(len(frame), dtype=np.int64)]
        )[:, : len(self.categorical)]
        return numbers, codes


def _distance_chunks(
    queries: tuple[np.ndarray, np.ndarray], reference: tuple[np.ndarray, np.ndarray]
) -> Iterator[tuple[int, np.ndarray]]:
    """(first query row, Gower distances of a block of query rows to every reference row),
    block after block, each holding at most about CHUNK_CELLS distances."""
    q_num, q_cat = queries
    r_num, r_cat = reference
    n_columns = max(q_num.shape[1] + q_cat.shape[1], 1)
    chunk = max(1, CHUNK_CELLS // max(len(r_num), 1))
    for start in range(0, len(q_num), chunk):
        stop = start + chunk
        total = np.zeros((min(stop, len(q_num)) - start, len(r_num)))
        for j in range(q_num.shape[1]):
            a, b = q_num[start:stop, j][:, None], r_num[:, j][None, :]
            diff = np.minimum(np.abs(a - b), 1.0)
            a_null, b_null = np.isnan(a), np.isnan(b)
            diff = np.where(a_null | b_null, np.where(a_null & b_null, 0.0, 1.0), diff)
            total += diff
        for j in range(q_cat.shape[1]):
            total += q_cat[start:stop, j][:, None] != r_cat[:, j][None, :]
        yield start, total / n_columns


def _nearest_two(total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if total.shape[1] >= 2:
        two = np.partition(total, 1, axis=1)[:, :2]
        return two[:, 0], two[:, 1]
    return total.min(axis=1), np.full(len(total), np.inf)


def nearest_two_distances(
    queries: tuple[np.ndarray, np.ndarray], reference: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Gower distances from each query row to its nearest and second-nearest reference rows."""
    first = np.empty(len(queries[0]))
    second = np.full(len(queries[0]), np.inf)
    for start, total in _distance_chunks(queries, reference):
        first[start : start + len(total)], second[start : start + len(total)] = _nearest_two(total)
    return first, second


def nearest_distances(
    queries: tuple[np.ndarray, np.ndarray], reference: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """Gower distance from each query row to its nearest reference row (encoded rows)."""
    return nearest_two_distances(queries, reference)[0]


TAIL_QUANTILE = 0.05
BOOTSTRAP_REPLICATES = 200
HISTOGRAM_BINS = 30
# added to both 5th percentiles so that a ratio of two zeros (ties on discrete data) reads 1
TAIL_FLOOR = 1e-3


def _tail_ratio(of_train: np.ndarray, of_holdout: np.ndarray) -> float:
    low_train = np.quantile(of_train, TAIL_QUANTILE) + TAIL_FLOOR
    low_holdout = np.quantile(of_holdout, TAIL_QUANTILE) + TAIL_FLOOR
    return float(low_train / low_holdout)


def _bootstrap_upper(
    of_train: np.ndarray, of_holdout: np.ndarray, alpha: float, rng: np.random.Generator
) -> float:
    """Upper (1 - alpha) bootstrap bound of the tail ratio, resampling synthetic rows."""
    n = len(of_train)
    ratios = [
        _tail_ratio(of_train[idx], of_holdout[idx])
        for idx in (rng.integers(0, n, n) for _ in range(BOOTSTRAP_REPLICATES))
    ]
    return float(np.quantile(ratios, 1 - alpha))


TIE_TOLERANCE = 1e-12
PERMUTATIONS = 1_000


def _permutation_p_value(
    share: float, nearest: sparse.csr_matrix, size: int, rng: np.random.Generator, alpha: float
) -> tuple[float, float]:
    """One-sided p-value of a DCR share at least `share` when train and holdout rows are
    exchangeable (no membership signal): the pooled rows' train/holdout labels are reshuffled.

    `nearest[i, j]` is 1 when pooled row j (train rows first, then holdout) is at synthetic row
    i's smallest distance. A synthetic row counts 1 when all its nearest rows are train rows, 0
    when all are holdout rows and one half otherwise, as in the share itself. Why not a binomial
    test over the synthetic rows: many synthetic rows share a nearest row, and which rows the
    train and holdout samples happen to contain moves the share too, so the rows are not
    independent trials. Measured on the demo's transactions: real rows of unseen customers
    scored DCR shares of 0.47-0.53 over subsample seeds, and the binomial test called 2 of 18
    such draws significant at 0.05.

    Returns (p-value, band): the band is how far above 0.5 the (1 - alpha) quantile of the
    shuffled shares lies, i.e. how much closer to train than half a private table may read.
    """
    labels = np.zeros((2 * size, PERMUTATIONS), dtype=np.float32)
    for k in range(PERMUTATIONS):
        labels[rng.permutation(2 * size)[:size], k] = 1.0
    in_train = nearest @ labels
    counts = np.asarray(nearest.sum(axis=1)).reshape(-1, 1)
    scores = np.where(in_train >= counts - 0.5, 1.0, np.where(in_train <= 0.5, 0.0, 0.5))
    shuffled = scores.mean(axis=0)
    p_value = (1 + np.count_nonzero(shuffled >= share - TIE_TOLERANCE)) / (1 + PERMUTATIONS)
    return float(p_value), float(max(np.quantile(shuffled, 1 - alpha) - 0.5, 0.0))


def dcr_share(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    columns: list[ColumnSchema],
    max_rows: int,
    seed: int,
    alpha: float = 0.05,
) -> dict:
    """Share of synthetic rows closer to train than to holdout (ties count one half), and the
    tails of the same distances.

    Train, holdout and synthetic are subsampled to one common size (at most `max_rows`), so a
    generator that learned nothing specific to its training rows scores 0.5 in expectation.
    Returns the one-sided permutation p-value of 'closer to train more often than half'
    (`_permutation_p_value`: a binomial test here read real unseen rows as significant); the
    5th-percentile DCR syn->train over syn->holdout (`dcr_tail_ratio`, 1 = no closer to train in
    the tail) and the same for the nearest-neighbour distance ratio (`nndr_tail_ratio`, NNDR =
    nearest / second-nearest distance), each with an upper (1 - alpha) bootstrap bound; and a
    histogram of both distance sets for the report.
    """
    size = min(len(train), len(holdout), len(synthetic), max_rows)
    rng = np.random.default_rng(seed)

    def subsample(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.iloc[rng.choice(len(frame), size=size, replace=False)].reset_index(drop=True)

    tr, ho, sy = subsample(train), subsample(holdout), subsample(synthetic)
    encoder = GowerEncoder(columns).fit(pd.concat([tr, ho], ignore_index=True))
    syn_x = encoder.transform(sy)
    pooled = encoder.transform(pd.concat([tr, ho], ignore_index=True))
    to_train, second_train = np.empty(size), np.empty(size)
    to_holdout, second_holdout = np.empty(size), np.empty(size)
    nearest_rows: list[sparse.csr_matrix] = []
    for start, total in _distance_chunks(syn_x, pooled):
        rows = slice(start, start + len(total))
        to_train[rows], second_train[rows] = _nearest_two(total[:, :size])
        to_holdout[rows], second_holdout[rows] = _nearest_two(total[:, size:])
        nearest = total <= total.min(axis=1, keepdims=True) + TIE_TOLERANCE
        nearest_rows.append(sparse.csr_matrix(nearest, dtype=np.float32))
    closer = to_train < to_holdout - TIE_TOLERANCE
    ties = np.abs(to_train - to_holdout) <= TIE_TOLERANCE
    share = float(closer.mean() + 0.5 * ties.mean())
    p_value, band = _permutation_p_value(
        share, sparse.vstack(nearest_rows).tocsr(), size, rng, alpha
    )
    nndr_train = np.where(second_train > 0, to_train / np.maximum(second_train, 1e-12), 1.0)
    nndr_holdout = np.where(second_holdout > 0, to_holdout / np.maximum(second_holdout, 1e-12), 1.0)
    edges = np.histogram_bin_edges(np.concatenate([to_train, to_holdout]), bins=HISTOGRAM_BINS)
    return {
        "dcr_share": share,
        "dcr_share_p_value": p_value,
        "dcr_share_reference": 0.5,
        "dcr_share_band": band,
        "dcr_rows_compared": float(size),
        "dcr_ties": float(ties.mean()),
        "dcr_tail_ratio": (dcr_tail := _tail_ratio(to_train, to_holdout)),
        "dcr_tail_ratio_upper": (dcr_upper := _bootstrap_upper(to_train, to_holdout, alpha, rng)),
        "dcr_tail_ratio_reference": 1.0,
        "dcr_tail_ratio_band": max(dcr_upper - dcr_tail, 0.0),
        "nndr_tail_ratio": (nndr_tail := _tail_ratio(nndr_train, nndr_holdout)),
        "nndr_tail_ratio_upper": (
            nndr_upper := _bootstrap_upper(nndr_train, nndr_holdout, alpha, rng)
        ),
        "nndr_tail_ratio_reference": 1.0,
        "nndr_tail_ratio_band": max(nndr_upper - nndr_tail, 0.0),
        "histogram": {
            "edges": [float(e) for e in edges],
            "to_train": [int(c) for c in np.histogram(to_train, bins=edges)[0]],
            "to_holdout": [int(c) for c in np.histogram(to_holdout, bins=edges)[0]],
        },
    }
