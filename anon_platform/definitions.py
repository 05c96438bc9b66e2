"""The code location: one Definitions object built from the catalog."""

from __future__ import annotations

import dagster as dg

from anon_platform.assets import dataset_definitions
from anon_platform.catalog import Catalog, load_catalog
from anon_platform.jobs import pipeline_job
from anon_platform.resources import AnonHome


def build_definitions(catalog: Catalog, anon_home: str = "") -> dg.Definitions:
    """Assets, checks and jobs of every dataset in `catalog`, on the given ANON_HOME."""
    assets, checks = [], []
    for dataset in catalog.releases:
        for definition in dataset_definitions(catalog, dataset):
            (checks if isinstance(definition, dg.AssetChecksDefinition) else assets).append(
                definition
            )
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[pipeline_job(dataset) for dataset in catalog.releases],
        resources={"anon_home": AnonHome(path=anon_home)},
    )


defs = build_definitions(load_catalog())
