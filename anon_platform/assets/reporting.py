"""reports/quality_<generator> assets and the blocking scorecard gate."""

import dagster as dg

from anon_platform.assets.common import OWNERS, RESTRICTED, data_version, key
from anon_platform.assets.gating import audited_gate
from anon_platform.catalog import Catalog
from anon_platform.evaluation import QualityReport
from anon_platform.evaluation.metrics import SUMMARY
from anon_platform.jobs import FULL_EVALUATION_TAG
from anon_platform.pipeline import steps, stored
from anon_platform.resources import AnonHome

SUMMARY_METRICS = tuple((m.name, m.label) for m in SUMMARY)  # the metrics table's summary


def report_key(dataset: str, generator: str) -> dg.AssetKey:
    return key(dataset, "reports", f"quality_{generator}")


def report_markdown(report: QualityReport) -> str:
    """The report as markdown: one row per table with the main metrics, then the scorecard."""
    header = " | ".join(label for _, label in SUMMARY_METRICS)
    lines = [
        f"### Quality of `{report.generator}` on `{report.dataset}`",
        "",
        f"| table | train | holdout | synthetic | {header} |",
        "|---|---|---|---|" + "---|" * len(SUMMARY_METRICS),
    ]
    for t in report.tables:
        cells = " | ".join(
            f"{t.metrics[name]:.3f}" if name in t.metrics else "–" for name, _ in SUMMARY_METRICS
        )
        rows = f"{t.train_rows:,} | {t.holdout_rows:,} | {t.synthetic_rows:,}"
        lines.append(f"| {t.table} | {rows} | {cells} |")
    card = report.scorecard
    lines += [
        "",
        "Scorecard (worst table per metric; quality is the mean): "
        + ", ".join(f"{label} {card[name]:.3f}" for name, label in SUMMARY_METRICS if name in card)
        + ". DCR share 0.5 = no closer to train than to unseen rows; risks are upper "
        "confidence bounds of Anonymeter's attacks.",
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
        description=f"Fidelity, utility and privacy report of `{generator}` on `{dataset}`: "
        "SDMetrics quality, discriminator AUC, TSTR/TRTR, identical matches, DCR share and "
        "tails, NNDR, Anonymeter risks, k-anonymity; per table and as a scorecard, with an HTML "
        "report that goes into the release.",
    )
    def report(context: dg.AssetExecutionContext, anon_home: AnonHome) -> dg.MaterializeResult:
        zones = anon_home.zones()
        full = context.run.tags.get(FULL_EVALUATION_TAG) == "full"
        result = steps.report(catalog, zones, dataset, generator, full=full)
        metadata: dict = {
            "summary": dg.MetadataValue.md(report_markdown(result)),
            "evaluation": "full" if full else "standard",
        }
        metadata.update({f"scorecard/{k}": float(v) for k, v in result.scorecard.items()})
        for table in result.tables:
            for metric, value in table.metrics.items():
                metadata[f"{table.table}/{metric}"] = float(value)
        html = zones.report(dataset, generator) / "report.html"
        if html.is_file():
            metadata["html_report"] = dg.MetadataValue.path(str(html))
        return dg.MaterializeResult(
            metadata=metadata,
            data_version=data_version(zones, dataset, f"reports/quality_{generator}"),
        )

    @dg.asset_check(
        asset=report_asset_key,
        name="scorecard_gate",
        blocking=True,
        description="Great Expectations suite on the one-row scorecard: every fidelity, utility "
        "and privacy metric against its threshold in releases.yml.",
    )
    def gate(anon_home: AnonHome) -> dg.AssetCheckResult:
        zones = anon_home.zones()
        return audited_gate(
            steps.gate_report(catalog, zones, dataset, generator),
            zones,
            dataset,
            generator,
            stored.source_fingerprints(catalog, zones, dataset),
        )

    return [report, gate]


def report_assets(catalog: Catalog, dataset: str) -> list:
    return [
        d
        for plan in catalog.releases[dataset].generators
        for d in _report_defs(catalog, dataset, plan.name)
    ]
