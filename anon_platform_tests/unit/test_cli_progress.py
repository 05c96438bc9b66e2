"""`anon demo` shows a run's progress as short lines: a line per finished step, the steps' own
messages, and a blocked gate as one line naming the failed rule and by how much."""

from __future__ import annotations

import dagster as dg

from anon_platform.cli.progress import LOGGER_NAME, progress_logger


def run_with_progress() -> list[str]:
    @dg.asset(key=["bank", "models", "toy"])
    def model(context) -> None:
        context.log.info("toy: epoch 1/1")

    @dg.asset_check(asset=model, name="scorecard_gate", blocking=True)
    def gate() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(
            passed=False,
            metadata={
                "00 quality >= quality_min": dg.MetadataValue.json(
                    {"passed": False, "observed": 0.61, "threshold": 0.7, "detail": "short by 0.09"}
                )
            },
        )

    @dg.asset(key=["bank", "release", "toy"], deps=[model])
    def release() -> None: ...

    lines: list[str] = []
    defs = dg.Definitions(
        assets=[model, release],
        asset_checks=[gate],
        loggers={LOGGER_NAME: progress_logger(lines.append)},
    )
    defs.resolve_implicit_global_asset_job_def().execute_in_process(
        raise_on_error=False, run_config={"loggers": {LOGGER_NAME: {}}}
    )
    return lines


def test_progress_shows_step_messages_finished_steps_and_a_blocked_gate_in_one_line() -> None:
    lines = run_with_progress()

    assert any(line.endswith("bank/models/toy: toy: epoch 1/1") for line in lines)
    assert any("bank/models/toy done in" in line for line in lines)
    (gate,) = [line for line in lines if "gate " in line]
    assert gate.endswith(
        "gate bank/models/toy:scorecard_gate BLOCKED: quality >= quality_min (short by 0.09)"
    )
    assert not any("Traceback" in line or "DagsterAssetCheckFailedError" in line for line in lines)
