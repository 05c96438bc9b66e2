"""The import contract in pyproject.toml holds: the CLI and the Dagster layer import the
pipeline steps, the steps the plain libraries, the libraries the shared helpers and the config,
never the other way round; libraries import only those below them; no sibling packages import
each other in a cycle; nothing below the steps imports Dagster. `make lint` runs the same check."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import anon_platform

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def test_the_import_contract_is_kept() -> None:
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_module_of_the_platform_sits_in_a_layer() -> None:
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in contracts["contracts"] if c["id"] == "layers")["layers"]
    names = (name.strip() for layer in layers for name in layer.replace("|", ":").split(":"))
    layered = {name.strip("()") for name in names}  # "(x)": a layer that may be absent
    package = Path(anon_platform.__file__).parent
    modules = {
        f"anon_platform.{path.stem}"
        for path in package.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__")
        or (path.is_dir() and (path / "__init__.py").is_file())
    }
    assert modules - layered == set(), "modules outside every layer of the import contract"


# what makes a test an integration test (conftest.py): a pipeline on an ANON_HOME, Dagster
# assets or runs, a service, real Dagster processes
INTEGRATION_ONLY = (
    "anon_platform.pipeline",
    "anon_platform.assets",
    "anon_platform.definitions",
    "materialize(",
    "staged_project",
    "measured_project",
    "dagster_processes",
    "postgres_url",
    "anon_home",
)


def test_unit_tests_run_no_pipeline_dagster_run_or_service() -> None:
    unit = Path(__file__).parent
    offending = {
        path.name: [marker for marker in INTEGRATION_ONLY if marker in path.read_text()]
        for path in unit.glob("test_*.py")
        if path.name != Path(__file__).name
    }
    assert {name: found for name, found in offending.items() if found} == {}
