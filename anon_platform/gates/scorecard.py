"""Gate on the report's scorecard: a Great Expectations suite over a one-row frame holding every
metric of the metrics table (evaluation/metrics.py), each judged against its real-data
reference and its threshold from releases.yml.

- Fidelity (quality, column shapes, pair trends, discriminator AUC) and rare-value
  reproduction: the value may be worse than its real-data reference (the holdout scored against
  train in the same report) by the reference's band plus the dataset's `*_tolerance`, and never
  beyond the gross-failure limit (`*_min` / `*_max`). The GX expectation is a bound on the metric
  at the tighter of the two.
- Privacy rules written 'or not significantly ...' pass when the metric is inside its threshold
  or when the report's test (p-value), bootstrap bound or band cannot tell it from the
  real-data reference at the configured alpha; in GX that is the same expectation restricted by
  a `row_condition` to the case where the difference is significant.

A metric the report should have but lacks fails (the gate fails closed), and so does a missing
p-value or bound; a missing reference leaves the absolute limit alone to judge.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from anon_platform.catalog.specs import Thresholds
from anon_platform.evaluation.metrics import (
    MEMBERSHIP_TESTS,
    METRICS,
    RISKS,
    SEQUENCE_METRICS,
    Direction,
    metric,
)
from anon_platform.gates.results import GateResult
from anon_platform.gates.suites import Rule, run_suite

ALWAYS_GATED = (
    *(m.name for m in METRICS if m.gated and not m.optional),
    "identical_match_reference",
)
# companions that only relax a rule: when missing, the rule is applied strictly
SIGNIFICANCE = {
    "identical_match_p_value": 0.0,
    "history_match_p_value": 0.0,
    "history_dcr_share_p_value": 0.0,
    "dcr_share_p_value": 0.0,
    "dcr_tail_ratio_upper": -math.inf,
    "nndr_tail_ratio_upper": -math.inf,
    "utility_ratio_upper": -math.inf,
    **{f"{m.name}_excess": math.inf for m in RISKS},
    **{f"{name}_lower": math.inf for name in MEMBERSHIP_TESTS},
}


def _excess(card: Mapping[str, float], name: str) -> float:
    """How far a metric's estimate lies beyond its reference and band (NaN when unmeasured)."""
    m = metric(name)
    estimate = card.get(f"{name}_estimate", math.nan)
    reference = card.get(m.reference or "", math.nan)
    band = card.get(m.band or "", math.nan)
    return m.worse(estimate, reference) - band


def _row(scorecard: Mapping[str, float]) -> dict[str, float]:
    """Every gated metric (NaN when the report lacks it) with strict stand-ins for missing
    significance companions."""
    row = {name: float("nan") for name in ALWAYS_GATED}
    row.update({k: float(v) for k, v in scorecard.items()})
    for m in RISKS:
        row[f"{m.name}_excess"] = _excess(row, m.name)
    for name, strict in SIGNIFICANCE.items():
        if not math.isfinite(row.get(name, float("nan"))):
            row[name] = strict
    return row


def _get(card: Mapping[str, float], key: str | None) -> float | None:
    value = card.get(key) if key else None
    return float(value) if value is not None and math.isfinite(value) else None


def scorecard_rules(
    scorecard: Mapping[str, float], t: Thresholds
) -> tuple[list[Rule], dict[str, float]]:
    """The expectations of the scorecard gate for the given thresholds, and per gated metric the
    stand-in value that fails its rule when the metric was not measured."""
    import great_expectations.expectations as gxe

    card = _row(scorecard)
    unmeasured: dict[str, float] = {
        "identical_match_share": math.inf,
        "identical_match_reference": -math.inf,
    }

    def bound(
        name: str,
        limit: float,
        rule_name: str,
        unless: str | None = None,
        reference: float | None = None,
        band: float | None = None,
    ) -> Rule:
        higher = metric(name).direction == Direction.HIGHER
        unmeasured[name] = -math.inf if higher else math.inf
        limits = {"min_value": limit} if higher else {"max_value": limit}
        return Rule(
            rule_name,
            gxe.ExpectColumnValuesToBeBetween(
                column=name, row_condition=unless, condition_parser="pandas", **limits
            ),
            limit,
            card[name],
            lambda v: (
                "not measured"
                if v != v
                else (f"short by {limit - v:.4f}" if higher else f"over by {v - limit:.4f}")
            ),
            reference,
            band,
        )

    def against_reference(name: str, gross: float, tolerance: float, rule_name: str) -> Rule:
        """A bound at the tighter of the gross limit and reference -/+ (band + tolerance)."""
        m = metric(name)
        reference, band = _get(card, m.reference), _get(card, m.band)
        limit = gross
        if reference is not None:
            allowed = (band or 0.0) + tolerance
            if m.direction == Direction.HIGHER:
                limit = max(gross, reference - allowed)
            else:
                limit = min(gross, reference + allowed)
        return bound(name, limit, rule_name, reference=reference, band=band)

    def shown(name: str) -> dict[str, float | None]:
        m = metric(name)
        return {"reference": _get(card, m.reference), "band": _get(card, m.band)}

    rules = [
        against_reference("quality", t.quality_min, t.quality_tolerance, "quality >= quality_min"),
        against_reference(
            "column_shapes",
            t.column_shapes_min,
            t.column_shapes_tolerance,
            "column_shapes >= column_shapes_min",
        ),
        against_reference(
            "column_pair_trends",
            t.column_pair_trends_min,
            t.column_pair_trends_tolerance,
            "column_pair_trends >= column_pair_trends_min",
        ),
        against_reference(
            "discriminator_auc",
            t.discriminator_auc_max,
            t.discriminator_auc_tolerance,
            "discriminator_auc <= discriminator_auc_max",
        ),
    ]
    if "utility_ratio" in scorecard:
        rules.append(
            bound(
                "utility_ratio",
                t.utility_ratio_min,
                "utility_ratio (TSTR/TRTR) >= utility_ratio_min or not significantly below",
                unless=f"utility_ratio_upper < {t.utility_ratio_min!r}",
                **shown("utility_ratio"),
            )
        )
    for m in SEQUENCE_METRICS:
        if m.gated and m.name in scorecard:
            higher = m.direction == Direction.HIGHER
            rules.append(
                against_reference(
                    m.name,
                    0.0 if higher else 1.0,
                    t.sequence_tolerance,
                    f"{m.name} {'>=' if higher else '<='} holdout reference "
                    f"{'-' if higher else '+'} sequence_tolerance",
                )
            )
    reference = card["identical_match_reference"]
    rules += [
        Rule(
            "identical_match_share <= train->holdout reference or not significantly above",
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="identical_match_reference",
                column_B="identical_match_share",
                or_equal=True,
                row_condition=f"identical_match_p_value < {t.identical_match_alpha!r}",
                condition_parser="pandas",
            ),
            reference,
            card["identical_match_share"],
            lambda v: (
                f"{v:.4f} of synthetic rows copy a training row "
                f"(p = {card['identical_match_p_value']:.2g})"
            ),
            _get(card, "identical_match_reference"),
            _get(card, "identical_match_band"),
        ),
    ]
    if "history_match_share" in scorecard:
        rules.append(
            Rule(
                "history_match_share <= train->holdout reference or not significantly above",
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A="history_match_reference",
                    column_B="history_match_share",
                    or_equal=True,
                    row_condition=f"history_match_p_value < {t.identical_match_alpha!r}",
                    condition_parser="pandas",
                ),
                card["history_match_reference"],
                card["history_match_share"],
                lambda v: (
                    f"{v:.4f} of synthetic parents have a training parent's whole history "
                    f"(p = {card['history_match_p_value']:.2g})"
                ),
                _get(card, "history_match_reference"),
                _get(card, "history_match_band"),
            )
        )
    if "history_dcr_share" in scorecard:
        rules.append(
            bound(
                "history_dcr_share",
                t.dcr_share_max,
                "history_dcr_share <= dcr_share_max or not significantly above 0.5",
                unless=f"history_dcr_share_p_value < {t.dcr_share_alpha!r}",
                **shown("history_dcr_share"),
            )
        )
    rules += [
        bound(
            "dcr_share",
            t.dcr_share_max,
            "dcr_share <= dcr_share_max or not significantly above 0.5",
            unless=f"dcr_share_p_value < {t.dcr_share_alpha!r}",
            **shown("dcr_share"),
        ),
        bound(
            "dcr_tail_ratio",
            t.dcr_tail_ratio_min,
            "dcr_tail_ratio >= dcr_tail_ratio_min or not significantly below",
            unless=f"dcr_tail_ratio_upper < {t.dcr_tail_ratio_min!r}",
            **shown("dcr_tail_ratio"),
        ),
        bound(
            "nndr_tail_ratio",
            t.nndr_tail_ratio_min,
            "nndr_tail_ratio >= nndr_tail_ratio_min or not significantly below",
            unless=f"nndr_tail_ratio_upper < {t.nndr_tail_ratio_min!r}",
            **shown("nndr_tail_ratio"),
        ),
        against_reference(
            "rare_value_reproduction",
            1.0,
            t.rare_value_tolerance,
            "rare_value_reproduction <= holdout reference + band + rare_value_tolerance",
        ),
    ]
    for risk in RISKS:
        rules.append(
            bound(
                risk.name,
                t.risk_max,
                f"{risk.name} (upper bound) <= risk_max",
                unless=f"{risk.name}_excess > {t.risk_tolerance!r}",
                **shown(risk.name),
            )
        )
    rules.append(bound("k_anonymity", t.k_anonymity_min, "k_anonymity >= k_anonymity_min"))
    for name in MEMBERSHIP_TESTS:
        rules.append(
            bound(
                name,
                t.membership_tpr_max,
                f"{name} <= membership_tpr_max or not significantly above",
                # judged only where the exact test rejects "the attack learned nothing", its
                # p-value adjusted over the report's membership tests (evaluation/report.py)
                unless=f"{name}_p_value < {t.membership_alpha!r}",
                **shown(name),
            )
        )
    return rules, unmeasured


def check_scorecard(scorecard: Mapping[str, float], thresholds: Thresholds) -> GateResult:
    """Every scorecard metric against its reference and threshold, as one GX suite (see the
    module docstring).

    A metric the report lacks (NaN) enters the suite as a value that fails its rule (GX would
    otherwise skip it as null), while the check's metadata shows it as not measured.
    """
    rules, unmeasured = scorecard_rules(scorecard, thresholds)
    row = _row(scorecard)
    for name, stand_in in unmeasured.items():
        if math.isnan(row[name]):
            row[name] = stand_in
    for name in MEMBERSHIP_TESTS:  # no test result: the rule applies strictly (as if significant)
        key = f"{name}_p_value"
        if key not in row or row[key] != row[key]:
            row[key] = 0.0
    return run_suite("scorecard", "scorecard", pd.DataFrame([row]), rules)
