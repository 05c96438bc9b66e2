"""Downstream utility of codes: the same model family trained on codes and on the raw staged
features, on the same split, scored on the holdout rows.

Model: scikit-learn's HistGradientBoosting (random_state 0; native categorical support for the
raw features). Score: ROC AUC for a binary target, macro one-vs-rest AUC for a categorical one,
R^2 for a numeric target with more than MAX_CLASSES values.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
import polars as pl
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import r2_score, roc_auc_score

from anon_platform.latent.preprocessing import numeric_values

MAX_CLASSES = 10
# HistGradientBoosting reads at most 255 categories; rarer ones become missing
MAX_CATEGORIES = 250
Task = Literal["binary", "multiclass", "regression"]


def raw_features(frames: list[pl.DataFrame], columns: list[str]) -> list[pd.DataFrame]:
    """The given columns of several frames as pandas: numbers (dates as days) stay numeric,
    everything else becomes a category with the categories of all frames together."""
    out = [pd.DataFrame(index=range(f.height)) for f in frames]
    for name in columns:
        dtype = frames[0].schema[name]
        if dtype.is_numeric() or dtype.is_temporal():
            for frame, target in zip(frames, out, strict=True):
                target[name] = numeric_values(frame[name])
        else:
            values = [frame[name].cast(pl.String).to_list() for frame in frames]
            counts = frames[0][name].cast(pl.String).drop_nulls().value_counts(sort=True)
            categories = sorted(counts[name].head(MAX_CATEGORIES).to_list())
            for vs, target in zip(values, out, strict=True):
                target[name] = pd.Categorical(vs, categories=categories)
    return out


def task_of(values: pl.Series) -> Task:
    """What predicting this column is: binary, multiclass (strings, or <= MAX_CLASSES values),
    or regression."""
    distinct = values.drop_nulls().n_unique()
    if distinct <= 2:
        return "binary"
    if not values.dtype.is_numeric() or distinct <= MAX_CLASSES:
        return "multiclass"
    return "regression"


def labels(values: pl.Series, task: Task) -> np.ndarray:
    """Targets for scikit-learn: class codes for classification, floats for regression."""
    if task == "regression":
        return numeric_values(values)
    return np.asarray(values.cast(pl.String).fill_null("<null>").to_list(), dtype=object)


def fit_and_score(
    x_train: Any,
    y_train: np.ndarray,
    x_test: Any,
    y_test: np.ndarray,
    task: Task,
    seed: int = 0,
    classifier: Any = None,
) -> float:
    """Fit the model family on train and score on test (AUC, macro AUC or R^2); `classifier`
    replaces HistGradientBoostingClassifier for classification when given."""
    if task == "regression":
        keep_train, keep_test = ~np.isnan(y_train), ~np.isnan(y_test)
        model = HistGradientBoostingRegressor(random_state=seed, categorical_features="from_dtype")
        model.fit(_rows(x_train, keep_train), y_train[keep_train])
        return float(r2_score(y_test[keep_test], model.predict(_rows(x_test, keep_test))))
    classes = np.unique(y_train)
    if len(classes) < 2 or len(np.unique(y_test)) < 2:
        return 0.5
    model = classifier or HistGradientBoostingClassifier(
        random_state=seed, categorical_features="from_dtype"
    )
    model.fit(x_train, y_train)
    proba = model.predict_proba(x_test)
    if task == "binary" or len(classes) == 2:
        positive = model.classes_[1]
        return float(roc_auc_score(y_test == positive, proba[:, 1]))
    seen = np.isin(y_test, model.classes_)
    present = [c for c in model.classes_ if (y_test[seen] == c).any()]
    if len(present) < 2:
        return 0.5
    columns = [list(model.classes_).index(c) for c in present]
    scores = proba[seen][:, columns]
    scores = scores / scores.sum(axis=1, keepdims=True).clip(min=1e-12)
    return float(
        roc_auc_score(y_test[seen], scores, multi_class="ovr", average="macro", labels=present)
    )


def _rows(x: Any, keep: np.ndarray) -> Any:
    return x.loc[keep] if isinstance(x, pd.DataFrame) else x[keep]


def downstream_utility(
    raw_train: pl.DataFrame,
    raw_holdout: pl.DataFrame,
    codes_train: np.ndarray,
    codes_holdout: np.ndarray,
    features: list[str],
    target: str,
    seed: int = 0,
) -> dict[str, Any]:
    """Score of the model on raw features and on codes, and the drop (raw - codes)."""
    task = task_of(raw_train[target])
    y_train, y_holdout = labels(raw_train[target], task), labels(raw_holdout[target], task)
    x_train, x_holdout = raw_features([raw_train, raw_holdout], features)
    raw = fit_and_score(x_train, y_train, x_holdout, y_holdout, task, seed)
    latent = fit_and_score(codes_train, y_train, codes_holdout, y_holdout, task, seed)
    return {
        "target": target,
        "task": task,
        "metric": "r2" if task == "regression" else "auc",
        "raw": raw,
        "latent": latent,
        "drop": raw - latent,
    }
