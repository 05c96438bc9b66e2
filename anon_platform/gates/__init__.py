"""Release gates: checks on synthetic tables and on the report's scorecard."""

from anon_platform.gates.results import Expectation, GateResult
from anon_platform.gates.scorecard import check_scorecard
from anon_platform.gates.synthetic import check_synthetic_tables

__all__ = ["Expectation", "GateResult", "check_scorecard", "check_synthetic_tables"]
