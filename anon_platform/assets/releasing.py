"""release/<generator> assets: written to the release zone only after every gate passed."""

import dagster as dg

from anon_platform.assets.common import OWNERS, RELEASED, key
from anon_platform.assets.reporting import report_key
from anon_platform.catalog import Catalog
from anon_platform.pipeline import steps
from anon_platform.release import MANIFEST, ReleaseManifest, release_version
from anon_platform.resources import AnonHome


def release_automation(catalog: Catalog, dataset: str) -> dg.AutomationCondition | None:
    """Release by automation only where releases.yml sets `auto_release: true`, and then only
    once every blocking check upstream passed (declarative automation ignores blocking checks
    unless the condition says so)."""
    if not catalog.releases[dataset].auto_release:
        return None
    return dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()


def _release_asset(catalog: Catalog, dataset: str, generator: str) -> dg.AssetsDefinition:
    policy = catalog.releases[dataset].release

    @dg.asset(
        key=key(dataset, "release", generator),
        deps=[key(dataset, "synthetic", generator), report_key(dataset, generator)],
        group_name="release",
        kinds={"parquet", "json"},
        owners=OWNERS,
        tags=RELEASED,
        automation_condition=release_automation(catalog, dataset),
        output_required=False,
        description=f"The gate-passed synthetic `{dataset}` from `{generator}`, written "
        "atomically to ANON_HOME/release/<dataset>/<version>/ with a manifest (source "
        "fingerprints, generator, metrics, gates, code version) and the HTML quality report. "
        + (
            f"Release policy 'best': released only when `{generator}` ranks first by "
            f"{policy.rank_by} among the generators that pass."
            if policy.mode == "best"
            else ""
        ),
    )
    def release(context: dg.AssetExecutionContext, anon_home: AnonHome):
        folder = steps.release(catalog, anon_home.zones(), dataset, generator)
        if folder is None:
            context.log.info(f"{dataset}/{generator} passed but is not the best; not released")
            return
        manifest = ReleaseManifest.read(folder)
        context.log.info(f"released {dataset} ({generator}) to {folder}")
        files = "\n".join(
            f"| {name} | {f.rows:,} | `{f.sha256[:19]}…` |"
            for name, f in manifest.files.items()
            if f.rows is not None
        )
        metadata = {
            "release_path": dg.MetadataValue.path(str(folder)),
            "manifest_path": dg.MetadataValue.path(str(folder / MANIFEST)),
            "version": manifest.version,
            "manifest": dg.MetadataValue.json(manifest.model_dump(mode="json")),
            "summary": dg.MetadataValue.md(
                f"Released `{manifest.version}`; every gate passed on exactly these bytes "
                f"(evidence chain of {len(manifest.chain)} artifacts; `anon verify {folder}`)."
                f"\n\n| file | rows | sha256 |\n|---|---|---|\n{files}"
            ),
            **{f"metrics/{k}": float(v) for k, v in manifest.metrics.items()},
        }
        if (folder / "report.html").is_file():
            metadata["html_report"] = dg.MetadataValue.path(str(folder / "report.html"))
        yield dg.MaterializeResult(
            metadata=metadata, data_version=dg.DataVersion(release_version(manifest))
        )

    return release


def release_assets(catalog: Catalog, dataset: str) -> list[dg.AssetsDefinition]:
    return [_release_asset(catalog, dataset, p.name) for p in catalog.releases[dataset].generators]
