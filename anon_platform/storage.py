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
import io
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


TABLE_FORMATS = (".parquet", ".csv")


class TableFileWriter:
    """One table file written chunk by chunk, to a hidden name beside `target` until `commit`
    renames it into place (`abort` removes it). A .parquet file holds one row group per
    non-empty chunk; a .csv file one header, then each chunk's lines. The bytes depend only on
    the chunks in order: files written by several writers and joined by `combine_table_files`
    are byte for byte the file one writer makes of all the chunks."""

    def __init__(self, target: Path) -> None:
        self.format = target.suffix.lower()
        if self.format not in TABLE_FORMATS:
            raise ValueError(f"{target}: a table file ends in .parquet or .csv")
        self.target = target
        self.tmp = _temporary_sibling(target)
        self.rows = 0
        self.schema: pl.Schema | None = None  # of the first frame written with `write`
        self._parquet: Any = None  # pyarrow.parquet.ParquetWriter, opened by the first chunk
        self._arrow_schema: Any = None
        self._csv: Any = None  # the open .csv file, opened by the first chunk
        self._header: bytes | None = None

    def write(self, frame: pl.DataFrame) -> None:
        """Append the rows of `frame`; its columns and types must be those of the first chunk."""
        if self.schema is None:
            self.schema = frame.schema
        if self.format == ".parquet":
            self.write_arrow(frame.to_arrow(compat_level=pl.CompatLevel.oldest()))
            return
        header = _csv_header(frame)
        self._open_csv(header, f"a chunk with columns {frame.columns}")
        if frame.height:
            frame.write_csv(self._csv, include_header=False)
        self.rows += frame.height

    def write_arrow(self, table: Any) -> None:
        """Append a pyarrow table as one row group (.parquet only; no row group for no rows)."""
        import pyarrow.parquet as pq

        if self.format != ".parquet":
            raise ValueError(f"{self.target.name}: not a .parquet file")
        if self._parquet is None:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self._arrow_schema = table.schema
            self._parquet = pq.ParquetWriter(self.tmp, table.schema, compression="zstd")
        elif not table.schema.equals(self._arrow_schema):
            raise ValueError(
                f"{self.target.name}: a chunk with schema {table.schema} after chunks with "
                f"{self._arrow_schema}"
            )
        if table.num_rows:
            self._parquet.write_table(table)
        self.rows += table.num_rows

    def append_file(self, part: Path) -> None:
        """Append every row of a table file this class wrote, streaming (its row groups, or its
        lines after the header); ValueError when its columns differ from the chunks before."""
        if part.suffix.lower() != self.format:
            raise ValueError(f"{part}: not a {self.format} file like {self.target.name}")
        if self.format == ".parquet":
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(part)
            self.write_arrow(parquet.schema_arrow.empty_table())
            for group in range(parquet.num_row_groups):
                self.write_arrow(parquet.read_row_group(group))
            return
        with part.open("rb") as handle:
            self._open_csv(handle.readline(), str(part))
            for block in iter(lambda: handle.read(1 << 20), b""):
                self._csv.write(block)
        self.rows += pl.scan_csv(part, infer_schema=False).select(pl.len()).collect().item()

    def _open_csv(self, header: bytes, what: str) -> None:
        if self._csv is None:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self._csv = self.tmp.open("wb")
            self._csv.write(header)
            self._header = header
        elif header != self._header:
            raise ValueError(f"{self.target.name}: {what} has other columns than the first")

    def commit(self) -> Path:
        """Close the file and rename it to the target; ValueError when nothing was written."""
        handle = self._parquet or self._csv
        if handle is None:
            raise ValueError(f"{self.target.name}: no chunk was written, not even an empty one")
        handle.close()
        os.replace(self.tmp, self.target)
        return self.target

    def abort(self) -> None:
        """Close and remove the unfinished file."""
        for handle in (self._parquet, self._csv):
            if handle is not None:
                handle.close()
        self.tmp.unlink(missing_ok=True)


def _csv_header(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.head(0).write_csv(buffer)
    return buffer.getvalue()


@contextmanager
def table_writers(targets: dict[str, Path]) -> Iterator[dict[str, TableFileWriter]]:
    """A TableFileWriter per named target file; on success every file is renamed into place,
    on error none is and the unfinished ones are removed."""
    writers = {name: TableFileWriter(path) for name, path in targets.items()}
    try:
        yield writers
        for writer in writers.values():
            writer.commit()
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise


def combine_table_files(parts: list[Path], target: Path) -> int:
    """Join table files written by TableFileWriter (same format and columns) into `target` in
    the given order, streaming: one row group or block of lines in memory at a time. The result
    is byte for byte the file one writer makes of the parts' chunks. Returns its rows."""
    if not parts:
        raise ValueError(f"{target.name}: no part to combine")
    with table_writers({"combined": target}) as writers:
        for part in parts:
            writers["combined"].append_file(part)
    return writers["combined"].rows


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
