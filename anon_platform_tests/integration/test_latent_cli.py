"""`anon encoder train` and `anon encode` as a user runs them: separate processes and real files
(the refusals that need no trained encoder run the same `main` in this process, to save the
interpreter start-ups)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from anon_platform.catalog.specs import SHIPPED_LATENT_PRIVACY, SHIPPED_LATENT_SHAPE
from anon_platform.cli.main import main
from anon_platform.storage import read_json
from anon_platform_tests.conftest import churn_table


def anon(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "anon_platform.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A training csv and a partner csv (other rows, no label) from wa_churn."""
    folder = tmp_path_factory.mktemp("cli")
    _, train, holdout = churn_table()
    train.head(600).write_csv(folder / "train.csv")
    holdout.head(80).drop("churn").write_csv(folder / "partner.csv")
    return {"folder": folder, "train": folder / "train.csv", "partner": folder / "partner.csv"}


@pytest.fixture(scope="module")
def trained(files: dict[str, Path]) -> tuple[Path, subprocess.CompletedProcess]:
    out = files["folder"] / "encoder"
    done = anon(
        "encoder",
        "train",
        files["train"],
        "--out",
        out,
        "--target",
        "churn",
        "--epochs",
        "5",
        "--code-size",
        "200",
        "--active-fraction",
        "0.04",
    )
    return out, done


def test_encoder_train_writes_a_card_and_an_exported_encoder(trained) -> None:
    out, done = trained
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "export" / "encoder.pt2").is_file()
    card = read_json(out / "model.json")
    assert card["code_size"] == 200 and card["active_units"] == 8
    assert "churn" not in [c["name"] for c in card["columns"]]
    assert "exported to" in done.stdout


def test_encode_writes_one_sparse_code_per_partner_row(trained, files) -> None:
    out, _ = trained
    codes_file = files["folder"] / "codes.parquet"
    done = anon("encode", out, files["partner"], "--out", codes_file, "--keep", "tenure")
    assert done.returncode == 0, done.stderr[-2000:]
    table = pl.read_parquet(codes_file)
    assert table["tenure"].to_list() == pl.read_csv(files["partner"])["tenure"].to_list()
    codes = table.drop("tenure")
    assert codes.shape == (80, 200)
    assert (codes.select(pl.sum_horizontal(pl.all() != 0)).to_series() == 8).all()


def test_encode_rejects_a_file_without_an_encoder_column_naming_it(trained, files) -> None:
    out, _ = trained
    partial = files["folder"] / "partial.csv"
    pl.read_csv(files["partner"]).drop("tenure").write_csv(partial)
    target = files["folder"] / "never.parquet"
    done = anon("encode", out, partial, "--out", target)
    assert done.returncode == 2
    assert "column 'tenure': missing" in done.stderr
    assert not target.exists()


def test_encode_rejects_text_where_the_encoder_reads_numbers(trained, files, capsys) -> None:
    out, _ = trained
    wrong = files["folder"] / "wrong.csv"
    frame = pl.read_csv(files["partner"])
    frame.with_columns(pl.lit("high").alias("monthly_charges")).write_csv(wrong)
    assert main(["encode", str(out), str(wrong), "--out", str(files["folder"] / "no.csv")]) == 2
    assert "column 'monthly_charges': expected numbers" in capsys.readouterr().err


def test_encoder_train_refuses_an_active_fraction_outside_one_to_ten_percent(files, capsys) -> None:
    argv = ["encoder", "train", str(files["train"]), "--out", str(files["folder"] / "x")]
    assert main([*argv, "--active-fraction", "0.2"]) == 2
    assert "--active-fraction" in capsys.readouterr().err
    assert not (files["folder"] / "x").exists()


def test_encoder_train_dense_bottleneck_has_the_requested_size(files, capsys) -> None:
    out = files["folder"] / "dense"
    argv = ["encoder", "train", str(files["train"]), "--out", str(out), "--target", "churn"]
    assert main([*argv, "--bottleneck", "dense", "--dense-size", "4", "--epochs", "2"]) == 0
    schema = read_json(out / "export" / "schema.json")
    assert schema["bottleneck"] == "dense" and schema["code_size"] == 4
    assert "dense encoder" in capsys.readouterr().out


@pytest.fixture(scope="module")
def holdout_file(files: dict[str, Path]) -> Path:
    """Holdout rows of wa_churn with their label (rows the encoder never saw)."""
    path = files["folder"] / "holdout.csv"
    churn_table()[2].head(200).write_csv(path)
    return path


def evaluate_argv(trained, files, holdout_file, *extra: str) -> list[str]:
    out, _ = trained
    return [
        "encoder",
        "evaluate",
        str(out),
        "--train",
        str(files["train"]),
        "--holdout",
        str(holdout_file),
        "--target",
        "churn",
        "--quasi-identifier",
        "tenure",
        "--sensitive",
        "monthly_charges",
        *extra,
    ]


def test_encoder_evaluate_prints_every_rule_with_its_threshold_and_exits_3_on_a_leak(
    trained, files, holdout_file, capsys
) -> None:
    assert main(evaluate_argv(trained, files, holdout_file)) == 3
    out = capsys.readouterr().out
    assert "FAIL  reconstruction_advantage <= reconstruction_advantage_max" in out
    assert "(threshold 0.1)" in out and "(threshold 0.03)" in out and "(threshold 0.02)" in out
    assert "utility_drop <= utility_drop_max" in out
    assert "info  linkage_qi_top1 (reported)" in out
    assert "latent gate: FAILED" in out


def test_encoder_evaluate_exits_0_and_writes_json_when_every_rule_holds(
    trained, files, holdout_file, capsys
) -> None:
    report = files["folder"] / "gate.json"
    relaxed = [
        "--utility-drop-max",
        "1",
        "--reconstruction-advantage-max",
        "1",
        "--attribute-inference-gain-max",
        "1",
        "--json",
        str(report),
    ]
    assert main(evaluate_argv(trained, files, holdout_file, *relaxed)) == 0
    assert "latent gate: passed" in capsys.readouterr().out
    written = read_json(report)
    assert written["gate"]["passed"] is True
    assert written["reconstruction_attack"]["gated_columns"] == ["tenure", "monthly_charges"]
    assert written["utility"]["target"] == "churn"


def test_encoder_evaluate_without_the_target_in_the_holdout_exits_2(trained, files, capsys) -> None:
    argv = evaluate_argv(trained, files, files["partner"])
    assert main(argv) == 2
    assert "no column 'churn'" in capsys.readouterr().err


def test_encoder_train_uses_the_shipped_privacy_setting_by_default(files, capsys) -> None:
    out = files["folder"] / "shipped"
    argv = ["encoder", "train", str(files["train"]), "--out", str(out), "--target", "churn"]
    assert main([*argv, "--epochs", "3", "--quasi-identifier", "tenure"]) == 0
    card = read_json(out / "model.json")
    privacy = card["privacy_training"]
    assert {k: v for k, v in privacy.items() if k != "codebook"} == (
        SHIPPED_LATENT_PRIVACY.model_dump(mode="json")
    )
    assert card["code_size"] == SHIPPED_LATENT_SHAPE["dense_size"]
    assert privacy["codebook"]["min_rows_per_code"] >= SHIPPED_LATENT_PRIVACY.k_anonymous
    assert "privacy training" in capsys.readouterr().out
