"""Gate on the report's scorecard: each metric against its threshold from releases.yml."""

from __future__ import annotations

from anon_platform.catalog.specs import Thresholds
from anon_platform.gates.results import Expectation, GateResult


def check_scorecard(scorecard: dict[str, float], thresholds: Thresholds) -> GateResult:
    """Expectations: quality >= quality_min; DCR share <= dcr_share_max, or not significantly
    above 0.5 (one-sided binomial p >= dcr_share_alpha) when the sample is too small to tell."""
    quality = scorecard["quality"]
    share = scorecard["dcr_share"]
    p_value = scorecard.get("dcr_share_p_value", 0.0)
    dcr_ok = share <= thresholds.dcr_share_max or p_value >= thresholds.dcr_share_alpha
    return GateResult(
        "scorecard",
        (
            Expectation(
                "quality >= quality_min",
                quality >= thresholds.quality_min,
                quality,
                thresholds.quality_min,
                f"short by {thresholds.quality_min - quality:.4f}",
            ),
            Expectation(
                "dcr_share <= dcr_share_max or not significantly above 0.5",
                dcr_ok,
                share,
                thresholds.dcr_share_max,
                f"over by {share - thresholds.dcr_share_max:.4f} with p = {p_value:.2g} < "
                f"{thresholds.dcr_share_alpha}",
            ),
        ),
    )
