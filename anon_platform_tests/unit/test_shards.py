"""Sampling in seeded shards (anon_platform/generators/shards.py): the plan, its seeds, the
re-keying that lets shards concatenate, and the chunked table files they are written to."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from anon_platform.catalog import load_catalog
from anon_platform.catalog.schema import ColumnSchema, DatasetSchema, TableSchema
from anon_platform.catalog.specs import ColumnType, ForeignKey, Role
from anon_platform.cli.generators import build_dataset
from anon_platform.errors import CatalogError, GeneratorError
from anon_platform.generators import Generator, generator_class
from anon_platform.generators.shards import plan_shards, rekey, sample_shard, shard_seed
from anon_platform.storage import combine_table_files, table_writers
from anon_platform_tests.conftest import write_small_demo


def two_tables(key_type: ColumnType = ColumnType.INTEGER) -> DatasetSchema:
    """parents(id) <- children(id, parent_id): the smallest tree to re-key."""
    key = ColumnSchema(name="id", type=key_type, role=Role.KEY)
    value = ColumnSchema(name="value", type=ColumnType.FLOAT, role=Role.ATTRIBUTE)
    parent_id = ColumnSchema(name="parent_id", type=key_type, role=Role.KEY)
    return DatasetSchema(
        name="tree",
        tables=(
            TableSchema(name="parents", columns=(key, value), primary_key="id"),
            TableSchema(
                name="children",
                columns=(key, parent_id, value),
                primary_key="id",
                foreign_keys=(ForeignKey(column="parent_id", references="parents.id"),),
            ),
        ),
    )


def shard_tables() -> dict[str, pl.DataFrame]:
    """What a backend may emit for one shard: its own local keys (here 10, 20)."""
    return {
        "parents": pl.DataFrame({"id": [10, 20], "value": [1.0, 2.0]}),
        "children": pl.DataFrame(
            {"id": [7, 8, 9], "parent_id": [20, 10, 20], "value": [0.1, 0.2, 0.3]}
        ),
    }


@pytest.fixture(scope="module")
def bank_model(tmp_path_factory: pytest.TempPathFactory) -> Generator:
    """gaussian_copula on 120 demo customers and their transactions."""
    folder = tmp_path_factory.mktemp("bank")
    write_small_demo(folder, 120)
    schema, frames, _ = build_dataset(folder, None, "churned")
    model = generator_class("gaussian_copula")(schema, {"rare_category_k": 3}, 0)
    model.fit(frames)
    return model


# --- the plan and its seeds ----------------------------------------------------------------


def test_a_plan_cuts_the_root_rows_into_shards_of_shard_rows_the_last_shorter() -> None:
    plan = plan_shards(250, 100, seed=3)
    shards = list(plan.shards())
    assert plan.count == 3
    assert [(s.index, s.first_row, s.rows) for s in shards] == [
        (0, 0, 100),
        (1, 100, 100),
        (2, 200, 50),
    ]


def test_shard_seeds_depend_on_the_seed_and_index_only_and_shard_0_keeps_the_seed() -> None:
    small, large = plan_shards(300, 100, seed=5), plan_shards(10_000, 100, seed=5)
    assert [s.seed for s in small.shards()] == [large.shard(i).seed for i in range(3)]
    assert small.shard(0).seed == 5
    assert len({shard_seed(5, i) for i in range(1000)}) == 1000
    assert shard_seed(6, 1) != shard_seed(5, 1)


def test_workers_take_contiguous_runs_that_cover_every_shard_once() -> None:
    plan = plan_shards(1_000, 100, seed=0)
    for workers in range(1, plan.count + 1):
        runs = [[s.index for s in plan.for_worker(w, workers)] for w in range(workers)]
        assert all(runs), f"{workers} workers: a worker got no shard"
        assert [i for run in runs for i in run] == list(range(plan.count))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: plan_shards(0, 100, 0), "at least 1"),
        (lambda: plan_shards(10, 0, 0), "shard_rows 0"),
        (lambda: plan_shards(300, 100, 0).shard(3), r"shard 3 is not in a plan of 3 shard\(s\)"),
        (lambda: plan_shards(300, 100, 0).for_worker(0, 0), "0 workers: give at least 1"),
        (lambda: plan_shards(300, 100, 0).for_worker(2, 2), r"worker 2 is not one of 0\.\.1"),
        (lambda: plan_shards(300, 100, 0).for_worker(0, 4), "at most as many workers as shards"),
    ],
)
def test_bad_plan_input_is_refused_saying_what_is_wrong(call, message: str) -> None:
    with pytest.raises(GeneratorError, match=message):
        call()


def test_absurd_shard_rows_in_releases_yml_names_the_setting(make_project) -> None:
    def absurd(plan: dict) -> None:
        plan["datasets"][0]["shard_rows"] = 5

    with pytest.raises(CatalogError) as err:
        load_catalog(make_project(customers=20, releases=absurd))
    assert "datasets[0].shard_rows" in str(err.value)
    assert "greater than or equal to 100" in str(err.value)


# --- re-keying -----------------------------------------------------------------------------


def test_rekey_numbers_root_rows_by_position_and_interleaves_child_keys_by_shard() -> None:
    plan = plan_shards(6, 2, seed=0)  # 3 shards of 2 parents
    out = rekey(two_tables(), shard_tables(), plan.shard(1), plan.count)
    assert out["parents"]["id"].to_list() == [3, 4]  # rows 3 and 4 of the plan
    assert out["children"]["id"].to_list() == [2, 5, 8]  # j * 3 + 1 + 1


def test_rekey_points_each_child_at_its_parents_new_key() -> None:
    plan = plan_shards(6, 2, seed=0)
    out = rekey(two_tables(), shard_tables(), plan.shard(1), plan.count)
    # children pointed at 20, 10, 20: the parents now numbered 4 and 3
    assert out["children"]["parent_id"].to_list() == [4, 3, 4]
    assert out["children"]["value"].to_list() == [0.1, 0.2, 0.3]


def test_rekey_issues_string_keys_in_the_table_by_table_form() -> None:
    tables = {
        "parents": pl.DataFrame({"id": ["a", "b"], "value": [1.0, 2.0]}),
        "children": pl.DataFrame({"id": ["x"], "parent_id": ["b"], "value": [0.5]}),
    }
    plan = plan_shards(4, 2, seed=0)
    out = rekey(two_tables(ColumnType.STRING), tables, plan.shard(1), plan.count)
    assert out["parents"]["id"].to_list() == ["syn-parents-0000003", "syn-parents-0000004"]
    assert out["children"]["id"].to_list() == ["syn-children-0000002"]
    assert out["children"]["parent_id"].to_list() == ["syn-parents-0000004"]


def test_rekey_refuses_a_child_that_points_at_no_parent_of_its_shard() -> None:
    tables = shard_tables()
    tables["children"] = tables["children"].with_columns(pl.Series("parent_id", [20, 10, 99]))
    plan = plan_shards(2, 2, seed=0)
    with pytest.raises(GeneratorError, match=r"1 row\(s\) whose 'parent_id' names no 'parents'"):
        rekey(two_tables(), tables, plan.shard(0), plan.count)


def test_rekey_refuses_repeated_primary_keys() -> None:
    tables = shard_tables()
    tables["parents"] = pl.DataFrame({"id": [10, 10], "value": [1.0, 2.0]})
    plan = plan_shards(2, 2, seed=0)
    with pytest.raises(GeneratorError, match="repeated 'id' values"):
        rekey(two_tables(), tables, plan.shard(0), plan.count)


# --- sampling a shard ----------------------------------------------------------------------


def test_a_one_shard_plan_samples_exactly_what_one_sample_call_gives(bank_model) -> None:
    plan = plan_shards(150, 1_000, seed=11)
    sharded = sample_shard(bank_model, plan, plan.shard(0))
    plain = bank_model.sample(150, seed=11)
    for name, frame in plain.items():
        assert sharded[name].equals(frame), name


def test_a_shard_is_the_same_rows_whichever_plan_size_or_order_it_is_sampled_in(
    bank_model,
) -> None:
    small, large = plan_shards(120, 40, seed=2), plan_shards(4_000, 40, seed=2)
    late_first = sample_shard(bank_model, large, large.shard(2))
    sample_shard(bank_model, small, small.shard(0))  # another draw in between
    again = sample_shard(bank_model, small, small.shard(2))
    # the same rows; child keys interleave by the plan's shard count (3 against 100)
    assert again["customers"].equals(late_first["customers"])
    columns = [c for c in again["transactions"].columns if c != "transaction_id"]
    assert again["transactions"].select(columns).equals(late_first["transactions"].select(columns))


def test_sharded_samples_have_unique_keys_and_children_of_their_own_shard(bank_model) -> None:
    plan = plan_shards(120, 40, seed=4)
    shards = [sample_shard(bank_model, plan, s) for s in plan.shards()]
    customers = pl.concat([s["customers"] for s in shards])
    transactions = pl.concat([s["transactions"] for s in shards])
    assert customers["customer_id"].to_list() == list(range(1, 121))
    assert transactions["transaction_id"].is_unique().all()
    for index, shard in enumerate(shards):
        owners = shard["transactions"]["customer_id"]
        assert ((owners - 1) // 40 == index).all(), f"shard {index} points outside itself"
        assert ((shard["transactions"]["transaction_id"] - 1) % plan.count == index).all()


# --- chunked table files -------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_parts_combined_are_byte_for_byte_the_file_of_one_writer(tmp_path: Path, suffix) -> None:
    frame = pl.DataFrame(
        {"id": range(9), "name": ["a", None, "c, d", "é", "", "f", "g", "h", "i"]},
        schema_overrides={"id": pl.Int64},
    ).with_columns(amount=pl.col("id") * 0.1)
    chunks = [frame.slice(0, 4), frame.slice(4, 0), frame.slice(4, 5)]
    with table_writers({"one": tmp_path / f"one{suffix}"}) as writers:
        for chunk in chunks:
            writers["one"].write(chunk)
    parts = []
    for i, group in enumerate([chunks[:1], chunks[1:2], chunks[2:]]):
        parts.append(tmp_path / f"part{i}{suffix}")
        with table_writers({"part": parts[-1]}) as writers:
            for chunk in group:
                writers["part"].write(chunk)
    rows = combine_table_files(parts, tmp_path / f"combined{suffix}")
    assert rows == 9
    assert (tmp_path / f"combined{suffix}").read_bytes() == (tmp_path / f"one{suffix}").read_bytes()
    if suffix == ".parquet":
        assert pl.read_parquet(tmp_path / f"one{suffix}").equals(frame)


def test_a_failed_write_leaves_no_table_file(tmp_path: Path) -> None:
    target = tmp_path / "t.parquet"
    with (
        pytest.raises(ValueError, match="a chunk with schema"),
        table_writers({"t": target}) as writers,
    ):
        writers["t"].write(pl.DataFrame({"a": [1]}))
        writers["t"].write(pl.DataFrame({"a": ["text"]}))
    assert list(tmp_path.iterdir()) == []
