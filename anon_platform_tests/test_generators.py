"""Generators as plain Python: fit on the prepared train split, sample, save and load."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from anon_platform import steps
from anon_platform.catalog import Role, load_catalog
from anon_platform.catalog.schema import DatasetSchema
from anon_platform.errors import GeneratorError
from anon_platform.generators import Generator, generator_class, load_generator
from anon_platform.generators.sdv_backends import GaussianCopulaGenerator
from anon_platform.sources.readers import POLARS_TYPES
from anon_platform.storage import Zones, write_json

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
    catalog = load_catalog(make_project(customers=300))
    zones = Zones(anon_home)
    for table in catalog.sources[DATASET].tables:
        steps.ingest(catalog, zones, DATASET, table.name)
    for model in catalog.dataset_models(DATASET):
        steps.stage(catalog, zones, DATASET, model.name)
    train, holdout = steps.prepare(catalog, zones, DATASET)
    return Split(
        catalog.dataset_schema(DATASET),
        steps.staged_tables(catalog, zones, DATASET),
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
