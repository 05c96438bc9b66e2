"""SDV single-table synthesizers behind the platform's generator interface."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from sdv.metadata import Metadata
from sdv.single_table import GaussianCopulaSynthesizer

from anon_platform.catalog.schema import ColumnSchema, TableSchema
from anon_platform.catalog.specs import ColumnType
from anon_platform.generators.base import GeneratorParams
from anon_platform.generators.table_by_table import TableByTableGenerator

SDTYPES: dict[ColumnType, str] = {
    ColumnType.STRING: "categorical",
    ColumnType.INTEGER: "numerical",
    ColumnType.FLOAT: "numerical",
    ColumnType.BOOLEAN: "boolean",
    ColumnType.DATE: "datetime",
    ColumnType.DATETIME: "datetime",
}


MAX_CODES = 10


def sdv_metadata(
    table: TableSchema, columns: list[ColumnSchema], frame: pd.DataFrame | None = None
) -> Metadata:
    """SDV metadata of the modelled columns from the catalog's types (never auto-detected).

    An integer column with at most MAX_CODES distinct values in `frame` (a 0/1 label, a small
    count) is categorical: a continuous marginal would blur its few exact values.
    """
    spec: dict[str, dict[str, Any]] = {}
    for column in columns:
        sdtype = SDTYPES[column.type]
        if (
            column.type == ColumnType.INTEGER
            and frame is not None
            and frame[column.name].nunique(dropna=True) <= MAX_CODES
        ):
            sdtype = "categorical"
        spec[column.name] = {"sdtype": sdtype}
    return Metadata.load_from_dict({"tables": {table.name: {"columns": spec}}})


Distribution = Literal["norm", "beta", "truncnorm", "uniform", "gamma", "gaussian_kde"]


class GaussianCopulaParams(GeneratorParams):
    default_distribution: Distribution = "beta"


class GaussianCopulaGenerator(TableByTableGenerator):
    """SDV's GaussianCopulaSynthesizer per table. Params: `default_distribution`."""

    name: ClassVar[str] = "gaussian_copula"
    libraries: ClassVar[tuple[str, ...]] = ("sdv", "rdt", "copulas")
    Params: ClassVar[type[GeneratorParams]] = GaussianCopulaParams

    def _fit_table(self, table: TableSchema, frame: pd.DataFrame) -> Any:
        synthesizer = GaussianCopulaSynthesizer(
            sdv_metadata(table, table.modelled_columns, frame),
            default_distribution=self.config.default_distribution,
        )
        synthesizer.fit({table.name: frame})
        return synthesizer

    def _sample_table(self, model: Any, table: TableSchema, n_rows: int) -> pd.DataFrame:
        model.reset_sampling()
        # SDV falls back to a fixed seed of its own after reset_sampling; draw the seed from our
        # seeded NumPy state instead so that the platform's sample seed decides the rows.
        model._set_random_state(int(np.random.randint(0, 2**31 - 1)))
        sampled = model.sample(n_rows)
        return sampled[table.name] if isinstance(sampled, dict) else sampled
