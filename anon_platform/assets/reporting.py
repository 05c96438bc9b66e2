"""reports/quality_<generator> assets and the blocking scorecard gate."""

import dagster as dg

from anon_platform import steps
from anon_platform.assets.common import OWNERS, RESTRICTED, key
from anon_platform.assets.synthesis import gate_check_result
from anon_platform.catalog import Catalog
from anon_platform.resources import AnonHome


def report_key(dataset: str, generator: str) -> dg.AssetKey:
    return key(dataset, "reports", f"quality_{generator}")


def report_markdown(report: dict) -> str:
    """The report as a markdown table: one row per table, then the scorecard."""
    lines = [
        f"### Quality of `{report['generator']}` on `{report['dataset']}`",
        "",
        "| table | train | holdout | synthetic | quality | shapes | pair trends | DCR share |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t in report["tables"]:
        lines.append(
            f"| {t['table']} | {t['train_rows']:,} | {t['holdout_rows']:,} | "
            f"{t['synthetic_rows']:,} | {t['quality']:.3f} | {t['column_shapes']:.3f} | "
            f"{t['column_pair_trends']:.3f} | {t['dcr_share']:.3f} |"
        )
    card = report["scorecard"]
    lines += [
        "",
        f"Scorecard: quality {card['quality']:.3f} (mean over tables), "
        f"DCR share {card['dcr_share']:.3f} (worst table; 0.5 = no closer to train than "
        "to unseen rows).",
    ]
    return "\n".join(lines)


def _report_defs(catalog: Catalog, dataset: str, generator: str) -> list:
    report_asset_key = report_key(dataset, generator)

    @dg.asset(
        key=report_asset_key,
        deps=[
            key(dataset, "synthetic", generator),
            key(dataset, "prepared", "train"),
            key(dataset, "prepared", "holdout"),
        ],
        group_name="reports",
        kinds={"python", "sdmetrics"},
        owners=OWNERS,
        tags=RESTRICTED,
        description=f"Fidelity and privacy report of `{generator}` on `{dataset}`: SDMetrics "
        "quality and DCR share against the holdout, per table.",
    )
    def report(anon_home: AnonHome) -> dg.MaterializeResult:
        result = steps.report(catalog, anon_home.zones(), dataset, generator)
        metadata: dict = {"summary": dg.MetadataValue.md(report_markdown(result))}
        metadata.update({f"scorecard/{k}": float(v) for k, v in result["scorecard"].items()})
        for table in result["tables"]:
            for metric in ("quality", "column_shapes", "column_pair_trends", "dcr_share"):
                metadata[f"{table['table']}/{metric}"] = float(table[metric])
        return dg.MaterializeResult(metadata=metadata)

    @dg.asset_check(
        asset=report_asset_key,
        name="scorecard_gate",
        blocking=True,
        description="Every scorecard metric against its threshold in releases.yml.",
    )
    def gate(anon_home: AnonHome) -> dg.AssetCheckResult:
        return gate_check_result(steps.gate_report(catalog, anon_home.zones(), dataset, generator))

    return [report, gate]


def report_assets(catalog: Catalog, dataset: str) -> list:
    return [
        d
        for plan in catalog.releases[dataset].generators
        for d in _report_defs(catalog, dataset, plan.name)
    ]
