"""SDV's PARSynthesizer (probabilistic auto-regressive, deepecho) behind the generator interface:
the library a user would pick for sequences, so the platform and the benchmarks compare with it.

PAR models one table of sequences with per-sequence context: the dataset must be a root table
(the parents, with a primary key) and one child table declared a sequence (releases.yml
`sequence: {order_by: ...}`). The parents' modelled columns reach PAR as context columns of
their children (constant within a sequence), the foreign key as the sequence key and the order
column as the sequence index; a sampled sequence becomes one synthetic parent (its context
values) and its rows. Keys are fresh (1..n or '<prefix>-0000001'..), foreign keys point at the
synthetic parents; the value protection is applied afterwards (protection.py value guards), as
for `hma`. What PAR cannot do: a parent without children (a sequence has at least one row), so
such parents are not learned and never generated; more tables than these two.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import polars as pl
from pydantic import Field

from anon_platform.catalog.schema import TableSchema
from anon_platform.catalog.specs import ColumnType
from anon_platform.common.frames import MAX_CODES, SDTYPES, from_pandas, to_pandas
from anon_platform.common.progress import Progress, ProgressEvent
from anon_platform.devices import torch_device
from anon_platform.errors import GeneratorError
from anon_platform.generators.base import Generator, GeneratorParams
from anon_platform.generators.protection import (
    GUARD_RARE_CATEGORIES,
    ProtectionParams,
    apply_value_guards,
    fit_value_guards,
    protection_record,
)
from anon_platform.generators.table_by_table import fresh_keys


class PARParams(ProtectionParams):
    """Parameters of `par` (SDV's defaults: 128 epochs, one sample per step)."""

    epochs: int = Field(default=128, ge=1, le=10_000)
    sample_size: int = Field(default=1, ge=1, le=100, description="PAR's sample_size")
    device: Literal["auto", "cpu", "cuda"] = "auto"


class PARGenerator(Generator):
    """SDV's PARSynthesizer over a parent table and its one sequence table."""

    name: ClassVar[str] = "par"
    libraries: ClassVar[tuple[str, ...]] = ("sdv", "deepecho", "torch")
    uses_torch: ClassVar[bool] = True
    Params: ClassVar[type[GeneratorParams]] = PARParams

    @property
    def device(self) -> str:
        return torch_device(self.config.device)

    def _tables(self) -> tuple[TableSchema, TableSchema]:
        root = self.schema.root
        children = [t for t in self.schema.tables if t.name != root.name]
        return root, children[0]

    def check_schema(self) -> None:
        """A root table with a primary key and exactly one child table, declared a sequence,
        whose column names differ from the root's (they share one PAR table)."""
        root = self.schema.root
        children = [t for t in self.schema.tables if t.name != root.name]
        if len(children) != 1 or children[0].sequence is None or not children[0].foreign_keys:
            raise GeneratorError(
                "generator 'par' models a parent table and one child table declared a sequence "
                f"(sequence: {{order_by: ...}}); dataset '{self.schema.name}' has tables "
                f"{', '.join(t.name for t in self.schema.tables)}"
            )
        child = children[0]
        if not root.primary_key or child.foreign_keys[0].parent_table != root.name:
            raise GeneratorError(
                f"generator 'par': table '{child.name}' must refer to the primary key of "
                f"'{root.name}'"
            )
        shared = {c.name for c in root.modelled_columns} & {c.name for c in child.columns}
        if shared:
            raise GeneratorError(
                f"generator 'par': tables '{root.name}' and '{child.name}' both have column(s) "
                f"{', '.join(sorted(shared))}; rename them (PAR reads both as one table)"
            )

    def _joined(self, tables: dict[str, pl.DataFrame]) -> tuple[pd.DataFrame, dict[str, Any]]:
        """The children with their parent's modelled columns, and PAR's metadata of them."""
        root, child = self._tables()
        fk = child.foreign_keys[0]
        parents = to_pandas(tables[root.name], root.modelled_columns)
        parents[fk.column] = tables[root.name][root.primary_key].to_pandas()
        rows = to_pandas(tables[child.name], child.modelled_columns)
        rows[fk.column] = tables[child.name][fk.column].to_pandas()
        joined = rows.merge(parents, on=fk.column, how="inner")
        order_by = child.sequence.order_by if child.sequence else ""
        columns: dict[str, dict[str, str]] = {fk.column: {"sdtype": "id"}}
        for column in (*child.modelled_columns, *root.modelled_columns):
            sdtype = SDTYPES[column.type]
            if (
                column.type == ColumnType.INTEGER
                and column.name != order_by
                and joined[column.name].nunique(dropna=True) <= MAX_CODES
            ):
                sdtype = "categorical"
            columns[column.name] = {"sdtype": sdtype}
        metadata = {
            "tables": {
                child.name: {
                    "columns": columns,
                    "sequence_key": fk.column,
                    "sequence_index": order_by,
                }
            }
        }
        return joined, metadata

    def _fit(self, tables: dict[str, pl.DataFrame], progress: Progress) -> None:
        from sdv.metadata import Metadata
        from sdv.sequential import PARSynthesizer

        root, child = self._tables()
        joined, metadata = self._joined(tables)
        self.synthesizer = PARSynthesizer(
            Metadata.load_from_dict(metadata),
            context_columns=[c.name for c in root.modelled_columns],
            epochs=self.config.epochs,
            sample_size=self.config.sample_size,
            cuda=self.device == "cuda",
            verbose=False,
        )
        progress(ProgressEvent(0, 1, message=f"fitting PAR ({self.config.epochs} epochs)"))
        self.synthesizer.fit({child.name: joined})
        self.loss_curve = [float(v) for v in self._losses()]
        self.guards = fit_value_guards(self.schema.tables, tables, self.config)
        progress(ProgressEvent(1, 1, message="PAR fitted"))

    def _losses(self) -> list[float]:
        try:
            losses = self.synthesizer.get_loss_values()
        except Exception:  # the loss table is optional in deepecho; none is no error
            return []
        return losses["Loss"].astype(float).tolist() if "Loss" in losses else []

    def _sample(self, root_rows: int) -> dict[str, pl.DataFrame]:
        root, child = self._tables()
        fk = child.foreign_keys[0]
        # the parents' context comes from PAR's own GaussianCopula, which keeps a seed of its
        # own; the sequences from deepecho, which draws from the (seeded) torch / NumPy state
        self.synthesizer._context_synthesizer._set_random_state(
            int(np.random.randint(0, 2**31 - 1))
        )
        sampled = self.synthesizer.sample_sequences(root_rows)[child.name]
        sampled = sampled.reset_index(drop=True)
        firsts = sampled.groupby(fk.column, sort=False).head(1).reset_index(drop=True)
        root_key = next(c for c in root.columns if c.name == root.primary_key)
        keys = fresh_keys(root_key, len(firsts), f"syn-{root.name}")
        mapping = dict(zip(firsts[fk.column], keys.to_list(), strict=True))
        parents = from_pandas(firsts, root.modelled_columns).with_columns(keys)
        rows = from_pandas(sampled, child.modelled_columns)
        fk_values = pl.Series(fk.column, [mapping[v] for v in sampled[fk.column]])
        rows = rows.with_columns(fk_values.cast(keys.dtype))
        if child.primary_key:
            child_key = next(c for c in child.columns if c.name == child.primary_key)
            rows = rows.with_columns(fresh_keys(child_key, rows.height, f"syn-{child.name}"))
        out = {
            t.name: frame.select([c.name for c in t.columns if c.name in frame.columns])
            for t, frame in ((root, parents), (child, rows))
        }
        return apply_value_guards(self.guards, out, int(np.random.randint(0, 2**31 - 1)))

    def _state(self) -> Any:
        return {"synthesizer": self.synthesizer, "guards": self.guards}

    def _restore(self, state: Any) -> None:
        self.synthesizer = state["synthesizer"]
        self.guards = state.get("guards", {})

    def _card_extras(self) -> dict[str, Any]:
        return {"value_protection": protection_record(self.config, GUARD_RARE_CATEGORIES)}
