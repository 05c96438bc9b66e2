"""Fidelity: SDMetrics' quality properties and a discriminator that tries to tell synthetic
rows from training rows (reference: the same discriminator on holdout vs training rows)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sdmetrics.reports import QualityReport
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from anon_platform.catalog.schema import ColumnSchema, TableSchema
from anon_platform.common.frames import sdv_metadata
from anon_platform.evaluation.features import model_matrices, single_threaded

DISCRIMINATOR_FOLDS = 3
MIN_VALUES = 10  # non-null values a column needs to enter the discriminator


BAND_RESAMPLES = 50  # bootstrap resamples of a band: cheap statistics only
BAND_Z = 1.645  # one-sided 95 %


def _quality_report(
    train: pd.DataFrame, other: pd.DataFrame, table: TableSchema
) -> tuple[dict[str, float], pd.Series, pd.Series]:
    """SDMetrics QualityReport of `other` against train: the three scores, and the per-column
    shape scores and per-pair trend scores (indexed by column, resp. column pair)."""
    report = QualityReport()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.generate(
            {table.name: train},
            {table.name: other},
            sdv_metadata(table, table.modelled_columns, train).to_dict(),
            verbose=False,
        )
    properties = report.get_properties().set_index("Property")["Score"]
    scores = {
        "quality": float(report.get_score()),
        "column_shapes": float(properties.get("Column Shapes", np.nan)),
        "column_pair_trends": float(properties.get("Column Pair Trends", np.nan)),
    }
    return scores, _details(report, "Column Shapes"), _details(report, "Column Pair Trends")


def _details(report: QualityReport, prop: str) -> pd.Series:
    try:
        details = report.get_details(prop)
    except Exception:
        return pd.Series(dtype=float)
    if details.empty or "Score" not in details:
        return pd.Series(dtype=float)
    keys = [c for c in ("Column", "Column 1", "Column 2") if c in details]
    index = details[keys].astype(str).agg("|".join, axis=1)
    return pd.Series(details["Score"].to_numpy(dtype=float), index=index).dropna()


def _paired_band(synthetic: pd.Series, reference: pd.Series, rng: np.random.Generator) -> float:
    """Half-width (one-sided 95 %) of the mean per-column score difference, bootstrapped over
    the columns (or pairs) both reports scored; 0 with fewer than two."""
    common = synthetic.index.intersection(reference.index)
    diff = (synthetic[common] - reference[common]).to_numpy()
    if len(diff) < 2:
        return 0.0
    means = [diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(BAND_RESAMPLES)]
    return float(BAND_Z * np.std(means))


def quality(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    table: TableSchema,
    holdout: pd.DataFrame | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """SDMetrics QualityReport score and its two properties over the modelled columns; with a
    holdout, also each one's real-data reference (the holdout scored against train, holdout and
    synthetic cut to one size) and band (`_paired_band`; quality's combines both properties')."""
    scores, shapes, trends = _quality_report(train, synthetic, table)
    if holdout is None or holdout.empty:
        return scores
    rng = np.random.default_rng(seed)
    size = min(len(holdout), len(synthetic))
    if size < len(synthetic):  # the synthetic score compared with the reference: same size
        sample = synthetic.iloc[rng.choice(len(synthetic), size, replace=False)]
        _, shapes, trends = _quality_report(train, sample, table)
    ho = holdout.iloc[rng.choice(len(holdout), size, replace=False)]
    reference, ref_shapes, ref_trends = _quality_report(train, ho, table)
    shapes_band = _paired_band(shapes, ref_shapes, rng)
    trends_band = _paired_band(trends, ref_trends, rng)
    out = dict(scores)
    for name in scores:
        out[f"{name}_reference"] = reference[name]
    out["column_shapes_band"] = shapes_band
    out["column_pair_trends_band"] = trends_band
    out["quality_band"] = float(np.hypot(shapes_band, trends_band) / 2)
    return out


def _discriminate(
    real: pd.DataFrame, other: pd.DataFrame, columns: list[ColumnSchema], seed: int
) -> tuple[float, float]:
    """Out-of-fold AUC of a gradient-boosted classifier telling `other` rows from `real` rows,
    and the standard deviation of that AUC over bootstrap resamples of the scored rows."""
    (x_real, x_other), categorical = model_matrices([real, other], columns)
    x = np.vstack([x_real, x_other])
    # a column (almost) all null tells nothing, and one left empty in a fold breaks the binning
    informative = (~np.isnan(x)).sum(axis=0) >= MIN_VALUES
    x, categorical = x[:, informative], categorical[informative]
    y = np.r_[np.zeros(len(x_real)), np.ones(len(x_other))]
    model = HistGradientBoostingClassifier(
        max_iter=50, categorical_features=categorical, random_state=seed
    )
    folds = StratifiedKFold(DISCRIMINATOR_FOLDS, shuffle=True, random_state=seed)
    with single_threaded():
        scores = cross_val_predict(model, x, y, cv=folds, method="predict_proba")[:, 1]
    rng = np.random.default_rng(seed)
    resampled = []
    for _ in range(BAND_RESAMPLES):
        idx = rng.integers(0, len(y), len(y))
        if 0 < y[idx].sum() < len(idx):
            resampled.append(roc_auc_score(y[idx], scores[idx]))
    return float(roc_auc_score(y, scores)), float(np.std(resampled)) if resampled else 0.0


def discriminator_auc(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    columns: list[ColumnSchema],
    max_rows: int,
    seed: int,
) -> dict[str, float]:
    """AUC of telling synthetic from training rows (0.5: indistinguishable, 1: trivially told
    apart), on equal-size samples of at most `max_rows` per class, the reference AUC of
    telling holdout from training rows (what real unseen data scores, usually near 0.5), and
    the band of their difference (one-sided 95 %, bootstrap of both AUCs)."""
    rng = np.random.default_rng(seed)

    def sample(frame: pd.DataFrame, size: int) -> pd.DataFrame:
        return frame.iloc[rng.choice(len(frame), size=size, replace=False)]

    n = min(len(train), len(synthetic), max_rows)
    n_ref = min(len(train), len(holdout), max_rows)
    auc, sd = _discriminate(sample(train, n), sample(synthetic, n), columns, seed)
    reference, sd_ref = _discriminate(sample(train, n_ref), sample(holdout, n_ref), columns, seed)
    return {
        "discriminator_auc": auc,
        "discriminator_auc_reference": reference,
        "discriminator_auc_band": float(BAND_Z * np.hypot(sd, sd_ref)),
    }
