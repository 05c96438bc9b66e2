"""Evaluation policy: how much harder the weekly full evaluation measures than a run's."""

from __future__ import annotations

from anon_platform.catalog.specs import EvaluationSettings

FULL_EVALUATION_FACTOR = 4


def full_evaluation(settings: EvaluationSettings) -> EvaluationSettings:
    """The expensive variant of the settings (weekly): four times the attacks, capped at the
    settings' own bounds, and multivariate singling-out."""
    return settings.model_copy(
        update={
            "singling_out_attacks": min(
                settings.singling_out_attacks * FULL_EVALUATION_FACTOR, 100_000
            ),
            "linkability_attacks": min(
                settings.linkability_attacks * FULL_EVALUATION_FACTOR, 100_000
            ),
            "inference_attacks": min(settings.inference_attacks * FULL_EVALUATION_FACTOR, 100_000),
            "multivariate_singling_out": True,
        }
    )
