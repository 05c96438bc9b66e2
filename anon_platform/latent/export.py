"""The exported encoder: a folder a partner can use with torch, numpy and pandas alone.

    encoder.pt2      torch.export program: (numeric float32 [n, p] with NaN for nulls,
                     categories int64 [n, q]) -> codes float32 [n, code_size]; the scaling,
                     one-hot encoding, MLP and bottleneck (with its frozen boost factors) are in it
    schema.json      the input columns in order, their types, and the preprocessing constants
                     (medians, scales, category lists) that turn a file into those two arrays
    encode_file.py   a standalone script (imports torch, numpy, pandas, json only):
                     `python encode_file.py DATA.csv|parquet OUT.csv|parquet`
    README.md        the input contract in words

torch.export is used rather than TorchScript because `torch.jit.script` is deprecated in the
torch this project pins (2.13); `torch.export.load` needs nothing but torch. The decoder is never
part of this folder.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch

from anon_platform.latent.errors import EncoderError, EncoderInputError
from anon_platform.latent.model import Encoder
from anon_platform.latent.preprocessing import PreprocessingSpec, to_arrays
from anon_platform.storage import atomic_folder, read_json, write_json

PROGRAM = "encoder.pt2"
SCHEMA = "schema.json"
SCRIPT = "encode_file.py"
STANDALONE = Path(__file__).with_name("standalone_encode.py")

README = """# Exported encoder

Turns rows of a table with the columns listed in `schema.json` into codes of {code_size} numbers
({bottleneck} bottleneck{sparsity}). Needs torch, numpy and pandas (pyarrow for parquet):

    python encode_file.py DATA.csv OUT.parquet

Input contract (what `encode_file.py` does):
- numeric columns (`schema.json` -> `numeric`, in that order): numbers as float32, NaN for
  missing; dates and datetimes as days since 1970-01-01 (fractional for datetimes);
- categorical columns (`categorical`, in that order): the value as text (booleans 'true'/'false'),
  index = position in `categories` + 1; an unknown value is 0; a missing value is `null_index`;
- the program `encoder.pt2` (torch.export) maps (numeric [n, p], categories int64 [n, q]) to the
  codes.

The codes are a deterministic function of the row: whoever holds a row and this encoder can
compute its code. Treat codes like pseudonymised data, not anonymous data.
"""


def export_encoder(
    encoder: Encoder, spec: PreprocessingSpec, folder: Path, card: dict[str, Any]
) -> Path:
    """Write the exported encoder folder (program, schema, standalone script, README)."""
    module = copy_to_cpu(encoder)
    rows = torch.export.Dim("rows", min=1)
    example = (
        torch.zeros(2, len(spec.numeric), dtype=torch.float32),
        torch.zeros(2, len(spec.categorical), dtype=torch.int64),
    )
    try:
        program = torch.export.export(module, example, dynamic_shapes=({0: rows}, {0: rows}))
    except Exception as err:  # torch raises many types here; the message is what helps
        raise EncoderError(f"cannot export the encoder with torch.export: {err}") from err
    schema = {
        **spec.to_json(),
        "code_size": card["code_size"],
        "bottleneck": card["bottleneck"],
        "active_units": card.get("active_units"),
        "table": card.get("table"),
    }
    with atomic_folder(folder) as tmp:
        torch.export.save(program, tmp / PROGRAM)
        write_json(schema, tmp / SCHEMA)
        shutil.copyfile(STANDALONE, tmp / SCRIPT)
        sparsity = (
            f", exactly {card['active_units']} active units per code"
            if card["bottleneck"] == "sparse"
            else ""
        )
        (tmp / "README.md").write_text(
            README.format(
                code_size=card["code_size"], bottleneck=card["bottleneck"], sparsity=sparsity
            )
        )
    return folder


def copy_to_cpu(encoder: Encoder) -> Encoder:
    """An eval-mode copy of the encoder on the CPU (the exported program runs anywhere)."""
    module = copy.deepcopy(encoder).to("cpu")
    module.eval()
    return module


class ExportedEncoder:
    """An exported encoder folder, loaded: checks data against its schema and encodes it."""

    def __init__(self, folder: Path) -> None:
        folder = Path(folder)
        if not (folder / PROGRAM).is_file() or not (folder / SCHEMA).is_file():
            raise EncoderError(
                f"{folder} is not an exported encoder (expected {PROGRAM} and {SCHEMA})"
            )
        self.folder = folder
        self.schema = read_json(folder / SCHEMA)
        self.spec = PreprocessingSpec.from_json(self.schema)
        self.module = torch.export.load(folder / PROGRAM).module()

    @property
    def code_size(self) -> int:
        return int(self.schema["code_size"])

    def check(self, frame: pl.DataFrame, source: str) -> None:
        """Raise EncoderInputError naming the first column that is missing or of a type the
        encoder cannot read (numbers for numeric columns, text or booleans for categories)."""
        for column in self.spec.numeric:
            if column.name not in frame.columns:
                raise EncoderInputError(source, column.name, "missing (the encoder needs it)")
            dtype = frame.schema[column.name]
            if column.type in ("date", "datetime"):
                ok = dtype in (pl.Date, pl.Null) or isinstance(dtype, pl.Datetime)
                want = "dates" if column.type == "date" else "datetimes"
            else:
                ok = dtype.is_integer() or dtype.is_float() or dtype == pl.Null
                want = f"numbers ({column.type})"
            if not ok:
                raise EncoderInputError(source, column.name, f"expected {want}, found {dtype}")
        for column in self.spec.categorical:
            if column.name not in frame.columns:
                raise EncoderInputError(source, column.name, "missing (the encoder needs it)")
            dtype = frame.schema[column.name]
            if dtype not in (pl.String, pl.Categorical, pl.Boolean, pl.Null):
                raise EncoderInputError(
                    source,
                    column.name,
                    f"expected text categories ({column.type}), found {dtype}; "
                    "read the column as text",
                )

    def encode(self, frame: pl.DataFrame, source: str = "data", batch: int = 65_536) -> np.ndarray:
        """Codes of every row of `frame` (float32 [rows, code_size]) after `check`."""
        self.check(frame, source)
        numeric, categorical = to_arrays(self.spec, frame)
        out = np.empty((frame.height, self.code_size), dtype=np.float32)
        with torch.no_grad():
            for start in range(0, frame.height, batch):
                stop = start + batch
                out[start:stop] = self.module(
                    torch.from_numpy(numeric[start:stop]), torch.from_numpy(categorical[start:stop])
                ).numpy()
        return out


__all__ = [
    "ExportedEncoder",
    "export_encoder",
]
