"""Where things live under ANON_HOME, and the only way files are written there.

Layout::

    ANON_HOME/
      restricted/<dataset>/raw|staging|prepared|models|synthetic|reports/...   never released
      release/<dataset>/<version>/...                                           gate-passed only
      dagster_home/                                                             local instance

Every write goes to a temporary name beside its target and is renamed into place, so a reader
(or a crashed run) never sees a half-written file or folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

DEFAULT_ANON_HOME = ".anon"


def anon_home(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The platform's home folder: `explicit`, else $ANON_HOME, else ./.anon (absolute)."""
    raw = explicit or os.environ.get("ANON_HOME") or DEFAULT_ANON_HOME
    return Path(raw).expanduser().resolve()


class Zones:
    """Paths of the restricted and release zones of one ANON_HOME."""

    def __init__(self, home: str | os.PathLike[str] | None = None) -> None:
        self.home = anon_home(home)

    @property
    def restricted(self) -> Path:
        return self.home / "restricted"

    @property
    def release(self) -> Path:
        return self.home / "release"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster_home"

    def dataset(self, dataset: str) -> Path:
        """Restricted folder of one dataset."""
        return self.restricted / dataset

    def raw_table(self, dataset: str, table: str) -> Path:
        return self.dataset(dataset) / "raw" / f"{table}.parquet"

    def staging_model(self, dataset: str, model: str) -> Path:
        return self.dataset(dataset) / "staging" / f"{model}.parquet"

    def prepared(self, dataset: str, split: str) -> Path:
        """Folder with one Parquet file per released table of the split ('train'/'holdout')."""
        return self.dataset(dataset) / "prepared" / split

    def model(self, dataset: str, generator: str) -> Path:
        return self.dataset(dataset) / "models" / generator

    def synthetic(self, dataset: str, generator: str) -> Path:
        return self.dataset(dataset) / "synthetic" / generator

    def report(self, dataset: str, generator: str) -> Path:
        return self.dataset(dataset) / "reports" / generator

    def release_dataset(self, dataset: str) -> Path:
        return self.release / dataset

    def release_scratch(self, dataset: str) -> Path:
        """Where a release is assembled before one rename publishes it: in the restricted zone
        (same file system), so a killed release leaves no partial file in the release zone."""
        return self.dataset(dataset) / ".release-scratch"

    def encoder(self, dataset: str) -> Path:
        """The trained encoder: model.json card and export/ (the artifact partners receive)."""
        return self.dataset(dataset) / "models" / "encoder"

    def decoder(self, dataset: str) -> Path:
        """The decoder of the encoder; restricted, never released."""
        return self.dataset(dataset) / "models" / "decoder"

    def latent(self, dataset: str) -> Path:
        """codes.parquet and report.json of the dataset's latent encoding."""
        return self.dataset(dataset) / "latent"


def _temporary_sibling(target: Path, scratch: Path | None = None) -> Path:
    folder = scratch or target.parent
    return folder / f".{target.name}.tmp-{uuid.uuid4().hex[:12]}"


@contextmanager
def atomic_path(target: Path, scratch: Path | None = None) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `target`, on error it vanishes.
    `scratch` (same file system) holds the temporary instead of `target`'s folder, so that
    not even a killed process leaves a temporary beside the target."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if scratch is not None:
        scratch.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_sibling(target, scratch)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_folder(target: Path, scratch: Path | None = None) -> Iterator[Path]:
    """Yield an empty temporary folder; on success it becomes `target` (replacing an old one).

    On error the temporary folder is removed and `target` is left as it was. `scratch` (same
    file system) holds the temporary folder instead of `target`'s parent: the release zone
    writes its folders there, so a process killed mid-write leaves nothing in the zone.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if scratch is not None:
        scratch.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=scratch or target.parent))
    try:
        yield tmp
        if target.exists():
            old = _temporary_sibling(target)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_parquet(frame: pl.DataFrame, target: Path) -> Path:
    """Write `frame` to `target` atomically and return the path."""
    with atomic_path(target) as tmp:
        frame.write_parquet(tmp)
    return target


def read_parquet(path: Path) -> pl.DataFrame:
    """Read one Parquet file written by this module."""
    return pl.read_parquet(path)


def write_tables(tables: dict[str, pl.DataFrame], folder: Path) -> Path:
    """Write a set of named tables as `<name>.parquet` into `folder`, all or nothing."""
    with atomic_folder(folder) as tmp:
        for name, frame in tables.items():
            frame.write_parquet(tmp / f"{name}.parquet")
    return folder


def read_tables(folder: Path) -> dict[str, pl.DataFrame]:
    """Read every `<name>.parquet` in `folder` into a dict keyed by name (sorted)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"no table folder at {folder}")
    return {p.stem: pl.read_parquet(p) for p in sorted(folder.glob("*.parquet"))}


def write_json(payload: Any, target: Path) -> Path:
    """Write `payload` as indented JSON to `target` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")
    return target


def file_sha256(path: Path) -> str:
    """'sha256:<hex>' of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())
