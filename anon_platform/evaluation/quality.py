"""Fidelity and privacy metrics of a synthetic dataset (first set: SDMetrics quality, DCR share).

Quality is SDMetrics' QualityReport. The DCR share (anon_platform.evaluation.distance) is
computed on equal-size subsamples of train, holdout and synthetic rows: with a larger train set,
synthetic rows are simply closer to train, and the share of a private generator only sits at 0.5
when the sizes are equal (see EVALUATION.md).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import polars as pl
from sdmetrics.reports import QualityReport

from anon_platform.catalog.schema import DatasetSchema, TableSchema
from anon_platform.evaluation.distance import dcr_share
from anon_platform.generators.sdv_backends import sdv_metadata
from anon_platform.generators.table_by_table import to_pandas


@dataclass(frozen=True)
class TableMetrics:
    """Metrics of one synthetic table against its train and holdout tables."""

    table: str
    train_rows: int
    holdout_rows: int
    synthetic_rows: int
    quality: float
    column_shapes: float
    column_pair_trends: float
    dcr_share: float
    dcr_share_p_value: float
    dcr_rows_compared: int


def _metadata_dict(table: TableSchema, train: pd.DataFrame) -> dict:
    return sdv_metadata(table, table.modelled_columns, train).to_dict()


def quality(train: pd.DataFrame, synthetic: pd.DataFrame, table: TableSchema) -> dict[str, float]:
    """SDMetrics QualityReport score and its two properties over the modelled columns."""
    report = QualityReport()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.generate(
            {table.name: train},
            {table.name: synthetic},
            _metadata_dict(table, train),
            verbose=False,
        )
    properties = report.get_properties().set_index("Property")["Score"]
    return {
        "quality": float(report.get_score()),
        "column_shapes": float(properties.get("Column Shapes", np.nan)),
        "column_pair_trends": float(properties.get("Column Pair Trends", np.nan)),
    }


def evaluate_dataset(
    schema: DatasetSchema,
    train: dict[str, pl.DataFrame],
    holdout: dict[str, pl.DataFrame],
    synthetic: dict[str, pl.DataFrame],
    dcr_max_rows: int,
    seed: int,
) -> dict:
    """Per-table metrics and the dataset scorecard (mean quality, worst DCR share)."""
    tables = []
    for table in schema.tables:
        columns = table.modelled_columns
        tr, ho, sy = (to_pandas(d[table.name], columns) for d in (train, holdout, synthetic))
        q = quality(tr, sy, table)
        dcr = dcr_share(tr, ho, sy, columns, dcr_max_rows, seed)
        tables.append(
            TableMetrics(
                table=table.name,
                train_rows=len(tr),
                holdout_rows=len(ho),
                synthetic_rows=len(sy),
                dcr_share=dcr["dcr_share"],
                dcr_share_p_value=dcr["dcr_share_p_value"],
                dcr_rows_compared=int(dcr["dcr_rows_compared"]),
                **q,
            )
        )
    worst = max(tables, key=lambda t: t.dcr_share)
    return {
        "scorecard": {
            "quality": float(np.mean([t.quality for t in tables])),
            "dcr_share": worst.dcr_share,
            "dcr_share_p_value": worst.dcr_share_p_value,
        },
        "tables": [asdict(t) for t in tables],
    }
