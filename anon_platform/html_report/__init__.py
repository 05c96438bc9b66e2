"""The HTML quality report: the evaluation's numbers, its disclosure-controlled charts and the
gates' verdicts on one self-contained page."""

from anon_platform.html_report.page import metric_of, render_report_html

__all__ = ["metric_of", "render_report_html"]
