"""Typed specs of the catalog: raw tables with their columns and roles, and release plans."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from anon_platform.catalog.cron import is_valid_cron

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# the fewest rows a table may have to be synthesized (sources.yml `min_rows`, `anon train
# --min-rows`): a generator learning from a handful of people reproduces them
MIN_ROWS = 50
# root rows sampled per shard (releases.yml `shard_rows`, `anon generate --shard-rows`;
# anon_platform/generators/shards.py). The demo's 4,000 train customers sample in one shard.
# Parent-context matching of children to parents grows with the square of a shard's parents:
# 20,000 demo customers took 103 s and 4.1 GB in one shard, 35 s and 1.4 GB in four
# (docs/scale-out.md, "Big tables")
DEFAULT_SHARD_ROWS = 20_000
MIN_SHARD_ROWS = 100
MAX_SHARD_ROWS = 10_000_000


class Strict(BaseModel):
    """Base for every catalog spec: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Role(StrEnum):
    """What a column means for privacy and utility (see DESIGN.md, 'Column roles')."""

    IDENTIFIER = "identifier"
    QUASI_IDENTIFIER = "quasi_identifier"
    SENSITIVE = "sensitive"
    TARGET = "target"
    KEY = "key"
    ATTRIBUTE = "attribute"


class ColumnType(StrEnum):
    """Logical column types a raw table may declare."""

    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"


class ColumnSpec(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    type: ColumnType
    role: Role = Role.ATTRIBUTE
    nullable: bool = True
    description: str = ""


class ForeignKey(Strict):
    """`column` of this table refers to `references` = '<table>.<column>' of the same dataset."""

    column: str
    references: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")

    @property
    def parent_table(self) -> str:
        return self.references.split(".", 1)[0]

    @property
    def parent_column(self) -> str:
        return self.references.split(".", 1)[1]


SEQUENCE_ORDER_TYPES = ("integer", "float", "date", "datetime")


class SequenceSpec(Strict):
    """A child table whose rows of one parent form an ordered history, ordered by `order_by`
    (a date, datetime or number column; README, "Sequences")."""

    order_by: str = Field(pattern=NAME_PATTERN)


def sequence_problem(
    sequence: SequenceSpec, column_types: dict[str, str], foreign_keys: tuple[ForeignKey, ...]
) -> str | None:
    """What is wrong with a table's `sequence` given its column types, or None when it holds:
    the table has a parent, and `order_by` names one of its date, datetime or number columns."""
    if not foreign_keys:
        return "a sequence needs a parent table (a foreign key): its rows are one parent's history"
    column = sequence.order_by
    if column not in column_types:
        return f"order_by '{column}' is not a column of the table ({', '.join(column_types)})"
    if str(column_types[column]) not in SEQUENCE_ORDER_TYPES:
        return (
            f"order_by '{column}' is of type {column_types[column]}; it must be one of "
            f"{', '.join(SEQUENCE_ORDER_TYPES)}"
        )
    if column in {fk.column for fk in foreign_keys}:
        return f"order_by '{column}' is the foreign key, not an order"
    return None


class FileLocation(Strict):
    """A csv or parquet file; a relative path is relative to the folder holding sources.yml."""

    path: Path
    format: Literal["csv", "parquet"] | None = None

    @property
    def resolved_format(self) -> str:
        if self.format:
            return self.format
        suffixes = [s.lower() for s in self.path.suffixes]
        if ".parquet" in suffixes:
            return "parquet"
        return "csv"


class SqlLocation(Strict):
    """A table in any SQLAlchemy database; the URL comes from `url` or the env var `url_env`."""

    table: str
    db_schema: str | None = Field(default=None, alias="schema")
    url: str | None = None
    url_env: str | None = None
    change_column: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        description="a column such as updated_at whose max() tells that the table changed",
    )

    @model_validator(mode="after")
    def _one_url(self) -> SqlLocation:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of 'url' or 'url_env'")
        return self


class TableSpec(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    location: FileLocation | SqlLocation
    primary_key: str | None = None
    foreign_keys: tuple[ForeignKey, ...] = ()
    columns: tuple[ColumnSpec, ...] = Field(min_length=1)
    min_rows: int = Field(default=MIN_ROWS, ge=1)

    @field_validator("columns")
    @classmethod
    def _unique_columns(cls, columns: tuple[ColumnSpec, ...]) -> tuple[ColumnSpec, ...]:
        seen: set[str] = set()
        for column in columns:
            if column.name in seen:
                raise ValueError(f"column '{column.name}' is declared twice")
            seen.add(column.name)
        return columns

    @model_validator(mode="after")
    def _keys_are_columns(self) -> TableSpec:
        names = self.column_names
        if self.primary_key is not None and self.primary_key not in names:
            raise ValueError(f"primary_key '{self.primary_key}' is not a declared column")
        for fk in self.foreign_keys:
            if fk.column not in names:
                raise ValueError(f"foreign key column '{fk.column}' is not a declared column")
        return self

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnSpec:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


class SourceSpec(Strict):
    """One dataset's raw tables (a dataset is named after its source)."""

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    tables: tuple[TableSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _references_resolve(self) -> SourceSpec:
        tables = {t.name: t for t in self.tables}
        if len(tables) != len(self.tables):
            raise ValueError("table names must be unique within a source")
        for table in self.tables:
            for fk in table.foreign_keys:
                parent = tables.get(fk.parent_table)
                if parent is None:
                    raise ValueError(
                        f"table '{table.name}': foreign key '{fk.column}' references unknown "
                        f"table '{fk.parent_table}'"
                    )
                if fk.parent_column not in parent.column_names:
                    raise ValueError(
                        f"table '{table.name}': foreign key '{fk.column}' references unknown "
                        f"column '{fk.references}'"
                    )
        return self

    def table(self, name: str) -> TableSpec:
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(name)


class SourcesFile(Strict):
    version: Literal[1] = 1
    sources: tuple[SourceSpec, ...] = Field(min_length=1)


class Thresholds(Strict):
    """Gate thresholds of a dataset; the defaults are the safe ones.

    Every metric is judged against its real-data reference measured in the same report (the
    holdout scored against train, or the value unseen rows score by construction) with a
    bootstrap band: a rule fails when the synthetic table is worse than the reference by more
    than the band plus the metric's `*_tolerance`. The absolute limits (`*_min`, `*_max`) are
    gross-failure limits set below what real data scores; for the privacy metrics they are the
    limits inside which a value passes even when significantly worse than the reference, and a
    value beyond them passes only when a test cannot tell it from real data at the given alpha
    (small samples then cannot fail on noise alone; a large excess always fails). A report
    without a reference is judged on the absolute limit alone.
    """

    # fidelity (SDMetrics QualityReport properties; discriminator AUC of synthetic vs train)
    quality_min: float = Field(default=0.60, ge=0.0, le=1.0, description="gross-failure floor")
    quality_tolerance: float = Field(default=0.12, ge=0.0, le=1.0)
    column_shapes_min: float = Field(default=0.60, ge=0.0, le=1.0)
    column_shapes_tolerance: float = Field(default=0.12, ge=0.0, le=1.0)
    column_pair_trends_min: float = Field(default=0.55, ge=0.0, le=1.0)
    column_pair_trends_tolerance: float = Field(
        default=0.40,
        ge=0.0,
        le=1.0,
        description="SDMetrics' pair trends is harsh on copulas: GaussianCopula read 0.61-0.62 "
        "on the demo's transactions against a holdout reference of 0.95",
    )
    discriminator_auc_max: float = Field(
        default=0.95,
        ge=0.5,
        le=1.0,
        description="gross-failure limit; 1.0 means trivially told apart",
    )
    discriminator_auc_tolerance: float = Field(
        default=0.40,
        ge=0.0,
        le=0.5,
        description="AUC above the holdout's (0.40 over a reference of 0.5 = SDMetrics' "
        "detection score 0.2)",
    )
    # utility: train-synthetic-test-real over train-real-test-real, same model family
    utility_ratio_min: float = Field(default=0.90, ge=0.0, le=2.0)
    # privacy
    dcr_share_max: float = Field(default=0.52, ge=0.0, le=1.0)
    dcr_share_alpha: float = Field(
        default=0.05, gt=0.0, lt=0.5, description="alpha of the DCR share, tail and NNDR tests"
    )
    dcr_tail_ratio_min: float = Field(
        default=0.80,
        ge=0.0,
        le=1.0,
        description="5th-percentile DCR syn->train over syn->holdout",
    )
    nndr_tail_ratio_min: float = Field(
        default=0.80,
        ge=0.0,
        le=1.0,
        description="5th-percentile NNDR syn->train over syn->holdout",
    )
    identical_match_alpha: float = Field(default=0.05, gt=0.0, lt=0.5)
    rare_value_tolerance: float = Field(
        default=0.01,
        ge=0.0,
        le=1.0,
        description="share of rows holding a rare training category beyond what holdout rows "
        "hold (worst column), above the band",
    )
    risk_max: float = Field(
        default=0.10,
        ge=0.0,
        le=1.0,
        description="upper confidence bound of every Anonymeter risk; above it, the risk passes "
        "only when its estimate is not above 0 (what real unseen rows score) by more than its "
        "band plus risk_tolerance",
    )
    risk_tolerance: float = Field(
        default=0.10,
        ge=0.0,
        le=1.0,
        description="how far the risk estimate may lie above 0 beyond its band (the calibration "
        "suite: real unseen rows read estimates up to 0.30 with bands of 0.15-0.26 on 300 rows)",
    )
    membership_tpr_max: float = Field(
        default=0.01,
        ge=0.0,
        le=1.0,
        description="density-ratio membership attack (evaluation/membership.py): TPR at 1 % FPR, "
        "on all candidates and on the outliers, must not be significantly above this (the rule "
        "applies only where the exact exchangeability test rejects 'the attack learned nothing' "
        "at membership_alpha; evaluation/membership.py tpr_p_value)",
    )
    membership_alpha: float = Field(
        default=0.01, gt=0.0, lt=0.5, description="alpha of the membership attack's TPR test"
    )
    sequence_tolerance: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="sequence tables: how much worse than the holdout's own score each sequence "
        "metric may be (order distinct, lag-1 autocorrelation gap, transition TVD, inter-event "
        "and length KS)",
    )
    domain_alpha: float = Field(
        default=0.01,
        gt=0.0,
        lt=0.5,
        description="synthetic-table gate: a column fails 'inside the training domain / range' "
        "when its share of values outside is significantly above the holdout's own share "
        "(one-sided exact test at domain_alpha, Bonferroni over the dataset's columns)",
    )
    k_anonymity_min: int = Field(
        default=1,
        ge=1,
        description="smallest class of released rows on the quasi-identifiers; 1 = reported "
        "only (synthetic rows are not people; raise it when released rows are linked to real ones)",
    )
    copies_removed_max: float = Field(
        default=0.001,
        ge=0.0,
        le=1.0,
        description="share of a table's sampled rows the copy filter may remove as copies of "
        "training rows unique on their quasi-identifiers (chance collisions); above it the "
        "generator is copying, and the synthetic-table gate fails",
    )


class EvaluationSettings(Strict):
    """How the quality report measures; the defaults suit 1k-300k rows on two cores.

    Attack counts and sample sizes are upper bounds: each is cut to the rows there are (an
    Anonymeter attack never exceeds the control set), so small datasets stay fast.
    """

    singling_out_attacks: int = Field(default=500, ge=10, le=100_000)
    multivariate_singling_out: bool = True
    linkability_attacks: int = Field(default=500, ge=10, le=100_000)
    inference_attacks: int = Field(default=500, ge=10, le=100_000)
    confidence_level: float = Field(default=0.95, gt=0.5, lt=1.0)
    discriminator_rows: int = Field(
        default=20_000, ge=100, le=1_000_000, description="rows per class, at most"
    )
    utility_rows: int = Field(default=50_000, ge=100, le=5_000_000)
    rare_value_k: int = Field(
        default=20,
        ge=2,
        le=100_000,
        description="a category held by fewer training rows is rare: reproducing it more often "
        "than holdout rows do is column-level leakage (the value protection's rare_category_k)",
    )
    plot_min_count: int = Field(
        default=10,
        ge=1,
        description="real-data histogram bins and categories with fewer rows are not drawn",
    )
    shadow_targets: int = Field(
        default=3,
        ge=0,
        le=50,
        description="weekly full evaluation only: the shadow-model membership attack's target "
        "records (the most vulnerable training units); 0 turns it off",
    )
    shadow_runs: int = Field(
        default=5,
        ge=2,
        le=200,
        description="shadow datasets per target and side (with / without it): the generator is "
        "retrained 2 * shadow_targets * shadow_runs times",
    )
    shadow_rows: int = Field(
        default=300, ge=20, le=100_000, description="root rows of each shadow dataset"
    )
    html: bool = True


class ReleasePolicy(Strict):
    """Which generators' outputs a dataset releases.

    mode `each`: every generator whose gates pass is released (its own version folder).
    mode `best`: only the generator that ranks first by `rank_by` among the planned generators
    whose current report passes every gate.
    """

    mode: Literal["each", "best"] = "each"
    rank_by: Literal["quality", "utility_ratio", "discriminator_auc", "dcr_share", "risk"] = (
        "quality"
    )


class GeneratorPlan(Strict):
    """A generator to train for a dataset, with its backend parameters."""

    name: str = Field(pattern=NAME_PATTERN)
    params: dict[str, Any] = Field(default_factory=dict)


FakeKind = Literal[
    "name",
    "first_name",
    "last_name",
    "email",
    "phone",
    "national_id",
    "iban",
    "address",
    "username",
    "token",
]


class ReleaseTable(Strict):
    """A staging model that a dataset's release synthesizes, with its keys and target."""

    name: str = Field(pattern=NAME_PATTERN, description="name of the table in the release")
    model: str = Field(pattern=NAME_PATTERN, description="the staging model it is made from")
    primary_key: str | None = None
    foreign_keys: tuple[ForeignKey, ...] = ()
    target: str | None = None
    roles: dict[str, Role] = Field(
        default_factory=dict,
        description="roles of columns the model derives; others inherit the source's role",
    )
    fake: dict[str, FakeKind] = Field(
        default_factory=dict,
        description="identifier columns the release needs, filled with fake values of this "
        "kind that never equal a source value (never learned by a generator)",
    )
    sequence: SequenceSpec | None = Field(
        default=None, description="the table's rows of one parent form a history in this order"
    )


class LatentDP(Strict):
    """Per-record clipping and Gaussian noise on released codes (see anon_platform/latent/noise.py
    for the mechanism, its proof sketch and what it does not cover)."""

    epsilon: float = Field(gt=0.0, le=100.0)
    delta: float = Field(default=1e-5, gt=0.0, lt=1.0)
    clip: float = Field(default=1.0, gt=0.0, description="L2 norm each code is clipped to")
    mechanism: Literal["analytic", "classic"] = Field(
        default="analytic",
        description="analytic Gaussian mechanism (any epsilon) or the classic bound (epsilon < 1)",
    )


class LatentThresholds(Strict):
    """Gates of a latent release; the defaults are the safe ones."""

    utility_drop_max: float = Field(
        default=0.03, ge=0.0, le=1.0, description="raw-feature AUC (or R^2) minus codes' score"
    )
    reconstruction_advantage_max: float = Field(
        default=0.10,
        ge=0.0,
        le=1.0,
        description="inversion from leaked (code, row) pairs, sensitive and quasi-identifier "
        "columns, over guessing from the marginals",
    )
    attribute_inference_gain_max: float = Field(
        default=0.02, ge=0.0, le=1.0, description="AUC gain of codes over quasi-identifiers"
    )


class LatentPrivacy(Strict):
    """How an encoder is trained to keep quasi-identifiers and sensitive columns out of its codes
    (anon_platform/latent/privacy.py: the objectives, what each claims and what was measured).
    Every part is judged by the gate's own attackers, trained after the fact on the released
    codes, never by the training adversary."""

    task_weight: float = Field(
        default=0.0, ge=0.0, le=100.0, description="weight of predicting the target from the code"
    )
    reconstruct: Literal["all", "attributes", "none"] = Field(
        default="all",
        description="columns the decoder must rebuild: all, only plain attributes (not "
        "quasi-identifiers or sensitive ones), or none (a purely task-aware bottleneck)",
    )
    vib_beta: float | None = Field(
        default=None,
        ge=0.0,
        le=100.0,
        description="variational information bottleneck: weight of KL(q(z|x) || N(0, I)) "
        "(dense bottleneck only; the released code is the posterior mean)",
    )
    adversary_weight: float = Field(
        default=0.0,
        ge=0.0,
        le=100.0,
        description="gradient-reversal heads recovering each quasi-identifier and sensitive "
        "column from the code",
    )
    k_anonymous: int | None = Field(
        default=None,
        ge=2,
        le=100_000,
        description="snap codes to a codebook of prototypes, each the code of >= k training rows",
    )


# The shipped privacy-trained setting (`anon encoder train` without --privacy; the demo's latent
# release): the frontier it was chosen from is in benchmarks/RESULTS.md, "Latent encodings".
SHIPPED_LATENT_PRIVACY = LatentPrivacy(
    task_weight=1.0, reconstruct="none", vib_beta=10.0, adversary_weight=5.0, k_anonymous=200
)
SHIPPED_LATENT_SHAPE: dict[str, Any] = {"bottleneck": "dense", "dense_size": 2}


class LatentSettings(Strict):
    """How a dataset's encoder is trained and its codes are released (used when `encode`)."""

    table: str | None = Field(default=None, description="table to encode; default: the root")
    bottleneck: Literal["sparse", "dense", "pca"] = Field(
        default="sparse",
        description="k-WTA sparse code, small dense code, or the linear PCA reference "
        "(dense_size components, no training)",
    )
    code_size: int = Field(default=256, ge=16, le=4096, description="units of a sparse code")
    active_fraction: float = Field(
        default=0.05, ge=0.01, le=0.10, description="share of active units of a sparse code"
    )
    dense_size: int = Field(default=8, ge=2, le=256, description="size of a dense code")
    hidden: int = Field(default=128, ge=8, le=4096)
    epochs: int = Field(default=60, ge=1, le=2000)
    patience: int = Field(default=6, ge=1, le=100)
    batch_size: int = Field(default=256, ge=8, le=65_536)
    learning_rate: float = Field(default=1e-3, gt=0.0, le=1.0)
    validation_fraction: float = Field(default=0.1, gt=0.0, lt=0.5)
    attack_fractions: tuple[Annotated[float, Field(gt=0.0, lt=1.0)], ...] = Field(
        default=(0.01, 0.10), min_length=1, description="leaked shares of (code, row) pairs"
    )
    dp: LatentDP | None = None
    privacy: LatentPrivacy | None = Field(
        default=None, description="privacy training; none: a plain autoencoder (or PCA)"
    )
    thresholds: LatentThresholds = Field(default_factory=LatentThresholds)

    @model_validator(mode="after")
    def _privacy_fits_bottleneck(self) -> LatentSettings:
        privacy = self.privacy
        if privacy is None:
            return self
        if self.bottleneck == "pca" and privacy != LatentPrivacy(k_anonymous=privacy.k_anonymous):
            raise ValueError("a pca bottleneck is not trained: only privacy.k_anonymous applies")
        if privacy.vib_beta is not None and self.bottleneck != "dense":
            raise ValueError("privacy.vib_beta needs the dense bottleneck")
        if privacy.reconstruct != "all" and privacy.task_weight == 0.0:
            raise ValueError(
                f"privacy.reconstruct '{privacy.reconstruct}' needs task_weight > 0: "
                "the code would learn nothing"
            )
        return self

    @property
    def active_units(self) -> int:
        """k of the k-winners-take-all layer (sparse), or the dense code size."""
        if self.bottleneck != "sparse":
            return self.dense_size
        return max(1, round(self.code_size * self.active_fraction))

    @property
    def width(self) -> int:
        """Numbers per code."""
        return self.code_size if self.bottleneck == "sparse" else self.dense_size


class DatasetRelease(Strict):
    """What to release for one dataset and under which gates."""

    name: str = Field(pattern=NAME_PATTERN)
    tables: tuple[ReleaseTable, ...] = Field(min_length=1)
    generators: tuple[GeneratorPlan, ...] = Field(min_length=1)
    holdout_fraction: float = Field(default=0.2, gt=0.0, lt=0.9)
    seed: int = Field(default=0, ge=0)
    synthetic_rows: int | None = Field(
        default=None,
        gt=0,
        description="rows of the root table to sample; default: as many as train",
    )
    shard_rows: int = Field(
        default=DEFAULT_SHARD_ROWS,
        ge=MIN_SHARD_ROWS,
        le=MAX_SHARD_ROWS,
        description="root rows sampled per seeded shard: the synthesize step holds one shard "
        "at a time (generators/shards.py); the rows depend on it, never on how many workers",
    )
    dcr_sample_rows: int = Field(default=2000, ge=50, le=200_000)
    encode: bool = False
    latent: LatentSettings = Field(default_factory=LatentSettings)
    auto_release: bool = Field(
        default=False,
        description="release by declarative automation once every upstream blocking check passed",
    )
    release: ReleasePolicy = Field(default_factory=ReleasePolicy)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    thresholds: Thresholds = Field(default_factory=Thresholds)

    @model_validator(mode="after")
    def _tables_consistent(self) -> DatasetRelease:
        names = [t.name for t in self.tables]
        if len(set(names)) != len(names):
            raise ValueError("release table names must be unique")
        gens = [g.name for g in self.generators]
        if len(set(gens)) != len(gens):
            raise ValueError("generator names must be unique within a dataset")
        for table in self.tables:
            for fk in table.foreign_keys:
                if fk.parent_table not in names:
                    raise ValueError(
                        f"table '{table.name}': foreign key '{fk.column}' references "
                        f"'{fk.parent_table}', which is not a table of this release"
                    )
                if fk.parent_table == table.name:
                    raise ValueError(f"table '{table.name}': self-references are not supported")
        roots = [t for t in self.tables if not t.foreign_keys]
        if len(roots) != 1:
            raise ValueError(
                "a release needs exactly one root table (a table without foreign keys); "
                f"found {len(roots)}"
            )
        return self

    @model_validator(mode="after")
    def _latent_table_known(self) -> DatasetRelease:
        names = [t.name for t in self.tables]
        if self.latent.table is not None and self.latent.table not in names:
            raise ValueError(
                f"latent.table '{self.latent.table}' is not a table of this release "
                f"({', '.join(names)})"
            )
        return self

    @property
    def root(self) -> ReleaseTable:
        return next(t for t in self.tables if not t.foreign_keys)

    def table(self, name: str) -> ReleaseTable:
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(name)


class ScheduleSettings(Strict):
    """A schedule: off unless enabled, with its cron string and timezone."""

    enabled: bool = False
    cron: str
    timezone: str = "UTC"

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, cron: str) -> str:
        if not is_valid_cron(cron):
            raise ValueError(f"'{cron}' is not a valid cron string")
        return cron

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, timezone: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone '{timezone}'") from None
        return timezone


class SensorSettings(Strict):
    """The source-change sensor: off unless enabled, and how often it looks."""

    enabled: bool = False
    interval_seconds: int = Field(default=60, ge=5, le=86_400)


class AutomationSettings(Strict):
    """What keeps the datasets current without a person (all off by default)."""

    source_sensor: SensorSettings = Field(default_factory=SensorSettings)
    nightly_refresh: ScheduleSettings = Field(
        default_factory=lambda: ScheduleSettings(cron="0 2 * * *")
    )
    weekly_evaluation: ScheduleSettings = Field(
        default_factory=lambda: ScheduleSettings(cron="0 4 * * 0")
    )


class ReleasesFile(Strict):
    version: Literal[1] = 1
    datasets: tuple[DatasetRelease, ...] = Field(min_length=1)
    automation: AutomationSettings = Field(default_factory=AutomationSettings)
