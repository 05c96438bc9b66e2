"""What `anon demo` shows while a run works: one line per finished step (with its time), the
steps' own progress messages (training epochs, rows), and one line per gate verdict, instead of
Dagster's event stream and stack traces."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import dagster as dg

LOGGER_NAME = "anon_progress"


def asset_name(step_key: str) -> str:
    """'bank__models__autoregressive' -> 'bank/models/autoregressive'."""
    return step_key.replace("__", "/")


class StepProgress(logging.Handler):
    """Turns the Dagster events of one run into short lines for `write` (print by default)."""

    def __init__(self, write: Callable[[str], None] = print) -> None:
        super().__init__(level=logging.DEBUG)  # Dagster logs step events at DEBUG
        self.write = write
        self.started = time.perf_counter()
        self.step_started: dict[str, float] = {}

    def _stamp(self) -> str:
        return f"   [{time.perf_counter() - self.started:5.0f} s]"

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        step = meta.get("step_key") or (event.step_key if event else None)
        if event is None:
            message = str(meta.get("orig_message") or "")
            if step and message and record.levelno >= logging.INFO and "dagster" not in message:
                self.write(f"{self._stamp()}   {asset_name(step)}: {message}")
            return
        kind = event.event_type_value
        if kind == "STEP_START":
            self.step_started[step] = time.perf_counter()
        elif kind == "STEP_SUCCESS" and not step.endswith("_gate"):
            took = time.perf_counter() - self.step_started.get(step, self.started)
            self.write(f"{self._stamp()} {asset_name(step)} done in {took:.0f} s")
        elif kind == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            self.write(f"{self._stamp()} gate {name} {gate_line(evaluation)}")
        elif kind == "STEP_FAILURE" and not step.endswith("_gate"):
            error = event.event_specific_data.error
            while error is not None and error.cause is not None:
                error = error.cause
            first = (error.message.strip().splitlines() or [""])[0] if error else ""
            self.write(f"{self._stamp()} {asset_name(step)} FAILED: {first[:300]}")


def gate_line(evaluation) -> str:
    """'passed', or 'BLOCKED: rule (by how much); ...' from a check's metadata."""
    if evaluation.passed:
        return "passed"
    failed = [
        f"{key.split(' ', 1)[1]} ({value.value.get('detail') or value.value.get('observed')})"
        for key, value in evaluation.metadata.items()
        if isinstance(value.value, dict) and value.value.get("passed") is False
    ]
    return "BLOCKED: " + ("; ".join(failed) or "see the check's metadata in the UI")


def progress_logger(write: Callable[[str], None] = print) -> dg.LoggerDefinition:
    """A Dagster logger that prints a run's progress as short lines (see StepProgress)."""

    @dg.logger(description="anon demo's progress lines")
    def anon_progress(_context: dg.InitLoggerContext) -> logging.Logger:
        logger = logging.Logger(LOGGER_NAME, level=logging.DEBUG)
        logger.addHandler(StepProgress(write))
        return logger

    return anon_progress
