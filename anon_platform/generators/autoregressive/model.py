"""The platform's own generator: a masked autoregressive network (MADE) per table.

Each table's modelled columns are discretized with value protection (encoding.py), one network
learns every column's distribution given the columns before it, in the canonical order or in an
order that puts any subset of the columns first (network.py), trained in
mini-batches from a memory-mapped code matrix with early stopping (training.py). Sampling draws
column by column in chunks, with any root-table columns fixed by `conditions`.

Parent/child tables: a parent's model has one extra column per child table, the number of
children of the row, so counts are learned jointly with the parent's attributes; a child's
network reads its parent's codes as a fixed context (always known, never predicted), so the
parent/child relation is learned rather than re-attached. A declared sequence's rows also read
the rows before them in their parent's history (sequences.py, network.SequenceMADE). Fresh
keys are issued and every synthetic foreign key points at a synthetic parent.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import polars as pl
import torch
from pydantic import Field

from anon_platform.catalog.schema import ColumnSchema, TableSchema
from anon_platform.catalog.specs import ColumnType, Role
from anon_platform.common.progress import Progress
from anon_platform.devices import torch_device
from anon_platform.errors import GeneratorError
from anon_platform.generators.autoregressive.encoding import (
    CategoricalCodec,
    Codec,
    NumericCodec,
    Protection,
    ValueMode,
    coerce_value,
    decode_codes,
    encode_frame,
    fit_codec,
)
from anon_platform.generators.autoregressive.network import (
    CALIBRATION_MAX_CODES,
    CALIBRATION_ROWS,
    DIRECT_MAX_CODES,
    OrderedMADE,
    SequenceMADE,
    calibrate_marginals,
    sample_codes,
)
from anon_platform.generators.autoregressive.sequences import (
    DiffColumn,
    SequenceModel,
    bucket,
    diff_schemas,
    drifting_columns,
    history_cardinalities,
    history_context,
    numeric_bins,
    rebuild_order,
    with_diff_columns,
)
from anon_platform.generators.autoregressive.training import TrainingPlan, train
from anon_platform.generators.base import Generator, GeneratorParams
from anon_platform.generators.protection import ProtectionParams, protection_record
from anon_platform.generators.table_by_table import assemble_table

COUNT_PREFIX = "__children__"


class AutoregressiveParams(ProtectionParams):
    """Parameters of `autoregressive` (see benchmarks/RESULTS.md for what the defaults measure)."""

    # 30 epochs at 0.005: 16 s on diamonds (43,000 rows) on 2 idle cores, quality 0.969 against
    # 0.965 for 10 epochs at 0.01 (benchmarks/RESULTS.md)
    epochs: int = Field(default=30, ge=1, le=10_000, description="at most; early stopping")
    patience: int = Field(default=4, ge=1, le=100, description="epochs without improvement")
    max_training_seconds: float | None = Field(
        default=None, gt=0, description="per table: no epoch starts that would end later"
    )
    batch_size: int = Field(
        default=1024, ge=16, le=262_144, description="at most; small tables use rows / 32"
    )
    learning_rate: float = Field(default=5e-3, gt=0.0, le=1.0)
    # None: by the table's width (`network_widths`)
    hidden_size: int | None = Field(default=None, ge=8, le=8192)
    layers: int = Field(default=2, ge=1, le=8)
    embedding_size: int | None = Field(default=None, ge=2, le=512)
    # sequence tables always read the previous row and each numeric column's mean so far; a
    # GRU over the earlier rows on top measured no better on Wages and Males (RESULTS.md)
    history_size: int = Field(
        default=0, ge=0, le=1024, description="sequence tables: GRU units over earlier rows"
    )
    bins: int = Field(default=50, ge=2, le=2000, description="numeric bins per column, at most")
    # flights' tailnum has 2,976 categories of >= 20 rows (96 % of rows): at 1000 its shape
    # scored 0.615 and quality 0.856, at 5000 0.834 and 0.881 (6 epochs; benchmarks/RESULTS.md)
    max_categories: int = Field(
        default=5000, ge=1, le=100_000, description="most frequent categories per column"
    )
    value_mode: ValueMode = "frequent_values"
    validation_fraction: float = Field(default=0.1, ge=0.0, lt=0.5)
    sample_chunk_rows: int = Field(default=50_000, ge=100, le=10_000_000)
    device: Literal["auto", "cpu", "cuda"] = "auto"


WIDE_TABLE_COLUMNS = 32


def network_widths(
    columns: int, hidden_size: int | None, embedding_size: int | None
) -> tuple[int, int]:
    """(hidden units, embedding size) of a table's network: the given ones, else 256 and 16,
    or 128 and 8 for a table of more than WIDE_TABLE_COLUMNS modelled columns.

    With weight averaging and calibrated marginals, 128 units against 256 (quality / DCR
    share, mean of fit seeds 0 and 1, DCR over 5 subsamples): loans_full_schema 0.805 /
    0.521 against 0.804 / 0.525, Caravan 0.979 / 0.527 against 0.979 / 0.538, STAR 0.972 /
    0.518 against 0.974 / 0.530, modeldata ames 0.911 / 0.556 against 0.911 / 0.556,
    labor_market_discrimination 0.963 / 0.543 against 0.961 / 0.537: the same quality and,
    on the mean, slightly fewer rows nearer the training rows than unseen rows are.

    Measured with the direct path (network.DIRECT_MAX_CODES; quality / DCR share, mean of fit
    seeds 0 and 1, DCR over 5 subsamples; benchmarks/RESULTS.md): Caravan (86 columns) 512
    units and embeddings of 8 0.969 / 0.552, 256 and 8 0.973 / 0.545, 256 and 16 0.975 /
    0.532; STAR (47 columns) 0.969 / 0.546, 0.970 / 0.537, 0.966 / 0.532. Before the direct
    path 512 units had paid (Caravan 0.947 -> 0.957): the MADE then carried every pair through
    its few hidden units per degree.
    """
    wide = columns > WIDE_TABLE_COLUMNS
    return (
        hidden_size if hidden_size is not None else (128 if wide else 256),
        embedding_size if embedding_size is not None else (8 if wide else 16),
    )


@dataclass
class TableModel:
    """What sampling needs of one table: codecs, the network and where its context comes from."""

    table: str
    codecs: list[Codec]
    children: dict[str, int]  # child table -> index of its count column among the codecs
    context_cardinalities: list[int]
    net_state: dict[str, torch.Tensor]
    epochs: int
    # a sequence table: how its order column is rebuilt (its context ends with the history)
    sequence: SequenceModel | None = None
    # a sequence table's network reads a summary of the rows before (SequenceMADE; models
    # saved before it existed read the previous row's codes only) with a GRU of this size
    history_network: bool = False
    history_size: int = 0
    # per context column (first bin, bins) of a numeric parent column, else None: the network
    # also reads those as ranks (empty for models saved before it did)
    context_numeric: tuple[tuple[int, int] | None, ...] = ()


class AutoregressiveGenerator(Generator):
    """Masked autoregressive network over discretized columns (this project's own).

    Any root-table columns can be fixed by `conditions`: the network is trained on orders that
    put a random subset of the columns first, and samples in the order that puts the fixed ones
    first.
    """

    name: ClassVar[str] = "autoregressive"
    libraries: ClassVar[tuple[str, ...]] = ("torch",)
    uses_torch: ClassVar[bool] = True
    Params: ClassVar[type[GeneratorParams]] = AutoregressiveParams
    supports_conditions: ClassVar[bool] = True
    supports_context: ClassVar[bool] = True

    @property
    def device(self) -> str:
        return torch_device(self.config.device)

    @property
    def _protection(self) -> Protection:
        c = self.config
        return Protection(
            c.rare_category_k, c.quantile_low, c.quantile_high, c.bins, c.value_mode,
            c.max_categories,
        )  # fmt: skip

    def _plan(self) -> TrainingPlan:
        c = self.config
        return TrainingPlan(
            c.epochs, c.patience, c.batch_size, c.learning_rate, c.validation_fraction,
            c.max_training_seconds, self.device,
        )  # fmt: skip

    def _children_of(self, table: TableSchema) -> list[TableSchema]:
        return [
            t
            for t in self.schema.ordered()
            if t.foreign_keys and t.foreign_keys[0].parent_table == table.name
        ]

    def _net(self, model: TableModel) -> OrderedMADE | SequenceMADE:
        c = self.config
        cardinalities = [codec.cardinality for codec in model.codecs]
        hidden, embedding = network_widths(len(cardinalities), c.hidden_size, c.embedding_size)
        trained = {k.removeprefix("made."): v for k, v in model.net_state.items()}
        if "head.weight" in trained:  # the widths it was trained with (older defaults differ)
            hidden, embedding = (
                trained["head.weight"].shape[1],
                trained["embedding.weight"].shape[1],
            )
        direct = DIRECT_MAX_CODES if len(cardinalities) > WIDE_TABLE_COLUMNS else 0
        if model.sequence is not None and model.history_network:
            # the context ends with the previous row's codes, its position and rows remaining
            end = len(model.context_cardinalities) - 2
            return SequenceMADE(
                model.context_cardinalities, cardinalities, hidden, c.layers, embedding,
                model.history_size, (end - len(cardinalities), end),
                [numeric_bins(codec) for codec in model.codecs], list(model.context_numeric),
                direct,
            )  # fmt: skip
        # the score path, on wide tables like the direct path (measured there; the narrow
        # demo tables' relations are guarded by tests that moved with earlier wide-table steps)
        scored = [numeric_bins(codec) for codec in model.codecs] if direct else None
        return OrderedMADE(
            model.context_cardinalities, cardinalities, hidden, c.layers, embedding, 0,
            list(model.context_numeric), direct, scored,
        )  # fmt: skip

    # training ------------------------------------------------------------------------------

    def check_schema(self) -> None:
        """One parent per table: a row is generated given its one parent's context."""
        for table in self.schema.ordered():
            if len(table.foreign_keys) > 1:
                raise GeneratorError(
                    f"generator '{self.name}': table '{table.name}' has several foreign "
                    "keys; only one parent per table is supported"
                )

    def _fit(self, tables: dict[str, pl.DataFrame], progress: Progress) -> None:
        rng = np.random.default_rng(np.random.randint(0, 2**31 - 1))
        self.models: dict[str, TableModel] = {}
        codes_of: dict[str, np.ndarray] = {}
        with tempfile.TemporaryDirectory(prefix="anon-autoregressive-") as scratch:
            for table in self.schema.ordered():
                if table.sequence is not None:
                    fk_column = table.foreign_keys[0].column
                    tables = {
                        **tables,
                        table.name: tables[table.name].sort(
                            [fk_column, table.sequence.order_by], maintain_order=True
                        ),
                    }
                frame, context = self._training_frame(table, tables, codes_of)
                parent_rows = frame["__row__"].to_numpy() if "__row__" in frame.columns else None
                columns = [*table.modelled_columns, *self._count_columns(table)]
                sequence = None
                if table.sequence is not None and parent_rows is not None:
                    columns, sequence, frame, position, remaining = self._sequence_layout(
                        table, frame, parent_rows
                    )
                codecs = [fit_codec(c, frame[c.name], self._protection) for c in columns]
                if sequence is not None and context is not None:
                    own = np.zeros((frame.height, len(codecs)), dtype=np.int32)
                    encode_frame(frame, codecs, own)
                    history = history_context(
                        own, [c.cardinality for c in codecs], position, remaining
                    )
                    context = np.column_stack([context, history])
                if not codecs:
                    # only keys (and identifiers): nothing to learn, its rows are keys alone
                    self.models[table.name] = TableModel(table.name, [], {}, [], {}, 0)
                    continue
                n_context = 0 if context is None else context.shape[1]
                codes = np.lib.format.open_memmap(
                    Path(scratch) / f"{table.name}.npy",
                    mode="w+",
                    dtype=np.int32,
                    shape=(frame.height, n_context + len(codecs)),
                )
                if context is not None:
                    codes[:, :n_context] = context
                encode_frame(frame, codecs, codes[:, n_context:])
                codes_of[table.name] = codes[:, n_context:]
                parent_codecs = [] if context is None else self.models[self._parent(table)].codecs
                context_cards = [c.cardinality for c in parent_codecs]
                if sequence is not None:
                    context_cards += history_cardinalities([c.cardinality for c in codecs])
                context_numeric = [numeric_bins(c) for c in parent_codecs]
                context_numeric += [None] * (len(context_cards) - len(context_numeric))
                model = TableModel(
                    table.name, codecs, {}, context_cards, {}, 0, sequence,
                    sequence is not None, self.config.history_size if sequence is not None else 0,
                    tuple(context_numeric),
                )  # fmt: skip
                n_before = len(columns) - len(self._children_of(table))
                model.children = {
                    child.name: n_before + i for i, child in enumerate(self._children_of(table))
                }
                net = self._net(model)
                # weight averaging and calibrated marginals were measured on wide tables;
                # on the narrow demo tables they moved relations and closeness the tests
                # guard (training.average_decay)
                wide = len(codecs) > WIDE_TABLE_COLUMNS
                plan = replace(self._plan(), average_weights=wide)
                if isinstance(net, OrderedMADE):
                    net.fit_scores(codes[:, n_context:])
                losses = train(net, codes, plan, progress, rng, table.name, groups=parent_rows)
                if wide and context is None and isinstance(net, OrderedMADE):
                    # a root table's rows are drawn without context: their marginals are the
                    # training rows' (a child's depend on its synthetic parents)
                    seed = int(rng.integers(2**31))
                    calibrate_marginals(net, codes, torch.Generator(self.device).manual_seed(seed))
                self.loss_curve.extend(losses)
                model.net_state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
                model.epochs = len(losses)
                self.models[table.name] = model
            codes_of.clear()

    def _sequence_layout(
        self, table: TableSchema, frame: pl.DataFrame, parent_rows: np.ndarray
    ) -> tuple[list[ColumnSchema], SequenceModel, pl.DataFrame, np.ndarray, np.ndarray]:
        """Modelled columns of a sequence table (the order column and drifting columns as
        first value + increments), how to rebuild them, the frame with those columns, and each
        row's position and rows remaining."""
        assert table.sequence is not None
        order_by = table.sequence.order_by
        drifts = {d.name: d for d in drifting_columns(frame, table, parent_rows)}
        diffed = [order_by, *drifts]
        by_name = {c.name: c for c in table.columns}
        kept = [c for c in table.modelled_columns if c.name not in diffed]
        frame, position, remaining = with_diff_columns(
            frame, [by_name[n] for n in diffed], parent_rows, order_by,
            frozenset(n for n, d in drifts.items() if d.in_step),
        )  # fmt: skip
        columns, parts = list(kept), []
        for name in diffed:
            codec = fit_codec(by_name[name], frame[name], self._protection)
            assert isinstance(codec, NumericCodec)
            drift = drifts.get(name)
            parts.append(
                DiffColumn(
                    name,
                    by_name[name].type,
                    codec.low,
                    codec.high,
                    len(columns),
                    len(columns) + 1,
                    name == order_by or (drift is not None and drift.non_negative),
                    drift is not None and drift.in_step,
                    codec.step,
                )
            )
            columns += list(diff_schemas(by_name[name]))
        columns += self._count_columns(table)
        return columns, SequenceModel(order_by, parts), frame, position, remaining

    def _parent(self, table: TableSchema) -> str:
        return table.foreign_keys[0].parent_table

    def _count_columns(self, table: TableSchema) -> list[ColumnSchema]:
        return [
            ColumnSchema(name=COUNT_PREFIX + child.name, type=ColumnType.INTEGER, role=Role.KEY)
            for child in self._children_of(table)
        ]

    def _training_frame(
        self,
        table: TableSchema,
        tables: dict[str, pl.DataFrame],
        codes_of: dict[str, np.ndarray],
    ) -> tuple[pl.DataFrame, np.ndarray | None]:
        """The table's rows with child counts added, and the parent codes of each row."""
        frame = tables[table.name]
        for child in self._children_of(table):
            fk = child.foreign_keys[0]
            counts = tables[child.name].group_by(fk.column).len(name=COUNT_PREFIX + child.name)
            frame = frame.join(
                counts,
                left_on=fk.parent_column,
                right_on=fk.column,
                how="left",
                maintain_order="left",
            ).with_columns(pl.col(COUNT_PREFIX + child.name).fill_null(0).cast(pl.Int64))
        if not table.foreign_keys:
            return frame, None
        fk = table.foreign_keys[0]
        parent_keys = tables[fk.parent_table].select(
            pl.col(fk.parent_column).alias(fk.column), pl.int_range(pl.len()).alias("__row__")
        )
        frame = frame.join(parent_keys, on=fk.column, how="inner", maintain_order="left")
        if frame.height == 0:
            raise GeneratorError(
                f"generator '{self.name}': no row of table '{table.name}' refers to a row of "
                f"'{fk.parent_table}'"
            )
        return frame, np.asarray(codes_of[fk.parent_table][frame["__row__"].to_numpy()])

    # sampling ------------------------------------------------------------------------------

    def _sample(self, root_rows: int) -> dict[str, pl.DataFrame]:
        return self._generate(root_rows, {})

    def _sample_conditioned(
        self, root_rows: int, conditions: dict[str, Any]
    ) -> dict[str, pl.DataFrame]:
        return self._generate(root_rows, conditions)

    def _sample_for_parents(self, parents: pl.DataFrame) -> dict[str, pl.DataFrame]:
        return self._generate(parents.height, {}, parents)

    def parent_notes(self, parents: pl.DataFrame) -> list[str]:
        root = self.schema.root
        notes = []
        for codec in self.models[root.name].codecs:
            if isinstance(codec, CategoricalCodec) and codec.has_rare:
                unknown = int((~codec.known(parents[codec.name]) & codec.emittable(
                    parents[codec.name])).sum())  # fmt: skip
                if unknown:
                    notes.append(
                        f"context rows of table '{root.name}', column '{codec.name}': "
                        f"{unknown} value(s) are no released category; the model reads them as "
                        f"its rare bucket (categories seen in fewer than "
                        f"{self.config.rare_category_k} training rows)"
                    )
        return notes

    def _check_parents(self, parents: pl.DataFrame) -> None:
        """GeneratorError for a value the model cannot read as a context (a category it never
        learned and no rare bucket to read it as, a number beyond the protected range, an
        unexpected null): such a parent was never learned, and its children would be guesses."""
        root = self.schema.root
        for codec in self.models[root.name].codecs:
            if codec.name.startswith(COUNT_PREFIX):
                continue
            outside = ~codec.emittable(parents[codec.name])
            if outside.any():
                rows = ", ".join(str(i + 1) for i in np.flatnonzero(outside)[:5])
                what = (
                    f"lie outside the range the model emits [{codec.low:g}, {codec.high:g}]"
                    if isinstance(codec, NumericCodec)
                    else "are categories (or nulls) the model never learned"
                )
                raise GeneratorError(
                    f"context rows of table '{root.name}', column '{codec.name}': "
                    f"{int(outside.sum())} value(s) {what} (row(s) {rows}); change or drop "
                    "those rows"
                )

    def _parent_codes(self, root: TableSchema, parents: pl.DataFrame) -> np.ndarray:
        """Rows x codecs of checked root rows: each modelled column's code, -1 where a child
        count is to be drawn."""
        model = self.models[root.name]
        given = np.full((parents.height, len(model.codecs)), -1, dtype=np.int64)
        for j, codec in enumerate(model.codecs):
            if not codec.name.startswith(COUNT_PREFIX):
                given[:, j] = codec.encode(parents[codec.name])
        return given

    def _generate(
        self, root_rows: int, conditions: dict[str, Any], parents: pl.DataFrame | None = None
    ) -> dict[str, pl.DataFrame]:
        rng = np.random.default_rng(np.random.randint(0, 2**31 - 1))
        generator = torch.Generator(device=self.device).manual_seed(int(rng.integers(2**31)))
        root = self.schema.root
        fixed_codes, fixed_values = self._conditions(root, conditions)
        out: dict[str, pl.DataFrame] = {}
        codes_of: dict[str, np.ndarray] = {}
        values_of: dict[str, pl.DataFrame] = {}
        for table in self.schema.ordered():
            model = self.models[table.name]
            if table.foreign_keys:
                parent = self._parent(table)
                counts = values_of[parent][COUNT_PREFIX + table.name].fill_null(0).to_numpy()
                per_parent = np.clip(counts, 0, None).astype(np.int64)
                context = np.repeat(codes_of[parent], per_parent, axis=0)
                fk_values = out[parent][self.schema.table(parent).primary_key or ""].gather(
                    np.repeat(np.arange(len(per_parent)), per_parent)
                )
                n_rows, fixed = int(per_parent.sum()), {}
            else:
                context, fk_values, n_rows, fixed = None, None, root_rows, fixed_codes
            given = None if table.foreign_keys or parents is None else self._parent_codes(
                table, parents
            )  # fmt: skip
            if table.foreign_keys and model.sequence is not None:
                codes = self._draw_histories(model, per_parent, codes_of[parent], generator)
                values = rebuild_order(
                    decode_codes(codes, model.codecs, rng), model.sequence, per_parent
                )
            else:
                codes = self._draw(model, n_rows, context, fixed, generator, given=given)
                values = decode_codes(codes, model.codecs, rng)
            if not table.foreign_keys:
                values = values.with_columns(
                    pl.lit(value, dtype=values[name].dtype).alias(name)
                    for name, value in fixed_values.items()
                )
            codes_of[table.name], values_of[table.name] = codes, values
            out[table.name] = (
                assemble_table(table, values, n_rows, fk_values) if given is None else parents
            )
        return out

    def _conditions(
        self, root: TableSchema, conditions: dict[str, Any]
    ) -> tuple[dict[int, int], dict[str, Any]]:
        """Codes to fix per column index, and exact values of fixed numeric columns."""
        model = self.models[root.name]
        names = [c.name for c in root.modelled_columns]
        codes: dict[int, int] = {}
        values: dict[str, Any] = {}
        for name, value in conditions.items():
            if name not in names:
                raise GeneratorError(
                    f"generator '{self.name}': cannot fix column '{name}': it is not a modelled "
                    f"column of the root table '{root.name}' (fixable: {', '.join(names)})"
                )
            codec = model.codecs[names.index(name)]
            codes[names.index(name)] = codec.code_of(value)
            if isinstance(codec, NumericCodec) and value is not None:
                # a numeric condition fixes the bin for the other columns and the exact value
                coerced = coerce_value(value, codec.type, codec.name)
                values[name] = round(coerced) if codec.type == ColumnType.INTEGER else coerced
        return codes, values

    def _draw(
        self,
        model: TableModel,
        n_rows: int,
        context: np.ndarray | None,
        fixed: dict[int, int],
        generator: torch.Generator,
        net: OrderedMADE | SequenceMADE | None = None,
        summary: torch.Tensor | None = None,
        canonical: bool = False,
        given: np.ndarray | None = None,
    ) -> np.ndarray:
        """Codes of `n_rows` rows, drawn in chunks of `sample_chunk_rows` (by `net`, or the
        table's network, reading each row's `summary` when given); `given` (rows x columns,
        -1 where drawn, the same columns in every row) fixes codes row by row."""
        width = len(model.codecs)
        if n_rows == 0 or width == 0:
            return np.zeros((0, width), dtype=np.int64)
        if net is None:
            net = self._loaded_net(model)
        chunks = []
        step = self.config.sample_chunk_rows
        for start in range(0, n_rows, step):
            rows = min(step, n_rows - start)
            fixing = (
                torch.full((rows, width), -1, dtype=torch.long)
                if given is None
                else torch.from_numpy(given[start : start + rows].astype(np.int64))
            )
            for column, code in fixed.items():
                fixing[:, column] = code
            ctx = (
                torch.zeros((rows, 0), dtype=torch.long)
                if context is None
                else torch.from_numpy(np.asarray(context[start : start + rows], dtype=np.int64))
            )
            part = None if summary is None else summary[start : start + rows]
            drawn = sample_codes(
                net, ctx.to(self.device), fixing.to(self.device), generator, part, canonical
            )
            chunks.append(drawn.cpu().numpy())
        return np.concatenate(chunks)

    def _loaded_net(self, model: TableModel) -> OrderedMADE | SequenceMADE:
        net = self._net(model)
        net.load_state_dict(model.net_state)
        return net.to(self.device).eval()

    def _draw_histories(
        self,
        model: TableModel,
        per_parent: np.ndarray,
        parent_codes: np.ndarray,
        generator: torch.Generator,
    ) -> np.ndarray:
        """Codes of every parent's history, position by position (all parents at once): each
        row given its parent, the row drawn before it, its position / rows remaining and (with a
        history network) the summary of all rows drawn before it; rows come out grouped by
        parent in position order."""
        assert model.sequence is not None
        width = len(model.codecs)
        n_rows = int(per_parent.sum())
        out = np.zeros((n_rows, width), dtype=np.int64)
        if n_rows == 0 or width == 0:
            return out
        starts = np.concatenate([[0], np.cumsum(per_parent)[:-1]]).astype(np.int64)
        cardinalities = [c.cardinality for c in model.codecs]
        previous = np.tile(np.asarray(cardinalities, dtype=np.int64), (len(per_parent), 1))
        net = self._loaded_net(model)
        history = net if isinstance(net, SequenceMADE) else None
        if history is not None:
            state = torch.zeros((len(per_parent), history.state_size), device=self.device)
        for position in range(int(per_parent.max())):
            active = np.flatnonzero(per_parent > position)
            context = np.column_stack(
                [
                    parent_codes[active],
                    previous[active],
                    bucket(np.full(len(active), position)),
                    bucket(per_parent[active] - position - 1),
                ]
            )
            fixed: dict[int, int] = {}
            for column in model.sequence.columns:
                # no increment before the first row; the first value only on the first row
                null_at = column.step_index if position == 0 else column.first_index
                if model.codecs[null_at].has_null:
                    fixed[null_at] = 0
            summary = None
            if history is not None:
                rows = torch.from_numpy(active).to(self.device)
                with torch.no_grad():
                    state[rows], summary = history.step(
                        torch.from_numpy(context.astype(np.int64)).to(self.device), state[rows]
                    )
            drawn = self._draw(
                model, len(active), context, fixed, generator, net, summary, history is not None
            )
            out[starts[active] + position] = drawn
            previous[active] = drawn
        return out

    # artifact ------------------------------------------------------------------------------

    def _state(self) -> Any:
        return {"models": self.models}

    def _restore(self, state: Any) -> None:
        self.models = state["models"]

    def _card_extras(self) -> dict[str, Any]:
        c = self.config
        return {
            "value_protection": {
                **protection_record(c, "merged into a rare bucket that emits a frequent category"),
                "within_bin_values": c.value_mode,
                "nulls": "modelled as their own category",
            },
            "marginal_calibration": (
                f"root table of more than {WIDE_TABLE_COLUMNS} columns: output biases shifted "
                f"so that {CALIBRATION_ROWS} drawn rows have "
                f"the training rows' code frequencies (columns of at most "
                f"{CALIBRATION_MAX_CODES} codes)"
            ),
            "conditionable_columns": [c.name for c in self.schema.root.modelled_columns],
            "epochs_trained": {name: m.epochs for name, m in self.models.items()},
        }
