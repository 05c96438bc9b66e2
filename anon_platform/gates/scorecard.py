"""Gate on the report's scorecard: a Great Expectations suite over a one-row frame holding every
metric, each expectation a threshold from releases.yml.

Rules written 'or not significantly ...' pass when the metric is inside its threshold or when
the report's test (p-value) or bootstrap bound cannot tell it from the real-data reference at
the configured alpha; in GX that is the same expectation restricted by a `row_condition` to the
case where the difference is significant. A metric the report should have but lacks fails (the
gate fails closed), and so does a missing p-value or bound.
"""

from __future__ import annotations

import math

import pandas as pd

from anon_platform.catalog.specs import Thresholds
from anon_platform.gates.results import GateResult
from anon_platform.gates.suites import Rule, run_suite

ALWAYS_GATED = (
    "quality",
    "column_shapes",
    "column_pair_trends",
    "discriminator_auc",
    "identical_match_share",
    "identical_match_reference",
    "dcr_share",
    "dcr_tail_ratio",
    "nndr_tail_ratio",
    "singling_out_risk",
    "linkability_risk",
    "inference_risk",
    "k_anonymity",
)
# companions that only relax a rule: when missing, the rule is applied strictly
SIGNIFICANCE = {
    "identical_match_p_value": 0.0,
    "dcr_share_p_value": 0.0,
    "dcr_tail_ratio_upper": -math.inf,
    "nndr_tail_ratio_upper": -math.inf,
    "utility_ratio_upper": -math.inf,
}


def _row(scorecard: dict[str, float]) -> dict[str, float]:
    """Every gated metric (NaN when the report lacks it) with strict stand-ins for missing
    significance companions."""
    row = {name: float("nan") for name in ALWAYS_GATED}
    row.update({k: float(v) for k, v in scorecard.items()})
    for name, strict in SIGNIFICANCE.items():
        if not math.isfinite(row.get(name, float("nan"))):
            row[name] = strict
    return row


def scorecard_rules(
    scorecard: dict[str, float], t: Thresholds
) -> tuple[list[Rule], dict[str, float]]:
    """The expectations of the scorecard gate for the given thresholds, and per gated metric the
    stand-in value that fails its rule when the metric was not measured."""
    import great_expectations.expectations as gxe

    card = _row(scorecard)
    unmeasured: dict[str, float] = {
        "identical_match_share": math.inf,
        "identical_match_reference": -math.inf,
    }

    def at_least(metric: str, minimum: float, name: str, unless: str | None = None) -> Rule:
        unmeasured[metric] = -math.inf
        return Rule(
            name,
            gxe.ExpectColumnValuesToBeBetween(
                column=metric, min_value=minimum, row_condition=unless, condition_parser="pandas"
            ),
            minimum,
            card[metric],
            lambda v: f"short by {minimum - v:.4f}" if v == v else "not measured",
        )

    def at_most(metric: str, maximum: float, name: str, unless: str | None = None) -> Rule:
        unmeasured[metric] = math.inf
        return Rule(
            name,
            gxe.ExpectColumnValuesToBeBetween(
                column=metric, max_value=maximum, row_condition=unless, condition_parser="pandas"
            ),
            maximum,
            card[metric],
            lambda v: f"over by {v - maximum:.4f}" if v == v else "not measured",
        )

    rules = [
        at_least("quality", t.quality_min, "quality >= quality_min"),
        at_least("column_shapes", t.column_shapes_min, "column_shapes >= column_shapes_min"),
        at_least(
            "column_pair_trends",
            t.column_pair_trends_min,
            "column_pair_trends >= column_pair_trends_min",
        ),
        at_most(
            "discriminator_auc",
            t.discriminator_auc_max,
            "discriminator_auc <= discriminator_auc_max",
        ),
    ]
    if "utility_ratio" in scorecard:
        rules.append(
            at_least(
                "utility_ratio",
                t.utility_ratio_min,
                "utility_ratio (TSTR/TRTR) >= utility_ratio_min or not significantly below",
                unless=f"utility_ratio_upper < {t.utility_ratio_min!r}",
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
        ),
        at_most(
            "dcr_share",
            t.dcr_share_max,
            "dcr_share <= dcr_share_max or not significantly above 0.5",
            unless=f"dcr_share_p_value < {t.dcr_share_alpha!r}",
        ),
        at_least(
            "dcr_tail_ratio",
            t.dcr_tail_ratio_min,
            "dcr_tail_ratio >= dcr_tail_ratio_min or not significantly below",
            unless=f"dcr_tail_ratio_upper < {t.dcr_tail_ratio_min!r}",
        ),
        at_least(
            "nndr_tail_ratio",
            t.nndr_tail_ratio_min,
            "nndr_tail_ratio >= nndr_tail_ratio_min or not significantly below",
            unless=f"nndr_tail_ratio_upper < {t.nndr_tail_ratio_min!r}",
        ),
    ]
    for risk in ("singling_out_risk", "linkability_risk", "inference_risk"):
        rules.append(at_most(risk, t.risk_max, f"{risk} (upper bound) <= risk_max"))
    rules.append(at_least("k_anonymity", t.k_anonymity_min, "k_anonymity >= k_anonymity_min"))
    return rules, unmeasured


def check_scorecard(scorecard: dict[str, float], thresholds: Thresholds) -> GateResult:
    """Every scorecard metric against its threshold, as one GX suite (see the module docstring).

    A metric the report lacks (NaN) enters the suite as a value that fails its rule (GX would
    otherwise skip it as null), while the check's metadata shows it as not measured.
    """
    rules, unmeasured = scorecard_rules(scorecard, thresholds)
    row = _row(scorecard)
    for metric, stand_in in unmeasured.items():
        if math.isnan(row[metric]):
            row[metric] = stand_in
    return run_suite("scorecard", "scorecard", pd.DataFrame([row]), rules)
