"""`anon encode` and `anon encoder train`: latent encodings outside Dagster.

anon encode ENCODER_DIR DATA --out FILE [--keep COL ...]
    encode a csv/parquet file with an exported encoder (a released `encoder/` folder, or the
    folder `anon encoder train` wrote); columns and types must match the encoder's schema;
    `--keep` copies columns such as your own row id beside the codes.
anon encoder train PATH --out DIR [--target COL] [--privacy shipped|none]
                   [--bottleneck sparse|dense|pca] [--code-size N] [--active-fraction F]
                   [--dense-size N] [--epochs N] [--exclude COL ...]
                   [--quasi-identifier COL ...] [--sensitive COL ...]
    train an encoder on one csv/parquet file and export it to DIR (model.json + export/).
    Without bottleneck options it trains the shipped privacy-trained setting
    (catalog.specs.SHIPPED_LATENT_PRIVACY: task-aware VIB, adversarial censoring of the named
    quasi-identifiers and sensitive columns, k-anonymous codes); with them, a plain autoencoder
    unless --privacy shipped is given.
anon encoder evaluate ENCODER --train T --holdout H [--target Y] [--json F]
                      [--quasi-identifier COL ...] [--sensitive COL ...]
    run the latent gate (utility and every attack) on the codes of T and H, print each rule
    with its threshold and verdict; exit 0 when it passes, 3 when a rule fails, 2 on an error.
    Roles come from the encoder's model.json when it has one, else from the flags.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import polars as pl
from pydantic import ValidationError

from anon_platform.catalog.specs import (
    SHIPPED_LATENT_PRIVACY,
    SHIPPED_LATENT_SHAPE,
    LatentPrivacy,
    LatentSettings,
    LatentThresholds,
    Role,
)
from anon_platform.latent import lifecycle
from anon_platform.latent.errors import EncoderError
from anon_platform.sources.files import read_typed_table, table_schema
from anon_platform.storage import read_json, write_json


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


EXIT_FAILED_GATE = 3
SHAPE_OPTIONS = ("bottleneck", "code_size", "active_fraction", "dense_size")


def _privacy(args: argparse.Namespace) -> tuple[dict[str, object], LatentPrivacy | None]:
    """The bottleneck and privacy training `encoder train` uses: the shipped setting unless
    bottleneck options are given (then none, unless --privacy shipped); without a target the
    shipped setting keeps only its k-anonymous codes on the default sparse autoencoder (a
    task-aware code needs a task)."""
    shaped = any(getattr(args, o) is not None for o in SHAPE_OPTIONS)
    choice = args.privacy or ("none" if shaped else "shipped")
    if choice == "none":
        return {}, None
    if args.target is None:
        print(
            "note: no --target: the shipped setting cannot be task-aware; training a sparse "
            f"autoencoder with k-anonymous codes (k {SHIPPED_LATENT_PRIVACY.k_anonymous})",
            file=sys.stderr,
        )
        return {}, LatentPrivacy(k_anonymous=SHIPPED_LATENT_PRIVACY.k_anonymous)
    return ({} if shaped else dict(SHIPPED_LATENT_SHAPE)), SHIPPED_LATENT_PRIVACY


def _settings(args: argparse.Namespace) -> LatentSettings:
    shape, privacy = _privacy(args)
    given = {
        "bottleneck": args.bottleneck,
        "code_size": args.code_size,
        "active_fraction": args.active_fraction,
        "dense_size": args.dense_size,
        "epochs": args.epochs,
    }
    given = {k: v for k, v in given.items() if v is not None}
    given = {**shape, **given}
    if privacy is not None:
        given["privacy"] = privacy
    try:
        return LatentSettings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as err:
        problems = "; ".join(
            (f"--{str(e['loc'][0]).replace('_', '-')}: " if e["loc"] else "") + e["msg"]
            for e in err.errors()
        )
        raise EncoderError(f"invalid encoder settings: {problems}") from None


def cmd_train(args: argparse.Namespace) -> int:
    settings = _settings(args)
    frame = read_table(args.path)
    for column in [args.target, *args.exclude]:
        if column is not None and column not in frame.columns:
            raise EncoderError(f"{args.path}: no column '{column}' (columns: {frame.columns})")
    frame = frame.drop(args.exclude)
    table = table_schema(
        Path(args.path).stem, frame, args.path, roles=_roles(args), target=args.target
    )
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
    if settings.privacy is not None:
        print(f"  privacy training: {settings.privacy.model_dump(mode='json')}")
    print(f"exported to {out / lifecycle.EXPORT} (the decoder was not kept)")
    return 0


def _roles(args: argparse.Namespace) -> dict[str, Role]:
    roles = {c: Role.QUASI_IDENTIFIER for c in args.quasi_identifier}
    roles.update({c: Role.SENSITIVE for c in args.sensitive})
    return roles


def _evaluation_settings(folder: Path, schema: dict) -> tuple[LatentSettings, dict[str, Role]]:
    """Settings and column roles of an encoder: from its model.json (the folder `encoder train`
    wrote, or a release's encoder beside its report), else from the exported schema alone."""
    card_file = next(
        (f for f in (folder / lifecycle.CARD, folder.parent / lifecycle.CARD) if f.is_file()),
        None,
    )
    if card_file is not None:
        card = read_json(card_file)
        if card.get("kind") == "encoder" and "params" in card:
            params = {k: v for k, v in card["params"].items() if k in LatentSettings.model_fields}
            privacy = card.get("privacy_training")
            if privacy:
                params["privacy"] = {k: v for k, v in privacy.items() if k != "codebook"}
            roles = {c["name"]: Role(c["role"]) for c in card.get("columns", [])}
            return LatentSettings(**params), roles
    bottleneck = schema.get("bottleneck", "dense")
    width = int(schema["code_size"])
    if bottleneck == "sparse":
        active = int(schema.get("active_units") or 1)
        settings = LatentSettings(
            bottleneck="sparse",
            code_size=width,
            active_fraction=min(0.10, max(0.01, active / width)),
        )
    else:
        settings = LatentSettings(bottleneck="dense", dense_size=max(2, min(256, width)))
    return settings, {}


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Measure and gate an encoder's codes of two files; 0 pass, 3 a rule failed."""
    folder = Path(args.encoder_dir)
    encoder = lifecycle.load_encoder(folder)
    settings, roles = _evaluation_settings(folder, encoder.schema)
    roles = {name: role for name, role in roles.items() if role != Role.TARGET}
    roles.update(_roles(args))
    train, holdout = read_table(args.train), read_table(args.holdout)
    if args.target is not None:
        for path, frame in ((args.train, train), (args.holdout, holdout)):
            if args.target not in frame.columns:
                raise EncoderError(f"{path}: no column '{args.target}' (the --target)")
    thresholds = LatentThresholds(
        **{
            k: v
            for k, v in {
                "utility_drop_max": args.utility_drop_max,
                "reconstruction_advantage_max": args.reconstruction_advantage_max,
                "attribute_inference_gain_max": args.attribute_inference_gain_max,
            }.items()
            if v is not None
        }
    )
    settings = settings.model_copy(update={"thresholds": thresholds})
    roles = {n: r for n, r in roles.items() if n in train.columns and n != args.target}
    table = table_schema(Path(args.train).stem, train, args.train, roles=roles, target=args.target)
    train_codes = encoder.encode(train, f"{args.train}")
    holdout_codes = encoder.encode(holdout, f"{args.holdout}")
    report = lifecycle.evaluate_latent(
        table,
        encoder.spec,
        encoder.encode,
        train,
        holdout,
        train_codes,
        holdout_codes,
        settings,
        args.seed,
    )
    result = lifecycle.gate_latent(report, settings)
    print(
        f"latent gate on {train.height:,} train / {holdout.height:,} holdout rows "
        f"({settings.bottleneck} codes, {encoder.code_size} wide; quasi-identifiers "
        f"{table.names_with_role(Role.QUASI_IDENTIFIER)}, sensitive "
        f"{table.names_with_role(Role.SENSITIVE)})"
    )
    for rule in result.expectations:
        verdict = "PASS" if rule.passed else "FAIL"
        if rule.threshold is None:
            verdict = "info"
        observed = "-" if rule.observed is None else f"{rule.observed:.4f}"
        threshold = "" if rule.threshold is None else f" (threshold {rule.threshold:g})"
        print(f"  {verdict:4}  {rule.name}: {observed}{threshold}  {rule.detail}")
    print(f"latent gate: {'passed' if result.passed else 'FAILED'}")
    if args.json:
        gate = {
            "gate": result.gate,
            "passed": result.passed,
            "expectations": [
                {
                    "name": e.name,
                    "passed": e.passed,
                    "observed": e.observed,
                    "threshold": e.threshold,
                    "detail": e.detail,
                }
                for e in result.expectations
            ],
        }
        write_json({**report, "gate": gate}, Path(args.json))
        print(f"report written to {args.json}")
    return 0 if result.passed else EXIT_FAILED_GATE


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

    encoder = subparsers.add_parser(
        "encoder", help="train and evaluate latent encoders outside Dagster"
    )
    actions = encoder.add_subparsers(dest="encoder_command", required=True)
    train = actions.add_parser("train", help="train an encoder on a csv/parquet file")
    train.add_argument("path", help="csv or parquet file to train on")
    train.add_argument("--out", required=True, help="folder to write (model.json + export/)")
    train.add_argument("--target", help="label column: kept out of the codes")
    train.add_argument(
        "--privacy",
        choices=["shipped", "none"],
        help="privacy training (default: shipped, or none when bottleneck options are given)",
    )
    train.add_argument("--bottleneck", choices=["sparse", "dense", "pca"])
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
    _role_options(train)
    train.set_defaults(func=cmd_train)

    evaluate = actions.add_parser(
        "evaluate", help="run the latent gate on an encoder's codes of two files"
    )
    evaluate.add_argument("encoder_dir", help="encoder folder (or its export/ folder)")
    evaluate.add_argument("--train", required=True, help="rows the encoder was trained on")
    evaluate.add_argument("--holdout", required=True, help="rows it never saw")
    evaluate.add_argument("--target", help="label column for the utility rule")
    evaluate.add_argument("--json", help="write the report and verdicts to this file")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--utility-drop-max", type=float)
    evaluate.add_argument("--reconstruction-advantage-max", type=float)
    evaluate.add_argument("--attribute-inference-gain-max", type=float)
    _role_options(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)


def _role_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quasi-identifier",
        action="append",
        default=[],
        help="column an attacker may know (age, postcode, ...); repeatable",
    )
    parser.add_argument(
        "--sensitive", action="append", default=[], help="column to protect; repeatable"
    )
