"""models/<generator> and synthetic/<generator> assets, and the blocking gate on the tables."""

import dagster as dg

from anon_platform import steps
from anon_platform.assets.common import OWNERS, RESTRICTED, key, tables_metadata
from anon_platform.catalog import Catalog
from anon_platform.gates import GateResult
from anon_platform.generators import generator_class
from anon_platform.resources import AnonHome


def gate_check_result(result: GateResult) -> dg.AssetCheckResult:
    """A gate as a check result whose metadata explains a failure without opening the logs."""
    metadata: dict = {"summary": dg.MetadataValue.md(result.markdown())}
    for index, e in enumerate(result.expectations):
        metadata[f"{index:02d} {e.name}"] = dg.MetadataValue.json(
            {
                "passed": e.passed,
                "observed": e.observed,
                "threshold": e.threshold,
                "detail": e.detail,
            }
        )
    return dg.AssetCheckResult(
        passed=result.passed, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata
    )


def _generator_defs(catalog: Catalog, dataset: str, generator: str) -> list:
    backend = generator_class(generator)
    root = catalog.releases[dataset].root.name
    model_key = key(dataset, "models", generator)
    synthetic_key = key(dataset, "synthetic", generator)

    @dg.asset(
        key=model_key,
        deps=[key(dataset, "prepared", "train")],
        group_name="models",
        kinds={"python", *backend.libraries[:1]},
        owners=OWNERS,
        tags=RESTRICTED,
        pool="gpu" if backend.uses_torch else None,
        description=f"`{generator}` generator trained on `{dataset}` prepared/train, stored as a "
        "versioned artifact (model.json card + state).",
    )
    def model(context: dg.AssetExecutionContext, anon_home: AnonHome) -> dg.MaterializeResult:
        trained = steps.train(
            catalog,
            anon_home.zones(),
            dataset,
            generator,
            progress=lambda event: context.log.info(f"{generator}: {event.describe()}"),
        )
        card = trained.card
        context.log.info(
            f"trained {generator} on {card['rows_trained_on']} rows in "
            f"{card['training_seconds']} s on {card['device']}"
        )
        return dg.MaterializeResult(
            metadata={
                "model_card": dg.MetadataValue.json(card),
                "training_seconds": float(card["training_seconds"]),
                "device": card["device"],
                "path": dg.MetadataValue.path(str(anon_home.zones().model(dataset, generator))),
            }
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
        tables = steps.synthesize(catalog, anon_home.zones(), dataset, generator)
        return dg.MaterializeResult(
            metadata=tables_metadata(tables, root, f"Synthetic `{dataset}` from `{generator}`.")
        )

    @dg.asset_check(
        asset=synthetic_key,
        name="synthetic_tables_gate",
        blocking=True,
        description="Schema equals staging's (identifiers excluded) and no identifier value of "
        "the source appears in any synthetic cell.",
    )
    def gate(anon_home: AnonHome) -> dg.AssetCheckResult:
        return gate_check_result(
            steps.gate_synthetic(catalog, anon_home.zones(), dataset, generator)
        )

    return [model, synthetic, gate]


def generator_assets(catalog: Catalog, dataset: str) -> list:
    """Model, synthetic tables and their gate for every generator the dataset plans."""
    return [
        d
        for plan in catalog.releases[dataset].generators
        for d in _generator_defs(catalog, dataset, plan.name)
    ]
