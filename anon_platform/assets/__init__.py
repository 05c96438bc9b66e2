"""The Dagster layer: per-dataset assets and checks built from the catalog."""

from anon_platform.assets.ingestion import raw_assets, staging_assets
from anon_platform.assets.latent import latent_assets
from anon_platform.assets.preparation import prepared_assets
from anon_platform.assets.releasing import release_assets
from anon_platform.assets.reporting import report_assets
from anon_platform.assets.synthesis import generator_assets
from anon_platform.catalog import Catalog


def dataset_definitions(catalog: Catalog, dataset: str) -> list:
    """Every asset and asset check of one dataset, from raw to release."""
    return [
        *raw_assets(catalog, dataset),
        *staging_assets(catalog, dataset),
        *prepared_assets(catalog, dataset),
        *generator_assets(catalog, dataset),
        *report_assets(catalog, dataset),
        *release_assets(catalog, dataset),
        *(latent_assets(catalog, dataset) if catalog.releases[dataset].encode else []),
    ]
