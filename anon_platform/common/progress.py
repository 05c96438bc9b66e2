"""Progress of a long step (training a generator or an encoder): events and the callback type."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    """One step of training: `step` of `total` (epochs, or iterations), with the loss so far.

    Backends send these to the `progress` callback of `Generator.fit`; the Dagster asset logs
    them, the CLI draws a progress bar, and the model card keeps the loss curve.
    """

    step: int
    total: int
    loss: float | None = None
    rows_per_second: float | None = None
    message: str = ""

    def describe(self) -> str:
        """The event in one line: 'step 3/10, loss 0.1234, 5,000 rows/s, <message>'."""
        parts = [f"step {self.step}/{self.total}"]
        if self.loss is not None:
            parts.append(f"loss {self.loss:.4f}")
        if self.rows_per_second is not None:
            parts.append(f"{self.rows_per_second:,.0f} rows/s")
        if self.message:
            parts.append(self.message)
        return ", ".join(parts)


Progress = Callable[[ProgressEvent], None]


def no_progress(event: ProgressEvent) -> None:
    """The default progress callback: ignores every event."""
