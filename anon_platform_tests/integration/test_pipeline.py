"""The Dagster pipeline end to end: the asset graph, what each zone holds after a run, and the
blocking gates that keep the release zone untouched when something is wrong."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from anon_platform.catalog import Catalog, load_catalog
from anon_platform.definitions import build_definitions, defs
from anon_platform.errors import ReleaseError
from anon_platform.generators import generator_class
from anon_platform.pipeline import steps, stored
from anon_platform.release import AUDIT_LOG
from anon_platform.storage import Zones, read_json, read_tables
from anon_platform_tests.conftest import build_project, measured_project, synthetic_only

DATASET = "bank"
GENERATOR = "gaussian_copula"
CUSTOMERS = 500
STAGES = ("raw", "staging", "prepared", "models", "synthetic", "latent", "reports", "release")
BANK_ASSETS = [
    "bank/raw/customers",
    "bank/raw/transactions",
    "bank/staging/stg_customers",
    "bank/staging/stg_transactions",
    "bank/prepared/train",
    "bank/prepared/holdout",
    "bank/models/gaussian_copula",
    "bank/synthetic/gaussian_copula",
    "bank/reports/quality_gaussian_copula",
    "bank/release/gaussian_copula",
]
# the shipped bank dataset also encodes (releases.yml `encode: true`); the runs below switch it
# off (`synthetic_only`) and the latent assets are materialized in test_latent_assets.py
LATENT_ASSETS = ["bank/models/encoder", "bank/latent/codes", "bank/release/latent"]
IDENTIFIERS = ("full_name", "email", "phone", "national_id", "date_of_birth")
MODEL_CARD_FIELDS = (
    "generator",
    "params",
    "seed",
    "rows_trained_on",
    "training_seconds",
    "device",
    "library_versions",
    "training_data_fingerprint",
)
SYNTHETIC_KEY = dg.AssetKey(["bank", "synthetic", GENERATOR])
REPORT_KEY = dg.AssetKey(["bank", "reports", f"quality_{GENERATOR}"])
RELEASE_KEY = dg.AssetKey(["bank", "release", GENERATOR])


def asset_key(path: str) -> dg.AssetKey:
    return dg.AssetKey(path.split("/"))


def strict_quality(plan: dict) -> None:
    synthetic_only(plan)
    plan["datasets"][0]["thresholds"]["quality_min"] = 0.999


def run_pipeline(project: Path, home: Path) -> dg.ExecuteInProcessResult:
    """Materialize the whole bank graph (assets and blocking checks) on `home`."""
    definitions = build_definitions(load_catalog(project), str(home))
    return definitions.resolve_job_def("bank_pipeline").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )


def materialized(result: dg.ExecuteInProcessResult) -> dict[dg.AssetKey, dict]:
    return {
        e.asset_key: e.materialization.metadata for e in result.get_asset_materialization_events()
    }


def checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def rendered(evaluation: dg.AssetCheckEvaluation) -> str:
    """Everything a check shows in the UI, as one text."""
    return "\n".join(
        f"{name}: {json.dumps(value.value, default=str)}"
        for name, value in evaluation.metadata.items()
    )


def released_versions(home: Path) -> list[str]:
    """Release folders and pointers of the dataset (the audit log aside)."""
    zone = home / "release" / DATASET
    return sorted(p.name for p in zone.iterdir() if p.name != AUDIT_LOG) if zone.exists() else []


def last_audit_entry(home: Path) -> dict:
    return json.loads((home / "release" / DATASET / AUDIT_LOG).read_text().splitlines()[-1])


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative path -> bytes)."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@dataclass(frozen=True)
class Run:
    project: Path
    home: Path
    catalog: Catalog
    result: dg.ExecuteInProcessResult

    @property
    def zones(self) -> Zones:
        return Zones(self.home)

    @property
    def restricted(self) -> Path:
        return self.home / "restricted" / DATASET

    @property
    def release_folder(self) -> Path:
        latest = self.home / "release" / DATASET / "LATEST"
        return latest.parent / latest.read_text().strip()


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One successful materialization of the whole graph on a fresh ANON_HOME."""
    base = tmp_path_factory.mktemp("good_run")
    project = build_project(base / "project", CUSTOMERS, synthetic_only)
    home = base / "anon_home"
    home.mkdir()
    return Run(project, home, load_catalog(project), run_pipeline(project, home))


# --- the asset graph ---------------------------------------------------------------------------


def test_shipped_definitions_load_with_jobs_and_asset_graph() -> None:
    dg.Definitions.validate_loadable(defs)
    jobs = {job.name for job in defs.get_repository_def().get_all_jobs()}
    assert "bank_pipeline" in jobs
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    for path in BANK_ASSETS + LATENT_ASSETS:
        assert asset_key(path) in keys, path


def test_release_depends_transitively_on_raw_customers() -> None:
    graph = defs.resolve_asset_graph()
    ancestors = graph.get_ancestor_asset_keys(RELEASE_KEY)
    assert asset_key("bank/raw/customers") in ancestors
    assert asset_key("bank/raw/transactions") in ancestors
    assert asset_key("bank/prepared/train") in ancestors


def test_every_asset_has_description_stage_group_kinds_owners_and_sensitivity() -> None:
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    for path in BANK_ASSETS + LATENT_ASSETS:
        spec = specs[asset_key(path)]
        stage = path.split("/")[1]
        assert stage in STAGES
        assert spec.description and spec.description.strip(), path
        assert spec.group_name == stage, path
        assert spec.kinds, path
        assert spec.owners, path
        expected = "released" if stage == "release" else "restricted"
        assert spec.tags.get("sensitivity") == expected, path


def test_both_gates_are_blocking_checks_on_synthetic_and_report() -> None:
    graph = defs.resolve_asset_graph()
    by_name = {
        key.name: key
        for key in graph.asset_check_keys
        if key.asset_key.path[0] == DATASET
        and key.asset_key.path[-1] in (GENERATOR, f"quality_{GENERATOR}", "codes")
    }
    assert set(by_name) == {"synthetic_tables_gate", "scorecard_gate", "latent_gate"}
    assert by_name["synthetic_tables_gate"].asset_key == SYNTHETIC_KEY
    assert by_name["scorecard_gate"].asset_key == REPORT_KEY
    assert by_name["latent_gate"].asset_key == asset_key("bank/latent/codes")
    for key in by_name.values():
        assert graph.get_check_spec(key).blocking, key


# --- a successful run --------------------------------------------------------------------------


def test_whole_graph_materializes_and_every_check_passes(good_run: Run) -> None:
    assert good_run.result.success
    assert set(materialized(good_run.result)) == {asset_key(p) for p in BANK_ASSETS}
    evaluations = checks(good_run.result)
    assert set(evaluations) == {"synthetic_tables_gate", "scorecard_gate"}
    assert all(e.passed for e in evaluations.values())


def test_raw_and_staging_land_in_the_restricted_zone(good_run: Run) -> None:
    raw = good_run.restricted / "raw"
    assert sorted(p.name for p in raw.glob("*.parquet")) == [
        "customers.parquet",
        "transactions.parquet",
    ]
    assert pl.read_parquet(raw / "customers.parquet").height == CUSTOMERS
    staging = good_run.restricted / "staging"
    assert sorted(p.name for p in staging.glob("*.parquet")) == [
        "stg_customers.parquet",
        "stg_transactions.parquet",
    ]


def test_prepared_split_is_disjoint_and_transactions_follow_their_customer(
    good_run: Run,
) -> None:
    prepared = good_run.restricted / "prepared"
    train, holdout = read_tables(prepared / "train"), read_tables(prepared / "holdout")
    train_ids = set(train["customers"]["customer_id"].to_list())
    holdout_ids = set(holdout["customers"]["customer_id"].to_list())
    assert train_ids and holdout_ids
    assert not train_ids & holdout_ids
    staged = pl.read_parquet(good_run.restricted / "staging" / "stg_customers.parquet")
    assert train_ids | holdout_ids == set(staged["customer_id"].to_list())
    assert set(train["transactions"]["customer_id"].to_list()) <= train_ids
    assert set(holdout["transactions"]["customer_id"].to_list()) <= holdout_ids
    staged_tx = pl.read_parquet(good_run.restricted / "staging" / "stg_transactions.parquet")
    assert train["transactions"].height + holdout["transactions"].height == staged_tx.height


def test_model_artifact_has_a_complete_card(good_run: Run) -> None:
    card = read_json(good_run.restricted / "models" / GENERATOR / "model.json")
    for field in MODEL_CARD_FIELDS:
        assert field in card, field
    assert card["generator"] == GENERATOR
    # every parameter is recorded, the defaults included, as the backend validated it
    assert card["params"]["default_distribution"] == "beta"
    assert set(card["params"]) == set(generator_class(GENERATOR).Params.model_fields)
    assert card["seed"] == good_run.catalog.releases[DATASET].seed
    train = good_run.restricted / "prepared" / "train"
    assert card["rows_trained_on"] == {
        t: pl.read_parquet(train / f"{t}.parquet").height for t in ("customers", "transactions")
    }
    assert card["training_seconds"] >= 0
    assert card["device"] == "cpu"
    assert {"sdv", "rdt", "copulas"} <= set(card["library_versions"])
    assert set(card["training_data_fingerprint"]) == {"customers", "transactions"}


def test_synthetic_tables_land_in_the_restricted_zone(good_run: Run) -> None:
    folder = good_run.restricted / "synthetic" / GENERATOR
    assert sorted(p.name for p in folder.glob("*.parquet")) == [
        "customers.parquet",
        "transactions.parquet",
    ]
    card = read_json(good_run.restricted / "models" / GENERATOR / "model.json")
    customers = pl.read_parquet(folder / "customers.parquet")
    assert customers.height == card["rows_trained_on"]["customers"]


def test_release_folder_holds_tables_report_and_manifest_named_by_latest(good_run: Run) -> None:
    dataset_folder = good_run.home / "release" / DATASET
    versions = [p.name for p in dataset_folder.iterdir() if p.is_dir()]
    assert versions == [good_run.release_folder.name]
    folder = good_run.release_folder
    assert sorted(p.name for p in (folder / "tables").glob("*.parquet")) == [
        "customers.parquet",
        "transactions.parquet",
    ]
    assert (folder / "report.json").is_file()
    assert (folder / "manifest.json").is_file()
    html = (folder / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert read_json(folder / "report.json") == read_json(
        good_run.restricted / "reports" / GENERATOR / "report.json"
    )
    # the released tables are exactly the gate-passed synthetic tables
    for table in ("customers", "transactions"):
        released = pl.read_parquet(folder / "tables" / f"{table}.parquet")
        synthetic = pl.read_parquet(
            good_run.restricted / "synthetic" / GENERATOR / f"{table}.parquet"
        )
        assert released.equals(synthetic), table


def test_manifest_records_sources_generator_metrics_gates_and_code_version(good_run: Run) -> None:
    manifest = read_json(good_run.release_folder / "manifest.json")
    raw = good_run.restricted / "raw"
    assert manifest["source_fingerprints"] == {
        t: read_json(raw / f"{t}.json")["fingerprint"] for t in ("customers", "transactions")
    }
    assert manifest["generator"] == GENERATOR
    assert manifest["version"] == good_run.release_folder.name
    report = read_json(good_run.release_folder / "report.json")
    assert manifest["metrics"] == report["scorecard"]
    assert {"quality", "dcr_share"} <= set(manifest["metrics"])
    assert [g["gate"] for g in manifest["gates"]] == ["synthetic tables", "scorecard"]
    assert all(g["passed"] for g in manifest["gates"])
    assert all(e["passed"] for g in manifest["gates"] for e in g["expectations"])
    assert isinstance(manifest["code_version"], str) and manifest["code_version"]
    card = read_json(good_run.restricted / "models" / GENERATOR / "model.json")
    assert manifest["model"]["training_data_fingerprint"] == card["training_data_fingerprint"]
    assert set(manifest["files"]) == {
        "tables/customers.parquet",
        "tables/transactions.parquet",
        "report.json",
        "report.html",
    }


def test_manifest_lists_the_membership_attack_of_every_table_with_its_numbers(
    good_run: Run,
) -> None:
    manifest = read_json(good_run.release_folder / "manifest.json")
    report = read_json(good_run.release_folder / "report.json")
    attacks = manifest["attacks"]["density_ratio"]
    assert set(attacks) == {"customers", "transactions"}
    for table in report["tables"]:
        numbers = attacks[table["table"]]
        for name in ("membership_tpr_at_fpr_1pct", "membership_outlier_tpr_at_fpr_1pct"):
            assert numbers[name] == table["metrics"][name]
            assert numbers[f"{name}_p_value"] == table["metrics"][f"{name}_p_value"]
        assert "membership_auc" in numbers
    assert "shadow_model" not in manifest["attacks"]  # only the weekly full evaluation runs it


def test_released_tables_hold_no_identifier_column(good_run: Run) -> None:
    for path in (good_run.release_folder / "tables").glob("*.parquet"):
        columns = set(pl.read_parquet(path).columns)
        assert not columns & set(IDENTIFIERS), path.name


def test_released_keys_are_fresh_and_every_transaction_has_a_released_customer(
    good_run: Run,
) -> None:
    tables = good_run.release_folder / "tables"
    customers = pl.read_parquet(tables / "customers.parquet")
    transactions = pl.read_parquet(tables / "transactions.parquet")
    assert customers["customer_id"].to_list() == list(range(1, customers.height + 1))
    assert transactions["transaction_id"].to_list() == list(range(1, transactions.height + 1))
    assert transactions["customer_id"].is_in(customers["customer_id"].implode()).all()


def test_raw_and_staging_materializations_carry_row_count_and_column_schema(
    good_run: Run,
) -> None:
    metadata = materialized(good_run.result)
    stored = {
        "bank/raw/customers": good_run.restricted / "raw" / "customers.parquet",
        "bank/raw/transactions": good_run.restricted / "raw" / "transactions.parquet",
        "bank/staging/stg_customers": good_run.restricted / "staging" / "stg_customers.parquet",
        "bank/staging/stg_transactions": good_run.restricted
        / "staging"
        / "stg_transactions.parquet",
    }
    for path, file in stored.items():
        frame = pl.read_parquet(file)
        md = metadata[asset_key(path)]
        assert md["dagster/row_count"].value == frame.height, path
        schema = md["dagster/column_schema"].value
        assert [c.name for c in schema.columns] == frame.columns, path


def test_report_materialization_carries_float_scorecard(good_run: Run) -> None:
    metadata = materialized(good_run.result)[REPORT_KEY]
    report = read_json(good_run.restricted / "reports" / GENERATOR / "report.json")
    for metric in ("quality", "dcr_share"):
        value = metadata[f"scorecard/{metric}"]
        assert isinstance(value, dg.FloatMetadataValue), metric
        assert value.value == pytest.approx(report["scorecard"][metric])
        assert 0.0 <= value.value <= 1.0


# --- the release policy 'best' --------------------------------------------------------------------


def best_of_two(plan: dict) -> None:
    synthetic_only(plan)
    plan["datasets"][0]["generators"] = [
        {"name": "gaussian_copula"},
        # with 400 training customers most postcode districts have fewer than the default
        # k = 20 rows, and the value protection would withhold them all
        {"name": "autoregressive", "params": {"rare_category_k": 5, "hidden_size": 128}},
    ]
    plan["datasets"][0]["release"] = {"mode": "best", "rank_by": "quality"}


def test_release_policy_best_releases_only_the_top_passing_generator(
    make_project, anon_home: Path
) -> None:
    from anon_platform.cli.demo import _why_not_released

    project = make_project(customers=CUSTOMERS, releases=best_of_two)
    result = run_pipeline(project, anon_home)
    zones = Zones(anon_home)
    names = ("gaussian_copula", "autoregressive")
    failing = [
        (n, e)
        for n in names
        for g in steps.release_gates(load_catalog(project), zones, DATASET, n)
        for e in g.expectations
        if not e.passed
    ]
    assert not failing
    quality = {n: stored.stored_report(zones, DATASET, n).scorecard["quality"] for n in names}
    best = max(quality, key=quality.__getitem__)
    other = next(n for n in names if n != best)
    released = {k.path[-1] for k in materialized(result) if k.path[1] == "release"}
    assert released == {best}
    assert len(released_versions(anon_home)) == 2  # one version folder and LATEST
    why = _why_not_released(zones, dg.AssetKey([DATASET, "release", other]))
    assert why == f"passed every gate; release policy 'best': '{best}' ranks higher by quality"


# --- failing gates keep the release zone untouched -----------------------------------------------


def test_failing_scorecard_gate_blocks_the_release(make_project, anon_home: Path) -> None:
    project = make_project(customers=CUSTOMERS, releases=strict_quality)
    result = run_pipeline(project, anon_home)

    assert not result.success
    evaluations = checks(result)
    assert evaluations["synthetic_tables_gate"].passed
    gate = evaluations["scorecard_gate"]
    assert not gate.passed
    assert REPORT_KEY in materialized(result)
    assert RELEASE_KEY not in materialized(result)
    assert released_versions(anon_home) == []
    audit = last_audit_entry(anon_home)
    assert audit["released"] is False
    assert any("quality >= quality_min" in reason for reason in audit["reasons"])

    report = read_json(Zones(anon_home).report(DATASET, GENERATOR) / "report.json")
    failed = gate.metadata["00 quality >= quality_min"].value
    assert failed["passed"] is False
    assert failed["observed"] == pytest.approx(report["scorecard"]["quality"])
    assert failed["threshold"] == 0.999
    # the real-data reference it was judged against (the holdout scored against train)
    assert failed["reference"] == pytest.approx(report["scorecard"]["quality_reference"])
    assert failed["band"] == pytest.approx(report["scorecard"]["quality_band"])
    assert "quality >= quality_min" in rendered(gate)
    assert "FAIL" in gate.metadata["summary"].value


def test_misdeclared_identifier_is_never_emitted_and_a_leak_fails_the_gate_without_values(
    make_project, anon_home: Path
) -> None:
    def misconfigured_email(plan: dict) -> None:
        customers = plan["datasets"][0]["tables"][0]
        assert customers["name"] == "customers"
        customers["roles"]["email"] = "attribute"
        synthetic_only(plan)

    project = make_project(customers=CUSTOMERS, releases=misconfigured_email)
    sql = project / "dbt_like_sql" / "models" / "bank" / "stg_customers.sql"
    sql.write_text(sql.read_text().replace("    gender,\n", "    email,\n    gender,\n", 1))
    assert "email," in sql.read_text()

    result = run_pipeline(project, anon_home)

    # value protection: every email is held by one training row, so none is ever emitted
    zones = Zones(anon_home)
    raw_emails = pl.read_parquet(zones.raw_table(DATASET, "customers"))["email"]
    normalise = pl.col("email").str.strip_chars().str.to_lowercase()
    known = raw_emails.str.strip_chars().str.to_lowercase().implode()
    synthetic_path = zones.synthetic(DATASET, GENERATOR) / "customers.parquet"
    synthetic = pl.read_parquet(synthetic_path)
    assert synthetic.select(normalise.is_in(known).sum()).item() == 0
    # every synthetic email is the rare placeholder, outside the training domain, and so is
    # every real unseen one: the calibrated domain rule sees no excess over the holdout
    domain = checks(result)["synthetic_tables_gate"].metadata
    (email_rule,) = [v.value for k, v in domain.items() if "customers.email: categories" in k]
    assert email_rule["observed"] == 1.0 and email_rule["reference"] == 1.0
    assert email_rule["passed"] is True

    # a backend that copied them anyway: the identifier expectation names column and count
    leaked = 25
    copied = synthetic.with_columns(
        pl.concat([raw_emails.head(leaked), synthetic["email"].slice(leaked)]).alias("email")
    )
    copied.write_parquet(synthetic_path)
    gate = steps.gate_synthetic(load_catalog(project), zones, DATASET, GENERATOR)
    (failure,) = [
        e
        for e in gate.expectations
        if e.name.endswith("customers: no identifier value of the source")
    ]
    assert failure.passed is False
    assert failure.observed == leaked
    assert failure.threshold == 0
    assert "email" in failure.detail
    assert str(leaked) in failure.detail

    text = gate.markdown() + str(gate.as_dict())
    assert "@" not in text
    assert not any(value in text for value in raw_emails.drop_nulls().to_list())


def test_failing_run_keeps_the_previous_release_byte_identical(
    good_run: Run, make_project, anon_home: Path
) -> None:
    shutil.copytree(good_run.home, anon_home, dirs_exist_ok=True)
    release_zone = anon_home / "release" / DATASET
    before = snapshot(release_zone)
    assert f"{good_run.release_folder.name}/manifest.json" in before

    project = make_project(customers=CUSTOMERS, releases=strict_quality)
    result = run_pipeline(project, anon_home)

    assert not result.success
    assert not checks(result)["scorecard_gate"].passed
    after = snapshot(release_zone)
    audit_before, audit_after = before.pop(AUDIT_LOG), after.pop(AUDIT_LOG)
    assert sorted(after) == sorted(before)
    manifest = f"{good_run.release_folder.name}/manifest.json"
    assert after[manifest] == before[manifest]
    assert after == before
    assert audit_after.startswith(audit_before)
    assert len(audit_after.splitlines()) > len(audit_before.splitlines())


def test_release_step_outside_dagster_refuses_after_a_failed_gate(
    make_project, anon_home: Path
) -> None:
    project = make_project(customers=CUSTOMERS, releases=strict_quality)
    catalog = measured_project(project, anon_home, GENERATOR)
    zones = Zones(anon_home)
    assert not steps.gate_report(catalog, zones, DATASET, GENERATOR).passed
    before = snapshot(anon_home)

    with pytest.raises(ReleaseError, match="scorecard"):
        steps.release(catalog, zones, DATASET, GENERATOR)

    after = snapshot(anon_home)
    audit = f"release/{DATASET}/{AUDIT_LOG}"
    assert audit not in before
    assert json.loads(after.pop(audit))["released"] is False
    assert after == before


def test_a_release_that_needs_identifiers_gets_fakes_that_never_equal_a_source_value(
    make_project, anon_home: Path
) -> None:
    def fake_contacts(plan: dict) -> None:
        synthetic_only(plan)
        plan["datasets"][0]["tables"][0]["fake"] = {"email": "email", "national_id": "national_id"}

    project = make_project(customers=CUSTOMERS, releases=fake_contacts)
    result = run_pipeline(project, anon_home)

    assert result.success
    assert checks(result)["synthetic_tables_gate"].passed
    released = read_tables(Zones(anon_home).release_dataset(DATASET).glob("*/tables").__next__())
    customers = released["customers"]
    assert customers["email"].str.contains("@").all()
    raw = pl.read_parquet(Zones(anon_home).raw_table(DATASET, "customers"))
    for column in ("email", "national_id"):
        known = raw[column].str.to_lowercase().implode()
        assert not customers[column].str.to_lowercase().is_in(known).any(), column
    assert "full_name" not in customers.columns
