"""Versions of installed libraries, as a model card records them."""

from __future__ import annotations

import importlib.metadata


def library_versions(*packages: str) -> dict[str, str]:
    """Installed versions of the given distributions and of anon_platform ('not installed'
    for one that is absent)."""
    versions = {}
    for package in ("anon_platform", *packages):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions
