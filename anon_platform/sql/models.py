"""dbt_like_sql models: discovery, dependency extraction with sqlglot, and ordering.

A model is `dbt_like_sql/models/<dataset>/<name>.sql`: one DuckDB-dialect SELECT that refers to
the dataset's raw tables and to other models of the same dataset by bare name.
"""

from __future__ import annotations

from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError
from sqlglot.optimizer.scope import traverse_scope

from anon_platform.errors import SqlModelError

DIALECT = "duckdb"


@dataclass(frozen=True)
class SqlModel:
    """One parsed model: its name, dataset, file, SQL text and the names it reads."""

    name: str
    dataset: str
    path: Path
    sql: str
    source_refs: tuple[str, ...]
    model_refs: tuple[str, ...]


def referenced_tables(sql: str, path: Path) -> list[str]:
    """Names of the tables a SELECT reads (CTEs and subquery aliases excluded), in order."""
    try:
        statements = sqlglot.parse(sql, read=DIALECT)
    except ParseError as err:
        raise SqlModelError(f"{path}: SQL does not parse: {err}") from err
    statements = [s for s in statements if s is not None]
    if len(statements) != 1:
        raise SqlModelError(
            f"{path}: a model must be exactly one statement, found {len(statements)}"
        )
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        raise SqlModelError(
            f"{path}: a model must be a SELECT query, found {statement.key.upper()}"
        )
    names: list[str] = []
    for scope in traverse_scope(statement):
        for source in scope.sources.values():
            if isinstance(source, exp.Table):
                if not source.name:
                    raise SqlModelError(
                        f"{path}: reads from '{source.sql(dialect=DIALECT)}'; models may read only "
                        "raw tables and other models by name"
                    )
                if source.db:
                    raise SqlModelError(
                        f"{path}: refers to '{source.sql(dialect=DIALECT)}'; use bare names of "
                        "raw tables and models, without a schema"
                    )
                if source.name not in names:
                    names.append(source.name)
    return names


def discover_models(
    models_dir: Path, tables_by_dataset: dict[str, set[str]]
) -> dict[str, SqlModel]:
    """Parse every model under `models_dir`, resolve its references, and reject cycles.

    Raises SqlModelError naming the file for a parse error, an unknown name, a name that is both
    a raw table and a model, a model outside a dataset folder, or a dependency cycle.
    """
    files = sorted(models_dir.rglob("*.sql")) if models_dir.is_dir() else []
    by_name: dict[str, tuple[str, Path]] = {}
    for path in files:
        relative = path.relative_to(models_dir)
        if len(relative.parts) < 2:
            raise SqlModelError(f"{path}: models live in models/<dataset>/; move it into a folder")
        dataset = relative.parts[0]
        if dataset not in tables_by_dataset:
            raise SqlModelError(
                f"{path}: folder '{dataset}' is not a source in sources.yml "
                f"(known: {', '.join(sorted(tables_by_dataset))})"
            )
        name = path.stem
        if name in by_name:
            raise SqlModelError(f"{path}: model name '{name}' is also used by {by_name[name][1]}")
        if name in tables_by_dataset[dataset]:
            raise SqlModelError(f"{path}: model name '{name}' is also a raw table of '{dataset}'")
        by_name[name] = (dataset, path)

    models: dict[str, SqlModel] = {}
    for name, (dataset, path) in by_name.items():
        sql = path.read_text()
        sources: list[str] = []
        upstream: list[str] = []
        for ref in referenced_tables(sql, path):
            if ref in tables_by_dataset[dataset]:
                sources.append(ref)
            elif ref in by_name and by_name[ref][0] == dataset:
                upstream.append(ref)
            else:
                known = sorted(tables_by_dataset[dataset]) + sorted(
                    n for n, (d, _) in by_name.items() if d == dataset
                )
                raise SqlModelError(
                    f"{path}: refers to unknown table or model '{ref}' "
                    f"(dataset '{dataset}' knows: {', '.join(known)})"
                )
        models[name] = SqlModel(name, dataset, path, sql, tuple(sources), tuple(upstream))
    topological_order(models)
    return models


def topological_order(models: dict[str, SqlModel]) -> list[str]:
    """Model names so that every model comes after the models it reads; cycles are errors."""
    graph = {name: set(model.model_refs) for name, model in models.items()}
    try:
        return list(TopologicalSorter(graph).static_order())
    except CycleError as err:
        cycle = err.args[1]
        files = " -> ".join(str(models[n].path) for n in cycle)
        raise SqlModelError(f"dependency cycle between models: {files}") from err
