"""Encode a csv or parquet file with the exported encoder beside this script.

Needs only torch, numpy and pandas (pyarrow for parquet); shipped inside every exported encoder
folder as encode_file.py.

    python encode_file.py DATA.csv|DATA.parquet OUT.csv|OUT.parquet
"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

HERE = Path(__file__).resolve().parent


def read_table(path: Path) -> pd.DataFrame:
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path)


def as_numbers(series: pd.Series, kind: str) -> np.ndarray:
    if kind in ("date", "datetime"):
        stamps = pd.to_datetime(series, errors="raise")
        days = (stamps - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
        return days.astype("float64").to_numpy()
    if not (pd.api.types.is_numeric_dtype(series) or series.isna().all()):
        raise SystemExit(f"column '{series.name}': expected numbers, found {series.dtype}")
    return series.astype("float64").to_numpy()


def as_indices(series: pd.Series, column: dict) -> np.ndarray:
    lookup = {value: i + 1 for i, value in enumerate(column["categories"])}
    out = np.zeros(len(series), dtype=np.int64)
    for row, value in enumerate(series.tolist()):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            out[row] = column["null_index"]
        else:
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            out[row] = lookup.get(text, 0)
    return out


def encode(frame: pd.DataFrame, folder: Path = HERE) -> np.ndarray:
    schema = json.loads((folder / "schema.json").read_text())
    for column in schema["numeric"] + schema["categorical"]:
        if column["name"] not in frame.columns:
            raise SystemExit(f"column '{column['name']}': missing (the encoder needs it)")
    numeric = (
        np.stack(
            [as_numbers(frame[c["name"]], c["type"]) for c in schema["numeric"]], axis=1
        ).astype(np.float32)
        if schema["numeric"]
        else np.zeros((len(frame), 0), np.float32)
    )
    categories = (
        np.stack([as_indices(frame[c["name"]], c) for c in schema["categorical"]], axis=1)
        if schema["categorical"]
        else np.zeros((len(frame), 0), np.int64)
    )
    module = torch.export.load(str(folder / "encoder.pt2")).module()
    with torch.no_grad():
        return module(torch.from_numpy(numeric), torch.from_numpy(categories)).numpy()


def main(argv: list) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    codes = encode(read_table(Path(argv[0])))
    width = len(str(codes.shape[1] - 1))
    out = pd.DataFrame(codes, columns=[f"code_{i:0{width}d}" for i in range(codes.shape[1])])
    target = Path(argv[1])
    if target.suffix.lower() == ".parquet":
        out.to_parquet(target, index=False)
    else:
        out.to_csv(target, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
