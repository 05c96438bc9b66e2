"""Reading raw tables from csv/parquet files and SQL databases, checked against sources.yml."""

from anon_platform.sources.readers import check_foreign_keys, conform, fingerprint, read_source

__all__ = ["check_foreign_keys", "conform", "fingerprint", "read_source"]
