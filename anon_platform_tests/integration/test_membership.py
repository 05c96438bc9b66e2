"""The density-ratio membership attack (evaluation/membership.py) and its scorecard gate.

Controls on real demo data: real unseen customers passed off as synthetic must pass; a copy of
train perturbed by 10 % must be caught, per parent with its transactions and per transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pytest

from anon_platform.catalog.schema import DatasetSchema
from anon_platform.catalog.specs import Thresholds
from anon_platform.evaluation.membership import (
    ROC_GRID,
    attack_metrics,
    density_ratio_attack,
    tpr_at_fpr,
    unit_features,
)
from anon_platform.gates import check_scorecard
from anon_platform.pipeline import steps, stored
from anon_platform.prepare import split_dataset
from anon_platform.release import attack_record
from anon_platform.storage import Zones
from anon_platform_tests.conftest import (
    build_project,
    measured_project,
    staged_project,
    synthetic_only,
)

DATASET = "bank"
GATED = ("membership_tpr_at_fpr_1pct", "membership_outlier_tpr_at_fpr_1pct")


@dataclass(frozen=True)
class Bank:
    """Demo customers with their transactions: the generator's training rows, real customers it
    never saw (`unseen`), and the holdout the attacker uses as reference and non-members."""

    schema: DatasetSchema
    train: dict[str, pl.DataFrame]
    unseen: dict[str, pl.DataFrame]
    holdout: dict[str, pl.DataFrame]


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Bank:
    """1,500 staged demo customers: 300 holdout, the other 1,200 halved into train and unseen."""
    base = tmp_path_factory.mktemp("membership")
    catalog = staged_project(build_project(base / "project", 1500), base / "home")
    schema = catalog.dataset_schema(DATASET)
    tables = stored.staged_tables(catalog, Zones(base / "home"), DATASET)
    rest, holdout = split_dataset(schema, tables, 0.2, seed=0)
    train, unseen = split_dataset(schema, rest, 0.5, seed=1)
    return Bank(schema, train, unseen, holdout)


def perturbed_copy(bank: Bank, seed: int = 0) -> dict[str, pl.DataFrame]:
    """Train with every number moved by noise of 10 % of its column's standard deviation and a
    tenth of the categories replaced by a value of the same column (keys kept)."""
    rng = np.random.default_rng(seed)
    out = {}
    for table in bank.schema.tables:
        frame = bank.train[table.name]
        changed = []
        for column in table.modelled_columns:
            series = frame[column.name]
            if series.dtype.is_numeric():
                values = series.cast(pl.Float64).to_numpy().copy()
                values += rng.normal(0.0, 0.1 * np.nanstd(values), len(values))
                if series.dtype.is_integer():
                    values = np.round(values)
                changed.append(pl.Series(column.name, values).cast(series.dtype))
            elif series.dtype == pl.String:
                values = series.to_numpy()
                swap = rng.random(len(values)) < 0.1
                values = np.where(swap, rng.choice(values, len(values)), values)
                changed.append(pl.Series(column.name, values, dtype=pl.String))
        out[table.name] = frame.with_columns(changed)
    return out


def attack(bank: Bank, synthetic: dict[str, pl.DataFrame], table: str) -> dict:
    return density_ratio_attack(
        bank.schema, bank.schema.table(table), bank.train, bank.holdout, synthetic, seed=0
    )


def gate_outcomes(metrics: dict[str, float]) -> dict[str, bool]:
    result = check_scorecard(metrics, Thresholds())
    return {
        name: next(e for e in result.expectations if e.name.startswith(name)).passed
        for name in GATED
    }


@pytest.mark.parametrize("table", ["customers", "transactions"])
def test_real_unseen_rows_passed_off_as_synthetic_pass_the_membership_gate(
    bank: Bank, table: str
) -> None:
    metrics = attack(bank, bank.unseen, table)["metrics"]
    assert 0.4 < metrics["membership_auc"] < 0.6
    assert metrics["membership_tpr_at_fpr_1pct_lower"] <= 0.01
    assert gate_outcomes(metrics) == dict.fromkeys(GATED, True)


@pytest.mark.parametrize("table", ["customers", "transactions"])
def test_a_ten_percent_perturbed_copy_of_train_is_caught(bank: Bank, table: str) -> None:
    metrics = attack(bank, perturbed_copy(bank), table)["metrics"]
    assert metrics["membership_auc_lower"] > 0.6
    assert metrics["membership_tpr_at_fpr_1pct_lower"] > 0.05
    assert gate_outcomes(metrics) == dict.fromkeys(GATED, False)


def test_a_parent_is_attacked_with_its_children(bank: Bank) -> None:
    schema = bank.schema
    features, kinds = unit_features(schema, schema.root, bank.train, {})
    customers, transactions = bank.train["customers"], bank.train["transactions"]
    assert len(features) == customers.height
    counts = customers.join(
        transactions.group_by("customer_id").len(), on="customer_id", how="left"
    )["len"].fill_null(0)
    assert features["transactions.count"].tolist() == counts.cast(pl.Float64).to_list()
    assert {"transactions.amount.mean", "transactions.amount.std"} <= set(kinds)
    assert attack(bank, bank.unseen, "customers")["metrics"]["membership_per_parent"] == 1.0
    assert attack(bank, bank.unseen, "transactions")["metrics"]["membership_per_parent"] == 0.0


def test_the_roc_curve_is_aggregate_points_on_a_fixed_grid(bank: Bank) -> None:
    result = attack(bank, perturbed_copy(bank), "customers")
    for curve in (result["roc"], result["outlier_roc"]):
        assert curve["fpr"] == list(ROC_GRID)
        assert len(curve["tpr"]) == len(ROC_GRID)
        assert curve["tpr"] == sorted(curve["tpr"]) and curve["tpr"][-1] == 1.0


def test_tpr_at_fpr_keeps_the_false_positive_rate_at_most_nominal() -> None:
    non_members = np.arange(1000, dtype=float)
    assert tpr_at_fpr(non_members, non_members, 0.01) == pytest.approx(0.01)
    assert tpr_at_fpr(non_members + 0.5, non_members, 0.001) == pytest.approx(0.002)
    members = np.full(10, 2000.0)
    assert tpr_at_fpr(members, non_members, 0.01) == 1.0


def test_bootstrap_bounds_enclose_the_point_estimate() -> None:
    rng = np.random.default_rng(0)
    members, non_members = rng.normal(1.0, 1.0, 500), rng.normal(0.0, 1.0, 500)
    m = attack_metrics(members, non_members, np.random.default_rng(1), 0.01, "x_")
    for name in ("x_auc", "x_tpr_at_fpr_1pct"):
        assert m[f"{name}_lower"] <= m[name] <= m[f"{name}_upper"]
    assert 0.7 < m["x_auc"] < 0.8


def test_membership_rule_fails_only_when_significantly_above_its_maximum() -> None:
    card = {name: 0.05 for name in GATED} | {f"{name}_p_value": 0.2 for name in GATED}
    assert gate_outcomes(card) == dict.fromkeys(GATED, True)
    card["membership_outlier_tpr_at_fpr_1pct_p_value"] = 0.001
    assert gate_outcomes(card) == {GATED[0]: True, GATED[1]: False}
    del card["membership_tpr_at_fpr_1pct_p_value"]  # a missing test applies the rule strictly
    assert gate_outcomes(card)[GATED[0]] is False
    assert gate_outcomes({})[GATED[0]] is False  # not measured fails


def test_an_attack_that_learned_nothing_is_not_significant_with_few_non_members() -> None:
    """80 non-members: the 1 % FPR threshold is their maximum, so a blind attack's TPR reads
    about 1/81 > 1 %; the exact test still does not reject it, a real signal it does."""
    from anon_platform.evaluation.membership import tpr_at_fpr, tpr_p_value

    rng = np.random.default_rng(0)
    blind = [tpr_p_value(rng.normal(size=320), rng.normal(size=80), 0.01) for _ in range(200)]
    assert np.mean(np.array(blind) < 0.01) <= 0.03  # the test keeps its level
    members, non_members = rng.normal(3.0, 1.0, 320), rng.normal(size=80)
    assert tpr_at_fpr(members, non_members, 0.01) > 0.05
    assert tpr_p_value(members, non_members, 0.01) < 0.001


# --- the shadow-model attack in the weekly full evaluation --------------------------------------


def small_shadow_attack(plan: dict) -> None:
    """releases.yml edit: no encodings, the small-sample gates, a shadow attack of 1 target x 2
    runs per side on 60-customer shadow datasets."""
    synthetic_only(plan)
    evaluation = plan["datasets"][0].setdefault("evaluation", {}) or {}
    evaluation.update({"shadow_targets": 1, "shadow_runs": 2, "shadow_rows": 60, "html": False})
    plan["datasets"][0]["evaluation"] = evaluation


def test_the_full_evaluation_runs_the_shadow_model_attack_and_stores_it_in_the_report(
    make_project, anon_home
) -> None:
    project = make_project(customers=400, releases=small_shadow_attack)
    catalog = measured_project(project, anon_home, "gaussian_copula")
    zones = Zones(anon_home)
    assert stored.stored_report(zones, "bank", "gaussian_copula").shadow is None
    full = steps.report(catalog, zones, "bank", "gaussian_copula", full=True)
    shadow = full.shadow
    assert shadow is not None and shadow.generator == "gaussian_copula"
    assert [t.target_rank for t in shadow.targets] == [0]
    assert (shadow.targets[0].runs_with, shadow.targets[0].runs_without) == (2.0, 2.0)
    assert 0.0 <= shadow.worst_auc <= 1.0 and shadow.seconds > 0
    again = stored.stored_report(zones, "bank", "gaussian_copula")
    assert again.shadow == shadow
    assert attack_record(again)["shadow_model"]["targets"][0]["target_rank"] == 0
