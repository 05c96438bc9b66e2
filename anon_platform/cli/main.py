"""`anon`: the platform's command line.

anon demo       materialize every dataset's asset graph on the local instance and summarize
anon instance   create the local Dagster home (dagster.yaml, gpu pool) under ANON_HOME
anon validate   load sources.yml, releases.yml and the SQL models and report any error
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from anon_platform.errors import AnonPlatformError
from anon_platform.storage import Zones, read_json


def _catalog(project: str | None):
    from anon_platform.catalog import load_catalog

    return load_catalog(Path(project) if project else None)


def cmd_validate(args: argparse.Namespace) -> int:
    catalog = _catalog(args.project)
    for dataset, release in catalog.releases.items():
        models = ", ".join(m.name for m in catalog.dataset_models(dataset))
        print(
            f"{dataset}: raw tables {', '.join(t.name for t in catalog.sources[dataset].tables)}; "
            f"models {models}; releases {', '.join(t.name for t in release.tables)} via "
            f"{', '.join(g.name for g in release.generators)}"
        )
    print("catalog OK")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import dagster as dg

    from anon_platform.definitions import build_definitions
    from anon_platform.instance import ensure_instance
    from anon_platform.jobs import pipeline_job_name

    zones = Zones(args.home)
    dagster_home = ensure_instance(zones)
    catalog = _catalog(args.project)
    defs = build_definitions(catalog, str(zones.home))
    failed = False
    with dg.DagsterInstance.get() as instance:
        for dataset in catalog.releases:
            started = time.perf_counter()
            print(f"== {dataset}: materializing raw -> release")
            job = defs.resolve_job_def(pipeline_job_name(dataset))
            result = job.execute_in_process(
                instance=instance,
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
            elapsed = time.perf_counter() - started
            print(
                f"   run {result.run_id} {'succeeded' if result.success else 'FAILED'} "
                f"in {elapsed:.0f} s"
            )
            for evaluation in result.get_asset_check_evaluations():
                verdict = "passed" if evaluation.passed else "FAILED"
                print(
                    f"   gate {evaluation.asset_key.to_user_string()}:{evaluation.check_name} "
                    f"{verdict}"
                )
            for failure in result.get_step_failure_events():
                error = failure.event_specific_data.error
                while error.cause is not None:
                    error = error.cause
                print(f"   step {failure.step_key} failed: {error.message.strip()}")
            latest = zones.release_dataset(dataset) / "LATEST"
            released = (
                [
                    e.asset_key
                    for e in result.get_asset_materialization_events()
                    if e.asset_key.path[1:2] == ["release"]
                ]
                if result.success
                else []
            )
            if released and latest.exists():
                folder = zones.release_dataset(dataset) / latest.read_text().strip()
                manifest = read_json(folder / "manifest.json")
                print(f"   released {folder}")
                for name, info in manifest["files"].items():
                    if "rows" in info:
                        print(f"     {name}: {info['rows']:,} rows")
                print(
                    "   metrics: "
                    + ", ".join(f"{k} {v:.3f}" for k, v in manifest["metrics"].items())
                )
            else:
                failed = True
                print(f"   nothing released for {dataset}: see the failed gate or step above")
    print(f"\nDagster home: {dagster_home}")
    print("Open the UI on this instance with:  make ui   (then http://127.0.0.1:3000)")
    return 1 if failed else 0


def cmd_instance(args: argparse.Namespace) -> int:
    from anon_platform.instance import ensure_instance

    home = ensure_instance(Zones(args.home))
    print(home if args.print_home else f"Dagster home ready: {home}")
    return 0


# Commands that live in their own module register here: each module has
# `register(subparsers)` adding its parser with `set_defaults(func=...)`.
COMMAND_MODULES: list[str] = []


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="anon", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--project", help="folder holding dbt_like_sql/ (default: this checkout)")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="materialize the demo pipeline end to end")
    demo.add_argument("--home", help="ANON_HOME (default: $ANON_HOME or ./.anon)")
    demo.set_defaults(func=cmd_demo)
    instance = sub.add_parser("instance", help="create the local Dagster home under ANON_HOME")
    instance.add_argument("--home", help="ANON_HOME (default: $ANON_HOME or ./.anon)")
    instance.add_argument("--print-home", action="store_true", help="print only its path")
    instance.set_defaults(func=cmd_instance)
    validate = sub.add_parser("validate", help="check the catalog and SQL models")
    validate.set_defaults(func=cmd_validate)
    for module_name in COMMAND_MODULES:
        importlib.import_module(f"anon_platform.cli.{module_name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except AnonPlatformError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
