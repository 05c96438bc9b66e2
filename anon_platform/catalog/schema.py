"""The dataset schema a generator sees: tables, typed role-tagged columns, keys, target."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from anon_platform.catalog.specs import ColumnType, ForeignKey, Role, SequenceSpec


class ColumnSchema(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    type: ColumnType
    role: Role


class TableSchema(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    columns: tuple[ColumnSchema, ...]
    primary_key: str | None = None
    foreign_keys: tuple[ForeignKey, ...] = ()
    target: str | None = None
    # identifier columns the release fills with fake values (not in `columns`: never learned)
    fake: dict[str, str] = {}
    # rows of one parent form an ordered history (README, "Sequences"); None: an unordered bag
    sequence: SequenceSpec | None = None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def names_with_role(self, *roles: Role) -> list[str]:
        return [c.name for c in self.columns if c.role in roles]

    @property
    def modelled_columns(self) -> list[ColumnSchema]:
        """Columns a generator learns: everything except keys and direct identifiers."""
        return [c for c in self.columns if c.role not in (Role.KEY, Role.IDENTIFIER)]


class DatasetSchema(BaseModel):
    """A dataset of one root table and any tree of child tables below it."""

    model_config = ConfigDict(frozen=True)

    name: str
    tables: tuple[TableSchema, ...]

    def table(self, name: str) -> TableSchema:
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(name)

    @property
    def root(self) -> TableSchema:
        return next(t for t in self.tables if not t.foreign_keys)

    def ordered(self) -> list[TableSchema]:
        """Tables with every parent before its children."""
        done: list[TableSchema] = []
        pending = list(self.tables)
        while pending:
            names = {t.name for t in done}
            ready = [t for t in pending if all(fk.parent_table in names for fk in t.foreign_keys)]
            if not ready:
                raise ValueError(f"dataset '{self.name}': foreign keys form a cycle")
            done.extend(ready)
            pending = [t for t in pending if t not in ready]
        return done
