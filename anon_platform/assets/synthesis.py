"""models/<generator> and synthetic/<generator> assets, and the blocking gate on the tables."""

import dagster as dg

from anon_platform.assets.common import (
    OWNERS,
    RESTRICTED,
    data_version,
    key,
    stored_tables_metadata,
)
from anon_platform.assets.gating import audited_gate
from anon_platform.catalog import Catalog
from anon_platform.executors import queue_tags
from anon_platform.generators import generator_class
from anon_platform.pipeline import steps, stored
from anon_platform.resources import AnonHome


def _generator_defs(catalog: Catalog, dataset: str, generator: str) -> list:
    backend = generator_class(generator)
    root = catalog.releases[dataset].root.name
    model_key = key(dataset, "models", generator)
    synthetic_key = key(dataset, "synthetic", generator)

    @dg.asset(
        key=model_key,
        deps=[key(dataset, "prepared", "train")],
        group_name="models",
        kinds={"python", *backend.libraries[:1], *(["pytorch"] if backend.uses_torch else [])},
        owners=OWNERS,
        tags=RESTRICTED,
        pool="gpu" if backend.uses_torch else None,
        op_tags=queue_tags(backend.uses_torch),
        description=f"`{generator}` generator trained on `{dataset}` prepared/train, stored as a "
        "versioned artifact (model.json card + state).",
    )
    def model(context: dg.AssetExecutionContext, anon_home: AnonHome) -> dg.MaterializeResult:
        zones = anon_home.zones()
        trained = steps.train(
            catalog,
            zones,
            dataset,
            generator,
            progress=lambda event: context.log.info(f"{generator}: {event.describe()}"),
        )
        card = trained.card
        context.log.info(
            f"trained {generator} on {card.rows_trained_on} rows in "
            f"{card.training_seconds} s on {card.device}"
        )
        return dg.MaterializeResult(
            metadata={
                "model_card": dg.MetadataValue.json(card.to_json()),
                "training_seconds": card.training_seconds,
                "device": card.device,
                "path": dg.MetadataValue.path(str(zones.model(dataset, generator))),
            },
            data_version=data_version(zones, dataset, f"models/{generator}"),
        )

    @dg.asset(
        key=synthetic_key,
        deps=[model_key],
        group_name="synthetic",
        kinds={"polars", "parquet"},
        owners=OWNERS,
        tags=RESTRICTED,
        description=f"Synthetic `{dataset}` tables sampled from `{generator}`; they stay in the "
        "restricted zone until every gate passed.",
    )
    def synthetic(anon_home: AnonHome) -> dg.MaterializeResult:
        zones = anon_home.zones()
        stored_tables = steps.synthesize(catalog, zones, dataset, generator)
        metadata = stored_tables_metadata(
            stored_tables.rows,
            stored_tables.schemas,
            root,
            f"Synthetic `{dataset}` from `{generator}`, sampled in {stored_tables.shards} "
            "seeded shard(s).",
        )
        metadata["copy_filter"] = dg.MetadataValue.json(
            stored.copy_filter_record(zones, dataset, generator) or {}
        )
        return dg.MaterializeResult(
            metadata=metadata, data_version=data_version(zones, dataset, f"synthetic/{generator}")
        )

    @dg.asset_check(
        asset=synthetic_key,
        name="synthetic_tables_gate",
        blocking=True,
        description="Great Expectations suite per synthetic table: columns and types as staged "
        "(identifiers excluded), categories inside the training domain, values inside the "
        "training range, no identifier value of the source, no copy of a training row that is "
        "unique on its quasi-identifiers, and at most `copies_removed_max` of the sampled rows "
        "removed as such copies by the copy filter.",
    )
    def gate(anon_home: AnonHome) -> dg.AssetCheckResult:
        zones = anon_home.zones()
        return audited_gate(
            steps.gate_synthetic(catalog, zones, dataset, generator),
            zones,
            dataset,
            generator,
            stored.source_fingerprints(catalog, zones, dataset),
        )

    return [model, synthetic, gate]


def generator_assets(catalog: Catalog, dataset: str) -> list:
    """Model, synthetic tables and their gate for every generator the dataset plans."""
    return [
        d
        for plan in catalog.releases[dataset].generators
        for d in _generator_defs(catalog, dataset, plan.name)
    ]
