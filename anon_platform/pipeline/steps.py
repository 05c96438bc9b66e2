"""The pipeline, one function per step, over the ANON_HOME workspace.

ingest -> stage -> prepare -> train -> synthesize -> (gate) -> report -> (gate) -> release.
Each step reads what earlier steps wrote and writes its own output atomically, so it can be
rerun and inspected on its own. Dagster assets and the CLI are thin shells over these functions.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from anon_platform import evidence
from anon_platform.catalog import Catalog
from anon_platform.catalog.loader import CATALOG_DIR
from anon_platform.common.progress import Progress
from anon_platform.copy_filter import CopyFilterResult, merge_results, remove_unique_row_copies
from anon_platform.errors import AnonPlatformError, ReleaseError, SourceDataError
from anon_platform.evaluation import QualityReport, evaluate_dataset
from anon_platform.evaluation.quality_report import ShadowAttack
from anon_platform.gates import GateResult, check_scorecard, check_synthetic_tables
from anon_platform.generators import Generator, generator_class, load_generator
from anon_platform.generators.identifiers import IdentifierBlocklist, fill_identifiers
from anon_platform.generators.shards import plan_shards, sample_shard, shard_seed
from anon_platform.pipeline import evaluation_policy, release_policy, stored
from anon_platform.pipeline.shadow import shadow_model_attack
from anon_platform.prepare import check_integrity, split_dataset
from anon_platform.release import (
    ReleaseSource,
    gates_blocked,
    record_attempt,
    refusals_audited,
    write_release,
)
from anon_platform.sources import check_foreign_keys, conform, fingerprint, read_source
from anon_platform.sources.fingerprints import source_fingerprint
from anon_platform.sql.runner import run_model
from anon_platform.storage import (
    Zones,
    read_parquet,
    read_tables,
    table_writers,
    write_json,
    write_parquet,
)


@dataclass(frozen=True)
class Ingested:
    frame: pl.DataFrame
    path: Path
    fingerprint: str
    source: dict[str, Any]


def ingest(catalog: Catalog, zones: Zones, dataset: str, table: str) -> Ingested:
    """Read a raw table, conform it to sources.yml, check its foreign keys against the already
    ingested parents, and store it in the restricted zone with its content fingerprint."""
    spec = catalog.sources[dataset].table(table)
    previous = stored.ingested_source_fingerprint(zones, dataset, table)
    # fingerprinted before reading: a change during the read shows as a change next time
    source = source_fingerprint(spec, catalog.root / CATALOG_DIR, previous)
    frame = conform(spec, read_source(spec, catalog.root / CATALOG_DIR))
    parents = {}
    for fk in spec.foreign_keys:
        parent_path = zones.raw_table(dataset, fk.parent_table)
        if not parent_path.is_file():
            raise SourceDataError(
                table, fk.column, f"cannot check foreign key: ingest '{fk.parent_table}' first"
            )
        parents[fk.parent_table] = read_parquet(parent_path)
    check_foreign_keys(spec, frame, parents)
    digest = fingerprint(frame)
    path = write_parquet(frame, zones.raw_table(dataset, table))
    evidence.record(zones, dataset, f"raw/{table}", "ingest", {})
    write_json(
        {
            "fingerprint": digest,
            "rows": frame.height,
            "ingested_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "source": source,
        },
        stored.fingerprint_path(zones, dataset, table),
    )
    return Ingested(frame, path, digest, source)


def stage(catalog: Catalog, zones: Zones, dataset: str, model: str) -> pl.DataFrame:
    """Run one dbt_like_sql model over the raw tables and models it reads; store its result."""
    sql_model = catalog.models[model]
    inputs = {name: zones.raw_table(dataset, name) for name in sql_model.source_refs}
    inputs.update({name: zones.staging_model(dataset, name) for name in sql_model.model_refs})
    read = evidence.input_digests(
        zones,
        dataset,
        [f"raw/{n}" for n in sql_model.source_refs]
        + [f"staging/{n}" for n in sql_model.model_refs],
    )
    frame = run_model(sql_model, inputs)
    write_parquet(frame, zones.staging_model(dataset, model))
    evidence.record(zones, dataset, f"staging/{model}", "stage", read)
    return frame


def prepare(
    catalog: Catalog, zones: Zones, dataset: str
) -> tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame]]:
    """Check the staged tables' integrity and write the deterministic train/holdout split."""
    release = catalog.releases[dataset]
    schema = catalog.dataset_schema(dataset)
    read = evidence.input_digests(zones, dataset, [f"staging/{t.model}" for t in release.tables])
    tables = stored.staged_tables(catalog, zones, dataset)
    check_integrity(schema, tables)
    train, holdout = split_dataset(schema, tables, release.holdout_fraction, release.seed)
    evidence.write_sealed(zones, dataset, "prepared/train", "prepare", read, train)
    evidence.write_sealed(zones, dataset, "prepared/holdout", "prepare", read, holdout)
    return train, holdout


def _plan(catalog: Catalog, dataset: str, generator: str):
    for plan in catalog.releases[dataset].generators:
        if plan.name == generator:
            return plan
    raise AnonPlatformError(f"dataset '{dataset}' does not plan generator '{generator}'")


def train(
    catalog: Catalog, zones: Zones, dataset: str, generator: str, progress: Progress | None = None
) -> Generator:
    """Fit the generator on the train split only and save it as a versioned artifact."""
    plan = _plan(catalog, dataset, generator)
    model = generator_class(plan.name)(
        catalog.dataset_schema(dataset), plan.params, catalog.releases[dataset].seed
    )
    read = evidence.input_digests(zones, dataset, ["prepared/train"])
    model.fit(read_tables(zones.prepared(dataset, "train")), progress)
    model.save(zones.model(dataset, generator))
    evidence.record(zones, dataset, f"models/{generator}", "train", read)
    return model


@dataclass(frozen=True)
class Synthesized:
    """What `synthesize` stored (the tables stay on disk): rows and column types per table,
    the copy filter's counts, and how many shards were sampled."""

    folder: Path
    rows: dict[str, int]
    schemas: dict[str, pl.Schema]
    copy_filter: dict[str, CopyFilterResult]
    shards: int

    def read(self) -> dict[str, pl.DataFrame]:
        """The stored synthetic tables, whole (small datasets and tests only)."""
        return read_tables(self.folder)


def synthesize(catalog: Catalog, zones: Zones, dataset: str, generator: str) -> Synthesized:
    """Sample a synthetic dataset from the trained generator (root rows: as configured, else as
    many as the train split) in seeded shards of `shard_rows` root rows (generators/shards.py),
    pass each shard through the copy filter (copy_filter.py; the summed record is stored beside
    the tables) and append it to the tables in the restricted zone, where they stay until the
    gates pass. One shard is in memory at a time, besides the train split the filter compares
    against; the stored bytes depend on the seed and the shard plan only."""
    read = evidence.input_digests(
        zones,
        dataset,
        [f"models/{generator}", "prepared/train"]
        + [f"raw/{t.name}" for t in catalog.sources[dataset].tables],
    )
    model = load_generator(zones.model(dataset, generator))
    release = catalog.releases[dataset]
    schema = catalog.dataset_schema(dataset)
    rows = release.synthetic_rows or model.card.rows_trained_on[release.root.name]
    plan = plan_shards(rows, release.shard_rows, model.sample_seed())
    train = read_tables(zones.prepared(dataset, "train"))
    fakes = {t.name: dict(t.fake) for t in release.tables if t.fake}
    blocklist = (
        IdentifierBlocklist.from_values(stored.raw_identifier_values(catalog, zones, dataset))
        if fakes
        else None
    )
    filtered: list[dict[str, CopyFilterResult]] = []
    artifact = f"synthetic/{generator}"
    with evidence.sealed_folder(zones, dataset, artifact, "synthesize", read) as pending:
        targets = {t.name: pending.path / f"{t.name}.parquet" for t in schema.tables}
        with table_writers(targets) as writers:
            for shard in plan.shards():
                tables, counts = remove_unique_row_copies(
                    schema, sample_shard(model, plan, shard), train
                )
                filtered.append(counts)
                if blocklist is not None:
                    seed = shard_seed(release.seed, shard.index)
                    tables = {
                        name: fill_identifiers(frame, fakes.get(name, {}), blocklist, seed)
                        for name, frame in tables.items()
                    }
                for name, frame in tables.items():
                    writers[name].write(frame)
        removed = merge_results(filtered)
        write_json(
            {n: r.as_dict() for n, r in removed.items()},
            pending.path / stored.COPY_FILTER_FILE,
        )
    return Synthesized(
        folder=zones.synthetic(dataset, generator),
        rows={name: w.rows for name, w in writers.items()},
        schemas={name: w.schema or pl.Schema() for name, w in writers.items()},
        copy_filter=removed,
        shards=plan.count,
    )


def gate_synthetic(catalog: Catalog, zones: Zones, dataset: str, generator: str) -> GateResult:
    """The synthetic-table gate over the stored synthetic dataset; the result names the
    digest of the synthetic tables it judged."""
    artifact = f"synthetic/{generator}"
    with evidence.pinned(zones, dataset, [artifact]) as judged:
        result = check_synthetic_tables(
            catalog.dataset_schema(dataset),
            read_tables(zones.synthetic(dataset, generator)),
            read_tables(zones.prepared(dataset, "train")),
            stored.raw_identifier_values(catalog, zones, dataset),
            copy_filter=stored.copy_filter_record(zones, dataset, generator),
            copies_removed_max=catalog.releases[dataset].thresholds.copies_removed_max,
            holdout=read_tables(zones.prepared(dataset, "holdout")),
            domain_alpha=catalog.releases[dataset].thresholds.domain_alpha,
        )
    return dataclasses.replace(result, judged=judged)


def report(
    catalog: Catalog, zones: Zones, dataset: str, generator: str, full: bool = False
) -> QualityReport:
    """Measure the synthetic dataset against train and holdout; store report.json (and the
    HTML report). `full` runs the expensive evaluation (see `full_evaluation`)."""
    release = catalog.releases[dataset]
    settings = evaluation_policy.full_evaluation(release.evaluation) if full else release.evaluation
    names = {"synthetic": f"synthetic/{generator}", "train": "prepared/train"}
    names["holdout"] = "prepared/holdout"
    read = evidence.input_digests(zones, dataset, names.values())
    frames, measured = {}, {}
    for role, artifact in names.items():
        folder = evidence.artifact_path(zones, dataset, artifact)
        frames[role], files = evidence.read_frames_with_digests(folder)
        measured[artifact] = {"digest": read[artifact], "tables": files}
    result = evaluate_dataset(
        catalog.dataset_schema(dataset),
        frames["train"],
        frames["holdout"],
        frames["synthetic"],
        settings=settings,
        seed=release.seed,
        dcr_max_rows=release.dcr_sample_rows,
        alpha=release.thresholds.dcr_share_alpha,
    )
    # the digest of every table measured: the release copies only these bytes
    result = result.model_copy(
        update={"dataset": dataset, "generator": generator, "measured": measured}
    )
    if full and settings.shadow_targets:
        plan = _plan(catalog, dataset, generator)
        attack = shadow_model_attack(
            catalog.dataset_schema(dataset),
            plan.name,
            plan.params,
            frames["train"],
            frames["holdout"],
            release.seed,
            targets=settings.shadow_targets,
            runs=settings.shadow_runs,
            rows=settings.shadow_rows,
        )
        result = result.model_copy(update={"shadow": ShadowAttack.model_validate(attack)})
    pages = {}
    if release.evaluation.html:
        from anon_platform.html_report import render_report_html

        pages["report.html"] = render_report_html(
            result,
            catalog.dataset_schema(dataset),
            frames["train"],
            frames["synthetic"],
            settings,
            gates=[check_scorecard(result.scorecard, release.thresholds)],
        )
    evidence.write_sealed(
        zones,
        dataset,
        f"reports/quality_{generator}",
        "report",
        read,
        json_files={stored.REPORT_FILE: result.to_json()},
        text_files=pages,
    )
    return result


def gate_report(catalog: Catalog, zones: Zones, dataset: str, generator: str) -> GateResult:
    """The scorecard gate over the stored report; the result names the report's digest."""
    artifact = f"reports/quality_{generator}"
    with evidence.pinned(zones, dataset, [artifact]) as judged:
        result = check_scorecard(
            stored.stored_report(zones, dataset, generator).scorecard,
            catalog.releases[dataset].thresholds,
        )
    return dataclasses.replace(result, judged=judged)


def release_gates(catalog: Catalog, zones: Zones, dataset: str, generator: str) -> list[GateResult]:
    """Every gate a release of `generator` must pass, evaluated on the stored artifacts."""
    return [
        gate_synthetic(catalog, zones, dataset, generator),
        gate_report(catalog, zones, dataset, generator),
    ]


def releasable(
    catalog: Catalog, zones: Zones, dataset: str, generator: str
) -> tuple[list[evidence.Evidence], list[GateResult]]:
    """The fresh evidence chain of `generator`'s release and its passing gates, judged on the
    very digests of that chain. Raises StaleEvidenceError (stale chain) or ReleaseError (a gate
    failed) with the reason."""
    chain = evidence.verify_chain(
        zones, dataset, release_policy.synthesis_chain(catalog, dataset, generator)
    )
    gates = release_gates(catalog, zones, dataset, generator)
    blocked = gates_blocked(dataset, f"generator '{generator}'", gates)
    if blocked:
        raise blocked
    evidence.ensure_judged(dataset, chain, gates)
    return chain, gates


def best_generator(catalog: Catalog, zones: Zones, dataset: str) -> str | None:
    """The planned generator that ranks first by the release policy's `rank_by` among those
    whose evidence chain is fresh and whose stored synthetic tables and report pass every gate;
    None when none passes."""
    rank = release_policy.RANK_BY[catalog.releases[dataset].release.rank_by]
    passing = {}
    for plan in catalog.releases[dataset].generators:
        if not (zones.report(dataset, plan.name) / stored.REPORT_FILE).is_file():
            continue
        try:
            releasable(catalog, zones, dataset, plan.name)
        except ReleaseError:
            continue
        passing[plan.name] = rank(stored.stored_report(zones, dataset, plan.name).scorecard)
    return max(passing, key=lambda name: passing[name]) if passing else None


def release(catalog: Catalog, zones: Zones, dataset: str, generator: str) -> Path | None:
    """Verify the evidence chain from the raw tables to the report, re-run every gate on the
    stored artifacts and, only if the chain is fresh and all gates pass on exactly its bytes,
    write the release: copies of the files whose digests the gates judged, checked again after
    copying, with the chain in the manifest.

    Everything runs here so that the release fails closed whichever way it is launched (a
    Dagster run, the CLI, a sensor or automation). Under the release policy 'best', a generator
    that passes but is outranked is not released (None). Every attempt, released or not,
    appends a line to the dataset's audit log in the release zone.
    """
    fingerprints = stored.source_fingerprints(catalog, zones, dataset)
    with refusals_audited(zones, dataset, generator, fingerprints):
        chain, gates = releasable(catalog, zones, dataset, generator)
        policy = catalog.releases[dataset].release
        if policy.mode == "best":
            best = best_generator(catalog, zones, dataset)
            if best != generator:
                reason = f"release policy 'best': '{best}' ranks higher by {policy.rank_by}"
                record_attempt(zones, dataset, generator, False, [reason], fingerprints)
                return None
        links = {link.artifact: link for link in chain}
        synthetic = links[f"synthetic/{generator}"]
        report_link = links[f"reports/quality_{generator}"]
        files = {
            f"tables/{name}": ReleaseSource(f"synthetic/{generator}", name, digest)
            for name, digest in synthetic.files.items()
            if name.endswith(".parquet")
        }
        files.update(
            {
                name: ReleaseSource(report_link.artifact, name, d)
                for name, d in report_link.files.items()
            }
        )
        folder = write_release(
            zones,
            dataset,
            generator,
            files,
            gates,
            fingerprints,
            chain,
            model=links[f"models/{generator}"],
        )
    record_attempt(zones, dataset, generator, True, [], fingerprints, folder.name)
    return folder
