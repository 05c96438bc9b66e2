"""Big tables in seeded shards: the synthesize step samples, filters and writes one shard at a
time, and `anon generate --workers K` with `anon combine` gives the bytes of one process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from anon_platform import evidence
from anon_platform.catalog import Catalog
from anon_platform.cli.main import main as anon
from anon_platform.copy_filter import remove_unique_row_copies
from anon_platform.generators import load_generator
from anon_platform.generators.shards import plan_shards, sample_shard
from anon_platform.pipeline import steps, stored
from anon_platform.storage import Zones, read_tables
from anon_platform_tests.conftest import build_project, staged_project, write_small_demo

DATASET = "bank"
GENERATOR = "gaussian_copula"
SYNTHETIC = f"synthetic/{GENERATOR}"
ROOT_ROWS, SHARD_ROWS = 300, 100  # three shards


@dataclass(frozen=True)
class Sharded:
    catalog: Catalog
    zones: Zones
    result: steps.Synthesized


def in_three_shards(plan: dict) -> None:
    dataset = plan["datasets"][0]
    dataset["encode"] = False
    dataset["generators"] = [{"name": GENERATOR}]
    dataset["synthetic_rows"] = ROOT_ROWS
    dataset["shard_rows"] = SHARD_ROWS


@pytest.fixture(scope="module")
def sharded(tmp_path_factory: pytest.TempPathFactory) -> Sharded:
    """150 demo customers staged, split, trained on and synthesized in three shards."""
    root = tmp_path_factory.mktemp("shards")
    project = build_project(root / "project", 150, in_three_shards)
    catalog = staged_project(project, root / "home")
    zones = Zones(root / "home")
    steps.prepare(catalog, zones, DATASET)
    steps.train(catalog, zones, DATASET, GENERATOR)
    return Sharded(catalog, zones, steps.synthesize(catalog, zones, DATASET, GENERATOR))


def test_synthesize_keeps_keys_unique_and_children_in_their_own_shard(sharded: Sharded) -> None:
    tables = sharded.result.read()
    customers, transactions = tables["customers"], tables["transactions"]
    assert sharded.result.shards == 3
    assert customers["customer_id"].is_unique().all()
    assert customers["customer_id"].is_between(1, ROOT_ROWS).all()
    assert transactions["transaction_id"].is_unique().all()
    # a customer's shard is its row position's; a transaction's is its key modulo 3
    customer_shard = (transactions["customer_id"] - 1) // SHARD_ROWS
    assert (customer_shard == (transactions["transaction_id"] - 1) % 3).all()
    assert customer_shard.unique().sort().to_list() == [0, 1, 2]
    assert transactions["customer_id"].is_in(customers["customer_id"].implode()).all()


def test_synthesize_stores_the_shards_sampled_and_filtered_one_by_one(sharded: Sharded) -> None:
    schema = sharded.catalog.dataset_schema(DATASET)
    model = load_generator(sharded.zones.model(DATASET, GENERATOR))
    train = read_tables(sharded.zones.prepared(DATASET, "train"))
    plan = plan_shards(ROOT_ROWS, SHARD_ROWS, model.sample_seed())
    shards = [
        remove_unique_row_copies(schema, sample_shard(model, plan, s), train) for s in plan.shards()
    ]
    stored_tables = sharded.result.read()
    for table in schema.tables:
        expected = pl.concat([tables[table.name] for tables, _ in shards])
        assert stored_tables[table.name].equals(expected), table.name
        assert sharded.result.rows[table.name] == expected.height
        assert sharded.result.schemas[table.name] == expected.schema
        record = stored.copy_filter_record(sharded.zones, DATASET, GENERATOR)[table.name]
        assert record["sampled"] == sum(counts[table.name].sampled for _, counts in shards)


def test_synthesizing_again_writes_the_same_bytes_under_a_fresh_evidence_chain(
    sharded: Sharded,
) -> None:
    before = evidence.read_evidence(sharded.zones, DATASET, SYNTHETIC)
    steps.synthesize(sharded.catalog, sharded.zones, DATASET, GENERATOR)
    after = evidence.read_evidence(sharded.zones, DATASET, SYNTHETIC)
    assert after.digest == before.digest
    assert set(after.files) == {
        "customers.parquet",
        "transactions.parquet",
        stored.COPY_FILTER_FILE,
    }
    chain = evidence.verify_chain(
        sharded.zones, DATASET, ["prepared/train", f"models/{GENERATOR}", SYNTHETIC]
    )
    assert chain[-1].digest == after.digest


# --- anon generate --workers K and anon combine --------------------------------------------


@pytest.fixture(scope="module")
def bank_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`anon train` of gaussian_copula on 120 demo customers and their transactions."""
    root = tmp_path_factory.mktemp("cli_shards")
    write_small_demo(root / "bank", 120)
    out = root / "model"
    assert (
        anon(["train", str(root / "bank"), "--generator", "gaussian_copula", "--out", str(out)])
        == 0
    )
    return out


def generate(model: Path, out: Path, file_format: str, *extra: str) -> None:
    args = ["generate", str(model), "-n", str(ROOT_ROWS), "--shard-rows", str(SHARD_ROWS)]
    assert anon([*args, "--out", str(out), "--format", file_format, *extra]) == 0


@pytest.mark.parametrize("file_format", ["parquet", "csv"])
def test_three_workers_combined_write_the_bytes_of_one(
    bank_model: Path, tmp_path: Path, file_format: str
) -> None:
    generate(bank_model, tmp_path / "one", file_format)
    parts = [tmp_path / f"part{i}" for i in range(3)]
    for worker, part in enumerate(parts):
        generate(bank_model, part, file_format, "--workers", "3", "--worker", str(worker))
    assert anon(["combine", *map(str, parts), "--out", str(tmp_path / "combined")]) == 0
    for name in ("customers", "transactions"):
        one = tmp_path / "one" / f"{name}.{file_format}"
        combined = tmp_path / "combined" / f"{name}.{file_format}"
        assert combined.read_bytes() == one.read_bytes(), name
    read = pl.read_parquet if file_format == "parquet" else pl.read_csv
    customers = [read(p / f"customers.{file_format}") for p in parts]
    assert [c.height for c in customers] == [SHARD_ROWS] * 3  # a shard per worker, not all
    assert pl.concat(customers).equals(read(tmp_path / "one" / f"customers.{file_format}"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--shard-rows", "5"], "--shard-rows 5: give 100 to 10,000,000 root rows per shard"),
        (["--workers", "0"], "--workers 0: give at least 1"),
        (
            ["--workers", "3", "--worker", "3"],
            "--worker 3: with --workers 3, give a worker number from 0 to 2",
        ),
        (["--workers", "4"], "--workers 4: -n 300 in shards of --shard-rows 100 makes 3 shard(s)"),
    ],
)
def test_generate_refuses_bad_sharding_options_naming_them(
    bank_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], options, message
) -> None:
    args = ["generate", str(bank_model), "-n", str(ROOT_ROWS), "--out", str(tmp_path / "out")]
    if "--shard-rows" not in options:
        options = ["--shard-rows", str(SHARD_ROWS), *options]
    assert anon([*args, *options]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
