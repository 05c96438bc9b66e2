"""Generators as plain Python: fit on the prepared train split, sample, save and load."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest

from anon_platform.catalog import Role, load_catalog
from anon_platform.catalog.schema import DatasetSchema
from anon_platform.common.progress import ProgressEvent
from anon_platform.errors import GeneratorError
from anon_platform.generators import REGISTRY, Generator, generator_class, load_generator
from anon_platform.generators.sdv_backends import GaussianCopulaGenerator
from anon_platform.pipeline import steps, stored
from anon_platform.sources.readers import POLARS_TYPES
from anon_platform.storage import Zones, write_json
from anon_platform_tests.conftest import staged_project

DATASET = "bank"
GENERATOR = "gaussian_copula"
PARAMS = {"default_distribution": "beta"}
ROWS = 150


@dataclass(frozen=True)
class Split:
    schema: DatasetSchema
    staged: dict[str, pl.DataFrame]
    train: dict[str, pl.DataFrame]
    holdout: dict[str, pl.DataFrame]


@pytest.fixture
def split(make_project, anon_home: Path) -> Split:
    """The small demo (300 customers) ingested, staged and split through anon_platform.steps."""
    catalog = staged_project(make_project(customers=300), anon_home)
    zones = Zones(anon_home)
    train, holdout = steps.prepare(catalog, zones, DATASET)
    return Split(
        catalog.dataset_schema(DATASET),
        stored.staged_tables(catalog, zones, DATASET),
        train,
        holdout,
    )


def fitted(split: Split, seed: int = 0) -> Generator:
    model = generator_class(GENERATOR)(split.schema, PARAMS, seed)
    model.fit(split.train)
    return model


def assert_same_tables(left: dict[str, pl.DataFrame], right: dict[str, pl.DataFrame]) -> None:
    assert list(left) == list(right)
    for name in left:
        assert left[name].equals(right[name]), name


def test_sample_has_staging_columns_without_identifiers_in_declared_types(split: Split) -> None:
    tables = fitted(split).sample(ROWS)
    assert set(tables) == {t.name for t in split.schema.tables}
    for table in split.schema.tables:
        frame = tables[table.name]
        identifiers = set(table.names_with_role(Role.IDENTIFIER))
        staged_columns = [c for c in split.staged[table.name].columns if c not in identifiers]
        assert frame.columns == staged_columns, table.name
        assert dict(frame.schema) == {
            c.name: POLARS_TYPES[c.type] for c in table.columns if c.role != Role.IDENTIFIER
        }, table.name
        assert frame.height > 0
    assert tables["customers"].height == ROWS


def test_sampling_one_model_twice_with_the_same_seed_gives_identical_frames(split: Split) -> None:
    model = fitted(split)
    assert_same_tables(model.sample(ROWS, seed=7), model.sample(ROWS, seed=7))
    assert_same_tables(model.sample(ROWS), model.sample(ROWS))


def test_fitting_twice_with_the_same_seed_gives_identical_samples(split: Split) -> None:
    assert_same_tables(fitted(split, seed=3).sample(ROWS), fitted(split, seed=3).sample(ROWS))


def test_a_different_seed_gives_different_rows(split: Split) -> None:
    model = fitted(split)
    first, second = model.sample(ROWS, seed=1), model.sample(ROWS, seed=2)
    assert not first["customers"].equals(second["customers"])
    assert not first["transactions"].equals(second["transactions"])


def test_saved_model_loads_and_samples_the_same_rows(split: Split, tmp_path: Path) -> None:
    model = fitted(split)
    model.save(tmp_path / "model")
    loaded = load_generator(tmp_path / "model")
    assert isinstance(loaded, GaussianCopulaGenerator)
    assert loaded.card == model.card
    assert_same_tables(loaded.sample(ROWS, seed=11), model.sample(ROWS, seed=11))
    assert_same_tables(loaded.sample(ROWS), model.sample(ROWS))


def test_loading_an_empty_folder_raises_generator_error(tmp_path: Path) -> None:
    (tmp_path / "not_a_model").mkdir()
    with pytest.raises(GeneratorError, match="not a generator artifact"):
        load_generator(tmp_path / "not_a_model")


def test_loading_a_card_without_state_raises_generator_error(tmp_path: Path) -> None:
    folder = tmp_path / "half_a_model"
    write_json({"generator": GENERATOR}, folder / "model.json")
    with pytest.raises(GeneratorError, match="not a generator artifact"):
        load_generator(folder)


def test_unknown_generator_name_lists_the_known_ones() -> None:
    with pytest.raises(GeneratorError, match="unknown generator 'no_such_model'") as err:
        generator_class("no_such_model")
    assert GENERATOR in str(err.value)


def test_unknown_parameter_raises_generator_error(split: Split) -> None:
    with pytest.raises(GeneratorError, match="epochs"):
        generator_class(GENERATOR)(split.schema, {"epochs": 10}, 0)


def test_sampling_zero_rows_raises_generator_error(split: Split) -> None:
    with pytest.raises(GeneratorError):
        fitted(split).sample(0)


def test_every_synthetic_transaction_points_at_a_synthetic_customer(split: Split) -> None:
    tables = fitted(split).sample(ROWS)
    customer_ids = tables["customers"]["customer_id"].implode()
    transactions = tables["transactions"]
    assert transactions.height > 0
    assert transactions["customer_id"].is_in(customer_ids).mean() == 1.0


def test_transactions_per_customer_match_the_training_mean(split: Split) -> None:
    train_mean = split.train["transactions"].height / split.train["customers"].height
    tables = fitted(split).sample(split.train["customers"].height)
    synthetic_mean = tables["transactions"].height / tables["customers"].height
    assert synthetic_mean == pytest.approx(train_mean, rel=0.25)


# --- every backend (CTGAN, TVAE, HMA beside GaussianCopula) ---------------------------------

# tiny settings: these tests check behaviour, not fidelity
BACKEND_PARAMS: dict[str, dict] = {
    "gaussian_copula": {"default_distribution": "norm"},
    # the torch backends without parent context: half the columns to fit (the context path is
    # the same code for every table-by-table backend and is tested with GaussianCopula below)
    "ctgan": {"epochs": 2, "batch_size": 100, "parent_context": False},
    "tvae": {"epochs": 2, "batch_size": 100, "parent_context": False},
    "hma": {"default_distribution": "norm"},
}
BACKENDS = sorted(BACKEND_PARAMS)
TORCH_BACKENDS = ["ctgan", "tvae"]
SMALL_ROWS = 40


@pytest.fixture(scope="module")
def small_split(tmp_path_factory: pytest.TempPathFactory) -> Split:
    """80 demo customers and their transactions, split once for the whole module (HMA fits one
    copula per parent row, so its fit time grows with the customers)."""
    from anon_platform_tests.conftest import build_project

    base = tmp_path_factory.mktemp("small_split")
    catalog = staged_project(build_project(base / "project", 80), base / "home")
    zones = Zones(base / "home")
    train, holdout = steps.prepare(catalog, zones, DATASET)
    return Split(
        catalog.dataset_schema(DATASET),
        stored.staged_tables(catalog, zones, DATASET),
        train,
        holdout,
    )


def fit_backend(split: Split, name: str, seed: int = 0, progress=None) -> Generator:
    model = generator_class(name)(split.schema, BACKEND_PARAMS[name], seed)
    model.fit(split.train, progress)
    return model


@dataclass
class Fitted:
    model: Generator
    events: list[ProgressEvent]


@pytest.fixture(scope="module")
def backend_models(small_split: Split) -> dict[str, Fitted]:
    """One fitted model per backend with the progress events of its fit, shared below."""
    fitted_models = {}
    for name in BACKENDS:
        events: list[ProgressEvent] = []
        fitted_models[name] = Fitted(fit_backend(small_split, name, progress=events.append), events)
    return fitted_models


@pytest.mark.parametrize("name", BACKENDS)
def test_every_backend_samples_staging_columns_in_declared_types(
    backend_models: dict[str, Fitted], small_split: Split, name: str
) -> None:
    tables = backend_models[name].model.sample(SMALL_ROWS)
    assert tables["customers"].height == SMALL_ROWS
    assert tables["transactions"].height > 0
    for table in small_split.schema.tables:
        assert dict(tables[table.name].schema) == {
            c.name: POLARS_TYPES[c.type] for c in table.columns if c.role != Role.IDENTIFIER
        }, table.name


@pytest.mark.parametrize("name", BACKENDS)
def test_every_backend_keeps_referential_integrity(
    backend_models: dict[str, Fitted], name: str
) -> None:
    tables = backend_models[name].model.sample(SMALL_ROWS)
    customer_ids = tables["customers"]["customer_id"]
    assert customer_ids.n_unique() == SMALL_ROWS
    assert tables["transactions"]["customer_id"].is_in(customer_ids.implode()).all()
    assert tables["transactions"]["transaction_id"].n_unique() == tables["transactions"].height


@pytest.mark.parametrize("name", BACKENDS)
def test_every_backend_refitted_with_the_same_seed_samples_the_same_rows(
    backend_models: dict[str, Fitted], small_split: Split, name: str
) -> None:
    again = fit_backend(small_split, name)
    assert_same_tables(backend_models[name].model.sample(SMALL_ROWS), again.sample(SMALL_ROWS))


@pytest.mark.parametrize("name", BACKENDS)
def test_every_backend_saved_and_loaded_samples_the_same_rows(
    backend_models: dict[str, Fitted], tmp_path: Path, name: str
) -> None:
    backend_models[name].model.save(tmp_path / name)
    loaded = load_generator(tmp_path / name)
    assert type(loaded) is type(backend_models[name].model)
    assert_same_tables(
        loaded.sample(SMALL_ROWS, seed=5), backend_models[name].model.sample(SMALL_ROWS, seed=5)
    )


def test_hma_synthetic_customers_have_no_source_key_values(
    backend_models: dict[str, Fitted], small_split: Split
) -> None:
    tables = backend_models["hma"].model.sample(SMALL_ROWS)
    assert tables["customers"]["customer_id"].to_list() == list(range(1, SMALL_ROWS + 1))


@pytest.mark.parametrize("name", TORCH_BACKENDS)
def test_torch_backends_report_one_progress_event_and_loss_per_epoch_and_table(
    backend_models: dict[str, Fitted], small_split: Split, name: str
) -> None:
    events = backend_models[name].events
    epochs = BACKEND_PARAMS[name]["epochs"]
    expected = epochs * len(small_split.schema.tables)
    assert [e.step for e in events] == list(range(1, expected + 1))
    assert all(e.total == expected for e in events)
    assert all(e.loss is not None and e.rows_per_second > 0 for e in events)
    assert backend_models[name].model.card.loss_curve == [round(e.loss, 6) for e in events]


@pytest.mark.parametrize("name", TORCH_BACKENDS)
def test_torch_backends_train_on_the_device_torch_device_picks(
    backend_models: dict[str, Fitted], name: str
) -> None:
    from anon_platform.devices import torch_device

    assert backend_models[name].model.card.device == torch_device()
    assert generator_class(name).uses_torch


@pytest.mark.parametrize(
    ("name", "params", "problem"),
    [
        ("ctgan", {"epochs": 0}, "epochs"),
        ("ctgan", {"batch_size": 105}, "multiple of pac"),
        ("tvae", {"compress_dims": "wide"}, "compress_dims"),
        ("hma", {"epochs": 5}, "epochs"),
    ],
)
def test_backend_parameters_are_typed_and_bounded(
    small_split: Split, name: str, params: dict, problem: str
) -> None:
    with pytest.raises(GeneratorError, match=problem):
        generator_class(name)(small_split.schema, params, 0)


# --- parent/child relations ----------------------------------------------------------------


def income_vs_amount(tables: dict[str, pl.DataFrame]) -> float:
    """Spearman correlation of a customer's income with their mean transaction amount."""
    per_customer = (
        tables["transactions"]
        .group_by("customer_id")
        .agg(pl.col("amount").mean().alias("mean_amount"))
        .join(tables["customers"], on="customer_id")
        .drop_nulls(["income", "mean_amount"])
    )
    return per_customer.select(pl.corr("income", "mean_amount", method="spearman")).item()


def fitted_with_context(split: Split, parent_context: bool) -> Generator:
    model = generator_class(GENERATOR)(split.schema, {"parent_context": parent_context}, 0)
    model.fit(split.train)
    return model


def test_parent_context_keeps_the_income_vs_amount_relation_that_independent_tables_lose(
    split: Split,
) -> None:
    real = income_vs_amount(split.train)
    rows = split.train["customers"].height
    with_context = income_vs_amount(fitted_with_context(split, True).sample(rows))
    independent = income_vs_amount(fitted_with_context(split, False).sample(rows))
    assert real > 0.2
    # 240 training customers: keeping at least half of the rank correlation is the spec here;
    # on the full demo it keeps 0.35 of 0.36 (README, "Parent/child data")
    assert with_context > real / 2
    assert abs(independent) < 0.15


def test_parent_context_keeps_the_children_per_parent_distribution(split: Split) -> None:
    def counts(tables: dict[str, pl.DataFrame]) -> np.ndarray:
        per = tables["customers"].join(
            tables["transactions"].group_by("customer_id").len(), on="customer_id", how="left"
        )
        return np.sort(per["len"].fill_null(0).to_numpy())

    real = counts(split.train)
    synthetic = counts(fitted_with_context(split, True).sample(len(real), seed=4))
    quantiles = [0.1, 0.25, 0.5, 0.75, 0.9]
    assert np.quantile(synthetic, quantiles) == pytest.approx(
        np.quantile(real, quantiles), rel=0.2, abs=2
    )


def test_assign_to_parents_fills_every_slot_and_prefers_the_nearest_parent() -> None:
    from anon_platform.generators.table_by_table import assign_to_parents

    parents = np.array([[0.0], [10.0], [20.0]])
    capacity = np.array([2, 1, 3])
    children = np.array([[19.0], [0.5], [21.0], [9.0], [-1.0], [20.5]])
    owner = assign_to_parents(children, parents, capacity, seed=0)
    assert np.bincount(owner, minlength=3).tolist() == capacity.tolist()
    assert owner.tolist() == [2, 0, 2, 1, 0, 2]


# --- the Dagster side: gpu pool, instance, shipped configs ---------------------------------


def test_torch_generators_train_in_the_gpu_pool_and_the_others_do_not(make_project) -> None:
    from anon_platform.definitions import build_definitions

    def every_backend(plan: dict) -> None:
        plan["datasets"][0]["generators"] = [{"name": n} for n in BACKENDS]

    definitions = build_definitions(load_catalog(make_project(releases=every_backend)))
    graph = definitions.resolve_asset_graph()
    for name in BACKENDS:
        node = graph.get(dg.AssetKey([DATASET, "models", name]))
        expected = "gpu" if generator_class(name).uses_torch else None
        assert node.pools == ({expected} if expected else set()), name


def test_local_instance_gives_the_gpu_pool_one_slot_and_frees_slots_of_ended_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from anon_platform.instance import GPU_POOL, ensure_instance

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))  # restored after the test
    ensure_instance(Zones(tmp_path / "home"))
    with dg.DagsterInstance.get() as instance:
        assert instance.event_log_storage.get_concurrency_info(GPU_POOL).slot_count == 1
        assert instance.run_monitoring_settings["enabled"] is True
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0


# every backend the demo trains: clustmix refuses multi-table datasets, and par (SDV's PAR, for
# the benchmarks) is too slow for the demo's 4,000 customers (README, "Sequences")
MULTI_TABLE_BACKENDS = set(REGISTRY) - {"clustmix", "par"}


@pytest.mark.parametrize("file_name", ["releases.yml", "releases.full.yml"])
def test_the_shipped_demo_configs_train_every_backend_with_valid_settings(file_name: str) -> None:
    import yaml

    from anon_platform_tests.conftest import REPO

    data = yaml.safe_load((REPO / "dbt_like_sql" / file_name).read_text())
    plans = data["datasets"][0]["generators"] if "datasets" in data else data["generators"]
    assert {p["name"] for p in plans} == MULTI_TABLE_BACKENDS
    for plan in plans:
        generator_class(plan["name"]).validate_params(plan.get("params", {}))


def test_gaussian_copula_reports_one_progress_event_per_table(
    backend_models: dict[str, Fitted], small_split: Split
) -> None:
    events = backend_models["gaussian_copula"].events
    tables = [t.name for t in small_split.schema.ordered()]
    assert [(e.step, e.total) for e in events] == [(i + 1, len(tables)) for i in range(len(tables))]
    assert [e.message for e in events] == [f"table {t} fitted" for t in tables]


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_registry_name_loads_the_backend_of_that_name(name: str) -> None:
    assert generator_class(name).name == name
