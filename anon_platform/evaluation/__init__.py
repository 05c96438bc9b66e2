"""Fidelity, utility and privacy metrics, the metrics table and the (typed) quality report."""

from anon_platform.evaluation.metrics import METRICS, Metric, metric
from anon_platform.evaluation.quality_report import QualityReport, TableReport
from anon_platform.evaluation.report import evaluate_dataset

__all__ = ["METRICS", "Metric", "QualityReport", "TableReport", "evaluate_dataset", "metric"]
