"""Cheap fingerprints of raw sources, for noticing that a source changed without reading it.

Files: size and modification time, confirmed by a SHA-256 of the content only when those two
differ from the previous fingerprint (so an untouched file costs one `stat`, and a `touch`
without a content change is not a change). SQL tables: one aggregate query, the row count plus
`max(<change_column>)` when sources.yml names such a column (e.g. updated_at), else on
PostgreSQL a sum of per-row hashes (`hashtext(t::text)`), else the row count alone (a weak
signal: an in-place update is not seen; name a change column for such databases).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from anon_platform.catalog.specs import FileLocation, SqlLocation, TableSpec
from anon_platform.errors import SourceDataError
from anon_platform.sources.readers import database_url
from anon_platform.storage import file_sha256


def file_fingerprint(path: Path, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """{'kind': 'file', 'size', 'mtime_ns', 'content'} of a file; the content hash is reused
    from `previous` when size and modification time are unchanged."""
    stat = path.stat()
    if (
        previous
        and previous.get("kind") == "file"
        and previous.get("size") == stat.st_size
        and previous.get("mtime_ns") == stat.st_mtime_ns
    ):
        return dict(previous)
    return {
        "kind": "file",
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "content": file_sha256(path),
    }


def _quote(engine: sa.Engine, name: str) -> str:
    return engine.dialect.identifier_preparer.quote(name)


def sql_fingerprint(table: str, location: SqlLocation) -> dict[str, Any]:
    """{'kind': 'sql', 'rows', 'content'} from one aggregate query over the source table."""
    engine = sa.create_engine(database_url(location))
    try:
        target = _quote(engine, location.table)
        if location.db_schema:
            target = f"{_quote(engine, location.db_schema)}.{target}"
        if location.change_column:
            extra = f"max({_quote(engine, location.change_column)})"
        elif engine.dialect.name == "postgresql":
            extra = "sum(hashtext(t::text)::bigint)"
        else:
            extra = "null"
        query = sa.text(f"select count(*), {extra} from {target} t")
        with engine.connect() as connection:
            rows, marker = connection.execute(query).one()
    except sa.exc.SQLAlchemyError as err:
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        raise SourceDataError(table, None, f"cannot fingerprint SQL source: {reason}") from err
    finally:
        engine.dispose()
    return {"kind": "sql", "rows": int(rows), "content": str(marker)}


def source_fingerprint(
    spec: TableSpec, base_dir: Path, previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The fingerprint of one raw table's source (file or SQL); SourceDataError when the source
    cannot be reached. Relative file paths are resolved from `base_dir`."""
    location = spec.location
    if isinstance(location, FileLocation):
        path = location.path if location.path.is_absolute() else base_dir / location.path
        if not path.resolve().is_file():
            raise SourceDataError(spec.name, None, f"source file not found: {path.resolve()}")
        return file_fingerprint(path.resolve(), previous)
    return sql_fingerprint(spec.name, location)


def content_digest(fingerprints: dict[str, dict[str, Any]]) -> str:
    """One digest of what the sources hold (sizes and times left out: a `touch` is no change)."""
    essence = {
        table: {k: v for k, v in fp.items() if k in ("kind", "rows", "content")}
        for table, fp in sorted(fingerprints.items())
    }
    return hashlib.sha256(json.dumps(essence, sort_keys=True).encode()).hexdigest()
