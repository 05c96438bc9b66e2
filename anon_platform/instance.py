"""The local Dagster instance under ANON_HOME: SQLite storage, the `gpu` pool, a small run queue."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import yaml

from anon_platform.jobs import DATASET_TAG
from anon_platform.storage import Zones, atomic_path

GPU_POOL = "gpu"

LOCAL_INSTANCE_CONFIG = {
    "telemetry": {"enabled": False},
    "run_coordinator": {
        "module": "dagster.core.run_coordinator",
        "class": "QueuedRunCoordinator",
    },
    "concurrency": {
        "runs": {
            "max_concurrent_runs": 2,
            # one run per dataset at a time (every dataset run carries the `dataset` tag);
            # a second run of the same dataset waits in the queue until the first ends
            "tag_concurrency_limits": [
                {"key": DATASET_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
            ],
        },
        # the gpu pool gets limit 1 explicitly (ensure_instance); this default covers any other
        "pools": {"default_limit": 1},
    },
    "run_monitoring": {"enabled": True, "free_slots_after_run_end_seconds": 60},
    # a run that crashed (worker lost, out of memory) is retried once; a failed gate or step is
    # not: it would only fail again, after retraining for nothing
    "run_retries": {"enabled": True, "max_retries": 1, "retry_on_asset_or_op_failure": False},
}


def ensure_instance(zones: Zones) -> Path:
    """Create ANON_HOME's Dagster home with its dagster.yaml (kept if the user edited it), set
    DAGSTER_HOME for this process, give the `gpu` pool one slot, and return the folder."""
    home = zones.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        with atomic_path(config) as tmp:
            tmp.write_text(
                "# Local instance of anon_platform (written by `anon demo`; edit freely).\n"
                + yaml.safe_dump(LOCAL_INSTANCE_CONFIG, sort_keys=False)
            )
    os.environ["DAGSTER_HOME"] = str(home)
    with dg.DagsterInstance.get() as instance:
        instance.event_log_storage.set_concurrency_slots(GPU_POOL, 1)
    return home
