"""Record-level privacy metrics that need no attack model: identical matches and k-anonymity.

The distance-based ones (DCR share, DCR and NNDR tails) are in `distance.py`; the attack-based
ones (Anonymeter) in `attacks.py`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.stats import fisher_exact

from anon_platform.catalog.schema import ColumnSchema
from anon_platform.catalog.specs import ColumnType


def _row_keys(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """One hashable key per row over `columns` (nulls equal to nulls)."""
    return pd.util.hash_pandas_object(frame[columns].astype("string"), index=False)


def identical_match_share(
    train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, columns: list[ColumnSchema]
) -> dict[str, float]:
    """Share of synthetic rows equal to some training row, against the share of holdout rows
    equal to some training row (the reference: what real, unseen rows score), and the one-sided
    Fisher exact p-value of 'synthetic rows copy training rows more often than unseen rows do'.

    Both shares are looked up in the same set (the training rows), so the query sets' sizes do
    not bias the comparison.
    """
    names = [c.name for c in columns]
    known = set(_row_keys(train, names))
    syn_hits = int(_row_keys(synthetic, names).isin(known).sum())
    ref_hits = int(_row_keys(holdout, names).isin(known).sum())
    table = [[syn_hits, len(synthetic) - syn_hits], [ref_hits, len(holdout) - ref_hits]]
    p_value = float(fisher_exact(table, alternative="greater").pvalue)
    share, reference = syn_hits / max(len(synthetic), 1), ref_hits / max(len(holdout), 1)
    return {
        "identical_match_share": share,
        "identical_match_reference": reference,
        "identical_match_band": _proportion_band(share, len(synthetic), reference, len(holdout)),
        "identical_match_p_value": p_value,
    }


BAND_Z = 1.645  # one-sided 95 %
BAND_RESAMPLES = 200  # bootstrap of a share: a mean of booleans, cheap


def _proportion_band(p1: float, n1: int, p2: float, n2: int) -> float:
    """One-sided 95 % half-width of the difference of two shares (normal approximation)."""
    return float(BAND_Z * np.sqrt(p1 * (1 - p1) / max(n1, 1) + p2 * (1 - p2) / max(n2, 1)))


Resampler = Callable[[np.ndarray, np.ndarray], list[float]]


def _row_resampler(n_syn: int, n_ref: int, rng: np.random.Generator) -> Resampler:
    """Bootstrap differences of two shares, resampling rows."""

    def resample(syn: np.ndarray, ref: np.ndarray) -> list[float]:
        return [
            syn[rng.integers(0, n_syn, n_syn)].mean() - ref[rng.integers(0, n_ref, n_ref)].mean()
            for _ in range(BAND_RESAMPLES)
        ]

    return resample


def _cluster_resampler(
    syn_groups: np.ndarray, ref_groups: np.ndarray, rng: np.random.Generator
) -> Resampler:
    """Bootstrap differences of two shares, resampling whole clusters (parents)."""
    syn_codes = pd.factorize(pd.Series(syn_groups))[0]
    ref_codes = pd.factorize(pd.Series(ref_groups))[0]

    def share(hits: np.ndarray, codes: np.ndarray) -> Callable[[], float]:
        sums = np.bincount(codes, weights=hits.astype(float))
        counts = np.bincount(codes).astype(float)
        n = len(counts)

        def draw() -> float:
            pick = rng.integers(0, n, n)
            return float(sums[pick].sum() / max(counts[pick].sum(), 1.0))

        return draw

    def resample(syn: np.ndarray, ref: np.ndarray) -> list[float]:
        draw_syn, draw_ref = share(syn, syn_codes), share(ref, ref_codes)
        return [draw_syn() - draw_ref() for _ in range(BAND_RESAMPLES)]

    return resample


def rare_value_reproduction(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    columns: list[ColumnSchema],
    k: int,
    seed: int,
    clusters: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Column-level leakage: per categorical (string or boolean) column, the share of rows
    holding a value that fewer than `k` training rows hold, in synthetic rows and (the
    reference) in holdout rows, both cut to one size. The scorecard value is the worst column's
    (largest excess over its reference), with its reference and a bootstrap band of the
    difference; numbers are left to the range protection (a continuous value is rare by nature).

    `clusters` (the parent key of each synthetic and holdout row, for a child table): the rows
    of one parent are not independent, so all rows are kept and the band resamples parents.

    Returns (metrics, per-column shares); a table without such columns scores 0 against 0.
    """
    rng = np.random.default_rng(seed)
    size = min(len(holdout), len(synthetic))
    if clusters is None:
        sy = synthetic.iloc[rng.choice(len(synthetic), size, replace=False)] if size else synthetic
        ho = holdout.iloc[rng.choice(len(holdout), size, replace=False)] if size else holdout
        resample = _row_resampler(size, size, rng)
    else:
        sy, ho = synthetic, holdout
        resample = _cluster_resampler(*clusters, rng)
    per_column: dict[str, dict[str, float]] = {}
    worst = {"rare_value_reproduction": 0.0, "rare_value_reproduction_reference": 0.0}
    worst["rare_value_reproduction_band"] = 0.0
    excess = -np.inf
    for column in columns:
        if column.type not in (ColumnType.STRING, ColumnType.BOOLEAN) or size == 0:
            continue
        counts = train[column.name].dropna().astype(str).value_counts()
        rare = set(counts.index[counts < k])
        syn_hit = sy[column.name].astype("string").isin(rare).fillna(False).to_numpy(bool)
        ref_hit = ho[column.name].astype("string").isin(rare).fillna(False).to_numpy(bool)
        share, reference = float(syn_hit.mean()), float(ref_hit.mean())
        per_column[column.name] = {"synthetic": share, "reference": reference}
        band = float(BAND_Z * np.std(resample(syn_hit, ref_hit)))
        if share - reference - band > excess:
            excess = share - reference - band
            worst = {
                "rare_value_reproduction": share,
                "rare_value_reproduction_reference": reference,
                "rare_value_reproduction_band": band,
            }
    return worst, per_column


def k_anonymity(released: pd.DataFrame, quasi_identifiers: list[str]) -> float:
    """The size of the smallest class of released rows sharing one quasi-identifier combination
    (nulls form a value of their own); the row count when there is no quasi-identifier."""
    if not quasi_identifiers or released.empty:
        return float(len(released))
    sizes = released[quasi_identifiers].astype("string").fillna("<null>").value_counts()
    return float(sizes.min())


def copies_of_unique_training_rows(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    columns: list[ColumnSchema],
    quasi_identifiers: list[str],
) -> np.ndarray:
    """For each synthetic row: whether it equals a training row whose quasi-identifier
    combination is unique in train (such a copy would single a real person out)."""
    names = [c.name for c in columns]
    if not quasi_identifiers:
        return np.zeros(len(synthetic), dtype=bool)
    qi_keys = _row_keys(train, quasi_identifiers)
    unique_rows = train[~qi_keys.duplicated(keep=False).to_numpy()]
    unique_keys = set(_row_keys(unique_rows, names))
    return _row_keys(synthetic, names).isin(unique_keys).to_numpy()
