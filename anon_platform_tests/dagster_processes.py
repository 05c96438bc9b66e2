"""Test support: the real Dagster processes (code server, webserver, daemon) on this host, and the
GraphQL calls the tests make to them. Every process runs in its own process group, killed after."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from anon_platform.instance import GPU_POOL, LOCAL_INSTANCE_CONFIG
from anon_platform_tests.conftest import synthetic_only

BIN = Path(sys.executable).parent
# 150 demo customers: the smallest demo whose pipeline still trains and gates in a few minutes
DEMO_CUSTOMERS = 150


def releasable_demo(plan: dict) -> None:
    """releases.yml edit: the demo without encoding, with thresholds a 150-customer sample passes.
    Beyond SMALL_SAMPLE_THRESHOLDS, the DCR share may reach 0.65: measured 0.57 (p = 0.011) for
    gaussian_copula on 150 customers, where the holdout has 30 rows."""
    synthetic_only(plan)
    plan["datasets"][0]["thresholds"]["dcr_share_max"] = 0.65
    # Anonymeter's upper bound on 30 control rows: inference risk 0.366 for gaussian_copula with
    # value protection (rare_category_k 3) on 150 customers, measured 2026-12-01
    plan["datasets"][0]["thresholds"]["risk_max"] = 0.45


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def graphql(port: int, query: str, variables: Mapping[str, Any] | None = None) -> dict:
    """The `data` of one GraphQL request to the webserver on `port`; a GraphQL error fails."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": dict(variables or {})}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        payload = json.loads(response.read())
    assert "errors" not in payload, payload
    return payload["data"]


LOCATIONS = (
    "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
    "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
)


def location_loaded(port: int) -> bool:
    """True once the code location has loaded; its load error fails the test at once."""
    entries = graphql(port, LOCATIONS)["workspaceOrError"]["locationEntries"]
    if not entries or entries[0]["loadStatus"] != "LOADED":
        return False
    loaded = entries[0]["locationOrLoadError"]
    assert loaded is not None, "the code location is not reachable yet"
    assert loaded["__typename"] != "PythonError", loaded.get("message")
    return True


RUNS = "{ runsOrError { ... on Runs { results { runId jobName status } } } }"


def runs(port: int) -> list[dict]:
    """Every run the instance knows: runId, jobName, status."""
    return graphql(port, RUNS)["runsOrError"]["results"]


LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""


def launch_job(port: int, job: str, location: str = "anon_platform") -> str:
    """Launch `job` of the code location through GraphQL `launchRun`; returns the run id."""
    selector = {
        "repositoryLocationName": location,
        "repositoryName": "__repository__",
        "jobName": job,
    }
    result = graphql(port, LAUNCH, {"params": {"selector": selector}})["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    return result["run"]["runId"]


def latest_materialization(port: int, path: list[str]) -> dict | None:
    """runId and timestamp of the asset's latest materialization, or None."""
    query = (
        "{ assetOrError(assetKey: {path: PATH}) { ... on Asset { assetMaterializations(limit: 1) "
        "{ runId timestamp } } } }"
    ).replace("PATH", json.dumps(path))
    asset = graphql(port, query)["assetOrError"]
    found = asset.get("assetMaterializations") if asset else None
    return found[0] if found else None


def wait_for(what: str, condition: Callable[[], Any], deadline: float, every: float = 3.0) -> Any:
    """Poll `condition` until it returns something truthy (returned) or fail at `deadline`."""
    while time.time() < deadline:
        with contextlib.suppress(OSError):
            value = condition()
            if value:
                return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.contextmanager
def processes(
    commands: Mapping[str, Sequence[str | Path]], env: Mapping[str, str], cwd: Path, logs: Path
) -> Iterator[list[subprocess.Popen]]:
    """Start each named command (log in `logs/<name>.log`); kill their process groups after."""
    logs.mkdir(parents=True, exist_ok=True)
    started: list[subprocess.Popen] = []
    with contextlib.ExitStack() as files:
        try:
            for name, command in commands.items():
                log = files.enter_context((logs / f"{name}.log").open("a"))
                started.append(
                    subprocess.Popen(
                        [str(c) for c in command],
                        env=dict(env),
                        cwd=cwd,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
            yield started
        finally:
            stop(started)


def stop(started: Sequence[subprocess.Popen]) -> None:
    """SIGTERM each process group, SIGKILL what is still alive 30 s later."""
    for process in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    for process in started:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@contextlib.contextmanager
def running_instance(project: Path, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """Webserver and daemon on a fresh SQLite DAGSTER_HOME (the local instance config) loading
    the code location in-process; yields the webserver port and ANON_HOME."""
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(LOCAL_INSTANCE_CONFIG))
    # create the storage before two processes race to migrate it (as `anon instance` does)
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        instance.event_log_storage.set_concurrency_slots(GPU_POOL, 1)
    workspace = tmp_path / "workspace.yaml"
    module = {"module_name": "anon_platform.definitions", "location_name": "anon_platform"}
    workspace.write_text(yaml.safe_dump({"load_from": [{"python_module": module}]}))
    anon_home = tmp_path / "anon_home"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "ANON_HOME": str(anon_home),
        "ANON_PROJECT_DIR": str(project),
    }
    port = free_port()
    commands = {
        "webserver": [BIN / "dagster-webserver", "-h", "127.0.0.1", "-p", str(port)],
        "daemon": [BIN / "dagster-daemon", "run"],
    }
    commands = {name: [*command, "-w", str(workspace)] for name, command in commands.items()}
    with processes(commands, env, tmp_path, tmp_path / "logs"):
        yield port, anon_home
