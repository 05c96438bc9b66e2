"""The deployment in docker/: the compose file, the Dockerfile and dagster.yaml agree with each
other and with the local instance, and the processes the containers run — the migrate step, the
user code gRPC server, the webserver and the daemon — work on this host against the real
PostgreSQL with docker/dagster.yaml, keeping runs and events across restarts."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from anon_platform.instance import LOCAL_INSTANCE_CONFIG
from anon_platform_tests.conftest import REPO
from anon_platform_tests.dagster_processes import (
    BIN,
    DEMO_CUSTOMERS,
    free_port,
    graphql,
    latest_materialization,
    launch_job,
    location_loaded,
    processes,
    releasable_demo,
    runs,
    wait_for,
)

DOCKER = REPO / "docker"
DAGSTER_SERVICES = ("migrate", "user_code", "user_code_gpu", "webserver", "daemon")
CODE_PORT, WEB_PORT = "4000", "3000"
CONTAINER_WORKSPACE = "/opt/dagster/workspace.yaml"
RELEASE = ["bank", "release", "gaussian_copula"]
DEADLINE_S = 900


def compose() -> dict:
    return yaml.safe_load((DOCKER / "docker-compose.yml").read_text())


def instance_yaml() -> dict:
    return yaml.safe_load((DOCKER / "dagster.yaml").read_text())


def workspace_yaml() -> dict:
    return yaml.safe_load((DOCKER / "workspace.yaml").read_text())


def dockerfile_env() -> dict[str, str]:
    text = (DOCKER / "Dockerfile").read_text().replace("\\\n", " ")
    found: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            found.update(re.findall(r"(\w+)=(\S+)", line))
    return found


def env_names(config: object) -> set[str]:
    """Every `{env: NAME}` a Dagster config file reads."""
    if isinstance(config, dict):
        if set(config) == {"env"}:
            return {config["env"]}
        return set().union(*(env_names(v) for v in config.values())) if config else set()
    if isinstance(config, list):
        return set().union(*(env_names(v) for v in config)) if config else set()
    return set()


def test_compose_has_postgres_user_code_webserver_and_daemon_with_healthchecks() -> None:
    services = compose()["services"]
    assert {"postgres", "user_code", "webserver", "daemon"} <= set(services)
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    health = services["user_code"]["healthcheck"]["test"]
    assert health[1:5] == ["dagster", "api", "grpc-health-check", "-p"]
    assert health[5] == CODE_PORT
    assert services["webserver"]["ports"] == [f"${{DAGSTER_WEBSERVER_PORT:-{WEB_PORT}}}:3000"]
    for service in ("webserver", "daemon"):
        assert services[service]["depends_on"]["user_code"]["condition"] == "service_healthy"


def test_the_gpu_profile_reserves_nvidia_devices_for_the_code_server_that_launches_runs() -> None:
    services = compose()["services"]
    gpu = services["user_code_gpu"]
    assert gpu["profiles"] == ["gpu"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert gpu["command"] == services["user_code"]["command"]
    assert instance_yaml()["run_launcher"]["class"] == "DefaultRunLauncher"  # runs in the server


def test_every_variable_dagster_yaml_and_workspace_read_is_set_for_every_dagster_service() -> None:
    needed = env_names(instance_yaml()) | env_names(workspace_yaml())
    assert {"DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_HOST"} <= needed
    for name in DAGSTER_SERVICES:
        environment = compose()["services"][name]["environment"]
        assert needed <= set(environment), f"{name} lacks {needed - set(environment)}"


def test_secrets_come_from_the_environment_never_from_a_file() -> None:
    services = compose()["services"]
    password = services["user_code"]["environment"]["DAGSTER_PG_PASSWORD"]
    assert re.fullmatch(r"\$\{DAGSTER_PG_PASSWORD:\?[^}]+\}", password)
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == password
    assert instance_yaml()["storage"]["postgres"]["postgres_db"]["password"] == {
        "env": "DAGSTER_PG_PASSWORD"
    }


def test_workspace_points_at_the_code_server_by_its_service_name_port_and_location() -> None:
    services = compose()["services"]
    (entry,) = workspace_yaml()["load_from"]
    server = entry["grpc_server"]
    environment = services["webserver"]["environment"]
    assert environment[server["host"]["env"]] == "${DAGSTER_CODE_SERVER_HOST:-user_code}"
    assert environment[server["port"]["env"]] == CODE_PORT
    command = services["user_code"]["command"]
    assert command[command.index("-p") + 1] == CODE_PORT
    assert command[command.index("--location-name") + 1] == server["location_name"]
    assert server["location_name"] == "anon_platform"


def test_paths_in_the_image_match_the_compose_file() -> None:
    services = compose()["services"]
    dockerfile = (DOCKER / "Dockerfile").read_text()
    image_env = dockerfile_env()
    environment = services["daemon"]["environment"]
    for name in ("DAGSTER_HOME", "ANON_HOME", "ANON_PROJECT_DIR"):
        assert image_env[name] == environment[name], name
    assert f"COPY docker/dagster.yaml {image_env['DAGSTER_HOME']}/dagster.yaml" in dockerfile
    assert f"COPY docker/workspace.yaml {CONTAINER_WORKSPACE}" in dockerfile
    assert f"WORKDIR {image_env['ANON_PROJECT_DIR']}" in dockerfile
    assert "COPY dbt_like_sql ./dbt_like_sql" in dockerfile
    for name in ("webserver", "daemon"):
        command = services[name]["command"]
        assert command[command.index("-w") + 1] == CONTAINER_WORKSPACE
    for name in ("user_code", "webserver", "daemon"):
        assert f"anon_home:{image_env['ANON_HOME']}" in services[name]["volumes"]
    assert "ARG BASE_IMAGE=" in dockerfile and "FROM ${BASE_IMAGE}" in dockerfile


def test_the_service_instance_has_the_queue_pool_monitoring_and_retries_of_the_local_one() -> None:
    config = instance_yaml()
    for section in ("concurrency", "run_monitoring", "run_retries"):
        assert config[section] == LOCAL_INSTANCE_CONFIG[section], section
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert "concurrency set gpu 1" in " ".join(compose()["services"]["migrate"]["command"])


# ---- the same processes on this host, against the real PostgreSQL ----


@pytest.fixture
def fresh_database(postgres_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for this test run, dropped afterwards."""
    name = f"anon_deploy_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'create database "{name}"'))
    try:
        yield name
    finally:
        with engine.connect() as connection:
            connection.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        engine.dispose()


def host_command(command: list[str], code_port: int, web_port: int) -> list[str]:
    """A service's compose command as this host runs it: loopback, free ports, repo paths."""
    swap = {
        "0.0.0.0": "127.0.0.1",
        CODE_PORT: str(code_port),
        WEB_PORT: str(web_port),
        CONTAINER_WORKSPACE: str(DOCKER / "workspace.yaml"),
    }
    return [swap.get(part, part) for part in command]


def host_environment(
    postgres_url: str, database: str, code_port: int, tmp_path: Path, project: Path
) -> dict[str, str]:
    """The compose environment with this host's values: the test PostgreSQL (trust auth, so an
    empty password), the code server on loopback, temporary homes."""
    url = sa.make_url(postgres_url)
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir(exist_ok=True)
    shutil.copy(DOCKER / "dagster.yaml", dagster_home / "dagster.yaml")
    values = {
        "DAGSTER_PG_USERNAME": url.username or "postgres",
        "DAGSTER_PG_PASSWORD": url.password or "",
        "DAGSTER_PG_HOST": url.host or "127.0.0.1",
        "DAGSTER_PG_DB": database,
        "DAGSTER_PG_PORT": str(url.port or 5432),
        "DAGSTER_CODE_SERVER_HOST": "127.0.0.1",
        "DAGSTER_CODE_SERVER_PORT": str(code_port),
        "DAGSTER_HOME": str(dagster_home),
        "ANON_HOME": str(tmp_path / "anon_home"),
        "ANON_PROJECT_DIR": str(project),
    }
    assert set(values) == set(compose()["services"]["daemon"]["environment"])
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **values}


def count(engine: sa.Engine, sql: str, run_id: str) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.text(sql), {"run_id": run_id}).scalar_one()


def service(name: str, code_port: int, web_port: int) -> dict[str, list[str]]:
    return {name: host_command(compose()["services"][name]["command"], code_port, web_port)}


def healthy(env: dict[str, str], code_port: int) -> bool:
    """The user_code healthcheck of the compose file, run on this host."""
    test = compose()["services"]["user_code"]["healthcheck"]["test"]
    check = subprocess.run(host_command(test[1:], code_port, 0), env=env, capture_output=True)
    return check.returncode == 0


ASSET_NODES = """{ assetNodes { assetKey { path } description groupName kinds
  owners { ... on TeamAssetOwner { team } ... on UserAssetOwner { email } } tags { key } } }"""


def assert_every_asset_is_described(port: int) -> None:
    """What the UI lists for every asset: a description, a group, kinds, owners and tags."""
    nodes = graphql(port, ASSET_NODES)["assetNodes"]
    assert {node["groupName"] for node in nodes} >= {"raw", "staging", "prepared", "release"}
    for node in nodes:
        name = "/".join(node["assetKey"]["path"])
        for field in ("description", "groupName", "kinds", "owners", "tags"):
            assert node[field], f"{name} has no {field} in the UI"


def run_status(port: int, run_id: str) -> str | None:
    statuses = {r["runId"]: r["status"] for r in runs(port)}
    finished = statuses.get(run_id) in ("SUCCESS", "FAILURE", "CANCELED")
    return statuses[run_id] if finished else None


@pytest.mark.postgres
def test_the_service_processes_keep_runs_and_events_in_postgres_across_restarts(
    make_project, fresh_database: str, postgres_url: str, tmp_path: Path
) -> None:
    project = make_project(customers=DEMO_CUSTOMERS, releases=releasable_demo)
    code_port, web_port = free_port(), free_port()
    env = host_environment(postgres_url, fresh_database, code_port, tmp_path, project)
    logs = tmp_path / "logs"
    migrate = compose()["services"]["migrate"]["command"]
    subprocess.run(migrate, env=env, cwd=tmp_path, check=True, timeout=300)
    engine = sa.create_engine(postgres_url.rsplit("/", 1)[0] + f"/{fresh_database}")
    deadline = time.time() + DEADLINE_S
    both = {
        **service("webserver", code_port, web_port),
        **service("daemon", code_port, web_port),
    }
    try:
        with processes(service("user_code", code_port, web_port), env, tmp_path, logs):
            wait_for("the code server healthcheck", lambda: healthy(env, code_port), deadline)
            with processes(both, env, tmp_path, logs):
                wait_for("the code location", lambda: location_loaded(web_port), deadline)
                run_id = launch_job(web_port, "bank_pipeline")
                status = wait_for(
                    "the pipeline run", lambda: run_status(web_port, run_id), deadline
                )
                assert status == "SUCCESS", (logs / "user_code.log").read_text()[-3000:]
            runs_sql = "select count(*) from runs where run_id = :run_id"
            events_sql = (
                "select count(*) from event_logs where run_id = :run_id "
                "and dagster_event_type = 'ASSET_MATERIALIZATION'"
            )
            assert count(engine, runs_sql, run_id) == 1
            materialized = count(engine, events_sql, run_id)
            assert materialized >= 8, "raw, staging, prepared, model, synthetic, report, release"

            with processes(both, env, tmp_path, logs):  # webserver and daemon restarted
                wait_for("the code location", lambda: location_loaded(web_port), deadline)
                assert run_status(web_port, run_id) == "SUCCESS"
                assert latest_materialization(web_port, RELEASE)["runId"] == run_id
                assert_every_asset_is_described(web_port)
            assert count(engine, events_sql, run_id) == materialized
    finally:
        engine.dispose()
