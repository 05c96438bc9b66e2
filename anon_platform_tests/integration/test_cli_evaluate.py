"""`anon evaluate` on files, run as a user runs it (a subprocess): exit status, output files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from anon_platform.gates.results import Expectation
from anon_platform.html_report import metric_of
from anon_platform_tests.conftest import DEMO_DATA

ROWS = 1200  # with 1,000 attacks, Anonymeter's upper bounds of a private table sit < 0.1
PRIVACY_METRICS = [
    "identical_match_share",
    "dcr_share",
    "dcr_tail_ratio",
    "nndr_tail_ratio",
    "singling_out_risk",
    "linkability_risk",
    "inference_risk",
]
CONFIG = """
name: customers
primary_key: customer_id
target: churned
columns:
  date_of_birth: quasi_identifier
  postcode: quasi_identifier
  gender: quasi_identifier
  income: sensitive
  credit_score: sensitive
evaluation:
  singling_out_attacks: 1000
  linkability_attacks: 300
  inference_attacks: 1000
  discriminator_rows: 1200
  utility_rows: 1200
"""


def anon(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    # one OpenMP thread: the classifiers of the report otherwise oversubscribe a shared machine
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "anon_platform.cli.main", "evaluate", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Demo customers without identifier columns, shuffled: train, holdout, and unseen rows."""
    folder = tmp_path_factory.mktemp("evaluate")
    people = (
        pl.read_csv(DEMO_DATA / "customers.csv", infer_schema=False)
        .drop("full_name", "email", "phone", "national_id")
        .sample(fraction=1.0, shuffle=True, seed=0)
    )
    people.slice(0, ROWS).write_csv(folder / "train.csv")
    people.slice(ROWS, ROWS).write_csv(folder / "holdout.csv")
    people.slice(2 * ROWS, ROWS).write_parquet(folder / "unseen.parquet")
    (folder / "config.yml").write_text(CONFIG)
    return folder


@pytest.fixture(scope="module")
def unseen_rows_run(files: Path) -> subprocess.CompletedProcess[str]:
    """Real rows the 'generator' never saw as the synthetic table: a perfectly private one."""
    return anon(
        "--train", "train.csv", "--holdout", "holdout.csv", "--synthetic", "unseen.parquet",
        "-c", "config.yml", "--json", "out/report.json", "--html", "out/report.html",
        cwd=files,
    )  # fmt: skip


def test_copy_of_train_as_synthetic_fails_the_gate_with_exit_3(files: Path) -> None:
    run = anon(
        "--train", "train.csv", "--holdout", "holdout.csv", "--synthetic", "train.csv",
        "-c", "config.yml",
        cwd=files,
    )  # fmt: skip
    assert run.returncode == 3, run.stderr
    assert "gate scorecard: FAILED" in run.stdout


def test_unseen_real_rows_pass_every_privacy_expectation(
    unseen_rows_run: subprocess.CompletedProcess[str], files: Path
) -> None:
    assert unseen_rows_run.returncode in (0, 3), unseen_rows_run.stderr
    report = json.loads((files / "out" / "report.json").read_text())
    expectations = [Expectation(**e) for gate in report["gates"] for e in gate["expectations"]]
    privacy = [e for e in expectations if metric_of(e, PRIVACY_METRICS) is not None]
    assert privacy
    assert [e.name for e in privacy if not e.passed] == []


def test_scorecard_is_printed_with_thresholds_and_results(
    unseen_rows_run: subprocess.CompletedProcess[str],
) -> None:
    lines = unseen_rows_run.stdout.splitlines()
    assert lines[0].split() == ["metric", "value", "threshold", "result"]
    dcr = next(line.split() for line in lines if line.startswith("dcr_share "))
    assert dcr[2] == "0.52"
    assert dcr[3] == "pass"


def test_json_and_html_reports_are_written(
    unseen_rows_run: subprocess.CompletedProcess[str], files: Path
) -> None:
    report = json.loads((files / "out" / "report.json").read_text())
    assert report["dataset"] == "customers"
    assert [t["table"] for t in report["tables"]] == ["customers"]
    assert "quality" in report["scorecard"]
    page = (files / "out" / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert '"title":{"text":"credit_score"}' in page


def test_missing_file_exits_2_and_names_it(files: Path) -> None:
    run = anon(
        "--train", "train.csv", "--holdout", "nowhere.csv", "--synthetic", "unseen.parquet",
        cwd=files,
    )  # fmt: skip
    assert run.returncode == 2
    assert "--holdout file not found: nowhere.csv" in run.stderr


def test_config_naming_an_unknown_column_exits_2_and_names_it(files: Path) -> None:
    (files / "bad.yml").write_text("columns: {salary: sensitive}\n")
    run = anon(
        "--train", "train.csv", "--holdout", "holdout.csv", "--synthetic", "unseen.parquet",
        "-c", "bad.yml",
        cwd=files,
    )  # fmt: skip
    assert run.returncode == 2
    assert "column 'salary' is not a column of the train file" in run.stderr
