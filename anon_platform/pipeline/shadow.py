"""The shadow-model membership attack (Stadler et al., USENIX Security '22; the TAPAS toolbox),
run only in the weekly full evaluation (`steps.report(full=True)`).

For each of a few target records, the most vulnerable training units by the density-ratio
attack's outlier rule (`membership.vulnerable_targets`: root rows with their children, farthest
from the reference data), the same generator with the same parameters is retrained on shadow
datasets drawn from half of the holdout (which never trained the released model; the other
half is the attacker's reference):
`SHADOW_RUNS` datasets without the target and `SHADOW_RUNS` with it (one reference unit
replaced by the target), each of `SHADOW_ROWS` root rows with their children, each sampled to
as many root rows. A logistic regression on features of each synthetic output (distances from
the target to its nearest synthetic units, its density-ratio score) tells the two apart, scored
out of fold (`membership.shadow_target_metrics`). The scoring is pure (evaluation/membership.py);
this module only retrains, so the evaluation layer never imports a generator.

What it claims: per target, the AUC and TPR of this attacker at the FPRs that `SHADOW_RUNS`
runs per side can resolve (1 / runs, and 10 %). It cannot show a TPR at FPR 1 % (that needs
hundreds of runs per target); a target with AUC near 0.5 is one this attacker cannot single out.

Cost: `targets * 2 * SHADOW_RUNS` fits and samples of the generator on `SHADOW_ROWS` root rows
(defaults 3 * 2 * 5 = 30 fits of 300 customers), plus about 0.1 s of scoring per run.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import polars as pl

from anon_platform.catalog.schema import DatasetSchema
from anon_platform.evaluation.membership import (
    shadow_features,
    shadow_target_metrics,
    vulnerable_targets,
)
from anon_platform.generators import generator_class

SHADOW_TARGETS = 3
SHADOW_RUNS = 5
SHADOW_ROWS = 300


def _units(
    schema: DatasetSchema, tables: dict[str, pl.DataFrame], keys: list[Any]
) -> dict[str, pl.DataFrame]:
    """The root rows with primary keys `keys` and every descendant row (children follow their
    parent, as in the train/holdout split)."""
    out: dict[str, pl.DataFrame] = {}
    for table in schema.ordered():
        frame = tables[table.name]
        if not table.foreign_keys:
            out[table.name] = frame.filter(pl.col(table.primary_key).is_in(keys))
            continue
        keep = pl.lit(False)
        for fk in table.foreign_keys:
            parents = out[fk.parent_table][fk.parent_column]
            keep = keep | pl.col(fk.column).is_in(parents.implode())
        out[table.name] = frame.filter(keep)
    return out


def _concat(a: dict[str, pl.DataFrame], b: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    return {name: pl.concat([a[name], b[name]], how="vertical_relaxed") for name in a}


def shadow_model_attack(
    schema: DatasetSchema,
    generator: str,
    params: dict[str, Any],
    train: dict[str, pl.DataFrame],
    holdout: dict[str, pl.DataFrame],
    seed: int,
    targets: int = SHADOW_TARGETS,
    runs: int = SHADOW_RUNS,
    rows: int = SHADOW_ROWS,
) -> dict[str, Any]:
    """Per target (identified only by its rank, never by its values): the shadow-model attack's
    metrics (`shadow_target_metrics`); the worst target's AUC and TPR at the lowest resolvable
    FPR; the settings and the wall-clock seconds it took."""
    started = time.perf_counter()
    root = schema.root
    rng = np.random.default_rng(seed)
    shuffled = holdout[root.name][root.primary_key].shuffle(seed=seed).to_list()
    # half the holdout is the shadow datasets' pool, the other half the attacker's reference
    keys, reference = shuffled[: len(shuffled) // 2], shuffled[len(shuffled) // 2 :]
    reference_units = _units(schema, holdout, reference)
    rows = min(rows, len(keys) - 1)
    chosen = vulnerable_targets(schema, train, holdout, targets)
    results = []
    for rank, position in enumerate(chosen):
        target_key = train[root.name][root.primary_key][position]
        target = _units(schema, train, [target_key])
        features, member = [], []
        for run in range(2 * runs):
            with_target = run % 2 == 1
            drawn = list(rng.choice(len(keys), size=rows, replace=False))
            base = _units(schema, holdout, [keys[i] for i in drawn[: rows - with_target]])
            shadow = _concat(base, target) if with_target else base
            model = generator_class(generator)(schema, params, seed + run)
            model.fit(shadow)
            synthetic = model.sample(rows)
            features.append(shadow_features(schema, target, synthetic, reference_units))
            member.append(with_target)
        metrics = shadow_target_metrics(np.array(features), np.array(member), seed)
        results.append({"target_rank": rank, **metrics})
    worst = max(results, key=lambda r: r["auc"]) if results else {}
    return {
        "targets": results,
        "worst_auc": worst.get("auc", float("nan")),
        "worst_tpr_at_lowest_fpr": worst.get("tpr_at_lowest_fpr", float("nan")),
        "runs_per_side": runs,
        "shadow_rows": rows,
        "generator": generator,
        "seconds": time.perf_counter() - started,
    }
