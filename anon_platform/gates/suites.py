"""Running a gate as a Great Expectations 1.x suite over an in-memory frame.

A gate is a list of Rules: a GX expectation plus how the check's metadata names it, the
threshold it shows and how to read the observed value from GX's result. An expectation that
GX cannot evaluate (a missing column, a bad argument) is a misconfigured gate, reported as an
error of the gate, never as a data failure.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pandas as pd

from anon_platform.gates.results import Expectation, GateResult

Observed = Callable[[dict[str, Any]], Any]


def unexpected_count(result: dict[str, Any]) -> Any:
    """Observed value of a per-row expectation: how many rows broke it."""
    return result.get("unexpected_count")


def observed_value(result: dict[str, Any]) -> Any:
    """Observed value of an aggregate expectation, as GX reports it."""
    return result.get("observed_value")


@dataclass(frozen=True)
class Rule:
    """One expectation of a gate, as shown in the check metadata."""

    name: str
    expectation: Any  # a great_expectations.expectations.Expectation
    threshold: Any
    observed: Observed | Any = unexpected_count  # a reader of GX's result, or a fixed value
    detail: Callable[[Any], str] = field(default=lambda observed: "")
    reference: float | None = None  # the real-data reference the rule judges against
    band: float | None = None


@cache
def _context():
    """One ephemeral GX context per process (cheap to reuse, slow-ish to import)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def _raised(result: Any) -> str:
    """The message of an exception GX caught while evaluating one expectation, else ''."""
    info = result.exception_info or {}
    entries = [info] if "raised_exception" in info else list(info.values())
    for entry in entries:
        if isinstance(entry, dict) and entry.get("raised_exception"):
            return str(entry.get("exception_message") or "expectation could not be evaluated")
    return ""


def run_suite(gate: str, name: str, frame: pd.DataFrame, rules: list[Rule]) -> GateResult:
    """Validate `frame` against the rules' expectations as one GX suite named `name`.

    Results never include GX's lists of unexpected values (they could hold raw values): only
    counts and aggregate observations reach the GateResult.
    """
    import great_expectations as gx

    context = _context()
    source_name = f"anon-{uuid.uuid4().hex}"
    source = context.data_sources.add_pandas(source_name)
    try:
        batch = (
            source.add_dataframe_asset(name)
            .add_batch_definition_whole_dataframe("whole")
            .get_batch(batch_parameters={"dataframe": frame})
        )
        suite = gx.ExpectationSuite(name=f"{gate}: {name}")
        for index, rule in enumerate(rules):
            rule.expectation.meta = {"rule": index}
            suite.add_expectation(rule.expectation)
        validation = batch.validate(suite, result_format="BASIC")
    finally:
        context.data_sources.delete(source_name)
    by_rule = {r.expectation_config.meta["rule"]: r for r in validation.results}
    expectations = []
    for index, rule in enumerate(rules):
        outcome = by_rule[index]
        error = _raised(outcome)
        reader = rule.observed
        observed = reader(outcome.result or {}) if callable(reader) else reader
        expectations.append(
            Expectation(
                name=rule.name,
                passed=bool(outcome.success) and not error,
                observed=_plain(observed),
                threshold=_plain(rule.threshold),
                detail=f"gate error: {error}" if error else rule.detail(observed),
                error=error,
                reference=_plain(rule.reference),
                band=_plain(rule.band),
            )
        )
    return GateResult(gate, tuple(expectations))


def _plain(value: Any) -> Any:
    """A JSON-friendly version of an observed value or threshold."""
    if hasattr(value, "item") and not isinstance(value, (list, tuple, dict)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (pd.Timestamp,)) or hasattr(value, "isoformat"):
        return value.isoformat()
    return value
