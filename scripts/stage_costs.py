"""Seconds per pipeline stage of one dataset, read from the Dagster event log of an in-process
run: the numbers behind the cost model in docs/scale-out.md.

    .venv/bin/python scripts/stage_costs.py [--generators gaussian_copula autoregressive]

Runs the demo dataset (every customer, the shipped releases.yml with only the named generators,
the encoder included) in process on a temporary ANON_HOME, then prints, per stage and queue, the
steps' summed durations (STEP_START to STEP_SUCCESS / STEP_FAILURE) and the machine's load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import dagster as dg
import yaml

from anon_platform.catalog import load_catalog
from anon_platform.definitions import build_definitions
from anon_platform.executors import CPU_QUEUE, QUEUE_TAG

REPO = Path(__file__).resolve().parents[1]
END_FAILURE = dg.DagsterEventType.STEP_FAILURE


def demo_project(root: Path, generators: list[str]) -> Path:
    """A copy of dbt_like_sql/ reading the committed demo data, with only `generators`."""
    shutil.copytree(REPO / "dbt_like_sql", root / "dbt_like_sql")
    sources_path = root / "dbt_like_sql" / "sources.yml"
    sources = yaml.safe_load(sources_path.read_text())
    for table in sources["sources"][0]["tables"]:
        table["location"] = {"path": str(REPO / "demo_data" / "bank" / f"{table['name']}.csv")}
    sources_path.write_text(yaml.safe_dump(sources, sort_keys=False))
    releases_path = root / "dbt_like_sql" / "releases.yml"
    plan = yaml.safe_load(releases_path.read_text())
    plan["datasets"][0]["generators"] = [
        g for g in plan["datasets"][0]["generators"] if g["name"] in generators
    ]
    releases_path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return root


def stage_of(step_key: str) -> str:
    """'models', 'synthetic', ... from `bank__models__autoregressive`; asset checks -> 'gates';
    the split (one multi-asset step, `bank_prepare_split`) -> 'prepare_split'."""
    parts = step_key.split("__")
    if parts[-1].endswith("_gate"):
        return "gates"
    return parts[1] if len(parts) > 1 else step_key.split("_", 1)[1]  # bank_prepare_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generators", nargs="+", default=["gaussian_copula", "autoregressive"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = demo_project(Path(tmp) / "project", args.generators)
        job = build_definitions(load_catalog(project), str(Path(tmp) / "home")).resolve_job_def(
            "bank_pipeline"
        )
        queues = {node.name: node.tags.get(QUEUE_TAG, CPU_QUEUE) for node in job.graph.nodes}
        instance = dg.DagsterInstance.ephemeral()
        started = time.perf_counter()
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        wall = time.perf_counter() - started
    began: dict[str, float] = {}
    per_step: dict[str, float] = {}
    seconds: dict[tuple[str, str], float] = defaultdict(float)
    steps: dict[tuple[str, str], list[str]] = defaultdict(list)
    for record in instance.all_logs(result.run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            began[event.step_key] = record.timestamp
        elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, END_FAILURE):
            where = (stage_of(event.step_key), queues.get(event.step_key, CPU_QUEUE))
            per_step[event.step_key] = record.timestamp - began[event.step_key]
            seconds[where] += per_step[event.step_key]
            steps[where].append(event.step_key.split("__", 2)[-1])
    print(f"run success={result.success}, wall {wall:.0f} s, load {os.getloadavg()[0]:.1f}")
    print("| stage | queue | seconds | steps |\n|---|---|---:|---|")
    for key in sorted(began):
        print(f"  {key}: {per_step.get(key, float('nan')):.1f} s")
    for (stage, queue), total in sorted(seconds.items(), key=lambda kv: -kv[1]):
        print(f"| {stage} | {queue} | {total:.1f} | {', '.join(sorted(steps[stage, queue]))} |")
    for queue in sorted({q for _, q in seconds}):
        print(f"total {queue}: {sum(v for (_, q), v in seconds.items() if q == queue):.1f} s")


if __name__ == "__main__":
    main()
