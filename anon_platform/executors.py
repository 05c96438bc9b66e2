"""The executor of a deployment, chosen by its environment, and the Celery queue of each step.

    ANON_EXECUTOR         in_process | multiprocess | celery; unset: Dagster's default
                          (multiprocess for launched runs; `make demo` runs in process)
    ANON_CELERY_BROKER    broker URL (default redis://127.0.0.1:6379/0; amqp://guest@host// works)
    ANON_CELERY_BACKEND   result backend URL (default: the broker URL for redis, else rpc://)

With Celery, torch steps carry the op tag `dagster-celery/queue: gpu` (`queue_tags`) and every
other step goes to the default queue `cpu`; how many steps a queue runs at once is the `-c` of
the workers serving it. `python -m anon_platform.executors PATH` writes the worker config that
`dagster-celery worker start -y PATH` reads, so workers and runs agree on the broker.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

EXECUTOR_ENV = "ANON_EXECUTOR"
BROKER_ENV = "ANON_CELERY_BROKER"
BACKEND_ENV = "ANON_CELERY_BACKEND"
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
EXECUTORS = ("in_process", "multiprocess", "celery")
CPU_QUEUE = "cpu"
GPU_QUEUE = "gpu"
# dagster_celery.tags.DAGSTER_CELERY_QUEUE_TAG, spelled out so loading the definitions does not
# import celery (anon_platform_tests/integration/test_celery_executor.py checks they agree)
QUEUE_TAG = "dagster-celery/queue"


# Settings of the Celery app, the same in the runs and the workers. Untagged steps go to `cpu`.
# A step whose worker process dies (out-of-memory kill, node lost) goes back to its queue and
# runs again, in the same Dagster run: without this, dagster-celery fails the step and then never
# ends the run while other branches still have steps to submit. Redis redelivers a task whose
# worker vanished without a word only after `visibility_timeout`, which must exceed the longest
# step (else a slow step is started twice); the other transport options are dagster-celery's.
CELERY_SETTINGS: dict[str, Any] = {
    "task_default_queue": CPU_QUEUE,
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "broker_transport_options": {
        "visibility_timeout": 6 * 3600,
        "max_retries": 3,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.5,
    },
}


def queue_tags(uses_torch: bool) -> dict[str, str]:
    """The op tags routing a step under the Celery executor: torch steps to the `gpu` queue,
    every other step to `cpu`. Other executors ignore them."""
    return {QUEUE_TAG: GPU_QUEUE if uses_torch else CPU_QUEUE}


def celery_config(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The `celery_executor` config of this deployment: broker and backend from `env` (default
    os.environ) and CELERY_SETTINGS."""
    env = os.environ if env is None else env
    broker = env.get(BROKER_ENV) or DEFAULT_BROKER
    backend = env.get(BACKEND_ENV) or (broker if broker.startswith("redis") else "rpc://")
    return {"broker": broker, "backend": backend, "config_source": dict(CELERY_SETTINGS)}


def celery_executor(env: Mapping[str, str] | None = None) -> dg.ExecutorDefinition:
    """Dagster's Celery executor configured for this deployment (`celery_config`)."""
    from dagster_celery import celery_executor as dagster_celery_executor

    return dagster_celery_executor.configured(celery_config(env), name="celery")


def deployment_executor(env: Mapping[str, str] | None = None) -> dg.ExecutorDefinition | None:
    """The executor ANON_EXECUTOR names in `env` (default os.environ), or None (Dagster's
    default) when it is unset; an unknown name raises ValueError naming the allowed ones."""
    env = os.environ if env is None else env
    kind = (env.get(EXECUTOR_ENV) or "").strip()
    if not kind:
        return None
    if kind == "in_process":
        return dg.in_process_executor
    if kind == "multiprocess":
        return dg.multiprocess_executor
    if kind == "celery":
        return celery_executor(env)
    raise ValueError(f"{EXECUTOR_ENV}={kind!r}: expected one of {', '.join(EXECUTORS)}")


def write_worker_config(path: Path, env: Mapping[str, str] | None = None) -> Path:
    """Write the YAML that `dagster-celery worker start -y` reads (the same broker, backend and
    settings as the runs' executor) to `path`; returns it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"execution": {"config": celery_config(env)}}))
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m anon_platform.executors WORKER_CONFIG.yaml")
    print(write_worker_config(Path(sys.argv[1])))
