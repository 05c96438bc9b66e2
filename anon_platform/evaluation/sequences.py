"""Sequence fidelity: how coherent the histories of a sequence table are (README, "Sequences").

`sequence_fidelity(train, holdout, synthetic, ...)` measures a synthetic child table whose rows
of one parent form a history ordered by `order_by`, and the same numbers for the real holdout
against train as the real-data reference:

- `order_distinct`: share of parents whose order values are all distinct (real data: 1.0);
- `lag1_autocorr/<col>`: lag-1 autocorrelation of each numeric column within histories, and
  `lag1_autocorr_gap/<col>`: its absolute difference to train;
- `transition_tvd/<col>`: mean total-variation distance between the category transition
  matrices (previous row's category -> this row's) of the table and of train, rows weighted
  by train's frequency of the previous category;
- `inter_event_ks`: KS statistic of the order column's increments against train;
- `length_ks`: KS statistic of the rows-per-parent distribution against train;
- `in_step/<col>` (for every numeric column given in `in_step`): share of parents whose column
  moves by exactly the order column's increment at every step;
- `never_falls/<col>` (for every column given in `cumulative`): share of parents whose column
  never decreases along the order.

Frames are polars; values are never returned, only these numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import polars as pl
from scipy.stats import ks_2samp

from anon_platform.catalog.schema import ColumnSchema
from anon_platform.catalog.specs import ColumnType, Role
from anon_platform.evaluation.distance import dcr_share
from anon_platform.evaluation.fidelity import discriminator_auc
from anon_platform.evaluation.privacy import identical_match_share

MIN_PAIRS = 3  # autocorrelation needs at least this many (previous, current) pairs
BAND_RESAMPLES = 30  # bootstrap resamples of whole histories for the scorecard's bands
BAND_Z = 1.645  # one-sided 95 %, as the other fidelity bands (fidelity.py)


def _numbers(frame: pl.DataFrame, column: str) -> pl.Expr:
    dtype = frame.schema[column]
    if dtype == pl.Date:
        return pl.col(column).cast(pl.Int32).cast(pl.Float64)
    if isinstance(dtype, pl.Datetime):
        return pl.col(column).dt.epoch("s").cast(pl.Float64)
    return pl.col(column).cast(pl.Float64)


def _ordered(frame: pl.DataFrame, parent: str, order_by: str) -> pl.DataFrame:
    return frame.with_columns(_numbers(frame, order_by).alias("__order__")).sort(
        [parent, "__order__"], maintain_order=True
    )


def order_distinct(frame: pl.DataFrame, parent: str, order_by: str) -> float:
    """Share of parents whose `order_by` values are pairwise distinct (nulls count as equal)."""
    per = frame.group_by(parent).agg((pl.col(order_by).n_unique() == pl.len()).alias("ok"))
    return float(per["ok"].mean()) if per.height else float("nan")


def lag1_autocorrelation(frame: pl.DataFrame, parent: str, order_by: str, column: str) -> float:
    """Correlation of a numeric column with its previous value in the same history, pooled over
    every (previous, current) pair of every parent (a person's level counts: that is the
    persistence a behavioural model relies on)."""
    ordered = _ordered(frame, parent, order_by).with_columns(_numbers(frame, column).alias("__x__"))
    pairs = ordered.with_columns(pl.col("__x__").shift(1).over(parent).alias("__prev__"))
    pairs = pairs.drop_nulls(["__x__", "__prev__"])
    if pairs.height < MIN_PAIRS:
        return float("nan")
    return float(pairs.select(pl.corr("__x__", "__prev__")).item())


def transitions(frame: pl.DataFrame, parent: str, order_by: str, column: str) -> pl.DataFrame:
    """Counts of (previous category, category) pairs within histories."""
    ordered = _ordered(frame, parent, order_by).with_columns(
        pl.col(column).cast(pl.String).fill_null("<null>").alias("__c__")
    )
    ordered = ordered.with_columns(pl.col("__c__").shift(1).over(parent).alias("__p__"))
    return ordered.drop_nulls("__p__").group_by("__p__", "__c__").len()


def transition_distance(reference: pl.DataFrame, other: pl.DataFrame) -> float:
    """Total-variation distance between the rows of two transition count tables (previous ->
    next), averaged with the reference's weight of each previous category; a previous category
    `other` never shows counts as distance 1."""
    if reference.height == 0:
        return float("nan")
    ref = reference.with_columns((pl.col("len") / pl.col("len").sum().over("__p__")).alias("p"))
    oth = other.with_columns((pl.col("len") / pl.col("len").sum().over("__p__")).alias("q"))
    joined = (
        ref.select("__p__", "__c__", "p")
        .join(oth.select("__p__", "__c__", "q"), on=["__p__", "__c__"], how="full", coalesce=True)
        .fill_null(0.0)
    )
    per_row = joined.group_by("__p__").agg(
        (0.5 * (pl.col("p") - pl.col("q")).abs().sum()).alias("tv")
    )
    weights = ref.group_by("__p__").agg(pl.col("len").sum().alias("w"))
    per_row = weights.join(per_row, on="__p__", how="left").fill_null(1.0)
    seen = oth["__p__"].unique().to_list()
    per_row = per_row.with_columns(
        pl.when(pl.col("__p__").is_in(seen)).then(pl.col("tv")).otherwise(1.0).alias("tv")
    )
    return float((per_row["tv"] * per_row["w"]).sum() / per_row["w"].sum())


def increments(frame: pl.DataFrame, parent: str, order_by: str) -> np.ndarray:
    """The order column's increments within histories (days for dates, seconds for times)."""
    ordered = _ordered(frame, parent, order_by)
    return (
        ordered.select(pl.col("__order__").diff().over(parent).alias("d"))["d"]
        .drop_nulls()
        .to_numpy()
    )


def lengths(frame: pl.DataFrame, parent: str) -> np.ndarray:
    """Rows per parent."""
    return frame.group_by(parent).len()["len"].to_numpy()


def in_step(frame: pl.DataFrame, parent: str, order_by: str, column: str) -> float:
    """Share of parents (with at least 2 rows) whose `column` changes by exactly the order
    column's increment at every step (age with the year, experience with the wave)."""
    ordered = _ordered(frame, parent, order_by).with_columns(_numbers(frame, column).alias("__x__"))
    per = (
        ordered.with_columns(
            (pl.col("__x__").diff().over(parent) - pl.col("__order__").diff().over(parent))
            .abs()
            .alias("gap")
        )
        .drop_nulls("gap")
        .group_by(parent)
        .agg((pl.col("gap") < 1e-9).all().alias("ok"))
    )
    return float(per["ok"].mean()) if per.height else float("nan")


def never_falls(frame: pl.DataFrame, parent: str, order_by: str, column: str) -> float:
    """Share of parents (with at least 2 rows) whose `column` never decreases along the order."""
    ordered = _ordered(frame, parent, order_by).with_columns(_numbers(frame, column).alias("__x__"))
    per = (
        ordered.with_columns(pl.col("__x__").diff().over(parent).alias("d"))
        .drop_nulls("d")
        .group_by(parent)
        .agg((pl.col("d") >= 0).all().alias("ok"))
    )
    return float(per["ok"].mean()) if per.height else float("nan")


def _ks(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    return float(ks_2samp(a, b).statistic)


@dataclass(frozen=True)
class _Yardstick:
    """What every score compares with, measured on train once."""

    increments: np.ndarray
    lengths: np.ndarray
    lag1: dict[str, float]
    transitions: dict[str, pl.DataFrame]


def _yardstick(
    train: pl.DataFrame,
    parent: str,
    order_by: str,
    numeric: Sequence[str],
    categorical: Sequence[str],
) -> _Yardstick:
    return _Yardstick(
        increments=increments(train, parent, order_by),
        lengths=lengths(train, parent),
        lag1={c: lag1_autocorrelation(train, parent, order_by, c) for c in numeric},
        transitions={c: transitions(train, parent, order_by, c) for c in categorical},
    )


def _scores(
    train: _Yardstick,
    table: pl.DataFrame,
    parent: str,
    order_by: str,
    in_step_columns: Sequence[str],
    cumulative: Sequence[str],
) -> dict[str, float]:
    scores = {
        "order_distinct": order_distinct(table, parent, order_by),
        "inter_event_ks": _ks(increments(table, parent, order_by), train.increments),
        "length_ks": _ks(lengths(table, parent), train.lengths),
    }
    for column, real in train.lag1.items():
        value = lag1_autocorrelation(table, parent, order_by, column)
        scores[f"lag1_autocorr/{column}"] = value
        scores[f"lag1_autocorr_gap/{column}"] = abs(value - real)
    for column, real in train.transitions.items():
        scores[f"transition_tvd/{column}"] = transition_distance(
            real, transitions(table, parent, order_by, column)
        )
    for column in in_step_columns:
        scores[f"in_step/{column}"] = in_step(table, parent, order_by, column)
    for column in cumulative:
        scores[f"never_falls/{column}"] = never_falls(table, parent, order_by, column)
    return scores


def sequence_fidelity(
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    synthetic: pl.DataFrame,
    *,
    parent: str,
    order_by: str,
    numeric: Sequence[str] = (),
    categorical: Sequence[str] = (),
    in_step: Sequence[str] = (),
    cumulative: Sequence[str] = (),
) -> dict[str, dict[str, float]]:
    """{"synthetic": scores, "holdout": scores, "train": scores} of a sequence table (see the
    module docstring for each score); "holdout" is the real-data reference a gate compares the
    synthetic scores with, "train" the training data's own coherence (order, in step, never
    falls, autocorrelation). `numeric` defaults to none: name the columns to measure."""
    yardstick = _yardstick(train, parent, order_by, numeric, categorical)
    args = (parent, order_by, in_step, cumulative)
    return {
        "synthetic": _scores(yardstick, synthetic, *args),
        "holdout": _scores(yardstick, holdout, *args),
        "train": _scores(yardstick, train, *args),
    }


def _resample_parents(frame: pl.DataFrame, parent: str, rng: np.random.Generator) -> pl.DataFrame:
    """A bootstrap resample of whole histories: parents drawn with replacement, each draw a
    history of its own (a new parent key)."""
    ids = frame[parent].unique().sort()
    drawn = ids.gather(rng.integers(0, len(ids), len(ids)))
    draws = pl.DataFrame({parent: drawn, "__draw__": np.arange(len(ids))})
    return draws.join(frame, on=parent, how="inner").drop(parent).rename({"__draw__": parent})


def _summary(side: dict[str, float]) -> dict[str, float]:
    """The scorecard's view of one side's scores: the largest lag-1 gap and transition TVD."""
    gaps = [v for k, v in side.items() if k.startswith("lag1_autocorr_gap/") and v == v]
    tvds = [v for k, v in side.items() if k.startswith("transition_tvd/") and v == v]
    out = {
        "order_distinct": side["order_distinct"],
        "inter_event_ks": side["inter_event_ks"],
        "length_ks": side["length_ks"],
    }
    if gaps:
        out["lag1_gap"] = max(gaps)
    if tvds:
        out["transition_tvd"] = max(tvds)
    return out


def sequence_metrics(
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    synthetic: pl.DataFrame,
    *,
    parent: str,
    order_by: str,
    numeric: Sequence[str],
    categorical: Sequence[str],
    seed: int = 0,
    resamples: int = BAND_RESAMPLES,
) -> dict[str, float]:
    """The scorecard's sequence metrics of one sequence table (metrics.py `SEQUENCE_METRICS`),
    each with its real-data reference `<name>_reference` (the holdout's histories scored
    against train the same way) and `<name>_band`: the one-sided 95 % half-width of the
    synthetic-minus-reference difference over a bootstrap of whole histories (parents drawn
    with replacement on both sides; train, the yardstick of both, stays fixed). The largest
    lag-1 gap over `numeric` columns and the largest transition distance over `categorical`
    ones; NaN-free (a score that cannot be measured is left out)."""
    yardstick = _yardstick(train, parent, order_by, numeric, categorical)
    args = (parent, order_by, (), ())
    synthetic_side = _summary(_scores(yardstick, synthetic, *args))
    holdout_side = _summary(_scores(yardstick, holdout, *args))
    rng = np.random.default_rng(seed)
    differences: dict[str, list[float]] = {name: [] for name in synthetic_side}
    for _ in range(resamples):
        sy = _summary(_scores(yardstick, _resample_parents(synthetic, parent, rng), *args))
        ho = _summary(_scores(yardstick, _resample_parents(holdout, parent, rng), *args))
        for name, values in differences.items():
            difference = sy.get(name, float("nan")) - ho.get(name, float("nan"))
            if difference == difference:
                values.append(difference)
    metrics: dict[str, float] = {}
    for name, value in synthetic_side.items():
        reference = holdout_side.get(name, float("nan"))
        if value == value and reference == reference:
            metrics[f"sequence_{name}"] = float(value)
            metrics[f"sequence_{name}_reference"] = float(reference)
            spread = differences[name]
            band = BAND_Z * float(np.std(spread)) if len(spread) >= 2 else 0.0
            metrics[f"sequence_{name}_band"] = band
    return metrics


def history_signatures(
    frame: pl.DataFrame, parent: str, order_by: str, columns: Sequence[str]
) -> pl.DataFrame:
    """One row per parent: its key and a hash of its whole history (every row's `columns`, in
    order, and the order column's increments, so a history shifted in time is the same
    history). Two parents with equal signatures have identical histories (up to hash
    collisions, 2^-64 a pair)."""
    ordered = _ordered(frame, parent, order_by).with_columns(
        pl.col("__order__").diff().over(parent).alias("__step__")
    )
    parts = [pl.col(c).cast(pl.String).fill_null("<null>") for c in (*columns, "__step__")]
    rows = ordered.select(pl.col(parent), pl.concat_str(parts, separator="\x1f").alias("__row__"))
    return rows.group_by(parent, maintain_order=True).agg(
        pl.col("__row__").str.join("\x1e").hash(0).alias("signature")
    )


def history_match_share(
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    synthetic: pl.DataFrame,
    *,
    parent: str,
    order_by: str,
    columns: Sequence[str],
) -> dict[str, float]:
    """Share of synthetic parents whose whole history equals a training parent's history
    (`history_signatures`), against the share of holdout parents whose history does (the
    reference), with the band of the difference and the one-sided Fisher p-value of 'synthetic
    histories copy training histories more often than unseen ones do': the identical-match
    rule with the parent and its history as the privacy unit."""
    signature = [ColumnSchema(name="signature", type=ColumnType.INTEGER, role=Role.ATTRIBUTE)]

    def signatures(frame: pl.DataFrame) -> pd.DataFrame:
        return history_signatures(frame, parent, order_by, columns).select("signature").to_pandas()

    scores = identical_match_share(
        signatures(train), signatures(holdout), signatures(synthetic), signature
    )
    return {k.replace("identical_match", "history_match"): v for k, v in scores.items()}


TOP_CATEGORIES = 5  # per categorical column, the training's most common categories get a share


def history_features(
    frame: pl.DataFrame,
    parent: str,
    order_by: str,
    numeric: Sequence[str],
    categories: dict[str, list[str]],
) -> pd.DataFrame:
    """One row per parent of numbers that describe its whole history: its length, time span
    and mean step; per numeric column the mean, spread, first and last value and the mean
    absolute change from one row to the next; per categorical column the share of each of the
    given `categories` and the share of steps where the category changes."""
    ordered = _ordered(frame, parent, order_by)
    step = pl.col("__order__").diff().over(parent)
    aggregations = [
        pl.len().cast(pl.Float64).alias("rows"),
        (pl.col("__order__").max() - pl.col("__order__").min()).alias("span"),
        pl.col("__step__").mean().alias("mean_step"),
    ]
    columns = [step.alias("__step__")]
    for c in numeric:
        x = _numbers(frame, c)
        columns.append(x.alias(f"__x_{c}"))
        columns.append((x.diff().over(parent)).abs().alias(f"__d_{c}"))
        aggregations += [
            pl.col(f"__x_{c}").mean().alias(f"{c}:mean"),
            pl.col(f"__x_{c}").std().alias(f"{c}:std"),
            pl.col(f"__x_{c}").first().alias(f"{c}:first"),
            pl.col(f"__x_{c}").last().alias(f"{c}:last"),
            pl.col(f"__d_{c}").mean().alias(f"{c}:change"),
        ]
    for c, values in categories.items():
        text = pl.col(c).cast(pl.String).fill_null("<null>")
        columns.append(text.alias(f"__c_{c}"))
        columns.append((text != text.shift(1).over(parent)).cast(pl.Float64).alias(f"__s_{c}"))
        aggregations += [
            (pl.col(f"__c_{c}") == v).mean().alias(f"{c}={i}") for i, v in enumerate(values)
        ]
        aggregations.append(pl.col(f"__s_{c}").mean().alias(f"{c}:switches"))
    features = ordered.with_columns(columns).group_by(parent).agg(aggregations).sort(parent)
    return features.drop(parent).to_pandas()


def _feature_frames(
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    synthetic: pl.DataFrame,
    parent: str,
    order_by: str,
    numeric: Sequence[str],
    categorical: Sequence[str],
) -> tuple[list[pd.DataFrame], list[ColumnSchema]]:
    """`history_features` of the three sides (categories: train's most common), and their
    columns as float schema columns."""
    categories = {
        c: train[c].cast(pl.String).drop_nulls().value_counts(sort=True)[c]
        .head(TOP_CATEGORIES).to_list()
        for c in categorical
    }  # fmt: skip
    sides = [
        history_features(f, parent, order_by, numeric, categories)
        for f in (train, holdout, synthetic)
    ]
    columns = [ColumnSchema(name=n, type=ColumnType.FLOAT, role=Role.ATTRIBUTE) for n in sides[0]]
    return sides, columns


def history_discriminator(
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    synthetic: pl.DataFrame,
    *,
    parent: str,
    order_by: str,
    numeric: Sequence[str],
    categorical: Sequence[str],
    seed: int = 0,
    max_parents: int = 2000,
) -> dict[str, float]:
    """The fidelity discriminator (fidelity.py) on `history_features`, one row per parent:
    `sequence_discriminator_auc` of telling synthetic parents' histories from training ones,
    its reference (holdout parents' histories told from training ones) and band."""
    sides, columns = _feature_frames(
        train, holdout, synthetic, parent, order_by, numeric, categorical
    )
    scores = discriminator_auc(sides[0], sides[1], sides[2], columns, max_parents, seed)
    return {f"sequence_{k}": v for k, v in scores.items()}


def history_dcr_share(
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    synthetic: pl.DataFrame,
    *,
    parent: str,
    order_by: str,
    numeric: Sequence[str],
    categorical: Sequence[str],
    seed: int = 0,
    max_parents: int = 2000,
) -> dict[str, float]:
    """The DCR share (distance.py) with the parent's whole history as the unit: share of
    synthetic parents whose `history_features` lie closer to a training parent's than to a
    holdout parent's (0.5: no closer to the training people than to unseen ones), with its
    permutation p-value and band, as `history_dcr_share*`."""
    sides, columns = _feature_frames(
        train, holdout, synthetic, parent, order_by, numeric, categorical
    )
    scores = dcr_share(sides[0], sides[1], sides[2], columns, max_parents, seed)
    keys = ("dcr_share", "dcr_share_p_value", "dcr_share_reference", "dcr_share_band")
    return {f"history_{k}": float(scores[k]) for k in keys}
