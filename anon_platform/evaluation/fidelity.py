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


def quality(train: pd.DataFrame, synthetic: pd.DataFrame, table: TableSchema) -> dict[str, float]:
    """SDMetrics QualityReport score and its two properties over the modelled columns."""
    report = QualityReport()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.generate(
            {table.name: train},
            {table.name: synthetic},
            sdv_metadata(table, table.modelled_columns, train).to_dict(),
            verbose=False,
        )
    properties = report.get_properties().set_index("Property")["Score"]
    return {
        "quality": float(report.get_score()),
        "column_shapes": float(properties.get("Column Shapes", np.nan)),
        "column_pair_trends": float(properties.get("Column Pair Trends", np.nan)),
    }


def _discriminate(
    real: pd.DataFrame, other: pd.DataFrame, columns: list[ColumnSchema], seed: int
) -> float:
    """Out-of-fold AUC of a gradient-boosted classifier telling `other` rows from `real` rows."""
    (x_real, x_other), categorical = model_matrices([real, other], columns)
    x = np.vstack([x_real, x_other])
    y = np.r_[np.zeros(len(x_real)), np.ones(len(x_other))]
    model = HistGradientBoostingClassifier(
        max_iter=50, categorical_features=categorical, random_state=seed
    )
    folds = StratifiedKFold(DISCRIMINATOR_FOLDS, shuffle=True, random_state=seed)
    with single_threaded():
        scores = cross_val_predict(model, x, y, cv=folds, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, scores))


def discriminator_auc(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    columns: list[ColumnSchema],
    max_rows: int,
    seed: int,
) -> dict[str, float]:
    """AUC of telling synthetic from training rows (0.5: indistinguishable, 1: trivially told
    apart), on equal-size samples of at most `max_rows` per class, and the reference AUC of
    telling holdout from training rows (what real unseen data scores, usually near 0.5)."""
    rng = np.random.default_rng(seed)

    def sample(frame: pd.DataFrame, size: int) -> pd.DataFrame:
        return frame.iloc[rng.choice(len(frame), size=size, replace=False)]

    n = min(len(train), len(synthetic), max_rows)
    n_ref = min(len(train), len(holdout), max_rows)
    return {
        "discriminator_auc": _discriminate(sample(train, n), sample(synthetic, n), columns, seed),
        "discriminator_auc_reference": _discriminate(
            sample(train, n_ref), sample(holdout, n_ref), columns, seed
        ),
    }
