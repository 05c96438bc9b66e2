"""Fidelity, utility and privacy metrics, and the quality report."""

from anon_platform.evaluation.quality import evaluate_dataset

__all__ = ["evaluate_dataset"]
