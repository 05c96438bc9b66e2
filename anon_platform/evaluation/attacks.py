"""Anonymeter's singling-out, linkability and inference attacks, run the way EVALUATION.md
found necessary: the original (train) and synthetic rows are subsampled to the control
(holdout) set's size, because Anonymeter compares the attack on train with the same attack on
the control rows and a larger train set inflates the risk (0.199 vs 0.026 on diamonds)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from anonymeter.evaluators import (
    InferenceEvaluator,
    LinkabilityEvaluator,
    SinglingOutEvaluator,
)

from anon_platform.catalog.schema import ColumnSchema
from anon_platform.catalog.specs import ColumnType, EvaluationSettings, Role
from anon_platform.evaluation.distance import NUMERIC_TYPES, as_number

MIN_CONTROL_ROWS = 20


def _plain(frame: pd.DataFrame, columns: list[ColumnSchema]) -> pd.DataFrame:
    """Dates as seconds and categories as strings: what Anonymeter's queries handle well."""
    out = {}
    for column in columns:
        values = frame[column.name]
        if column.type in (ColumnType.DATE, ColumnType.DATETIME, ColumnType.BOOLEAN):
            out[column.name] = as_number(values, column)
        elif column.type in NUMERIC_TYPES:
            out[column.name] = pd.to_numeric(values, errors="coerce").astype("float64")
        else:
            out[column.name] = values.astype("object")
    return pd.DataFrame(out)


def _risk(evaluator, confidence_level: float) -> dict[str, float]:
    risk = evaluator.risk(confidence_level=confidence_level)
    return {"value": float(risk.value), "low": float(risk.ci[0]), "high": float(risk.ci[1])}


def anonymeter_risks(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    columns: list[ColumnSchema],
    settings: EvaluationSettings,
    seed: int,
) -> dict[str, dict[str, float]]:
    """Risk estimates with confidence intervals, keyed by attack: 'singling_out_univariate',
    'singling_out_multivariate', 'linkability' (auxiliary columns: quasi-identifiers vs the
    rest) and 'inference/<column>' for each sensitive column (secret) from every other column.

    Empty when the holdout has fewer than MIN_CONTROL_ROWS rows (no meaningful control).
    """
    size = len(holdout)
    if size < MIN_CONTROL_ROWS or not columns:
        return {}
    rng = np.random.default_rng(seed)
    ori = _plain(train.iloc[rng.choice(len(train), min(size, len(train)), replace=False)], columns)
    syn = _plain(
        synthetic.iloc[rng.choice(len(synthetic), min(size, len(synthetic)), replace=False)],
        columns,
    )
    control = _plain(holdout, columns)
    attacks = min(settings.singling_out_attacks, size)
    level = settings.confidence_level
    risks: dict[str, dict[str, float]] = {}
    np.random.seed(seed % (2**32))  # Anonymeter's linkability and inference sample unseeded
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        modes = ["univariate"] + (["multivariate"] if settings.multivariate_singling_out else [])
        for mode in modes:
            if mode == "multivariate" and len(columns) < 3:
                continue
            evaluator = SinglingOutEvaluator(
                ori=ori, syn=syn, control=control, n_attacks=attacks, seed=seed
            )
            risks[f"singling_out_{mode}"] = _risk(evaluator.evaluate(mode=mode), level)
        names = [c.name for c in columns]
        qis = [c.name for c in columns if c.role == Role.QUASI_IDENTIFIER]
        rest = [n for n in names if n not in qis]
        if not qis or not rest:
            qis, rest = names[: len(names) // 2], names[len(names) // 2 :]
        if qis and rest:
            evaluator = LinkabilityEvaluator(
                ori=ori,
                syn=syn,
                control=control,
                aux_cols=(qis, rest),
                n_attacks=min(settings.linkability_attacks, size),
                n_neighbors=1,
            )
            risks["linkability"] = _risk(evaluator.evaluate(n_jobs=1), level)
        for secret in (c for c in columns if c.role == Role.SENSITIVE):
            aux = [n for n in names if n != secret.name]
            if not aux:
                continue
            evaluator = InferenceEvaluator(
                ori=ori,
                syn=syn,
                control=control,
                aux_cols=aux,
                secret=secret.name,
                regression=secret.type in NUMERIC_TYPES,
                n_attacks=min(settings.inference_attacks, size),
            )
            risks[f"inference/{secret.name}"] = _risk(evaluator.evaluate(n_jobs=1), level)
    return risks
