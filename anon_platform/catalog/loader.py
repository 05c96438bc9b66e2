"""Loads sources.yml, releases.yml and the SQL models into one validated Catalog."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from anon_platform.catalog.schema import ColumnSchema, DatasetSchema, TableSchema
from anon_platform.catalog.specs import (
    AutomationSettings,
    ColumnType,
    DatasetRelease,
    FileLocation,
    ReleasesFile,
    ReleaseTable,
    Role,
    SourcesFile,
    SourceSpec,
    TableSpec,
    sequence_problem,
)
from anon_platform.catalog.yaml_files import load_yaml_spec
from anon_platform.errors import CatalogError, GeneratorError
from anon_platform.generators import check_generator_plan
from anon_platform.sql.models import SqlModel, discover_models, topological_order
from anon_platform.sql.runner import infer_schema

CATALOG_DIR = "dbt_like_sql"


@dataclass(frozen=True)
class ReleaseColumn:
    """A column of a released table: its type from the staging model, its role from the catalog."""

    name: str
    type: ColumnType
    role: Role


@dataclass(frozen=True)
class Catalog:
    """Everything the platform knows about its datasets, validated together."""

    root: Path
    sources: dict[str, SourceSpec]
    releases: dict[str, DatasetRelease]
    models: dict[str, SqlModel]
    model_schemas: dict[str, dict[str, ColumnType]]
    release_columns: dict[tuple[str, str], tuple[ReleaseColumn, ...]] = field(repr=False)
    automation: AutomationSettings = field(default_factory=AutomationSettings)

    def dataset_models(self, dataset: str) -> list[SqlModel]:
        """The dataset's models in dependency order."""
        order = topological_order(self.models)
        return [self.models[n] for n in order if self.models[n].dataset == dataset]

    def columns(self, dataset: str, table: str) -> tuple[ReleaseColumn, ...]:
        """Typed, role-tagged columns of a released table."""
        return self.release_columns[(dataset, table)]

    def source_path(self, table: TableSpec) -> Path:
        """Absolute path of a file-based raw table."""
        assert isinstance(table.location, FileLocation)
        path = table.location.path
        return path if path.is_absolute() else (self.root / path).resolve()

    def dataset_schema(self, dataset: str) -> DatasetSchema:
        """The schema of a dataset's release: what generators, splits and gates work on."""
        release = self.releases[dataset]
        return DatasetSchema(
            name=dataset,
            tables=tuple(
                TableSchema(
                    name=t.name,
                    columns=tuple(
                        ColumnSchema(name=c.name, type=c.type, role=c.role)
                        for c in self.columns(dataset, t.name)
                    ),
                    primary_key=t.primary_key,
                    foreign_keys=t.foreign_keys,
                    target=t.target,
                    fake=dict(t.fake),
                    sequence=t.sequence,
                )
                for t in release.tables
            ),
        )

    def identifier_columns(self, dataset: str) -> dict[str, list[str]]:
        """Raw table -> its columns with role identifier."""
        return {
            t.name: [c.name for c in t.columns if c.role == Role.IDENTIFIER]
            for t in self.sources[dataset].tables
        }


def _inherited_role(column: str, dataset: str, model: SqlModel, catalog_parts: dict) -> Role:
    """Role of a model column with no explicit role: the role of the same-named raw column
    among the raw tables the model reads, directly or through other models."""
    sources: SourceSpec = catalog_parts["sources"][dataset]
    models: dict[str, SqlModel] = catalog_parts["models"]
    seen: set[str] = set()
    stack = [model.name]
    raw_tables: list[str] = []
    while stack:
        current = models[stack.pop()]
        if current.name in seen:
            continue
        seen.add(current.name)
        raw_tables.extend(current.source_refs)
        stack.extend(current.model_refs)
    for table_name in raw_tables:
        table = sources.table(table_name)
        if column in table.column_names:
            return table.column(column).role
    return Role.ATTRIBUTE


def _resolve_release_table(
    path: Path,
    release: DatasetRelease,
    table: ReleaseTable,
    schema: dict[str, ColumnType],
    parts: dict,
) -> tuple[ReleaseColumn, ...]:
    where = f"{path}: dataset '{release.name}', table '{table.name}'"

    def require(column: str | None, what: str) -> None:
        if column is not None and column not in schema:
            raise CatalogError(
                f"{where}: {what} '{column}' is not an output column of model '{table.model}' "
                f"(it returns: {', '.join(schema)})"
            )

    require(table.primary_key, "primary_key")
    require(table.target, "target")
    for fk in table.foreign_keys:
        require(fk.column, "foreign key column")
    for column in table.roles:
        require(column, "roles entry")
    for column in table.fake:
        if column in schema and table.roles.get(column) != Role.IDENTIFIER:
            raise CatalogError(
                f"{where}: fake column '{column}' is an output column of model '{table.model}'; "
                "only identifier columns the model does not release can be faked"
            )
    key_columns = {table.primary_key, *(fk.column for fk in table.foreign_keys)} - {None}
    model = parts["models"][table.model]
    columns = []
    for name, column_type in schema.items():
        if name in key_columns:
            role = Role.KEY
        elif name == table.target:
            role = Role.TARGET
        elif name in table.roles:
            role = table.roles[name]
        else:
            role = _inherited_role(name, release.name, model, parts)
        columns.append(ReleaseColumn(name, column_type, role))
    if table.target is not None and table.roles.get(table.target, Role.TARGET) != Role.TARGET:
        raise CatalogError(f"{where}: column '{table.target}' is the target but has another role")
    return tuple(columns)


def _check_generator_plans(where: str, release: DatasetRelease, schema: DatasetSchema) -> None:
    """CatalogError naming the dataset's generator entry whose name is not a registered backend,
    whose parameters that backend rejects, or whose backend cannot train on the dataset's
    schema: what training would refuse later. Imports only the backends the dataset plans."""
    for index, plan in enumerate(release.generators):
        try:
            check_generator_plan(plan.name, plan.params, schema)
        except GeneratorError as err:
            raise CatalogError(f"{where}: generators[{index}] ('{plan.name}'): {err}") from None


def default_project_dir() -> Path:
    """The folder holding dbt_like_sql/: $ANON_PROJECT_DIR, else the checkout of this package."""
    explicit = os.environ.get("ANON_PROJECT_DIR")
    return Path(explicit) if explicit else Path(__file__).resolve().parents[2]


def load_catalog(root: str | os.PathLike[str] | None = None) -> Catalog:
    """Read and cross-check `<root>/dbt_like_sql/{sources.yml,releases.yml,models/}`.

    `root` defaults to `default_project_dir()`. Any problem raises CatalogError or SqlModelError
    naming the file, the place inside it, and what is wrong.
    """
    base = Path(root or default_project_dir()).resolve()
    catalog_dir = base / CATALOG_DIR
    sources_path = catalog_dir / "sources.yml"
    releases_path = catalog_dir / "releases.yml"
    sources_file = load_yaml_spec(sources_path, SourcesFile)
    releases_file = load_yaml_spec(releases_path, ReleasesFile)

    sources = {s.name: s for s in sources_file.sources}
    if len(sources) != len(sources_file.sources):
        raise CatalogError(f"{sources_path}: source names must be unique")
    models = discover_models(
        catalog_dir / "models", {name: {t.name for t in s.tables} for name, s in sources.items()}
    )

    schemas: dict[str, dict[str, ColumnType]] = {}
    for name in topological_order(models):
        model = models[name]
        inputs: dict[str, dict[str, ColumnType]] = {
            t: {c.name: c.type for c in sources[model.dataset].table(t).columns}
            for t in model.source_refs
        }
        inputs.update({m: schemas[m] for m in model.model_refs})
        schemas[name] = infer_schema(model, inputs)

    releases: dict[str, DatasetRelease] = {}
    release_columns: dict[tuple[str, str], tuple[ReleaseColumn, ...]] = {}
    parts = {"sources": sources, "models": models}
    for index, release in enumerate(releases_file.datasets):
        where = f"{releases_path}: datasets[{index}] ('{release.name}')"
        if release.name in releases:
            raise CatalogError(f"{where}: dataset listed twice")
        if release.name not in sources:
            raise CatalogError(f"{where}: no source of that name in sources.yml")
        for table in release.tables:
            model = models.get(table.model)
            if model is None or model.dataset != release.name:
                known = sorted(n for n, m in models.items() if m.dataset == release.name)
                raise CatalogError(
                    f"{where}: table '{table.name}' uses unknown staging model '{table.model}' "
                    f"(models of '{release.name}': {', '.join(known)})"
                )
            release_columns[(release.name, table.name)] = _resolve_release_table(
                releases_path, release, table, schemas[table.model], parts
            )
        for table_index, table in enumerate(release.tables):
            if table.sequence is not None:
                problem = sequence_problem(
                    table.sequence,
                    {c.name: c.type for c in release_columns[(release.name, table.name)]},
                    table.foreign_keys,
                )
                if problem:
                    raise CatalogError(
                        f"{where}: tables[{table_index}] ('{table.name}'): sequence: {problem}"
                    )
        for table in release.tables:
            for fk in table.foreign_keys:
                parent = release.table(fk.parent_table)
                if fk.parent_column != parent.primary_key:
                    raise CatalogError(
                        f"{where}: table '{table.name}': foreign key '{fk.column}' must reference "
                        f"the primary key of '{parent.name}' ('{parent.primary_key}')"
                    )
        releases[release.name] = release
    catalog = Catalog(
        base, sources, releases, models, schemas, release_columns, releases_file.automation
    )
    for index, release in enumerate(releases_file.datasets):
        where = f"{releases_path}: datasets[{index}] ('{release.name}')"
        _check_generator_plans(where, release, catalog.dataset_schema(release.name))
    return catalog
