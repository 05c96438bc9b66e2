"""The generator interface: fit on a dataset, sample a dataset, save and load as an artifact.

An artifact is a folder with `model.json` (the card: generator, parameters, schema, rows trained
on, training time, device, seed, library versions, training-data fingerprint) and the backend's
state. Same seed, same data, same parameters give the same synthetic rows.
"""

from __future__ import annotations

import abc
import pickle
import time
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from anon_platform.catalog.schema import DatasetSchema
from anon_platform.catalog.specs import ColumnType
from anon_platform.common.progress import Progress, no_progress
from anon_platform.common.seeding import seeded
from anon_platform.common.spelling import did_you_mean
from anon_platform.common.versions import library_versions
from anon_platform.errors import GeneratorError
from anon_platform.sources.readers import POLARS_TYPES, coerce_column, fingerprint
from anon_platform.storage import atomic_folder, read_json, write_json

CARD_FILE = "model.json"
STATE_FILE = "state.pkl"
ARTIFACT_FORMAT = 1


class GeneratorParams(BaseModel):
    """Base of a backend's parameters (from releases.yml or the CLI): unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelCard(BaseModel):
    """model.json of a trained generator, written by `save` and read by `load` only: which
    backend with which parameters and seed learned which schema from how many rows (and which
    content fingerprints), where, how fast, with what loss curve, and the privacy settings that
    constrain what it emits (`value_protection`; `differential_privacy` for a DP backend)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    generator: str
    artifact_format: int
    params: dict[str, Any]
    seed: int
    dataset_schema: DatasetSchema = Field(alias="schema")
    rows_trained_on: dict[str, int]
    training_seconds: float
    device: str
    library_versions: dict[str, str]
    training_data_fingerprint: dict[str, str]
    trained_at: str
    loss_curve: list[float] = Field(default_factory=list)
    loss: str | None = None  # what `loss_curve` holds, where a backend says
    value_protection: dict[str, Any] | None = None
    differential_privacy: dict[str, Any] | None = None
    conditionable_columns: list[str] | None = None
    epochs_trained: dict[str, int] | None = None
    # how a backend corrects its sampled marginals after training, where it does
    marginal_calibration: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The card as the JSON object model.json holds (the schema under "schema")."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def read_model_card(folder: Path) -> ModelCard:
    """The card of the generator artifact in `folder`; GeneratorError when the folder holds no
    artifact or a card this platform version cannot read."""
    card_path = folder / CARD_FILE
    if not card_path.is_file() or not (folder / STATE_FILE).is_file():
        raise GeneratorError(f"{folder} is not a generator artifact (no {CARD_FILE}/{STATE_FILE})")
    try:
        return ModelCard.model_validate(read_json(card_path))
    except ValidationError as err:
        first = err.errors()[0]
        raise GeneratorError(
            f"{card_path} is not a model card of this platform version ({err.error_count()} "
            f"problem(s), first: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}); "
            "retrain the model"
        ) from None


class Generator(abc.ABC):
    """A synthesizer of one dataset (a root table and its child tables)."""

    name: ClassVar[str]
    libraries: ClassVar[tuple[str, ...]] = ()
    uses_torch: ClassVar[bool] = False
    # a backend's parameters: a GeneratorParams subclass with typed, bounded fields and defaults
    Params: ClassVar[type[GeneratorParams]] = GeneratorParams
    # whether `sample(..., conditions=...)` can fix column values
    supports_conditions: ClassVar[bool] = False
    # whether `sample_for_parents` can draw children for given root-table rows
    supports_context: ClassVar[bool] = False

    def __init__(self, schema: DatasetSchema, params: dict[str, Any] | None = None, seed: int = 0):
        self.schema = schema
        self.config = self.validate_params(dict(params or {}))
        self.params = self.config.model_dump(mode="json")
        self.seed = seed
        self.card: ModelCard | None = None
        self.loss_curve: list[float] = []

    @classmethod
    def validate_params(cls, params: dict[str, Any]) -> GeneratorParams:
        """The backend's typed parameters; GeneratorError names each unknown or absurd one."""
        try:
            return cls.Params.model_validate(params)
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'params'}: {e['msg']}"
                + (
                    did_you_mean(str(e["loc"][0]), cls.Params.model_fields)
                    if e["type"] == "extra_forbidden" and len(e["loc"]) == 1
                    else ""
                )
                for e in err.errors()
            )
            raise GeneratorError(
                f"generator '{cls.name}': invalid parameters: {problems}"
            ) from None

    def check_schema(self) -> None:
        """Raise GeneratorError when this backend cannot train on `self.schema` with its
        parameters, whatever the rows (one table only, one parent per table, ...): what `fit`
        would refuse, told before any data is read. The default accepts every schema."""
        return

    def fit(self, tables: dict[str, pl.DataFrame], progress: Progress | None = None) -> None:
        """Learn the dataset; `tables` holds one frame per table of the schema.

        `progress` receives ProgressEvents while training; a backend that trains in steps
        appends its per-step loss to `self.loss_curve`, which the model card keeps.
        """
        self.check_schema()
        missing = [t.name for t in self.schema.tables if t.name not in tables]
        if missing:
            raise GeneratorError(f"generator '{self.name}': no training data for {missing}")
        for table in self.schema.tables:
            frame = tables[table.name]
            if frame.height == 0:
                raise GeneratorError(f"generator '{self.name}': table '{table.name}' is empty")
            absent = [c for c in table.column_names if c not in frame.columns]
            if absent:
                raise GeneratorError(
                    f"generator '{self.name}': table '{table.name}' lacks column(s) {absent}"
                )
        started = time.perf_counter()
        self.loss_curve = []
        with seeded(self.seed):
            self._fit(tables, progress or no_progress)
        self.card = ModelCard(
            generator=self.name,
            artifact_format=ARTIFACT_FORMAT,
            params=self.params,
            seed=self.seed,
            dataset_schema=self.schema,
            rows_trained_on={name: frame.height for name, frame in tables.items()},
            training_seconds=round(time.perf_counter() - started, 3),
            device=self.device,
            library_versions=library_versions(*self.libraries),
            training_data_fingerprint={name: fingerprint(tables[name]) for name in sorted(tables)},
            trained_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            loss_curve=[round(float(v), 6) for v in self.loss_curve],
            **self._card_extras(),
        )

    def sample(
        self,
        root_rows: int,
        seed: int | None = None,
        conditions: dict[str, Any] | None = None,
    ) -> dict[str, pl.DataFrame]:
        """Sample `root_rows` rows of the root table and their children, one frame per table.

        `conditions` fixes root-table columns to values (backends with `supports_conditions`).
        """
        if not self.card:
            raise GeneratorError(f"generator '{self.name}' is not fitted")
        if root_rows < 1:
            raise GeneratorError(f"cannot sample {root_rows} rows: ask for at least 1")
        if conditions and not self.supports_conditions:
            raise GeneratorError(
                f"generator '{self.name}' cannot sample with conditions; "
                "train a backend that supports them"
            )
        with seeded(self.sample_seed(seed)):
            if conditions:
                return self._sample_conditioned(root_rows, conditions)
            return self._sample(root_rows)

    def sample_for_parents(
        self, parents: pl.DataFrame, seed: int | None = None
    ) -> dict[str, pl.DataFrame]:
        """Synthetic children (and their children) for given root-table rows, e.g. a planned
        customer segment: one frame per table, the root's frame being `parents` typed as the
        schema declares, in its column order (keys 1..n issued when the primary key column is
        absent), every child pointing at one of them.

        GeneratorError when the backend cannot, the frame is empty, a column is unknown or a
        modelled one missing, or a key is null or repeated; SourceDataError for a value that is
        not of its column's type.
        """
        if not self.card:
            raise GeneratorError(f"generator '{self.name}' is not fitted")
        if not self.supports_context:
            raise GeneratorError(
                f"generator '{self.name}' cannot draw children for given parent rows; "
                "train 'autoregressive' for that"
            )
        root = self.typed_parents(parents)
        with seeded(self.sample_seed(seed)):
            return self._sample_for_parents(root)

    def typed_parents(self, parents: pl.DataFrame) -> pl.DataFrame:
        """`parents` checked against the root table and typed as it declares, in its column
        order, keys 1..n added when the primary key column is absent (the errors of
        `sample_for_parents`); typing again what it returned changes nothing."""
        root = self.schema.root
        where = f"context rows of table '{root.name}'"
        if parents.height == 0:
            raise GeneratorError(f"{where}: no rows; give at least one parent row")
        known = {c.name: c for c in root.columns}
        unknown = [c for c in parents.columns if c not in known]
        if unknown:
            raise GeneratorError(
                f"{where}: unknown column(s) {', '.join(unknown)}"
                f"{did_you_mean(unknown[0], known)}; the model knows {', '.join(known)}"
            )
        missing = [c.name for c in root.modelled_columns if c.name not in parents.columns]
        if missing:
            raise GeneratorError(
                f"{where}: missing column(s) {', '.join(missing)}; every modelled column of "
                f"'{root.name}' must be given ({', '.join(c.name for c in root.modelled_columns)})"
            )
        columns = [
            coerce_column(root.name, parents[c.name], c.type)
            for c in root.columns
            if c.name in parents.columns
        ]
        typed = pl.DataFrame(columns)
        self._check_parents(typed)
        key = root.primary_key
        if key is None:
            return typed
        if key not in typed.columns:
            numbers = pl.int_range(1, typed.height + 1, eager=True)
            values = numbers if known[key].type == ColumnType.INTEGER else numbers.cast(pl.String)
            typed = typed.with_columns(values.cast(POLARS_TYPES[known[key].type]).alias(key))
            return typed.select([c.name for c in root.columns if c.name in typed.columns])
        if typed[key].null_count() or typed[key].is_duplicated().any():
            raise GeneratorError(
                f"{where}: key column '{key}' holds null or repeated values; give each parent "
                "row its own key (or leave the column out to have keys 1..n issued)"
            )
        return typed

    def _check_parents(self, parents: pl.DataFrame) -> None:
        """Raise GeneratorError for typed parent rows the backend cannot read as a context."""
        return

    def parent_notes(self, parents: pl.DataFrame) -> list[str]:
        """What a user should know about how the model reads typed parent rows (values it
        reads as something else, e.g. as a rare bucket); [] when nothing. Never raw values."""
        return []

    def _sample_for_parents(self, parents: pl.DataFrame) -> dict[str, pl.DataFrame]:
        raise GeneratorError(f"generator '{self.name}' cannot draw children for given parents")

    def sample_seed(self, seed: int | None = None) -> int:
        """The seed `sample` draws with: `seed`, else the model's training seed + 1."""
        return self.seed + 1 if seed is None else seed

    @property
    def device(self) -> str:
        """Where the backend trains: 'cuda' or 'cpu'."""
        return "cpu"

    def _card_extras(self) -> dict[str, Any]:
        """Backend-specific entries of the model card (privacy settings, budget, ...)."""
        return {}

    def _sample_conditioned(self, root_rows: int, conditions: dict[str, Any]) -> dict:
        raise GeneratorError(f"generator '{self.name}' cannot sample with conditions")

    def save(self, folder: Path) -> Path:
        """Write the artifact (card + state) to `folder`, all or nothing."""
        if not self.card:
            raise GeneratorError(f"generator '{self.name}' is not fitted; nothing to save")
        with atomic_folder(folder) as tmp:
            write_json(self.card.to_json(), tmp / CARD_FILE)
            with (tmp / STATE_FILE).open("wb") as handle:
                pickle.dump(self._state(), handle)
        return folder

    @classmethod
    def load(cls, folder: Path) -> Generator:
        """Load an artifact written by `save` of the same backend."""
        card = read_model_card(folder)
        if card.generator != cls.name:
            raise GeneratorError(f"{folder} holds a '{card.generator}' model, not '{cls.name}'")
        generator = cls(card.dataset_schema, card.params, card.seed)
        with (folder / STATE_FILE).open("rb") as handle:
            generator._restore(pickle.load(handle))
        generator.card = card
        return generator

    @abc.abstractmethod
    def _fit(self, tables: dict[str, pl.DataFrame], progress: Progress) -> None: ...

    @abc.abstractmethod
    def _sample(self, root_rows: int) -> dict[str, pl.DataFrame]: ...

    @abc.abstractmethod
    def _state(self) -> Any: ...

    @abc.abstractmethod
    def _restore(self, state: Any) -> None: ...
