"""`anon`: the platform's command line.

anon demo       materialize every dataset's asset graph on the local instance and summarize
anon instance   create the local Dagster home (dagster.yaml, gpu pool) under ANON_HOME
anon validate   load sources.yml, releases.yml and the SQL models and report any error
anon verify     re-check a release folder offline against its manifest and evidence chain
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from anon_platform.errors import AnonPlatformError
from anon_platform.storage import Zones


def _catalog(project: str | None):
    from anon_platform.catalog import load_catalog

    return load_catalog(Path(project) if project else None)


def cmd_validate(args: argparse.Namespace) -> int:
    catalog = _catalog(args.project)
    for dataset, release in catalog.releases.items():
        models = ", ".join(m.name for m in catalog.dataset_models(dataset))
        print(
            f"{dataset}: raw tables {', '.join(t.name for t in catalog.sources[dataset].tables)}; "
            f"models {models}; releases {', '.join(t.name for t in release.tables)} via "
            f"{', '.join(g.name for g in release.generators)}"
        )
    print("catalog OK")
    return 0


def cmd_instance(args: argparse.Namespace) -> int:
    from anon_platform.instance import ensure_instance

    home = ensure_instance(Zones(args.home))
    print(home if args.print_home else f"Dagster home ready: {home}")
    return 0


# Commands that live in their own module, by the sub-command they add: each module has
# `register(subparsers)` adding its parsers with `set_defaults(func=...)`. Only the module of
# the command being run is imported (measured: importing all of them costs ~120 MiB and ~1 s
# before any data, which is most of the platform's overhead over calling SDV directly).
COMMAND_MODULES: dict[str, str] = {
    "demo": "demo",
    "train": "generators",
    "generate": "generators",
    "combine": "generators",
    "evaluate": "evaluate",
    "encode": "latent",
    "encoder": "latent",
    "verify": "verify",
}


def _modules_for(argv: list[str] | None) -> list[str]:
    """The command modules `argv` needs: the one of its sub-command, or all (help, errors)."""
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["--project"]:
        words = words[2:]
    command = next((word for word in words if not word.startswith("-")), None)
    if command in ("instance", "validate"):
        return []
    if command in COMMAND_MODULES:
        return [COMMAND_MODULES[command]]
    return list(dict.fromkeys(COMMAND_MODULES.values()))


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The `anon` parser with the sub-commands `argv` can reach (every one when it names none)."""
    parser = argparse.ArgumentParser(
        prog="anon", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--project", help="folder holding dbt_like_sql/ (default: this checkout)")
    sub = parser.add_subparsers(dest="command", required=True)
    instance = sub.add_parser("instance", help="create the local Dagster home under ANON_HOME")
    instance.add_argument("--home", help="ANON_HOME (default: $ANON_HOME or ./.anon)")
    instance.add_argument("--print-home", action="store_true", help="print only its path")
    instance.set_defaults(func=cmd_instance)
    validate = sub.add_parser("validate", help="check the catalog and SQL models")
    validate.set_defaults(func=cmd_validate)
    for module_name in _modules_for(argv):
        importlib.import_module(f"anon_platform.cli.{module_name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser(argv).parse_args(argv)
    try:
        return args.func(args)
    except AnonPlatformError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
