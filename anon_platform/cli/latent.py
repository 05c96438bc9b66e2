"""`anon encode` and `anon encoder train`: latent encodings outside Dagster.

anon encode ENCODER_DIR DATA --out FILE [--keep COL ...]
    encode a csv/parquet file with an exported encoder (a released `encoder/` folder, or the
    folder `anon encoder train` wrote); columns and types must match the encoder's schema;
    `--keep` copies columns such as your own row id beside the codes.
anon encoder train PATH --out DIR [--target COL] [--bottleneck sparse|dense] [--code-size N]
                   [--active-fraction F] [--dense-size N] [--epochs N] [--exclude COL ...]
    train an encoder on one csv/parquet file and export it to DIR (model.json + export/).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import polars as pl
from pydantic import ValidationError

from anon_platform.catalog.specs import LatentSettings
from anon_platform.latent import lifecycle
from anon_platform.latent.errors import EncoderError
from anon_platform.sources.files import read_typed_table, table_schema


def read_table(path: str) -> pl.DataFrame:
    """A csv or parquet file read and typed by anon_platform.sources.files (its notes printed
    to stderr); EncoderError when it is missing, SourceDataError when the reader refuses it."""
    file = Path(path)
    if not file.is_file():
        raise EncoderError(f"{file}: file not found")
    read = read_typed_table(file)
    for note in read.notes:
        print(f"note: {note}", file=sys.stderr)
    return read.frame


def write_table(frame: pl.DataFrame, path: str) -> Path:
    """Write `frame` as parquet (.parquet) or csv (anything else)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix.lower() == ".parquet":
        frame.write_parquet(target)
    else:
        frame.write_csv(target)
    return target


def cmd_encode(args: argparse.Namespace) -> int:
    encoder = lifecycle.load_encoder(Path(args.encoder_dir))
    frame = read_table(args.data)
    missing = [c for c in args.keep if c not in frame.columns]
    if missing:
        raise EncoderError(f"{args.data}: --keep names no column {missing}")
    codes = encoder.encode(frame, source=f"{args.data}")
    names = lifecycle.code_names(codes.shape[1])
    table = pl.DataFrame(
        {**{c: frame[c] for c in args.keep}, **{n: codes[:, i] for i, n in enumerate(names)}}
    )
    out = write_table(table, args.out)
    print(f"encoded {frame.height:,} rows into {codes.shape[1]}-wide codes: {out}")
    return 0


def _settings(args: argparse.Namespace) -> LatentSettings:
    given = {
        "bottleneck": args.bottleneck,
        "code_size": args.code_size,
        "active_fraction": args.active_fraction,
        "dense_size": args.dense_size,
        "epochs": args.epochs,
    }
    try:
        return LatentSettings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as err:
        problems = "; ".join(
            f"--{str(e['loc'][0]).replace('_', '-')}: {e['msg']}" for e in err.errors()
        )
        raise EncoderError(f"invalid encoder settings: {problems}") from None


def cmd_train(args: argparse.Namespace) -> int:
    settings = _settings(args)
    frame = read_table(args.path)
    for column in [args.target, *args.exclude]:
        if column is not None and column not in frame.columns:
            raise EncoderError(f"{args.path}: no column '{column}' (columns: {frame.columns})")
    frame = frame.drop(args.exclude)
    table = table_schema(Path(args.path).stem, frame, args.path, target=args.target)
    trained = lifecycle.train_encoder(frame, table, settings, args.seed)
    out = lifecycle.save_encoder(trained, Path(args.out), None)
    card = trained.card
    print(
        f"trained a {card['bottleneck']} encoder on {frame.height:,} rows of {args.path} "
        f"({card['code_size']}-wide codes"
        + (
            f", {card['active_units']} active, {card['dead_units']} dead units"
            if card["bottleneck"] == "sparse"
            else ""
        )
        + f") in {card['training_seconds']} s on {card['device']}"
    )
    for column, quality in card["reconstruction"].items():
        print(f"  reconstruction {column}: " + ", ".join(f"{k} {v}" for k, v in quality.items()))
    print(f"exported to {out / lifecycle.EXPORT} (the decoder was not kept)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `encode` and `encoder train` to the `anon` command line."""
    encode = subparsers.add_parser("encode", help="encode a csv/parquet file with an encoder")
    encode.add_argument("encoder_dir", help="exported encoder folder (or its parent)")
    encode.add_argument("data", help="csv or parquet file with the encoder's columns")
    encode.add_argument("--out", required=True, help="output file (.parquet or .csv)")
    encode.add_argument(
        "--keep",
        action="append",
        default=[],
        help="column copied beside the codes, e.g. your row id (repeatable)",
    )
    encode.set_defaults(func=cmd_encode)

    encoder = subparsers.add_parser("encoder", help="train latent encoders outside Dagster")
    actions = encoder.add_subparsers(dest="encoder_command", required=True)
    train = actions.add_parser("train", help="train an encoder on a csv/parquet file")
    train.add_argument("path", help="csv or parquet file to train on")
    train.add_argument("--out", required=True, help="folder to write (model.json + export/)")
    train.add_argument("--target", help="label column: kept out of the codes")
    train.add_argument("--bottleneck", choices=["sparse", "dense"])
    train.add_argument("--code-size", type=int, help="units of a sparse code (default 256)")
    train.add_argument(
        "--active-fraction", type=float, help="share of active units, 0.01-0.10 (default 0.05)"
    )
    train.add_argument("--dense-size", type=int, help="size of a dense code (default 8)")
    train.add_argument("--epochs", type=int, help="at most this many epochs (default 60)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--exclude", action="append", default=[], help="column not to encode (repeatable)"
    )
    train.set_defaults(func=cmd_train)
