"""Record-level privacy metrics that need no attack model: identical matches and k-anonymity.

The distance-based ones (DCR share, DCR and NNDR tails) are in `distance.py`; the attack-based
ones (Anonymeter) in `attacks.py`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import fisher_exact

from anon_platform.catalog.schema import ColumnSchema


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
    return {
        "identical_match_share": syn_hits / max(len(synthetic), 1),
        "identical_match_reference": ref_hits / max(len(holdout), 1),
        "identical_match_p_value": p_value,
    }


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
