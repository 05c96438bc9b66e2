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


@dataclass(frozen=True)
class GateResult:
    """All expectations of one gate; the gate passes only when every one passes."""

    gate: str
    expectations: tuple[Expectation, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return all(e.passed for e in self.expectations)

    @property
    def failures(self) -> list[Expectation]:
        return [e for e in self.expectations if not e.passed]

    def as_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "passed": self.passed,
            "expectations": [asdict(e) for e in self.expectations],
        }

    def markdown(self) -> str:
        """A table that shows in the Dagster UI which expectation failed and by how much."""
        lines = [
            f"**{self.gate}: {'PASSED' if self.passed else 'FAILED'}**",
            "",
            "| expectation | observed | threshold | result |",
            "|---|---|---|---|",
        ]
        for e in self.expectations:
            verdict = "pass" if e.passed else f"**FAIL** {e.detail}".strip()
            lines.append(f"| {e.name} | {_fmt(e.observed)} | {_fmt(e.threshold)} | {verdict} |")
        return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value).replace("|", "\\|")
