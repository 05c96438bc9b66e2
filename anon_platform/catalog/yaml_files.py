"""Reads a YAML file into a pydantic spec, with errors that name the file and the place inside."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from anon_platform.errors import CatalogError

SpecT = TypeVar("SpecT", bound=BaseModel)


def _format_validation_error(path: Path, err: ValidationError) -> str:
    lines = []
    for problem in err.errors():
        where = ""
        for part in problem["loc"]:
            where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
        lines.append(f"  {where or '(top level)'}: {problem['msg']}")
    return f"{path}: invalid\n" + "\n".join(lines)


def _read_yaml(path: Path) -> Any:
    if not path.is_file():
        raise CatalogError(f"{path}: file not found")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise CatalogError(f"{path}: not valid YAML: {err}") from err


def load_yaml_spec(path: Path, model: type[SpecT]) -> SpecT:
    """A YAML file validated into `model`; CatalogError names the file, each place inside it
    and what is wrong (also for a missing file or broken YAML)."""
    data = _read_yaml(path)
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as err:
        raise CatalogError(_format_validation_error(path, err)) from err
