"""Fidelity, utility and privacy metrics, and the quality report."""

from anon_platform.evaluation.report import evaluate_dataset

__all__ = ["evaluate_dataset"]
