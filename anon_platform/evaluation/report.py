"""The quality report of a synthetic dataset: every fidelity, utility and privacy metric per
table, and the dataset scorecard (worst case over tables) that the gates judge.

Metric names (the scorecard's keys; a metric that does not apply, such as utility without a
target, is absent):
- fidelity: quality, column_shapes, column_pair_trends (SDMetrics), discriminator_auc and its
  discriminator_auc_reference (holdout vs train);
- utility: tstr, trtr, utility_ratio (tstr / trtr) and utility_ratio_upper (bootstrap bound);
- privacy: identical_match_share, identical_match_reference, identical_match_p_value;
  dcr_share, dcr_share_p_value (worst of several column subsets); dcr_tail_ratio,
  nndr_tail_ratio and their *_upper bootstrap bounds; singling_out_risk, linkability_risk,
  inference_risk (upper confidence bounds of Anonymeter's risks, worst attack); k_anonymity.
"""

from __future__ import annotations

import pandas as pd
import polars as pl

from anon_platform.catalog.schema import ColumnSchema, DatasetSchema, TableSchema
from anon_platform.catalog.specs import EvaluationSettings, Role
from anon_platform.common.frames import to_pandas
from anon_platform.evaluation.attacks import anonymeter_risks
from anon_platform.evaluation.distance import dcr_share
from anon_platform.evaluation.fidelity import discriminator_auc, quality
from anon_platform.evaluation.privacy import identical_match_share, k_anonymity
from anon_platform.evaluation.utility import tstr_trtr


def dcr_subsets(table: TableSchema) -> dict[str, list[ColumnSchema]]:
    """Column subsets the DCR share is computed on: all modelled columns, the
    quasi-identifiers, and quasi-identifiers with sensitive columns (distinct, non-empty)."""
    columns = table.modelled_columns
    qis = [c for c in columns if c.role == Role.QUASI_IDENTIFIER]
    qis_sensitive = [c for c in columns if c.role in (Role.QUASI_IDENTIFIER, Role.SENSITIVE)]
    subsets = {
        "all": columns,
        "quasi_identifiers": qis,
        "quasi_identifiers+sensitive": qis_sensitive,
    }
    out: dict[str, list[ColumnSchema]] = {}
    for name, subset in subsets.items():
        if subset and all([c.name for c in subset] != [c.name for c in s] for s in out.values()):
            out[name] = subset
    return out


def evaluate_table(
    table: TableSchema,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    settings: EvaluationSettings,
    seed: int,
    dcr_max_rows: int,
    alpha: float,
) -> dict:
    """Every metric of one synthetic table against its train and holdout tables."""
    columns = table.modelled_columns
    metrics: dict[str, float] = {}
    metrics.update(quality(train, synthetic, table))
    metrics.update(
        discriminator_auc(train, holdout, synthetic, columns, settings.discriminator_rows, seed)
    )
    if table.target is not None:
        metrics.update(
            tstr_trtr(
                train, holdout, synthetic, columns, table.target, settings.utility_rows, seed, alpha
            )
        )
    metrics.update(identical_match_share(train, holdout, synthetic, columns))
    worst_subset, histogram = "", {}
    for name, subset in dcr_subsets(table).items():
        dcr = dcr_share(train, holdout, synthetic, subset, dcr_max_rows, seed, alpha)
        if name == "all":
            histogram = dcr.pop("histogram")
            for key in ("dcr_tail_ratio", "dcr_tail_ratio_upper", "nndr_tail_ratio"):
                metrics[key] = dcr[key]
            metrics["nndr_tail_ratio_upper"] = dcr["nndr_tail_ratio_upper"]
            metrics["dcr_rows_compared"] = dcr["dcr_rows_compared"]
        if not worst_subset or dcr["dcr_share"] > metrics["dcr_share"]:
            worst_subset = name
            metrics["dcr_share"] = dcr["dcr_share"]
            metrics["dcr_share_p_value"] = dcr["dcr_share_p_value"]
    risks = anonymeter_risks(train, holdout, synthetic, columns, settings, seed)
    for metric, prefix in (
        ("singling_out_risk", "singling_out"),
        ("linkability_risk", "linkability"),
        ("inference_risk", "inference/"),
    ):
        highs = [r["high"] for name, r in risks.items() if name.startswith(prefix)]
        if highs:
            metrics[metric] = max(highs)
    qis = [c.name for c in columns if c.role == Role.QUASI_IDENTIFIER]
    metrics["k_anonymity"] = k_anonymity(synthetic, qis)
    return {
        "table": table.name,
        "train_rows": len(train),
        "holdout_rows": len(holdout),
        "synthetic_rows": len(synthetic),
        "metrics": {k: float(v) for k, v in metrics.items()},
        "dcr_worst_subset": worst_subset,
        "dcr_histogram": histogram,
        "risks": risks,
    }


def scorecard(tables: list[dict]) -> dict[str, float]:
    """The dataset's scorecard: for every metric, the value of the table worst for it (the
    mean for quality), with companion values (p-values, references, bounds) of that table."""
    card: dict[str, float] = {}
    measured = [t["metrics"] for t in tables]

    def worst(metric: str, companions: tuple[str, ...], highest: bool) -> None:
        having = [m for m in measured if metric in m and m[metric] == m[metric]]
        if not having:
            return
        chosen = (max if highest else min)(having, key=lambda m: m[metric])
        card[metric] = chosen[metric]
        card.update({c: chosen[c] for c in companions if c in chosen})

    card["quality"] = sum(m["quality"] for m in measured) / len(measured)
    worst("column_shapes", (), highest=False)
    worst("column_pair_trends", (), highest=False)
    worst("discriminator_auc", ("discriminator_auc_reference",), highest=True)
    worst("utility_ratio", ("utility_ratio_upper", "tstr", "trtr"), highest=False)
    having = [m for m in measured if "identical_match_share" in m]
    excess = max(having, key=lambda m: m["identical_match_share"] - m["identical_match_reference"])
    for key in ("identical_match_share", "identical_match_reference", "identical_match_p_value"):
        card[key] = excess[key]
    worst("dcr_share", ("dcr_share_p_value",), highest=True)
    worst("dcr_tail_ratio", ("dcr_tail_ratio_upper",), highest=False)
    worst("nndr_tail_ratio", ("nndr_tail_ratio_upper",), highest=False)
    for risk in ("singling_out_risk", "linkability_risk", "inference_risk"):
        worst(risk, (), highest=True)
    worst("k_anonymity", (), highest=False)
    return {k: float(v) for k, v in card.items()}


def evaluate_dataset(
    schema: DatasetSchema,
    train: dict[str, pl.DataFrame],
    holdout: dict[str, pl.DataFrame],
    synthetic: dict[str, pl.DataFrame],
    settings: EvaluationSettings,
    seed: int,
    dcr_max_rows: int = 2000,
    alpha: float = 0.05,
) -> dict:
    """Per-table metrics and the dataset scorecard (see the module docstring for the names)."""
    tables = []
    for table in schema.tables:
        columns = table.modelled_columns
        tr, ho, sy = (to_pandas(d[table.name], columns) for d in (train, holdout, synthetic))
        tables.append(evaluate_table(table, tr, ho, sy, settings, seed, dcr_max_rows, alpha))
    return {"scorecard": scorecard(tables), "tables": tables}
