"""Benchmark: peak memory of sampling a big synthetic table in one shard against in many.

Data: the shipped demo (demo_data/bank, 5,000 customers, 50,000 transactions). GaussianCopula
trained once per case family (seed 0); each measurement runs in its own subprocess, which
reports its own peak RSS (`getrusage(RUSAGE_SELF).ru_maxrss`) and wall seconds:

- `pipeline`: the synthesize step (`anon_platform.pipeline.steps.synthesize`: sample, copy
  filter against the 4,000-customer train split, write) of the shipped `bank` release's
  gaussian_copula (`default_distribution: beta`, parent context on), `synthetic_rows` 20,000;
- `generate`: `anon generate` of the same backend trained by `anon train demo_data/bank`,
  20,000 customers (parent context on) and 200,000 customers (`parent_context=false`);
- `one-table`: `anon generate` of a customers-only model, 1,000,000 rows.

Identifier columns are left out of `anon generate` (no identifiers.json), so the numbers are
sampling and writing, not Faker.

    .venv/bin/python benchmarks/bench_shards.py            # every case, prints a table
    .venv/bin/python benchmarks/bench_shards.py --quick    # 2,000 / 20,000 / 100,000 rows
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo_data" / "bank"
DATASET = "bank"
GENERATOR = "gaussian_copula"


def peak_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(case: dict) -> dict:
    """One measurement, in this process (called in a fresh subprocess by `measure`)."""
    started = time.perf_counter()
    if case["kind"] == "pipeline":
        from anon_platform.catalog import load_catalog
        from anon_platform.pipeline import steps
        from anon_platform.storage import Zones

        catalog = load_catalog()
        catalog.releases[DATASET] = catalog.releases[DATASET].model_copy(
            update={"synthetic_rows": case["rows"], "shard_rows": case["shard_rows"]}
        )
        result = steps.synthesize(catalog, Zones(case["home"]), DATASET, GENERATOR)
        rows = result.rows
    else:
        from anon_platform.cli.main import main

        out = Path(case["out"])
        argv = ["generate", case["model"], "-n", str(case["rows"]), "--out", str(out)]
        argv += ["--shard-rows", str(case["shard_rows"]), "--format", "parquet"]
        if main(argv) != 0:
            raise SystemExit(f"anon {' '.join(argv)} failed")
        rows = {"written": case["rows"]}
    return {"seconds": round(time.perf_counter() - started, 1), "peak_mb": peak_mb(), "rows": rows}


def measure(case: dict) -> dict:
    """`run_case` in a fresh subprocess: its own peak memory."""
    done = subprocess.run(
        [sys.executable, __file__, "--case", json.dumps(case)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def anon(*args: str) -> None:
    subprocess.run([str(Path(sys.executable).with_name("anon")), *args], check=True)


def pipeline_home(folder: Path) -> Path:
    """An ANON_HOME with the shipped `bank` ingested, staged, split and gaussian_copula trained."""
    from anon_platform.catalog import load_catalog
    from anon_platform.pipeline import steps
    from anon_platform.storage import Zones

    catalog, zones = load_catalog(), Zones(folder)
    for table in catalog.sources[DATASET].tables:
        steps.ingest(catalog, zones, DATASET, table.name)
    for model in catalog.dataset_models(DATASET):
        steps.stage(catalog, zones, DATASET, model.name)
    steps.prepare(catalog, zones, DATASET)
    steps.train(catalog, zones, DATASET, GENERATOR)
    return folder


def trained(folder: Path, data: Path, *params: str) -> Path:
    """`anon train` of gaussian_copula on `data` (with `params`), without identifiers.json."""
    anon(
        "train",
        str(data),
        "--generator",
        GENERATOR,
        "--target",
        "churned",
        "--out",
        str(folder),
        *params,
    )
    (folder / "identifiers.json").unlink(missing_ok=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="10x fewer rows")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(json.loads(args.case))))
        return
    scale = 10 if args.quick else 1
    with tempfile.TemporaryDirectory(prefix="bench_shards_") as tmp:
        root = Path(tmp)
        (root / "customers").mkdir()
        shutil.copy(DEMO / "customers.csv", root / "customers")
        home = pipeline_home(root / "home")
        models = {
            "context": trained(root / "context", DEMO),
            "independent": trained(root / "independent", DEMO, "--param", "parent_context=false"),
            "one-table": trained(root / "one_table", root / "customers" / "customers.csv"),
        }
        cases = [
            ("pipeline, parent context", "pipeline", None, 20_000, [20_000, 5_000]),
            ("generate, parent context", "generate", "context", 20_000, [20_000, 5_000]),
            ("generate, independent", "generate", "independent", 200_000, [200_000, 20_000]),
            ("generate, one table", "generate", "one-table", 1_000_000, [1_000_000, 100_000]),
        ]
        print("| case | root rows | shard_rows | shards | wall s | peak RSS MB |")
        print("|---|---:|---:|---:|---:|---:|")
        for label, kind, model, rows, shard_sizes in cases:
            for shard_rows in shard_sizes:
                n, size = rows // scale, shard_rows // scale
                out = root / f"out_{kind}_{model}_{size}"
                if kind == "generate" and model == "one-table":
                    out = out.with_suffix(".parquet")
                case = {"kind": kind, "home": str(home), "rows": n, "shard_rows": size,
                        "model": str(models.get(model or "", "")), "out": str(out)}  # fmt: skip
                result = measure(case)
                print(
                    f"| {label} | {n:,} | {size:,} | {-(-n // size)} | {result['seconds']} "
                    f"| {result['peak_mb']:,.0f} |",
                    flush=True,
                )
                if out.is_dir():
                    shutil.rmtree(out)
                else:
                    out.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
