"""Anonymeter's singling-out, linkability and inference attacks, run the way EVALUATION.md
found necessary: the original (train) and synthetic rows are subsampled to the control
(holdout) set's size, because Anonymeter compares the attack on train with the same attack on
the control rows and a larger train set inflates the risk (0.199 vs 0.026 on diamonds)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import polars as pl
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


def _univariate_queries(df: pl.DataFrame, n_queries: int, rng: np.random.Generator) -> list:
    """Anonymeter 1.1.0's `univariate_singling_out_queries` with one change: rare values are
    collected with `group_by(..., maintain_order=True)`. The library's unordered group_by made
    the query list, and so the risk, differ between identical runs (upper bounds 0.024 to
    0.101 on one input with seed 0); the queries themselves are the library's."""
    from anonymeter.evaluators.singling_out_evaluator import UniqueSinglingOutQueries

    queries: list = []
    schema = df.schema
    for col in df.columns:
        if df.select(pl.col(col).is_null().sum()).item() == 1:
            queries.append(pl.col(col).is_null())
        if schema[col].is_numeric() and df[col].drop_nulls().len() > 0:
            queries.extend([pl.col(col) <= df[col].min(), pl.col(col) >= df[col].max()])
        counts = df.group_by(col, maintain_order=True).len()
        rare = counts.filter(pl.col("len") == 1).select(col).to_series().to_list()
        queries.extend(pl.col(col) == value for value in rare)
    rng.shuffle(queries)
    unique = UniqueSinglingOutQueries(max_size=n_queries)
    unique.check_and_extend(queries, df)
    return unique.queries


@contextmanager
def deterministic_univariate_queries() -> Iterator[None]:
    """Use `_univariate_queries` inside Anonymeter's singling-out evaluator for a while."""
    from anonymeter.evaluators import singling_out_evaluator

    original = singling_out_evaluator.univariate_singling_out_queries
    singling_out_evaluator.univariate_singling_out_queries = _univariate_queries
    try:
        yield
    finally:
        singling_out_evaluator.univariate_singling_out_queries = original


def _risk(evaluator, confidence_level: float) -> dict[str, float]:
    risk = evaluator.risk(confidence_level=confidence_level)
    return {"value": float(risk.value), "low": float(risk.ci[0]), "high": float(risk.ci[1])}


MAX_FALLBACK_SECRETS = 3


def inference_secrets(columns: list[ColumnSchema]) -> list[ColumnSchema]:
    """The columns an inference attack tries to learn: the sensitive ones; without any, the
    target (a label is usually what is sensitive); without that, up to MAX_FALLBACK_SECRETS
    plain attributes, so that a table without declared roles is still attacked."""
    sensitive = [c for c in columns if c.role == Role.SENSITIVE]
    if sensitive:
        return sensitive
    targets = [c for c in columns if c.role == Role.TARGET]
    if targets:
        return targets
    return [c for c in columns if c.role == Role.ATTRIBUTE][:MAX_FALLBACK_SECRETS]


# Anonymeter draws multivariate singling-out queries until `n_attacks` of them single out one
# synthetic row, by default for up to 10 million attempts. On a low-diversity synthetic table
# (TVAE after 3 epochs on the demo's transactions) that ran for over 5 minutes without end;
# with this cap it stops and scores the queries it found (fewer queries: a lower risk, which is
# what a table that rarely singles anyone out deserves).
MAX_QUERY_ATTEMPTS_PER_ATTACK = 100


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
    rest) and 'inference/<column>' for each secret (`inference_secrets`) from every other
    column.

    Empty when the holdout has fewer than MIN_CONTROL_ROWS rows (no meaningful control).
    """
    size = min(len(train), len(holdout), len(synthetic))
    if size < MIN_CONTROL_ROWS or not columns:
        return {}
    rng = np.random.default_rng(seed)

    def sample(frame: pd.DataFrame) -> pd.DataFrame:
        return _plain(frame.iloc[rng.choice(len(frame), size, replace=False)], columns)

    # one common size: Anonymeter's rates are only comparable between equal-size sets, and its
    # confidence interval fails (math domain error) when the control outnumbers the originals
    ori, syn, control = sample(train), sample(synthetic), sample(holdout)
    attacks = min(settings.singling_out_attacks, size)
    level = settings.confidence_level
    risks: dict[str, dict[str, float]] = {}
    np.random.seed(seed % (2**32))  # Anonymeter's linkability and inference sample unseeded
    with warnings.catch_warnings(), deterministic_univariate_queries():
        warnings.simplefilter("ignore")
        modes = ["univariate"] + (["multivariate"] if settings.multivariate_singling_out else [])
        for mode in modes:
            if mode == "multivariate" and len(columns) < 3:
                continue
            evaluator = SinglingOutEvaluator(
                ori=ori,
                syn=syn,
                control=control,
                n_attacks=attacks,
                max_attempts=attacks * MAX_QUERY_ATTEMPTS_PER_ATTACK,
                seed=seed,
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
        for secret in inference_secrets(columns):
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
