"""Steps on Dagster's Celery executor over a real Redis broker, with real worker processes: one
serving the `cpu` queue, one the `gpu` queue (torch steps), on a shared DAGSTER_HOME. One run is
orchestrated by this process (as a run worker would), and the process training the torch model is
killed mid-step (as the out-of-memory killer would): every step runs in a worker of its queue,
the killed step runs again, and the release is byte for byte what the same pipeline releases in
process with the same seeds."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import yaml

from anon_platform.catalog import load_catalog
from anon_platform.definitions import build_definitions
from anon_platform.executors import (
    BROKER_ENV,
    CPU_QUEUE,
    GPU_QUEUE,
    QUEUE_TAG,
    celery_executor,
    deployment_executor,
    queue_tags,
)
from anon_platform.generators import generator_class
from anon_platform.storage import Zones, file_sha256, read_json
from anon_platform_tests.conftest import REPO, build_project
from anon_platform_tests.dagster_processes import BIN, processes, releasable_demo, wait_for

REDIS = os.environ.get("ANON_TEST_REDIS_URL", "redis://127.0.0.1:6379")
GENERATORS = ("gaussian_copula", "autoregressive")
CUSTOMERS = 300
JOB = "bank_pipeline"
TORCH_STEP = "bank__models__autoregressive"
CELERY_WORKER_EVENT = "in celery worker"


def two_generators(plan: dict) -> None:
    """releases.yml edit: the releasable small demo with GaussianCopula and the (torch)
    autoregressive network, each released when it passes."""
    releasable_demo(plan)
    dataset = plan["datasets"][0]
    dataset["generators"] = [
        {"name": "gaussian_copula", "params": {"default_distribution": "beta"}},
        # with 240 training customers most postcode districts have fewer than the default k = 20
        # rows, and the value protection would withhold them all (as in test_pipeline.py)
        {
            "name": "autoregressive",
            "params": {"rare_category_k": 5, "hidden_size": 64, "embedding_size": 8},
        },
    ]
    dataset["release"] = {"mode": "each", "rank_by": "quality"}


def celery_pipeline(project: str, home: str, broker: str) -> dg.JobDefinition:
    """The bank pipeline of `project` on ANON_HOME `home`, on the Celery executor of `broker`:
    what the orchestrator and every worker rebuild from the run's reconstructable job."""
    definitions = build_definitions(
        load_catalog(Path(project)), home, executor=celery_executor({BROKER_ENV: broker})
    )
    return definitions.resolve_job_def(JOB)


@pytest.fixture(scope="module")
def broker() -> str:
    """A Redis database of the local server for this test module's queues; skips without a
    server, except under CI, where it fails."""
    import redis

    url = f"{REDIS}/{1 + os.getpid() % 15}"  # not db 0: `make workers` may be serving that one
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as err:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but Redis at {url} is unreachable: {err}")
        pytest.skip(f"no Redis server at {url}: {err}")
    client.delete(CPU_QUEUE, GPU_QUEUE)
    yield url
    client.delete(CPU_QUEUE, GPU_QUEUE)
    client.close()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_project(tmp_path_factory.mktemp("celery") / "project", CUSTOMERS, two_generators)


@pytest.fixture(scope="module")
def dagster_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A persistent SQLite instance that the orchestrator and the workers share (the workers
    read the run from it and write their events into it)."""
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text(yaml.safe_dump({"telemetry": {"enabled": False}}))
    with dg.DagsterInstance.from_config(str(home)):
        pass  # creates the storage before the workers open it
    return home


def worker_pids(worker: int) -> set[int]:
    """The pids of a worker's process tree (the dagster-celery CLI, celery, its pool)."""
    found, todo = set(), [worker]
    while todo:
        pid = todo.pop()
        found.add(pid)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    return found


def ready(worker: subprocess.Popen, log: Path) -> bool:
    """True once the worker's log says it is ready; a worker that exited fails the test."""
    assert worker.poll() is None, f"the worker exited: {log.read_text()[-3000:]}"
    return " ready." in log.read_text()


COMPOSE = REPO / "docker" / "docker-compose.yml"
WORKER_SERVICES = {CPU_QUEUE: "worker_cpu", GPU_QUEUE: "worker_gpu"}
# compose variables as this test sets them: one process per worker, the cpu worker on `cpu` only
HOST_VARIABLES = {"CPU_WORKER_QUEUES": CPU_QUEUE, "CPU_CONCURRENCY": "1", "GPU_CONCURRENCY": "1"}


def host_worker_command(service: str, config: Path) -> list[str]:
    """The compose service's worker command as this host runs it: its ${VAR:-default}s from
    HOST_VARIABLES (else the default), the worker config in a temporary folder."""
    command = yaml.safe_load(COMPOSE.read_text())["services"][service]["command"]

    def value(match: re.Match) -> str:
        return HOST_VARIABLES.get(match[1], match[2])

    return [
        re.sub(r"\$\{(\w+):-([^}]*)\}", value, part).replace("/tmp/celery.yaml", str(config))
        for part in command
    ]


@pytest.fixture(scope="module")
def workers(
    broker: str, dagster_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, int]]:
    """A cpu-queue and a gpu-queue worker, started with the commands of the compose file's
    worker services (on this host, as test_deployment.py runs the other services); yields the
    pid of each, by queue."""
    logs = tmp_path_factory.mktemp("worker_logs")
    # the commands start `python` and `celery` by name, from PATH
    path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "PATH": path, BROKER_ENV: broker}
    commands = {
        queue: host_worker_command(service, logs / f"{queue}.yaml")
        for queue, service in WORKER_SERVICES.items()
    }
    with processes(commands, env, Path.cwd(), logs) as started:
        for name, process in zip(commands, started, strict=True):
            wait_for(
                f"the {name} worker to be ready",
                lambda name=name, process=process: ready(process, logs / f"{name}.log"),
                time.time() + 120,
                every=1,
            )
        yield {queue: process.pid for queue, process in zip(commands, started, strict=True)}


def table_digests(home: Path) -> dict[str, dict[str, str]]:
    """Per released generator, the sha256 of each released table (from its manifest)."""
    digests = {}
    for manifest in sorted(Zones(home).release_dataset("bank").glob("*/manifest.json")):
        content = read_json(manifest)
        digests[content["generator"]] = {
            name: info["sha256"]
            for name, info in content["files"].items()
            if name.startswith("tables/")
        }
    return digests


def celery_workers_of_steps(instance: dg.DagsterInstance, run_id: str) -> dict[str, set[str]]:
    """Step key -> the Celery workers that executed it, from the run's engine events."""
    ran_on: dict[str, set[str]] = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        if CELERY_WORKER_EVENT in (event.message or ""):
            worker = event.event_specific_data.metadata["Celery worker"].value
            ran_on.setdefault(event.step_key, set()).add(worker)
    return ran_on


def step_start_pids(instance: dg.DagsterInstance, run_id: str) -> dict[str, list[int]]:
    """Step key -> pid of each process that started the step, in order."""
    started: dict[str, list[int]] = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START):
        started.setdefault(record.step_key, []).append(record.dagster_event.pid)
    return started


OUTCOMES = {
    dg.DagsterEventType.STEP_SUCCESS: "success",
    dg.DagsterEventType.STEP_FAILURE: "failure",
    dg.DagsterEventType.STEP_SKIPPED: "skipped",
}


def step_outcomes(instance: dg.DagsterInstance, run_id: str) -> dict[str, str]:
    """Step key -> how the step ended (success, failure, skipped), from the run's events."""
    return {
        record.step_key: OUTCOMES[record.dagster_event.event_type]
        for record in instance.all_logs(run_id, of_type=set(OUTCOMES))
    }


@dataclass
class InProcessRun:
    """The same pipeline run in process (as `make demo` runs it): how each step ended (a gate
    may fail on 240 training customers; it must fail the same way on the workers) and the
    release's table digests."""

    outcomes: dict[str, str]
    digests: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def in_process(project: Path, tmp_path_factory: pytest.TempPathFactory) -> InProcessRun:
    home = tmp_path_factory.mktemp("in_process")
    definitions = build_definitions(load_catalog(project), str(home))
    instance = dg.DagsterInstance.ephemeral()
    result = definitions.resolve_job_def(JOB).execute_in_process(
        instance=instance, raise_on_error=False
    )
    return InProcessRun(step_outcomes(instance, result.run_id), table_digests(home))


@dataclass
class CeleryRun:
    """What the run on the workers did: its events, the process killed mid-step, and what the
    release zone held at that moment."""

    outcomes: dict[str, str]
    workers_of_steps: dict[str, set[str]]
    start_pids: dict[str, list[int]]
    killed_pid: int
    released_when_killed: list[str]
    home: Path


@pytest.fixture(scope="module")
def celery_run(
    project: Path,
    workers: dict[str, int],
    broker: str,
    dagster_home: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> CeleryRun:
    home = tmp_path_factory.mktemp("celery_home")
    job = dg.build_reconstructable_job(
        __name__, celery_pipeline.__name__, (str(project), str(home), broker)
    )
    outcome: dict[str, dg.ExecutionResult] = {}
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        run = threading.Thread(
            target=lambda: outcome.update(
                result=dg.execute_job(job, instance, raise_on_error=False)
            ),
            daemon=True,
        )
        run.start()

        def training_process() -> int | None:
            runs = instance.get_runs(limit=1)
            return step_start_pids(instance, runs[0].run_id).get(TORCH_STEP) if runs else None

        [pid] = wait_for("the torch step to start", training_process, time.time() + 300, 0.2)
        released = sorted(p.name for p in Zones(home).release.rglob("*"))
        os.kill(pid, signal.SIGKILL)
        run.join(timeout=600)
        assert not run.is_alive(), "the run did not end after a worker process was killed"
        run_id = outcome["result"].run_id
        return CeleryRun(
            outcomes=step_outcomes(instance, run_id),
            workers_of_steps=celery_workers_of_steps(instance, run_id),
            start_pids=step_start_pids(instance, run_id),
            killed_pid=pid,
            released_when_killed=released,
            home=home,
        )


def test_queue_tags_route_torch_steps_to_the_gpu_queue() -> None:
    from dagster_celery.tags import DAGSTER_CELERY_QUEUE_TAG

    assert QUEUE_TAG == DAGSTER_CELERY_QUEUE_TAG
    assert queue_tags(True) == {QUEUE_TAG: GPU_QUEUE}
    assert queue_tags(False) == {QUEUE_TAG: CPU_QUEUE}
    assert deployment_executor({}) is None
    assert deployment_executor({"ANON_EXECUTOR": "in_process"}) == dg.in_process_executor
    assert deployment_executor({"ANON_EXECUTOR": "celery"}).name == "celery"
    with pytest.raises(ValueError, match="ANON_EXECUTOR='threads'"):
        deployment_executor({"ANON_EXECUTOR": "threads"})


def test_compose_has_the_broker_and_a_worker_per_queue_on_the_shared_anon_home() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert "redis-cli" in services["redis"]["healthcheck"]["test"]
    for name in ("user_code", "user_code_gpu", *WORKER_SERVICES.values()):
        environment = services[name]["environment"]
        assert environment["ANON_EXECUTOR"] == "${ANON_EXECUTOR:-celery}", name
        assert environment[BROKER_ENV] == "redis://redis:6379/0", name
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy", name
    for name in WORKER_SERVICES.values():
        assert "anon_home:/var/lib/anon" in services[name]["volumes"], name
    gpu = services[WORKER_SERVICES[GPU_QUEUE]]
    assert gpu["profiles"] == ["gpu"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"
    assert "-q gpu " in gpu["command"][-1]


def test_every_step_runs_on_a_worker_of_its_queue_and_releases_what_in_process_releases(
    celery_run: CeleryRun, workers: dict[str, int], in_process: InProcessRun
) -> None:
    torch_steps = {f"bank__models__{g}" for g in GENERATORS if generator_class(g).uses_torch}
    assert torch_steps == {TORCH_STEP}
    assert celery_run.outcomes == in_process.outcomes
    assert set(celery_run.workers_of_steps) == set(celery_run.start_pids)
    assert {"bank__raw__customers", "bank__reports__quality_autoregressive"} <= set(
        celery_run.start_pids
    )
    for step, ran_on in celery_run.workers_of_steps.items():
        queue = GPU_QUEUE if step in torch_steps else CPU_QUEUE
        assert {w.split("@")[0] for w in ran_on} == {queue}, f"{step} ran on {ran_on}"
    worker_processes = {queue: worker_pids(pid) for queue, pid in workers.items()}
    for step, pids in celery_run.start_pids.items():
        queue = GPU_QUEUE if step in torch_steps else CPU_QUEUE
        alive = [p for p in pids if p != celery_run.killed_pid]
        assert set(alive) <= worker_processes[queue], f"{step} started outside the {queue} worker"
    assert in_process.digests, "the in-process run released nothing to compare with"
    assert table_digests(celery_run.home) == in_process.digests


def test_a_worker_process_killed_mid_step_reruns_the_step_and_nothing_half_written_is_released(
    celery_run: CeleryRun,
) -> None:
    assert celery_run.released_when_killed == []
    [killed, rerun] = celery_run.start_pids[TORCH_STEP]
    assert killed == celery_run.killed_pid and rerun != killed
    assert celery_run.outcomes[TORCH_STEP] == "success"
    assert celery_run.outcomes["bank__synthetic__autoregressive"] == "success"
    outcomes = celery_run.outcomes
    released = {g for g in GENERATORS if outcomes.get(f"bank__release__{g}") == "success"}
    assert released, "nothing was released"
    release = Zones(celery_run.home).release_dataset("bank")
    versions = [p for p in release.iterdir() if p.is_dir()]  # a leftover .tmp- folder too
    assert sorted(p.name.split("-", 1)[1] for p in versions) == sorted(released)
    for version in versions:
        manifest = read_json(version / "manifest.json")
        for name, info in manifest["files"].items():
            assert file_sha256(version / name) == info["sha256"], f"{version.name}/{name}"
        stored = {str(p.relative_to(version)) for p in version.rglob("*") if p.is_file()}
        assert stored == {*manifest["files"], "manifest.json", "report.json"}
