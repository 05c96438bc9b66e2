"""`anon verify RELEASE_DIR`: re-check a release offline against its manifest and chain."""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_verify(args: argparse.Namespace) -> int:
    """Print OK or every problem; exit 0 when the release verifies, 3 when it does not, 2 when
    the folder is not a release."""
    from anon_platform.release import MANIFEST, ReleaseManifest, verify_release

    folder = Path(args.release)
    if not (folder / MANIFEST).is_file():
        print(
            f"error: {folder} holds no {MANIFEST}: give a release folder "
            "(ANON_HOME/release/<dataset>/<version>)"
        )
        return 2
    problems = verify_release(folder)
    if problems:
        for problem in problems:
            print(f"FAILED {problem}")
        print(f"{folder}: does NOT verify ({len(problems)} problem(s))")
        return 3
    manifest = ReleaseManifest.read(folder)
    chain = " -> ".join(link.artifact for link in manifest.chain)
    print(
        f"{folder}: OK — {len(manifest.files)} files match their digests and the evidence chain "
        f"of {len(manifest.chain)} artifacts ({chain}); "
        f"{len(manifest.gates)} gate(s) judged exactly these bytes"
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `verify` to the `anon` parser."""
    parser = sub.add_parser(
        "verify",
        help="re-check a release folder offline: file digests, evidence chain, judged digests",
    )
    parser.add_argument("release", help="a release folder: ANON_HOME/release/<dataset>/<version>")
    parser.set_defaults(func=cmd_verify)
