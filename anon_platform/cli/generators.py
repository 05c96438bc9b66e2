"""`anon train` and `anon generate`: train any registered generator on files, sample from it.

    anon train PATH --generator NAME --out DIR [-c config.yml] [--epochs N] [--seed S]
               [--target COL] [--param KEY=VALUE ...] [--epsilon E] [--delta D] [--min-rows N]
    anon generate DIR -n N --out PATH [--seed S] [--where COL=VALUE ...] [--format csv|parquet]
                  [--shard-rows R] [--workers K --worker I]
    anon generate DIR --context PARENTS --out PATH [--seed S] [...]
    anon combine PART... --out PATH

PATH is a csv/parquet file (one table) or a folder of them (one table per file, named after the
file). Without `-c`, column types come from the file and roles are inferred, then printed:

- an `id`-like column (`id`, `*_id`, `*Id`) whose values are unique and never null is the
  table's primary key (the first one); in a folder, a column named like another table's primary
  key whose values all occur there is a foreign key to it;
- obvious direct identifiers by name (name, email, phone, national id, ssn, iban, ...) get role
  `identifier`: they never reach the generator, and `anon generate` fills them with fake values
  of the same kind (anon_platform.generators.identifiers);
- a string column with at least 20 values, 95 % of them distinct (an account reference not named
  like an identifier), is an `identifier` too, filled with fake tokens (a note says so);
- the `--target` column gets role `target`; everything else is an `attribute`.

`-c config.yml` states the tables instead (every key optional except `name`):

    tables:
      - name: customers            # the file customers.csv / customers.parquet under PATH
        primary_key: customer_id
        target: churned
        roles: {email: identifier, age: quasi_identifier, income: sensitive}
        fake: {email: email}       # kind of fake values for an identifier column
      - name: transactions
        primary_key: transaction_id
        foreign_keys:
          - {column: customer_id, references: customers.customer_id}

`--param KEY=VALUE` sets a backend parameter (the value is read as YAML: `3`, `0.5`, `[64, 64]`);
`--epochs`, `--epsilon` and `--delta` are shorthands for the parameters of those names, which a
backend without them rejects. Files are read by anon_platform.sources.files (a `;`, tab or `|`
separator is sniffed; duplicate column names, infinite numbers and dates in mixed formats are
refused), and a table with fewer than `--min-rows` rows (default 50) is refused: a generator
learning from a handful of people reproduces them. `--out` of generate is a .csv/.parquet file
for a one-table model, else a folder that receives one file per table.

`anon generate` samples in seeded shards of `--shard-rows` root rows (anon_platform/generators/
shards.py), holding one shard in memory and appending it to the files. The rows depend on -n,
--seed and --shard-rows only. `--workers K --worker I` writes only worker I's contiguous run of
the shards, so K processes (or machines) can share them; `anon combine` joins their outputs,
given in worker order, into the bytes one process writes:

    anon generate model -n 1000000 --workers 3 --worker 0 --out part0 --format parquet
    ...                                        --worker 2 --out part2
    anon combine part0 part1 part2 --out synthetic

`--context PARENTS` (a csv/parquet of root-table rows: a planned customer segment, your own
customers) draws the children of those rows instead of sampling parents (backends that can:
`autoregressive`): the output's root table is the file's rows, typed as the model declares,
with their keys (1..n when the key column is left out); every modelled column must be given, and
a value the model does not emit (a withheld or unknown category, a number beyond the protected
range) is refused with its column and rows. Sequence tables come out as ordered histories.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import yaml
from pydantic import Field

from anon_platform.catalog.schema import DatasetSchema, TableSchema
from anon_platform.catalog.specs import (
    DEFAULT_SHARD_ROWS,
    MAX_SHARD_ROWS,
    MIN_ROWS,
    MIN_SHARD_ROWS,
    NAME_PATTERN,
    ColumnType,
    ForeignKey,
    Role,
    SequenceSpec,
    Strict,
    sequence_problem,
)
from anon_platform.catalog.yaml_files import load_yaml_spec
from anon_platform.errors import CatalogError, GeneratorError, SourceDataError
from anon_platform.generators.identifiers import (
    FakeKind,
    IdentifierBlocklist,
    fill_identifiers,
    infer_kind,
)
from anon_platform.sources.files import (
    FORMATS,
    column_type,
    read_typed_table,
    refuse_too_few_rows,
    table_schema,
)
from anon_platform.storage import combine_table_files, read_json, table_writers, write_json

if TYPE_CHECKING:  # the backends (SDV, torch) load only when a command needs them
    from anon_platform.common.progress import ProgressEvent
    from anon_platform.generators import Generator

IDENTIFIERS_FILE = "identifiers.json"
_ID_LIKE = re.compile(r"(^id$|_id$|[a-z]Id$)")
# a string column with at least this many values, this share of them distinct, is inferred
# to be an identifier (one value per person is learned, and sampled, as that person's value)
NEAR_UNIQUE_RATIO = 0.95
NEAR_UNIQUE_MIN_VALUES = 20


class TableConfig(Strict):
    """One table of `-c config.yml` (see the module docstring)."""

    name: str = Field(pattern=NAME_PATTERN)
    primary_key: str | None = None
    foreign_keys: tuple[ForeignKey, ...] = ()
    target: str | None = None
    roles: dict[str, Role] = Field(default_factory=dict)
    fake: dict[str, FakeKind] = Field(default_factory=dict)
    sequence: SequenceSpec | None = None


class TrainConfig(Strict):
    """The file given to `anon train -c`."""

    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    tables: tuple[TableConfig, ...] = Field(min_length=1)


# --- reading the input ---------------------------------------------------------------------


def input_files(path: Path) -> dict[str, Path]:
    """Table name -> file for a csv/parquet file or a folder of them."""
    if not path.exists():
        raise SourceDataError(path.stem, None, f"input {path} does not exist")
    if path.is_file():
        if path.suffix.lower() not in FORMATS:
            raise SourceDataError(path.stem, None, f"{path} is not a .csv or .parquet file")
        return {path.stem: path}
    files = {p.stem: p for p in sorted(path.iterdir()) if p.suffix.lower() in FORMATS}
    if not files:
        raise SourceDataError(path.name, None, f"folder {path} holds no .csv or .parquet file")
    return files


def read_frames(files: dict[str, Path], min_rows: int) -> dict[str, pl.DataFrame]:
    """Each file read and typed (anon_platform.sources.files), its notes printed to stderr;
    SourceDataError for a table with fewer than `min_rows` rows."""
    frames = {}
    for name, path in files.items():
        read = read_typed_table(path, name)
        for note in read.notes:
            print(f"note: {note}", file=sys.stderr)
        refuse_too_few_rows(name, read.frame.height, min_rows)
        frames[name] = read.frame
    return frames


def near_unique(series: pl.Series) -> bool:
    """A string column whose values are (almost) all different, like an account reference:
    at least NEAR_UNIQUE_MIN_VALUES values, of which a NEAR_UNIQUE_RATIO share distinct."""
    values = series.drop_nulls()
    return (
        series.dtype == pl.String
        and values.len() >= NEAR_UNIQUE_MIN_VALUES
        and values.n_unique() >= NEAR_UNIQUE_RATIO * values.len()
    )


def _is_unique_key(series: pl.Series) -> bool:
    return (
        series.null_count() == 0
        and series.n_unique() == series.len()
        and column_type(series.dtype) in (ColumnType.INTEGER, ColumnType.STRING)
    )


def infer_table(
    name: str, frame: pl.DataFrame, target: str | None
) -> tuple[TableConfig, dict[str, FakeKind]]:
    """Primary key, roles and fake-value kinds inferred from names and values of one table:
    identifiers by name (fake of that kind) and near-unique string columns (fake tokens)."""
    primary_key = next(
        (c for c in frame.columns if _ID_LIKE.search(c) and _is_unique_key(frame[c])), None
    )
    roles: dict[str, Role] = {}
    fake: dict[str, FakeKind] = {}
    for column in frame.columns:
        if column == primary_key:
            continue
        kind = infer_kind(column)
        if kind is None and near_unique(frame[column]):
            kind = "token"
        if kind is not None and column != target:
            roles[column] = Role.IDENTIFIER
            fake[column] = kind
    if target not in frame.columns:
        target = None
    if target is not None:
        roles[target] = Role.TARGET
    table = TableConfig(name=name, primary_key=primary_key, target=target, roles=roles)
    return table, fake


def infer_foreign_keys(
    tables: dict[str, TableConfig], frames: dict[str, pl.DataFrame]
) -> dict[str, TableConfig]:
    """Add a foreign key wherever a column is named like another table's primary key and every
    value of it occurs there (at most one parent per table, the first such column)."""
    out = dict(tables)
    for name, table in tables.items():
        for parent_name, parent in tables.items():
            key = parent.primary_key
            if parent_name == name or key is None or key == table.primary_key:
                continue
            if key not in frames[name].columns:
                continue
            values = frames[name][key].drop_nulls()
            if values.is_in(frames[parent_name][key].implode()).all():
                fk = ForeignKey(column=key, references=f"{parent_name}.{key}")
                roles = {**table.roles, key: Role.KEY}
                out[name] = table.model_copy(update={"foreign_keys": (fk,), "roles": roles})
                break
    return out


def load_config(path: Path) -> TrainConfig:
    """The validated `-c` file; CatalogError names the file and each problem."""
    return load_yaml_spec(path, TrainConfig)


def config_schema(config: TableConfig, frame: pl.DataFrame, path: Path) -> TableSchema:
    """The TableSchema of a frame under a table config (checking that named columns exist)."""
    for column in config.fake:
        if column not in frame.columns:
            raise CatalogError(f"table '{config.name}': no column '{column}' in {path}")
    schema = table_schema(
        config.name,
        frame,
        str(path),
        roles=config.roles,
        primary_key=config.primary_key,
        foreign_keys=config.foreign_keys,
        target=config.target,
    )
    if config.sequence is not None:
        problem = sequence_problem(
            config.sequence, {c.name: c.type for c in schema.columns}, config.foreign_keys
        )
        if problem:
            raise CatalogError(f"table '{config.name}': sequence: {problem} ({path})")
        schema = schema.model_copy(update={"sequence": config.sequence})
    return schema


def build_dataset(
    path: Path, config_path: Path | None, target: str | None, min_rows: int = MIN_ROWS
) -> tuple[DatasetSchema, dict[str, pl.DataFrame], dict[str, dict[str, FakeKind]]]:
    """The schema, the frames and the fake-value kinds of identifier columns for `anon train`;
    SourceDataError for a file the reader refuses or a table below `min_rows` rows."""
    files = input_files(path)
    if config_path is not None:
        config = load_config(config_path)
        unknown = [t.name for t in config.tables if t.name not in files]
        if unknown:
            raise CatalogError(
                f"{config_path}: table(s) {unknown} have no file under {path} "
                f"(found: {', '.join(files)})"
            )
        frames = read_frames({t.name: files[t.name] for t in config.tables}, min_rows)
        tables = {t.name: t for t in config.tables}
        fakes = {
            t.name: {
                c: t.fake.get(c) or infer_kind(c) or "token"
                for c, role in t.roles.items()
                if role == Role.IDENTIFIER
            }
            for t in config.tables
        }
        name = config.name or path.stem
    else:
        frames = read_frames(files, min_rows)
        if target is not None and not any(target in f.columns for f in frames.values()):
            raise CatalogError(f"--target '{target}' is not a column of {path}")
        inferred = {n: infer_table(n, f, target) for n, f in frames.items()}
        tables = infer_foreign_keys({n: t for n, (t, _) in inferred.items()}, frames)
        fakes = {n: fake for n, (_, fake) in inferred.items()}
        for table_name, fake in fakes.items():
            for column in [c for c in fake if infer_kind(c) is None]:
                print(
                    f"note: table '{table_name}', column '{column}': near-unique "
                    f"({frames[table_name][column].n_unique():,} distinct values in "
                    f"{frames[table_name].height:,} rows), so inferred as an identifier (never "
                    "learned, filled with fake tokens); give it a role with -c config.yml",
                    file=sys.stderr,
                )
        name = re.sub(r"\W", "_", path.stem) or "dataset"
    schemas = tuple(config_schema(tables[n], frames[n], files[n]) for n in tables)
    roots = [t.name for t in schemas if not t.foreign_keys]
    if len(roots) != 1:
        raise CatalogError(
            f"{path}: the tables must form one tree with one root table (no foreign key); "
            f"found roots {roots}: give the foreign keys with -c config.yml"
        )
    return DatasetSchema(name=name, tables=schemas), frames, fakes


def describe_schema(
    schema: DatasetSchema, frames: dict[str, pl.DataFrame], fakes: dict[str, dict[str, str]]
) -> str:
    """A printable summary of tables, rows, keys and the role of every column."""
    lines = []
    for table in schema.tables:
        keys = f"primary key {table.primary_key or '-'}"
        for fk in table.foreign_keys:
            keys += f", {fk.column} -> {fk.references}"
        lines.append(f"{table.name}: {frames[table.name].height:,} rows, {keys}")
        for column in table.columns:
            fake = fakes[table.name].get(column.name)
            note = f" (fake {fake})" if column.role == Role.IDENTIFIER and fake else ""
            lines.append(f"  {column.name:<28} {column.type.value:<9} {column.role.value}{note}")
    return "\n".join(lines)


# --- parameters and progress ---------------------------------------------------------------


def parse_assignments(items: list[str], flag: str) -> dict[str, Any]:
    """KEY=VALUE strings -> dict, each value read as YAML; GeneratorError on a malformed one."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise GeneratorError(f"{flag} '{item}': expected KEY=VALUE")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            out[key.strip()] = value
    return out


def generator_params(args: argparse.Namespace) -> dict[str, Any]:
    """Backend parameters from --param plus the --epochs/--epsilon/--delta shorthands."""
    params = parse_assignments(args.param or [], "--param")
    for name in ("epochs", "epsilon", "delta"):
        value = getattr(args, name)
        if value is not None:
            params[name] = value
    return params


class ProgressBar:
    """A tqdm bar fed by ProgressEvents (created on the first event, so silent backends that
    report nothing draw nothing)."""

    def __init__(self) -> None:
        self.bar: Any = None

    def __call__(self, event: ProgressEvent) -> None:
        from tqdm import tqdm

        if self.bar is None or self.bar.total != event.total:
            self.close()
            self.bar = tqdm(total=event.total, unit="step", dynamic_ncols=True)
        postfix = {}
        if event.loss is not None:
            postfix["loss"] = f"{event.loss:.4f}"
        if event.rows_per_second is not None:
            postfix["rows/s"] = f"{event.rows_per_second:,.0f}"
        if event.message:
            postfix["at"] = event.message
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(event.step - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# --- the commands --------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> int:
    """Train a generator on PATH and save it as an artifact in --out."""
    input_files(Path(args.path))  # a missing input fails before the backends load
    from anon_platform.generators import generator_class

    backend = generator_class(args.generator)
    params = generator_params(args)
    backend.validate_params(params)
    out = Path(args.out)
    is_model = out.is_dir() and (out / "model.json").is_file()
    if out.exists() and not is_model and (out.is_file() or any(out.iterdir())):
        # saving replaces the folder: never let that delete a folder of other files
        raise GeneratorError(
            f"--out {out} exists and is not a model folder; give a new or empty folder"
        )
    config = Path(args.config) if args.config else None
    schema, frames, fakes = build_dataset(Path(args.path), config, args.target, args.min_rows)
    print(describe_schema(schema, frames, fakes))
    model = backend(schema, params, args.seed)
    bar = ProgressBar()
    try:
        model.fit(frames, bar)
    finally:
        bar.close()
    model.save(out)
    identifiers = {t: f for t, f in fakes.items() if f}
    if identifiers:
        blocklist = IdentifierBlocklist.from_values(
            {f"{t}.{c}": frames[t][c] for t, cols in identifiers.items() for c in cols}
        )
        write_json({"kinds": identifiers, **blocklist.to_json()}, out / IDENTIFIERS_FILE)
    card = model.card
    print(
        f"trained {card.generator} on {card.rows_trained_on} rows in "
        f"{card.training_seconds} s on {card.device}; saved to {out}"
    )
    return 0


def _typed_conditions(model: Generator, items: list[str]) -> dict[str, Any]:
    """--where COL=VALUE items, each value cast to the root column's declared type."""
    raw = parse_assignments(items, "--where")
    root = model.schema.root
    types = {c.name: c for c in root.modelled_columns}
    conditions: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in types:
            raise GeneratorError(
                f"--where: '{name}' is not a modelled column of table '{root.name}' "
                f"(known: {', '.join(types)})"
            )
        kind = types[name].type
        try:
            if kind == ColumnType.INTEGER:
                value = int(value)
            elif kind == ColumnType.FLOAT:
                value = float(value)
            elif kind == ColumnType.STRING:
                value = str(value)
        except (TypeError, ValueError):
            raise GeneratorError(
                f"--where: '{name}' is {kind.value}; cannot use that value"
            ) from None
        conditions[name] = value
    return conditions


def output_targets(tables: list[str], out: Path, file_format: str) -> dict[str, Path]:
    """Table -> file to write: `out` itself when it ends in .csv/.parquet (one-table models
    only), else `<out>/<table>.<file_format>`."""
    if out.suffix.lower() in FORMATS:
        if len(tables) != 1:
            raise GeneratorError(
                f"--out {out}: the model has {len(tables)} tables ({', '.join(tables)}); "
                "give a folder instead of a file"
            )
        return {tables[0]: out}
    return {name: out / f"{name}.{file_format}" for name in tables}


def _with_fake_identifiers(
    schema: DatasetSchema,
    tables: dict[str, pl.DataFrame],
    kinds: dict[str, dict[str, FakeKind]],
    blocklist: IdentifierBlocklist,
    seed: int,
) -> dict[str, pl.DataFrame]:
    """The tables with their identifier columns filled with fake values, in schema order."""
    filled = {
        name: fill_identifiers(frame, kinds.get(name, {}), blocklist, seed)
        for name, frame in tables.items()
    }
    return {
        t.name: filled[t.name].select([c for c in t.column_names if c in filled[t.name].columns])
        for t in schema.tables
    }


def _check_sharding(args: argparse.Namespace) -> None:
    """Refuse absurd --shard-rows, --workers and --worker before the model loads."""
    if not MIN_SHARD_ROWS <= args.shard_rows <= MAX_SHARD_ROWS:
        raise GeneratorError(
            f"--shard-rows {args.shard_rows:,}: give {MIN_SHARD_ROWS:,} to {MAX_SHARD_ROWS:,} "
            f"root rows per shard (default {DEFAULT_SHARD_ROWS:,}); one process holds one shard "
            "in memory"
        )
    if args.workers < 1:
        raise GeneratorError(
            f"--workers {args.workers}: give at least 1 (how many processes share the shards)"
        )
    if not 0 <= args.worker < args.workers:
        raise GeneratorError(
            f"--worker {args.worker}: with --workers {args.workers}, give a worker number from "
            f"0 to {args.workers - 1}"
        )


def _context_rows(args: argparse.Namespace, model: Generator) -> pl.DataFrame | None:
    """The --context file's rows typed as the model's root table, or None without one."""
    if args.context is None:
        if args.n is None:
            raise GeneratorError("give -n ROWS (how many root rows to sample) or --context FILE")
        return None
    if args.n is not None or args.where:
        raise GeneratorError(
            "--context gives the root rows themselves: drop -n and --where (the file's rows "
            "are the parents; edit the file to choose them)"
        )
    path = Path(args.context)
    if not path.is_file() or path.suffix.lower() not in FORMATS:
        raise GeneratorError(f"--context {path}: give an existing .csv or .parquet file")
    read = read_typed_table(path, model.schema.root.name)
    for note in read.notes:
        print(f"note: {note}", file=sys.stderr)
    try:
        parents = model.typed_parents(read.frame)
        notes = model.parent_notes(parents)
    except GeneratorError as err:
        raise GeneratorError(f"--context {path}: {err}") from None
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return parents


def cmd_generate(args: argparse.Namespace) -> int:
    """Sample N root rows (and their children) from a saved model, or the children of the
    --context file's rows, in seeded shards and write the shards of worker --worker of
    --workers to --out, shard by shard."""
    if args.n is not None and args.n < 1:
        raise GeneratorError(f"-n {args.n}: ask for at least 1 row")
    _check_sharding(args)
    folder = Path(args.model)
    if not folder.is_dir():
        raise GeneratorError(f"model folder {folder} does not exist")
    from anon_platform.generators import load_generator
    from anon_platform.generators.shards import plan_shards, sample_shard, shard_seed

    model = load_generator(folder)
    parents = _context_rows(args, model)
    conditions = _typed_conditions(model, args.where) if args.where else None
    rows = args.n if parents is None else parents.height
    asked = f"-n {rows:,}" if parents is None else f"--context's {rows:,} rows"
    plan = plan_shards(rows, args.shard_rows, model.sample_seed(args.seed))
    if args.workers > plan.count:
        raise GeneratorError(
            f"--workers {args.workers}: {asked} in shards of --shard-rows "
            f"{args.shard_rows:,} makes {plan.count} shard(s); use at most {plan.count} "
            "worker(s), or a smaller --shard-rows"
        )
    shards = plan.for_worker(args.worker, args.workers)
    identifiers_path = folder / IDENTIFIERS_FILE
    stored = read_json(identifiers_path) if identifiers_path.is_file() else None
    blocklist = IdentifierBlocklist.from_json(stored) if stored else None
    kinds = stored["kinds"] if stored is not None else {}
    if parents is not None:  # identifiers the user gave with their parent rows stay theirs
        root = model.schema.root.name
        kinds = {**kinds, root: {c: k for c, k in kinds.get(root, {}).items()
                                 if c not in parents.columns}}  # fmt: skip
    fake_seed = model.seed if args.seed is None else args.seed
    names = [t.name for t in model.schema.tables]
    targets = output_targets(names, Path(args.out), args.format)
    with table_writers(targets) as writers:
        for shard in shards:
            if plan.count > 1:
                print(
                    f"shard {shard.index + 1} of {plan.count}: {shard.rows:,} root rows",
                    file=sys.stderr,
                )
            tables = sample_shard(model, plan, shard, conditions, parents)
            if stored is not None and blocklist is not None:
                tables = _with_fake_identifiers(
                    model.schema,
                    tables,
                    kinds,
                    blocklist,
                    shard_seed(fake_seed, shard.index),
                )
            for name, frame in tables.items():
                writers[name].write(frame)
    part = "" if args.workers == 1 else f" (worker {args.worker} of {args.workers})"
    for name, path in targets.items():
        print(f"wrote {writers[name].rows:,} rows to {path}{part}")
    return 0


def cmd_combine(args: argparse.Namespace) -> int:
    """Join the outputs of `anon generate --workers K` (given in worker order) into --out,
    streaming: the bytes one `anon generate` of all the shards writes."""
    parts = [Path(p) for p in args.parts]
    missing = [str(p) for p in parts if not p.exists()]
    if missing:
        raise GeneratorError(f"no such part: {', '.join(missing)}")
    out = Path(args.out)
    if all(p.is_file() for p in parts):
        plan = {out: parts}
    elif all(p.is_dir() for p in parts):
        names = [sorted(f.name for f in p.iterdir() if f.suffix.lower() in FORMATS) for p in parts]
        if not names[0] or any(n != names[0] for n in names):
            raise GeneratorError(
                "the part folders must hold the same table files: "
                + "; ".join(
                    f"{p}: {', '.join(n) or 'none'}" for p, n in zip(parts, names, strict=True)
                )
            )
        plan = {out / name: [p / name for p in parts] for name in names[0]}
    else:
        raise GeneratorError("give either files (one-table models) or folders as parts, not both")
    for target, files in plan.items():
        if target.suffix.lower() != files[0].suffix.lower():
            raise GeneratorError(f"--out {target}: the parts are {files[0].suffix} files")
        try:
            rows = combine_table_files(files, target)
        except ValueError as err:
            raise GeneratorError(str(err)) from None
        print(f"wrote {rows:,} rows to {target}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `train` and `generate` to the `anon` command line."""
    train = subparsers.add_parser(
        "train",
        help="train a generator on a csv/parquet file or a folder of them",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("path", help="a .csv/.parquet file, or a folder of them")
    train.add_argument("--generator", required=True, help="a registered backend, e.g. tvae")
    train.add_argument("--out", required=True, help="folder to save the model artifact in")
    train.add_argument("-c", "--config", help="YAML with tables, keys and roles")
    train.add_argument("--epochs", type=int, help="shorthand for --param epochs=N")
    train.add_argument("--epsilon", type=float, help="shorthand for --param epsilon=E")
    train.add_argument("--delta", type=float, help="shorthand for --param delta=D")
    train.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    train.add_argument("--target", help="column with role target (label for utility)")
    train.add_argument(
        "--min-rows",
        type=int,
        default=MIN_ROWS,
        help=f"refuse a table with fewer rows (default {MIN_ROWS}: a generator learning from "
        "a handful of people reproduces them)",
    )
    train.add_argument(
        "--param", action="append", metavar="KEY=VALUE", help="a backend parameter (repeatable)"
    )
    train.set_defaults(func=cmd_train)

    generate = subparsers.add_parser("generate", help="sample synthetic rows from a trained model")
    generate.add_argument("model", help="folder written by `anon train`")
    generate.add_argument("-n", type=int, help="rows of the root table (or give --context)")
    generate.add_argument(
        "--context",
        metavar="FILE",
        help="a .csv/.parquet of root-table rows (e.g. a planned customer segment): their "
        "children are drawn instead of sampling parents; the file's rows and keys are kept",
    )
    generate.add_argument("--out", required=True, help="a .csv/.parquet file, or a folder")
    generate.add_argument("--seed", type=int, help="sampling seed (default: the model's)")
    generate.add_argument(
        "--where", action="append", metavar="COL=VALUE", help="fix a root column (repeatable)"
    )
    generate.add_argument(
        "--format", choices=["csv", "parquet"], default="csv", help="file format in a folder"
    )
    generate.add_argument(
        "--shard-rows",
        type=int,
        default=DEFAULT_SHARD_ROWS,
        help=f"root rows per seeded shard (default {DEFAULT_SHARD_ROWS:,}); the rows depend on "
        "it, never on --workers",
    )
    generate.add_argument(
        "--workers", type=int, default=1, help="processes sharing the shards (default 1)"
    )
    generate.add_argument(
        "--worker",
        type=int,
        default=0,
        help="which of them this is, 0..workers-1 (default 0): it writes its run of shards",
    )
    generate.set_defaults(func=cmd_generate)

    combine = subparsers.add_parser(
        "combine",
        help="join the outputs of `anon generate --workers K` into one, streaming",
        description="Join the files (or folders of files) that `anon generate --worker I "
        "--workers K` wrote, given in worker order 0..K-1, into --out: byte for byte what one "
        "`anon generate` of all the shards writes.",
    )
    combine.add_argument("parts", nargs="+", help="the workers' --out files or folders, in order")
    combine.add_argument("--out", required=True, help="the combined file or folder")
    combine.set_defaults(func=cmd_combine)
