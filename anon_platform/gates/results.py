"""The outcome of a gate: one line per expectation with observed value, threshold, verdict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Expectation:
    """One checked expectation; `observed` and `threshold` are plain JSON values."""

    name: str
    passed: bool
    observed: Any
    threshold: Any
    detail: str = ""
    error: str = ""  # set when the expectation could not be evaluated (a misconfigured gate)
    # the real-data reference the observed value is judged against and its band (None: the
    # rule has no reference, or the report did not measure one)
    reference: Any = None
    band: Any = None


@dataclass(frozen=True)
class GateResult:
    """All expectations of one gate; the gate passes only when every one passes."""

    gate: str
    expectations: tuple[Expectation, ...] = field(default_factory=tuple)
    # artifact -> content digest of what the gate read (evidence.py); the release copies only
    # files with these digests
    judged: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(e.passed for e in self.expectations)

    @property
    def failures(self) -> list[Expectation]:
        return [e for e in self.expectations if not e.passed]

    @property
    def errors(self) -> list[Expectation]:
        """Expectations that could not be evaluated: the gate itself is misconfigured."""
        return [e for e in self.expectations if e.error]

    @property
    def verdict(self) -> str:
        if self.errors:
            return "ERROR (misconfigured gate)"
        return "PASSED" if self.passed else "FAILED"

    def as_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "passed": self.passed,
            "judged": dict(self.judged),
            "expectations": [asdict(e) for e in self.expectations],
        }

    def markdown(self) -> str:
        """A table that shows in the Dagster UI which expectation failed and by how much."""
        lines = [
            f"**{self.gate}: {self.verdict}**",
            "",
            "| expectation | observed | reference | band | threshold | result |",
            "|---|---|---|---|---|---|",
        ]
        for e in self.expectations:
            verdict = "pass" if e.passed else f"**FAIL** {e.detail}".strip()
            if e.error:
                verdict = f"**ERROR** {e.detail}"
            lines.append(
                f"| {e.name} | {_fmt(e.observed)} | {_fmt(e.reference)} | {_fmt(e.band)} "
                f"| {_fmt(e.threshold)} | {verdict} |"
            )
        return "\n".join(lines)


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value).replace("|", "\\|")
