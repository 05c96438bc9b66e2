"""SDV's HMASynthesizer (hierarchical modelling) behind the generator interface.

HMA learns each child table's per-parent distribution parameters and the number of children of a
parent as extra columns of the parent's Gaussian copula, so parent attributes and child
attributes are modelled jointly (unlike the table-by-table strategy). Keys reach SDV as `id`
columns so that it can learn the relationships; the synthetic keys it returns are replaced by
fresh keys (1..n or '<prefix>-0000001'..), with every foreign key remapped to its synthetic
parent, so no source key value survives into a synthetic table.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import polars as pl
from sdv.metadata import Metadata
from sdv.multi_table import HMASynthesizer

from anon_platform.catalog.schema import TableSchema
from anon_platform.catalog.specs import ColumnType, Role
from anon_platform.common.frames import MAX_CODES, SDTYPES, from_pandas, to_pandas
from anon_platform.common.progress import Progress, ProgressEvent
from anon_platform.errors import GeneratorError
from anon_platform.generators.base import Generator, GeneratorParams
from anon_platform.generators.protection import (
    GUARD_RARE_CATEGORIES,
    ProtectionParams,
    apply_value_guards,
    fit_value_guards,
    protection_record,
)
from anon_platform.generators.sdv_backends import Distribution
from anon_platform.generators.table_by_table import fresh_keys
from anon_platform.sources.readers import POLARS_TYPES


class HMAParams(ProtectionParams):
    default_distribution: Distribution = "beta"


def _key_columns(table: TableSchema) -> list[str]:
    keys = [table.primary_key] if table.primary_key else []
    return keys + [fk.column for fk in table.foreign_keys]


def hma_metadata(tables: dict[str, TableSchema], frames: dict[str, pd.DataFrame]) -> Metadata:
    """SDV multi-table metadata from the catalog: typed modelled columns, keys as `id`, and one
    relationship per foreign key (small integer columns are categorical, as in sdv_metadata)."""
    spec: dict[str, Any] = {"tables": {}, "relationships": []}
    for name, table in tables.items():
        columns: dict[str, dict[str, str]] = {k: {"sdtype": "id"} for k in _key_columns(table)}
        for column in table.modelled_columns:
            sdtype = SDTYPES[column.type]
            if (
                column.type == ColumnType.INTEGER
                and frames[name][column.name].nunique(dropna=True) <= MAX_CODES
            ):
                sdtype = "categorical"
            columns[column.name] = {"sdtype": sdtype}
        entry: dict[str, Any] = {"columns": columns}
        if table.primary_key:
            entry["primary_key"] = table.primary_key
        spec["tables"][name] = entry
        for fk in table.foreign_keys:
            spec["relationships"].append(
                {
                    "parent_table_name": fk.parent_table,
                    "parent_primary_key": fk.parent_column,
                    "child_table_name": name,
                    "child_foreign_key": fk.column,
                }
            )
    return Metadata.load_from_dict(spec)


class HMAGenerator(Generator):
    """SDV's HMASynthesizer over the whole dataset. Params: `default_distribution` (of every
    table's Gaussian copula). Needs a primary key on every table that has children."""

    name: ClassVar[str] = "hma"
    libraries: ClassVar[tuple[str, ...]] = ("sdv", "rdt", "copulas")
    Params: ClassVar[type[GeneratorParams]] = HMAParams

    def _frames(self, tables: dict[str, pl.DataFrame]) -> dict[str, pd.DataFrame]:
        frames = {}
        for table in self.schema.tables:
            keys = _key_columns(table)
            frame = to_pandas(tables[table.name], table.modelled_columns)
            for key in keys:
                frame[key] = tables[table.name][key].to_pandas()
            frames[table.name] = frame[keys + [c.name for c in table.modelled_columns]]
        return frames

    def check_schema(self) -> None:
        """Every table with child tables has a primary key (HMA links children to it)."""
        for table in self.schema.tables:
            children = [
                t
                for t in self.schema.tables
                if any(fk.parent_table == table.name for fk in t.foreign_keys)
            ]
            if children and not table.primary_key:
                raise GeneratorError(
                    f"generator 'hma': table '{table.name}' has child tables but no primary key"
                )

    def _fit(self, tables: dict[str, pl.DataFrame], progress: Progress) -> None:
        frames = self._frames(tables)
        schemas = {t.name: t for t in self.schema.tables}
        self.synthesizer = HMASynthesizer(hma_metadata(schemas, frames), verbose=False)
        for name in schemas:
            self.synthesizer.set_table_parameters(
                name, {"default_distribution": self.config.default_distribution}
            )
        progress(ProgressEvent(0, 1, message="fitting HMA (one step: no epochs)"))
        self.synthesizer.fit(frames)
        self.guards = fit_value_guards(self.schema.tables, tables, self.config)
        progress(ProgressEvent(1, 1, message="HMA fitted"))

    def _sample(self, root_rows: int) -> dict[str, pl.DataFrame]:
        synthesizer = self.synthesizer
        synthesizer.reset_sampling()
        # HMA restarts from a fixed seed of its own after reset_sampling; take the seeds from
        # our seeded NumPy state instead so that the platform's sample seed decides the rows.
        synthesizer._numpy_seed = int(np.random.randint(0, 2**31 - 1))
        for table_synthesizer in synthesizer._table_synthesizers.values():
            table_synthesizer._set_random_state(int(np.random.randint(0, 2**31 - 1)))
        root = self.schema.root.name
        sampled = synthesizer.sample(root_rows, main_table_name=root)
        out: dict[str, pl.DataFrame] = {}
        key_maps: dict[str, dict[Any, Any]] = {}
        for table in self.schema.ordered():
            frame = sampled[table.name].reset_index(drop=True)
            n_rows = len(frame)
            body = from_pandas(frame, table.modelled_columns) if n_rows else None
            parts: dict[str, pl.Series] = {}
            for column in table.columns:
                if column.name == table.primary_key:
                    keys = fresh_keys(column, n_rows, f"syn-{table.name}")
                    key_maps[table.name] = dict(
                        zip(frame[column.name], keys.to_list(), strict=True)
                    )
                    parts[column.name] = keys
                elif any(fk.column == column.name for fk in table.foreign_keys):
                    fk = next(f for f in table.foreign_keys if f.column == column.name)
                    mapping = key_maps[fk.parent_table]
                    parts[column.name] = pl.Series(
                        column.name, [mapping.get(v) for v in frame[column.name]]
                    ).cast(out[fk.parent_table][fk.parent_column].dtype)
                elif body is not None and column.name in body.columns:
                    parts[column.name] = body[column.name]
            if n_rows == 0:
                parts = {
                    c.name: pl.Series(c.name, [], dtype=POLARS_TYPES[c.type])
                    for c in table.columns
                    if c.role != Role.IDENTIFIER
                }
            out[table.name] = pl.DataFrame(parts)
        return apply_value_guards(self.guards, out, int(np.random.randint(0, 2**31 - 1)))

    def _state(self) -> Any:
        return {"synthesizer": self.synthesizer, "guards": self.guards}

    def _restore(self, state: Any) -> None:
        self.synthesizer = state["synthesizer"]
        self.guards = state.get("guards", {})

    def _card_extras(self) -> dict[str, Any]:
        return {"value_protection": protection_record(self.config, GUARD_RARE_CATEGORIES)}
