"""The quality report of a synthetic dataset: every fidelity, utility and privacy metric per
table, and the dataset scorecard (worst case over tables) that the gates judge.

Metric names (the scorecard's keys, listed once in metrics.py with their real-data references
`<metric>_reference` and bands `<metric>_band`; a metric that does not apply, such as utility
without a target, is absent):
- fidelity: quality, column_shapes, column_pair_trends (SDMetrics), discriminator_auc and its
  discriminator_auc_reference (holdout vs train);
- utility: tstr, trtr, utility_ratio (tstr / trtr) and utility_ratio_upper (bootstrap bound);
- privacy: identical_match_share, identical_match_reference, identical_match_p_value;
  dcr_share, dcr_share_p_value (worst of several column subsets); dcr_tail_ratio,
  nndr_tail_ratio and their *_upper bootstrap bounds; singling_out_risk, linkability_risk,
  inference_risk (upper confidence bounds of Anonymeter's risks, worst attack; *_estimate the
  point estimate); rare_value_reproduction (column-level leakage); k_anonymity;
  membership_tpr_at_fpr_1pct and membership_outlier_tpr_at_fpr_1pct with bounds, AUC and TPR
  at 0.1 % FPR (the density-ratio membership attack, membership.py; per parent with its
  children for a table that has children).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import polars as pl

from anon_platform.catalog.schema import ColumnSchema, DatasetSchema, TableSchema
from anon_platform.catalog.specs import ColumnType, EvaluationSettings, Role
from anon_platform.common.frames import to_pandas
from anon_platform.evaluation.attacks import anonymeter_risks
from anon_platform.evaluation.distance import dcr_share
from anon_platform.evaluation.fidelity import discriminator_auc, quality
from anon_platform.evaluation.membership import density_ratio_attack
from anon_platform.evaluation.metrics import (
    MEMBERSHIP_TESTS,
    METRICS,
    RISK_ATTACKS,
    Direction,
    Kind,
    metric,
)
from anon_platform.evaluation.privacy import (
    identical_match_share,
    k_anonymity,
    rare_value_reproduction,
)
from anon_platform.evaluation.quality_report import QualityReport, TableReport
from anon_platform.evaluation.sequences import (
    history_dcr_share,
    history_discriminator,
    history_match_share,
    sequence_metrics,
)
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
    clusters: tuple[np.ndarray, np.ndarray] | None = None,
) -> TableReport:
    """Every metric of one synthetic table against its train and holdout tables, each with its
    real-data reference and band where the metrics table (metrics.py) names them. `clusters`:
    the parent key of each synthetic and holdout row of a child table (bands resample parents)."""
    columns = table.modelled_columns
    metrics: dict[str, float] = {}
    metrics.update(quality(train, synthetic, table, holdout, seed))
    metrics.update(
        discriminator_auc(train, holdout, synthetic, columns, settings.discriminator_rows, seed)
    )
    if table.target is not None:
        metrics.update(
            tstr_trtr(
                train, holdout, synthetic, columns, table.target, settings.utility_rows, seed, alpha
            )
        )
        if "utility_ratio" in metrics:  # train's own model is the reference: ratio 1
            metrics["utility_ratio_reference"] = 1.0
            upper = metrics.get("utility_ratio_upper", metrics["utility_ratio"])
            metrics["utility_ratio_band"] = max(upper - metrics["utility_ratio"], 0.0)
    metrics.update(identical_match_share(train, holdout, synthetic, columns))
    rare, rare_columns = rare_value_reproduction(
        train, holdout, synthetic, columns, settings.rare_value_k, seed, clusters
    )
    metrics.update(rare)
    worst_subset, histogram = "", {}
    for name, subset in dcr_subsets(table).items():
        dcr = dcr_share(train, holdout, synthetic, subset, dcr_max_rows, seed, alpha)
        if name == "all":
            histogram = dcr.pop("histogram")
            for ratio in ("dcr_tail_ratio", "nndr_tail_ratio"):
                metrics.update({k: dcr[k] for k in metric(ratio).scorecard_keys()})
            metrics["dcr_rows_compared"] = dcr["dcr_rows_compared"]
        if not worst_subset or dcr["dcr_share"] > metrics["dcr_share"]:
            worst_subset = name
            metrics.update({k: dcr[k] for k in metric("dcr_share").scorecard_keys()})
    risks = anonymeter_risks(train, holdout, synthetic, columns, settings, seed)
    for name, prefix in RISK_ATTACKS.items():
        attacks = [r for attack, r in risks.items() if attack.startswith(prefix)]
        if attacks:  # the worst attack by its upper bound; the reference is 0 by construction
            worst = max(attacks, key=lambda r: r["high"])
            metrics[name] = worst["high"]
            metrics[f"{name}_estimate"] = worst["value"]
            metrics[f"{name}_reference"] = 0.0
            metrics[f"{name}_band"] = max(worst["high"] - worst["value"], 0.0)
    qis = [c.name for c in columns if c.role == Role.QUASI_IDENTIFIER]
    metrics["k_anonymity"] = k_anonymity(synthetic, qis)
    return TableReport(
        table=table.name,
        train_rows=len(train),
        holdout_rows=len(holdout),
        synthetic_rows=len(synthetic),
        metrics={k: float(v) for k, v in metrics.items()},
        dcr_worst_subset=worst_subset,
        dcr_histogram=histogram,
        risks=risks,
        rare_values=rare_columns,
    )


def scorecard(tables: list[TableReport]) -> dict[str, float]:
    """The dataset's scorecard: for every metric of the metrics table, the value of the table
    worst for it (the mean for quality, with the mean reference and the largest band), with the
    reference, band and companions of that table. Identical matches and rare values: the table
    whose share exceeds its reference most."""
    card: dict[str, float] = {}
    measured = [t.metrics for t in tables]
    for m in METRICS:
        having = [t for t in measured if m.name in t and t[m.name] == t[m.name]]
        if not having:
            continue
        if m.name == "quality":
            card["quality"] = sum(t["quality"] for t in measured) / len(measured)
            refs = [t["quality_reference"] for t in having if "quality_reference" in t]
            if len(refs) == len(having):
                card["quality_reference"] = sum(refs) / len(refs)
                card["quality_band"] = max(t.get("quality_band", 0.0) for t in having)
            continue
        if m.reference and all(m.reference in t for t in having) and m.kind == Kind.PRIVACY:
            chosen = max(having, key=lambda t: m.worse(t[m.name], t[m.reference]))
        else:
            pick = max if m.direction == Direction.LOWER else min
            chosen = pick(having, key=lambda t: t[m.name])
        card.update({k: chosen[k] for k in m.scorecard_keys() if k in chosen})
    card.update(membership_family(measured))
    return {k: float(v) for k, v in card.items()}


def membership_family(measured: list[dict[str, float]]) -> dict[str, float]:
    """The membership rules over the report's whole family of membership tests (each table, on
    all candidates and on the outliers): per rule, the table whose test is most significant,
    with its p-value Bonferroni-adjusted by the number of tests (capped at 1).

    Why: a release is one decision, refused when any membership test rejects. By the union
    bound, adjusted p-values keep the chance that real unseen data is refused at most
    `membership_alpha` however many tables the dataset has; unadjusted, the demo's four tests
    would refuse it up to 4 % of the time."""
    tests = [
        (name, t)
        for name in MEMBERSHIP_TESTS
        for t in measured
        if t.get(f"{name}_p_value", math.nan) == t.get(f"{name}_p_value", math.nan)
    ]
    card: dict[str, float] = {}
    for name in MEMBERSHIP_TESTS:
        having = [t for n, t in tests if n == name]
        if not having:
            continue
        chosen = min(having, key=lambda t: t[f"{name}_p_value"])
        card.update({k: chosen[k] for k in metric(name).scorecard_keys() if k in chosen})
        card[f"{name}_p_value"] = min(1.0, chosen[f"{name}_p_value"] * len(tests))
    return card


def _sequence_metrics(
    table: TableSchema,
    parent: str,
    train: dict[str, pl.DataFrame],
    holdout: dict[str, pl.DataFrame],
    synthetic: dict[str, pl.DataFrame],
    seed: int,
) -> dict[str, float]:
    """The sequence metrics of a sequence table (evaluation/sequences.py) against the
    holdout's, with bootstrap bands: coherence (order, lag-1 autocorrelation of its numeric
    columns, transitions of its categories, inter-event times, lengths), the discriminator on
    per-parent history features, and the privacy checks with the parent and its whole history
    as the unit (identical histories, DCR share of history features)."""
    order_by = table.sequence.order_by
    modelled = [c for c in table.modelled_columns if c.name != order_by]
    numeric = [c.name for c in modelled if c.type in (ColumnType.INTEGER, ColumnType.FLOAT)]
    categorical = [c.name for c in modelled if c.type in (ColumnType.STRING, ColumnType.BOOLEAN)]
    frames = (train[table.name], holdout[table.name], synthetic[table.name])
    where = {"parent": parent, "order_by": order_by}
    kinds = {"numeric": numeric, "categorical": categorical}
    return {
        **sequence_metrics(*frames, **where, **kinds, seed=seed),
        **history_discriminator(*frames, **where, **kinds, seed=seed),
        **history_dcr_share(*frames, **where, **kinds, seed=seed),
        **history_match_share(*frames, **where, columns=[c.name for c in modelled]),
    }


def evaluate_dataset(
    schema: DatasetSchema,
    train: dict[str, pl.DataFrame],
    holdout: dict[str, pl.DataFrame],
    synthetic: dict[str, pl.DataFrame],
    settings: EvaluationSettings,
    seed: int,
    dcr_max_rows: int = 2000,
    alpha: float = 0.05,
) -> QualityReport:
    """Per-table metrics and the dataset scorecard (see the module docstring for the names),
    and per table the density-ratio membership attack's ROC curves as aggregate points
    (`membership`; its metrics are in the table's metrics)."""
    tables = []
    membership: dict[str, dict] = {}
    for table in schema.tables:
        columns = table.modelled_columns
        tr, ho, sy = (to_pandas(d[table.name], columns) for d in (train, holdout, synthetic))
        clusters = None
        parent = table.foreign_keys[0].column if table.foreign_keys else None
        frames = (synthetic[table.name], holdout[table.name])
        if parent and all(parent in f.columns for f in frames):  # rows grouped by parent
            clusters = (
                synthetic[table.name][parent].to_numpy(),
                holdout[table.name][parent].to_numpy(),
            )
        measured = evaluate_table(table, tr, ho, sy, settings, seed, dcr_max_rows, alpha, clusters)
        if table.sequence is not None and parent is not None:
            sequences = _sequence_metrics(table, parent, train, holdout, synthetic, seed)
            measured.metrics.update(sequences)
        attack = density_ratio_attack(schema, table, train, holdout, synthetic, seed)
        measured.metrics.update(attack.pop("metrics"))
        membership[table.name] = attack
        tables.append(measured)
    return QualityReport(scorecard=scorecard(tables), tables=tables, membership=membership)
