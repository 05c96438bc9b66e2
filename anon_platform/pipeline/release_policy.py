"""Release policy: how the 'best' policy ranks generators, and which stored artifacts a
release rests on (the evidence chain it must verify, upstream first)."""

from __future__ import annotations

from anon_platform.catalog import Catalog
from anon_platform.evaluation.metrics import RANKINGS

# how the 'best' release policy orders generators: a score of a scorecard, higher wins (read
# from the metrics table)
RANK_BY = RANKINGS


def upstream_chain(catalog: Catalog, dataset: str) -> list[str]:
    """The artifacts every release of a dataset rests on: raw tables, staged models, splits."""
    return [
        *(f"raw/{t.name}" for t in catalog.sources[dataset].tables),
        *(f"staging/{m.name}" for m in catalog.dataset_models(dataset)),
        "prepared/train",
        "prepared/holdout",
    ]


def synthesis_chain(catalog: Catalog, dataset: str, generator: str) -> list[str]:
    """Every artifact a synthetic release of `generator` rests on, upstream first."""
    return [
        *upstream_chain(catalog, dataset),
        f"models/{generator}",
        f"synthetic/{generator}",
        f"reports/quality_{generator}",
    ]
