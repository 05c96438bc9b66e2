"""Utility: train-synthetic-test-real (TSTR) against train-real-test-real (TRTR) with the same
model family (scikit-learn's HistGradientBoosting), on the table's target."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import r2_score, roc_auc_score

from anon_platform.catalog.schema import ColumnSchema
from anon_platform.catalog.specs import ColumnType
from anon_platform.evaluation.features import model_matrices, single_threaded

MAX_CLASSES = 10
BOOTSTRAP_REPLICATES = 200


def is_classification(target: ColumnSchema, train: pd.DataFrame) -> bool:
    """A string or boolean target, or an integer one with at most MAX_CLASSES values."""
    if target.type in (ColumnType.STRING, ColumnType.BOOLEAN):
        return True
    return target.type == ColumnType.INTEGER and train[target.name].nunique() <= MAX_CLASSES


def _score(truth: np.ndarray, predicted: np.ndarray, classes: list, classify: bool) -> float:
    if not classify:
        return float(r2_score(truth, predicted))
    if len(np.unique(truth)) < 2:
        return float("nan")
    if len(classes) == 2:
        return float(roc_auc_score(truth == classes[1], predicted[:, 1]))
    return float(roc_auc_score(truth, predicted, multi_class="ovr", labels=classes))


def _fit_predict(
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    x_test: np.ndarray,
    classes: list,
    classify: bool,
    categorical: np.ndarray,
    seed: int,
) -> np.ndarray:
    """Predictions on x_test: class probabilities over `classes`, or values."""
    if not classify:
        model = HistGradientBoostingRegressor(categorical_features=categorical, random_state=seed)
        return model.fit(x_fit, y_fit).predict(x_test)
    probabilities = np.zeros((len(x_test), len(classes)))
    seen = [c for c in classes if c in set(y_fit)]
    if len(seen) < 2:  # a single class learned: every row gets that class, no ranking at all
        probabilities[:, classes.index(seen[0]) if seen else 0] = 1.0
        return probabilities
    model = HistGradientBoostingClassifier(categorical_features=categorical, random_state=seed)
    predicted = model.fit(x_fit, y_fit).predict_proba(x_test)
    for j, label in enumerate(model.classes_):
        probabilities[:, classes.index(label)] = predicted[:, j]
    return probabilities


def tstr_trtr(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    columns: list[ColumnSchema],
    target: str,
    max_rows: int,
    seed: int,
    alpha: float = 0.05,
) -> dict[str, float]:
    """TSTR and TRTR scores on the holdout (AUC for classification, R² for regression), their
    ratio, and an upper (1 - alpha) bound of the ratio from a bootstrap over holdout rows (for
    'not significantly below the threshold' on small holdouts). Rows with a null target are
    left out; each training set is cut to `max_rows`."""
    spec = next(c for c in columns if c.name == target)
    features = [c for c in columns if c.name != target]
    rng = np.random.default_rng(seed)

    def usable(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame[frame[target].notna()]
        if len(frame) > max_rows:
            frame = frame.iloc[rng.choice(len(frame), size=max_rows, replace=False)]
        return frame

    tr, sy, ho = usable(train), usable(synthetic), holdout[holdout[target].notna()]
    classify = is_classification(spec, tr)
    (x_tr, x_sy, x_ho), categorical = model_matrices([tr, sy, ho], features)
    if classify:
        labels = [tr[target], sy[target], ho[target]]
        classes = sorted(set().union(*(set(s.astype(str)) for s in labels)))
        y_tr, y_sy, y_ho = (s.astype(str).to_numpy() for s in labels)
    else:
        classes = []
        y_tr, y_sy, y_ho = (
            s.astype(float).to_numpy() for s in (tr[target], sy[target], ho[target])
        )
    with single_threaded():
        real = _fit_predict(x_tr, y_tr, x_ho, classes, classify, categorical, seed)
        fake = _fit_predict(x_sy, y_sy, x_ho, classes, classify, categorical, seed)
    trtr, tstr = _score(y_ho, real, classes, classify), _score(y_ho, fake, classes, classify)
    ratios = []
    for _ in range(BOOTSTRAP_REPLICATES):
        idx = rng.integers(0, len(y_ho), len(y_ho))
        base = _score(y_ho[idx], real[idx], classes, classify)
        if np.isfinite(base) and base > 0:
            ratios.append(_score(y_ho[idx], fake[idx], classes, classify) / base)
    ratio = tstr / trtr if np.isfinite(trtr) and trtr > 0 else float("nan")
    return {
        "tstr": tstr,
        "trtr": trtr,
        "utility_ratio": ratio,
        "utility_ratio_upper": float(np.nanquantile(ratios, 1 - alpha)) if ratios else ratio,
        "utility_is_auc": float(classify),
    }
