"""`anon demo`: materialize every dataset's whole asset graph on the local instance and say
what was released, where, and which gates passed or blocked what."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from anon_platform.evaluation.metrics import SUMMARY
from anon_platform.storage import Zones

GATE_FAILURE = "DagsterAssetCheckFailedError"


def _root_error(failure) -> tuple[str, str]:
    error = failure.event_specific_data.error
    while error.cause is not None:
        error = error.cause
    return error.cls_name or "", error.message.strip()


def _why_not_released(zones: Zones, key) -> str:
    """'blocked by a gate above', or the release policy's reason when the generator passed
    every gate but was outranked (its last audit line says so)."""
    from anon_platform.release import read_audit_log

    dataset, generator = key.path[0], key.path[-1]
    attempts = [a for a in read_audit_log(zones, dataset) if a["generator"] == generator]
    outranked = [r for r in (attempts[-1]["reasons"] if attempts else []) if "policy" in r]
    return f"passed every gate; {outranked[0]}" if outranked else "blocked by a gate above"


def summarize_run(result, zones: Zones, dataset: str, planned_releases: list) -> bool:
    """Print the gates, releases and errors of one pipeline run; True when it released at least
    one artifact and every failure was a gate's verdict (not an error)."""
    from anon_platform.cli.progress import gate_line
    from anon_platform.release import ReleaseManifest

    failing = []
    for evaluation in result.get_asset_check_evaluations():
        name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        if evaluation.passed:
            print(f"   gate {name} passed")
            continue
        failing.append(evaluation.asset_key)
        print(f"   gate {name} {gate_line(evaluation)}")
    healthy = True
    for failure in result.get_step_failure_events():
        cls_name, message = _root_error(failure)
        if cls_name == GATE_FAILURE or "blocking asset check failed" in message:
            continue
        healthy = False
        print(f"   step {failure.step_key} failed: {message}")
    released = {
        e.asset_key: e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key.path[1:2] == ["release"]
    }
    for key in planned_releases:
        metadata = released.get(key)
        if metadata is None:
            print(f"   not released: {key.to_user_string()} ({_why_not_released(zones, key)})")
            continue
        folder = metadata["release_path"].value
        manifest = ReleaseManifest.read(Path(folder))
        print(f"   released {key.to_user_string()} -> {folder}")
        for name, info in manifest.files.items():
            if info.rows is not None:
                print(f"     {name}: {info.rows:,} rows")
        metrics = manifest.metrics
        shown = [m.name for m in SUMMARY]
        print("     metrics: " + ", ".join(f"{k} {metrics[k]:.3f}" for k in shown if k in metrics))
    return healthy and bool(released)


def cmd_demo(args: argparse.Namespace) -> int:
    """Run each dataset's pipeline job in process on ANON_HOME's instance and summarize."""
    import dagster as dg

    from anon_platform.catalog import load_catalog
    from anon_platform.definitions import build_definitions
    from anon_platform.instance import ensure_instance
    from anon_platform.jobs import pipeline_job_name

    zones = Zones(args.home)
    dagster_home = ensure_instance(zones)
    catalog = load_catalog(args.project)
    from anon_platform.cli.progress import LOGGER_NAME, progress_logger

    defs = dg.Definitions.merge(
        build_definitions(catalog, str(zones.home)),
        dg.Definitions(loggers={LOGGER_NAME: progress_logger()}),
    )
    ok = True
    with dg.DagsterInstance.get() as instance:
        for dataset in catalog.releases:
            started = time.perf_counter()
            print(f"== {dataset}: materializing raw -> release")
            job = defs.resolve_job_def(pipeline_job_name(dataset))
            result = job.execute_in_process(
                instance=instance,
                raise_on_error=False,
                # short progress lines instead of Dagster's event stream and stack traces
                run_config={"loggers": {LOGGER_NAME: {}}},
            )
            print(f"   run {result.run_id} finished in {time.perf_counter() - started:.0f} s")
            planned = [k for k in job.asset_layer.executable_asset_keys if k.path[1] == "release"]
            if not summarize_run(result, zones, dataset, sorted(planned, key=str)):
                ok = False
                print(f"   {dataset}: nothing released, or a step failed (see above)")
            print(f"   audit log: {zones.release_dataset(dataset) / 'audit.jsonl'}")
    print(f"\nDagster home: {dagster_home}")
    print("Open the UI on this instance with:  make ui   (then http://127.0.0.1:3000)")
    return 0 if ok else 1


def register(subparsers) -> None:
    demo = subparsers.add_parser("demo", help="materialize the demo pipeline end to end")
    demo.add_argument("--home", help="ANON_HOME (default: $ANON_HOME or ./.anon)")
    demo.set_defaults(func=cmd_demo)
