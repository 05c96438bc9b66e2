"""Mixed-type columns as a numeric matrix for the scikit-learn models that measure fidelity and
utility: numbers, dates and booleans as floats, categories as integer codes flagged categorical
(HistGradientBoosting handles both natively and treats NaN as missing)."""

from __future__ import annotations

from contextlib import AbstractContextManager

import numpy as np
import pandas as pd

from anon_platform.catalog.schema import ColumnSchema
from anon_platform.evaluation.distance import NUMERIC_TYPES, as_number

# HistGradientBoosting bins categories into at most 255 codes; wider columns become ordinal codes
MAX_CATEGORIES = 250


def model_matrices(
    frames: list[pd.DataFrame], columns: list[ColumnSchema]
) -> tuple[list[np.ndarray], np.ndarray]:
    """One float matrix per frame over `columns`, encoded alike, and the categorical-column mask.

    Category codes come from the union of the frames' values, so a value unseen in one frame
    still gets a code of its own.
    """
    blocks: list[list[np.ndarray]] = [[] for _ in frames]
    categorical: list[bool] = []
    for column in columns:
        if column.type in NUMERIC_TYPES:
            for block, frame in zip(blocks, frames, strict=True):
                block.append(as_number(frame[column.name], column))
            categorical.append(False)
            continue
        texts = [frame[column.name].astype("string") for frame in frames]
        levels = sorted(set().union(*(set(t.dropna().unique()) for t in texts)))
        codes = {value: float(i) for i, value in enumerate(levels)}
        for block, text in zip(blocks, texts, strict=True):
            block.append(text.map(codes).astype("float64").to_numpy(na_value=np.nan))
        categorical.append(len(levels) <= MAX_CATEGORIES)
    matrices = [
        np.column_stack(block) if block else np.zeros((len(frame), 0))
        for block, frame in zip(blocks, frames, strict=True)
    ]
    return matrices, np.array(categorical, dtype=bool)


def single_threaded() -> AbstractContextManager:
    """Run scikit-learn's OpenMP models on one thread.

    Measured: in a process that also loaded torch, and with other work on the two cores,
    HistGradientBoosting's OpenMP threads spun for 140 s on a 2,000-row discriminator that
    takes about 1 s on one thread; the evaluation's models are small, so one thread costs
    little and removes that failure mode.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")
