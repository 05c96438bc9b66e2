"""`anon evaluate`: the quality report and scorecard gate of one synthetic table.

    anon evaluate --train F --holdout F --synthetic F [-c config.yml] [--target COL]
                  [--json F] [--html F]

F is a csv or parquet file; the three share the train file's columns (holdout and synthetic
need only the modelled ones). Column types come from the train file. Without `-c`, every column
is an `attribute` and `--target` the target. `-c config.yml` states the rest (every key
optional):

    name: customers                    # table name in the report (default: the train file's)
    columns: {email: identifier, age: quasi_identifier, income: sensitive}
    primary_key: customer_id
    target: churned
    thresholds: {quality_min: 0.8, risk_max: 0.1}        # catalog.specs.Thresholds
    evaluation: {linkability_attacks: 200}               # catalog.specs.EvaluationSettings

Exit status: 0 when every gate expectation passes, 3 when one fails, 2 on bad input (a missing
or unreadable file, an unknown column, a value of the wrong type, an invalid config).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import Field

from anon_platform.catalog.schema import DatasetSchema, TableSchema
from anon_platform.catalog.specs import (
    NAME_PATTERN,
    EvaluationSettings,
    Role,
    Strict,
    Thresholds,
)
from anon_platform.catalog.yaml_files import load_yaml_spec
from anon_platform.errors import SourceDataError
from anon_platform.gates.results import GateResult
from anon_platform.sources.files import FORMATS, read_typed_table
from anon_platform.sources.files import table_schema as shared_table_schema
from anon_platform.sources.readers import coerce_column
from anon_platform.storage import atomic_path, write_json

EXIT_FAILED_GATE = 3


class EvaluateConfig(Strict):
    """The file given to `anon evaluate -c` (see the module docstring)."""

    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    columns: dict[str, Role] = Field(default_factory=dict)
    primary_key: str | None = None
    target: str | None = None
    thresholds: Thresholds = Field(default_factory=Thresholds)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)


def load_config(path: Path | None) -> EvaluateConfig:
    """The validated `-c` file (defaults without one); CatalogError names the file and problem."""
    if path is None:
        return EvaluateConfig()
    return load_yaml_spec(path, EvaluateConfig)


def read_input(path: Path, flag: str) -> pl.DataFrame:
    """One input file; SourceDataError naming the flag and path when it is missing or empty."""
    table = flag.lstrip("-")
    if not path.is_file():
        raise SourceDataError(table, None, f"{flag} file not found: {path}")
    if path.suffix.lower() not in FORMATS:
        raise SourceDataError(table, None, f"{flag} {path} is not a .csv or .parquet file")
    read = read_typed_table(path, table)
    for note in read.notes:
        print(f"note: {note}", file=sys.stderr)
    frame = read.frame
    if frame.height == 0:
        raise SourceDataError(table, None, f"{flag} {path} has no rows")
    return frame


def table_schema(
    config: EvaluateConfig, train: pl.DataFrame, target: str | None, source: str
) -> TableSchema:
    """The one-table schema: types from the train frame, roles from the config (or attribute)."""
    name = config.name or re.sub(r"\W", "_", Path(source).stem) or "table"
    if not re.match(NAME_PATTERN, name):
        name = f"t_{name}"
    return shared_table_schema(
        name,
        train,
        f"the train file {source}",
        roles=config.columns,
        primary_key=config.primary_key,
        target=target or config.target,
    )


def modelled_frame(table: TableSchema, frame: pl.DataFrame, flag: str, path: Path) -> pl.DataFrame:
    """The modelled columns of `frame` in the schema's types; SourceDataError for a missing or
    unknown column or a value that does not convert (its message names the file, no value)."""
    label = flag.lstrip("-")
    known = set(table.column_names)
    unknown = [c for c in frame.columns if c not in known]
    if unknown:
        raise SourceDataError(
            label, unknown[0], f"{flag} {path}: column(s) not in the train file: {unknown}"
        )
    out = []
    for column in table.modelled_columns:
        if column.name not in frame.columns:
            raise SourceDataError(label, column.name, f"{flag} {path}: modelled column missing")
        try:
            out.append(coerce_column(label, frame[column.name], column.type))
        except SourceDataError as err:
            raise SourceDataError(label, column.name, f"{flag} {path}: {err.problem}") from None
    return pl.DataFrame(out)


def scorecard_lines(scorecard: dict[str, float], gates: list[GateResult]) -> list[str]:
    """The printed scorecard: metric, value, threshold and result of its gate expectations
    (with the real-data reference and band the rule judged against),
    then the expectations that belong to no metric, then the failures with their detail."""
    from anon_platform.html_report import metric_of

    checks: dict[str, list] = {}
    loose = []
    for gate in gates:
        for e in gate.expectations:
            metric = metric_of(e, list(scorecard))
            if metric is None:
                loose.append(e)
            else:
                checks.setdefault(metric, []).append(e)
    lines = [f"{'metric':<28} {'value':>10}  {'threshold':>10}  result"]
    for metric, value in scorecard.items():
        found = checks.get(metric) or [None]
        for e in found:
            threshold = "" if e is None else _short(e.threshold)
            result = "" if e is None else ("pass" if e.passed else "FAIL")
            if e is not None and e.reference is not None:  # what real unseen rows score
                result += f"  (reference {_short(e.reference)}"
                result += f", band {_short(e.band)})" if e.band is not None else ")"
            lines.append(f"{metric:<28} {_short(value):>10}  {threshold:>10}  {result}")
    for e in loose:
        lines.append(
            f"{e.name:<28} {_short(e.observed):>10}  {_short(e.threshold):>10}  "
            + ("pass" if e.passed else "FAIL")
        )
    for gate in gates:
        lines.append(f"gate {gate.gate}: {'PASSED' if gate.passed else 'FAILED'}")
        lines += [f"  failed: {e.name} ({e.detail})" for e in gate.failures]
    return lines


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Measure, gate, print the scorecard; write --json and --html; 0 pass, 3 a gate failed."""
    paths = {flag: Path(getattr(args, flag.lstrip("-"))) for flag in FLAGS}
    config = load_config(Path(args.config) if args.config else None)
    frames = {flag: read_input(path, flag) for flag, path in paths.items()}
    table = table_schema(config, frames["--train"], args.target, str(paths["--train"]))
    schema = DatasetSchema(name=table.name, tables=(table,))
    data = {
        flag: {table.name: modelled_frame(table, frames[flag], flag, path)}
        for flag, path in paths.items()
    }
    from anon_platform.evaluation import evaluate_dataset
    from anon_platform.gates import check_scorecard

    report = evaluate_dataset(
        schema,
        data["--train"],
        data["--holdout"],
        data["--synthetic"],
        settings=config.evaluation,
        seed=0,
        alpha=config.thresholds.dcr_share_alpha,
    )
    report = report.model_copy(
        update={"dataset": schema.name, "generator": paths["--synthetic"].name}
    )
    gates = [check_scorecard(report.scorecard, config.thresholds)]
    print("\n".join(scorecard_lines(report.scorecard, gates)))
    if args.json:
        write_json({**report.to_json(), "gates": [g.as_dict() for g in gates]}, Path(args.json))
        print(f"report written to {args.json}")
    if args.html:
        from anon_platform.html_report import render_report_html

        page = render_report_html(
            report, schema, data["--train"], data["--synthetic"], config.evaluation, gates
        )
        with atomic_path(Path(args.html)) as tmp:
            tmp.write_text(page, encoding="utf-8")
        print(f"HTML report written to {args.html}")
    return 0 if all(g.passed for g in gates) else EXIT_FAILED_GATE


FLAGS = ("--train", "--holdout", "--synthetic")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `anon evaluate` to the CLI."""
    parser = subparsers.add_parser(
        "evaluate",
        help="quality report and gates of one synthetic table against train and holdout",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for flag in FLAGS:
        parser.add_argument(flag, required=True, metavar="FILE", help="csv or parquet file")
    parser.add_argument("-c", "--config", metavar="YAML", help="roles, thresholds, settings")
    parser.add_argument("--target", metavar="COL", help="the target column (TSTR utility)")
    parser.add_argument("--json", metavar="FILE", help="write the report as JSON")
    parser.add_argument("--html", metavar="FILE", help="write the self-contained HTML report")
    parser.set_defaults(func=cmd_evaluate)
