"""models/encoder, latent/codes (with the blocking latent gate) and release/latent assets."""

import dagster as dg
import polars as pl

from anon_platform.assets.common import (
    OWNERS,
    RELEASED,
    RESTRICTED,
    column_schema,
    data_version,
    key,
    table_metadata,
)
from anon_platform.assets.gating import audited_gate
from anon_platform.catalog import Catalog
from anon_platform.executors import queue_tags
from anon_platform.instance import GPU_POOL
from anon_platform.pipeline import latent_steps, stored
from anon_platform.release import ReleaseManifest, release_version
from anon_platform.resources import AnonHome


def _encoder_summary(card: dict) -> str:
    sparsity = (
        f"{card['active_units']} of {card['code_size']} units active per code "
        f"({card['active_fraction']:.1%}); dead units {card['dead_units']}"
        if card["bottleneck"] == "sparse"
        else f"dense code of {card['code_size']} numbers"
    )
    lines = [
        f"Encoder of `{card['table']}` ({card['bottleneck']} bottleneck): {sparsity}. Trained on "
        f"{card['rows_trained_on'][card['table']]:,} rows in {card['training_seconds']} s on "
        f"{card['device']}, best epoch {card['best_epoch']} of {card['epochs_run']}.",
        "",
        "Reconstruction on the validation rows (the decoder stays in the restricted zone):",
        "",
        "| column | R² | accuracy | majority baseline |",
        "|---|---|---|---|",
    ]
    for column, q in card["reconstruction"].items():
        lines.append(
            f"| {column} | {q.get('r2', '')} | {q.get('accuracy', '')} | {q.get('baseline', '')} |"
        )
    return "\n".join(lines)


def _codes_summary(report: dict) -> str:
    card = report["scorecard"]
    utility = report["utility"]
    parts = [f"Codes of `{report['table']}` ({report['bottleneck']}, {report['code_size']} wide)."]
    if utility:
        parts.append(
            f"Downstream {utility['metric'].upper()} on `{utility['target']}`: raw "
            f"{utility['raw']:.3f}, codes {utility['latent']:.3f} (drop {utility['drop']:.3f})."
        )
    worst = report["reconstruction_attack"]["worst"]
    parts.append(
        f"Reconstruction advantage (worst gated column `{worst['column']}`, {worst['fraction']} "
        f"leaked): {card['reconstruction_advantage_max']:.3f}; attribute-inference AUC gain "
        f"{card['attribute_inference_gain_max']:.3f}; linkage top-1 from quasi-identifiers "
        f"{card['linkage_qi_top1']:.3f} (full row {card['linkage_full_row_top1']:.3f}, chance "
        f"{card['linkage_chance']:.4f})."
    )
    dp = report["privacy"]["differential_privacy"]
    parts.append(
        f"Noise: Gaussian, epsilon {dp['epsilon']}, delta {dp['delta']}, sigma {dp['sigma']:.4g}."
        if dp
        else "No noise: the codes carry no formal privacy guarantee."
    )
    return " ".join(parts)


def latent_assets(catalog: Catalog, dataset: str) -> list:
    """Encoder, codes with their blocking gate, and the latent release of one dataset."""
    settings, table = latent_steps.settings_of(catalog, dataset)
    encoder_key = key(dataset, "models", "encoder")
    codes_key = key(dataset, "latent", "codes")

    @dg.asset(
        key=encoder_key,
        deps=[key(dataset, "prepared", "train")],
        group_name="models",
        kinds={"pytorch"},
        owners=OWNERS,
        tags=RESTRICTED,
        pool=GPU_POOL,
        op_tags=queue_tags(uses_torch=True),
        description=f"Autoencoder on `{dataset}`.`{table.name}` prepared/train "
        f"({settings.bottleneck} bottleneck): the encoder exported for partners "
        "(torch.export program + schema.json) with a card of code size, sparsity and "
        "per-column reconstruction; the decoder is kept beside it in the restricted zone.",
    )
    def encoder(context: dg.AssetExecutionContext, anon_home: AnonHome) -> dg.MaterializeResult:
        zones = anon_home.zones()
        card = latent_steps.train(
            catalog,
            zones,
            dataset,
            progress=lambda event: context.log.info(f"encoder: {event.describe()}"),
        )
        schema = dg.TableSchema(
            columns=[dg.TableColumn(name=c["name"], type=c["type"]) for c in card["columns"]]
        )
        metadata: dict = {
            "dagster/row_count": card["rows_trained_on"][table.name],
            "dagster/column_schema": schema,
            "summary": dg.MetadataValue.md(_encoder_summary(card)),
            "model_card": dg.MetadataValue.json(card),
            "training_seconds": float(card["training_seconds"]),
            "dead_unit_share": float(card["dead_unit_share"]),
            "code_size": card["code_size"],
            "device": card["device"],
        }
        for column, quality in card["reconstruction"].items():
            for metric, value in quality.items():
                metadata[f"reconstruction/{column}/{metric}"] = float(value)
        return dg.MaterializeResult(
            metadata=metadata,
            data_version=data_version(zones, dataset, latent_steps.ENCODER_ARTIFACT),
        )

    @dg.asset(
        key=codes_key,
        deps=[encoder_key, key(dataset, "prepared", "train"), key(dataset, "prepared", "holdout")],
        group_name="latent",
        kinds={"pytorch", "parquet"},
        owners=OWNERS,
        tags=RESTRICTED,
        description=f"Codes of the train and holdout rows of `{dataset}`.`{table.name}` "
        "(shuffled, with the split and the target), noised when releases.yml asks for "
        "differential privacy; measured for downstream utility and for reconstruction, "
        "attribute-inference and linkage attacks.",
    )
    def codes(anon_home: AnonHome) -> dg.MaterializeResult:
        zones = anon_home.zones()
        frame, report = latent_steps.encode(catalog, zones, dataset)
        metadata = table_metadata(frame, _codes_summary(report))
        metadata.update({f"scorecard/{k}": float(v) for k, v in report["scorecard"].items()})
        return dg.MaterializeResult(
            metadata=metadata,
            data_version=data_version(zones, dataset, latent_steps.CODES_ARTIFACT),
        )

    @dg.asset_check(
        asset=codes_key,
        name="latent_gate",
        blocking=True,
        description="Utility drop, worst reconstruction advantage and worst attribute-inference "
        "gain against releases.yml's latent thresholds; linkage and active-set uniqueness shown.",
    )
    def gate(anon_home: AnonHome) -> dg.AssetCheckResult:
        zones = anon_home.zones()
        return audited_gate(
            latent_steps.gate(catalog, zones, dataset),
            zones,
            dataset,
            latent_steps.RELEASE_NAME,
            stored.source_fingerprints(catalog, zones, dataset),
        )

    @dg.asset(
        key=key(dataset, "release", "latent"),
        deps=[codes_key],
        group_name="release",
        kinds={"parquet", "json"},
        owners=OWNERS,
        tags=RELEASED,
        description=f"The gate-passed codes of `{dataset}` and the exported encoder (never the "
        "decoder), written atomically to ANON_HOME/release/<dataset>/<version>/ with a manifest "
        "that states the formal guarantee, or that there is none.",
    )
    def release(context: dg.AssetExecutionContext, anon_home: AnonHome) -> dg.MaterializeResult:
        folder = latent_steps.release(catalog, anon_home.zones(), dataset)
        manifest = ReleaseManifest.read(folder)
        context.log.info(f"released latent codes of {dataset} to {folder}")
        dp = manifest.privacy.get("differential_privacy")
        guarantee = f"(epsilon, delta) = ({dp['epsilon']}, {dp['delta']})" if dp else "none"
        codes = pl.read_parquet(folder / "tables" / "codes.parquet")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": codes.height,
                "dagster/column_schema": column_schema(codes),
                "release_path": dg.MetadataValue.path(str(folder)),
                "version": manifest.version,
                "manifest": dg.MetadataValue.json(manifest.model_dump(mode="json")),
                "summary": dg.MetadataValue.md(
                    f"Released `{manifest.version}`: codes "
                    f"({manifest.files['tables/codes.parquet'].rows:,} rows) and the "
                    f"encoder; the gate passed on exactly these bytes. Formal guarantee: "
                    f"{guarantee}."
                ),
                **{f"metrics/{k}": float(v) for k, v in manifest.metrics.items()},
            },
            data_version=dg.DataVersion(release_version(manifest)),
        )

    return [encoder, codes, gate, release]
