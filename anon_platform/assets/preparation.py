"""prepared/train and prepared/holdout: the deterministic split of a dataset."""

import dagster as dg

from anon_platform.assets.common import OWNERS, RESTRICTED, data_version, key, tables_metadata
from anon_platform.catalog import Catalog
from anon_platform.pipeline import steps
from anon_platform.resources import AnonHome


def prepared_assets(catalog: Catalog, dataset: str) -> list[dg.AssetsDefinition]:
    release = catalog.releases[dataset]
    root = release.root
    deps = [key(dataset, "staging", t.model) for t in release.tables]

    def spec(split: str, text: str) -> dg.AssetSpec:
        return dg.AssetSpec(
            key(dataset, "prepared", split),
            deps=deps,
            group_name="prepared",
            kinds={"polars", "parquet"},
            owners=OWNERS,
            tags=RESTRICTED,
            description=text,
        )

    @dg.multi_asset(
        name=f"{dataset}_prepare_split",
        specs=[
            spec(
                "train",
                f"Training split of `{dataset}` ({1 - release.holdout_fraction:.0%} of "
                f"`{root.name}`, stratified on `{root.target}`; children follow their parent). "
                "The only data a generator sees.",
            ),
            spec(
                "holdout",
                f"Holdout split of `{dataset}` ({release.holdout_fraction:.0%}, seed "
                f"{release.seed}). Never shown to a generator; the reference for privacy metrics.",
            ),
        ],
    )
    def prepare(context: dg.AssetExecutionContext, anon_home: AnonHome):
        zones = anon_home.zones()
        train, holdout = steps.prepare(catalog, zones, dataset)
        for split, tables in (("train", train), ("holdout", holdout)):
            yield dg.MaterializeResult(
                asset_key=key(dataset, "prepared", split),
                metadata=tables_metadata(tables, root.name, f"`{split}` split of `{dataset}`."),
                data_version=data_version(zones, dataset, f"prepared/{split}"),
            )

    return [prepare]
