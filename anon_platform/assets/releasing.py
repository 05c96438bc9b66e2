"""release/<generator> assets: written to the release zone only after every gate passed."""

import dagster as dg

from anon_platform import steps
from anon_platform.assets.common import OWNERS, RELEASED, key
from anon_platform.assets.reporting import report_key
from anon_platform.catalog import Catalog
from anon_platform.resources import AnonHome
from anon_platform.storage import read_json


def _release_asset(catalog: Catalog, dataset: str, generator: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=key(dataset, "release", generator),
        deps=[key(dataset, "synthetic", generator), report_key(dataset, generator)],
        group_name="release",
        kinds={"parquet", "json"},
        owners=OWNERS,
        tags=RELEASED,
        description=f"The gate-passed synthetic `{dataset}` from `{generator}`, written "
        "atomically to ANON_HOME/release/<dataset>/<version>/ with a manifest (source "
        "fingerprints, generator, metrics, gates, code version).",
    )
    def release(context: dg.AssetExecutionContext, anon_home: AnonHome) -> dg.MaterializeResult:
        folder = steps.release(catalog, anon_home.zones(), dataset, generator)
        manifest = read_json(folder / "manifest.json")
        context.log.info(f"released {dataset} ({generator}) to {folder}")
        files = "\n".join(
            f"| {name} | {f['rows']:,} |" for name, f in manifest["files"].items() if "rows" in f
        )
        return dg.MaterializeResult(
            metadata={
                "release_path": dg.MetadataValue.path(str(folder)),
                "version": manifest["version"],
                "manifest": dg.MetadataValue.json(manifest),
                "summary": dg.MetadataValue.md(
                    f"Released `{manifest['version']}`; every gate passed.\n\n| file | rows |\n"
                    f"|---|---|\n{files}"
                ),
                **{f"metrics/{k}": float(v) for k, v in manifest["metrics"].items()},
            }
        )

    return release


def release_assets(catalog: Catalog, dataset: str) -> list[dg.AssetsDefinition]:
    return [_release_asset(catalog, dataset, p.name) for p in catalog.releases[dataset].generators]
