"""The code location loads: the shipped catalog builds one Definitions with every stage."""

from __future__ import annotations

import dagster as dg

from anon_platform.catalog import load_catalog
from anon_platform.definitions import build_definitions, defs

STAGES = ["raw", "staging", "prepared", "models", "synthetic", "latent", "reports", "release"]


def test_shipped_definitions_resolve_every_job_and_asset() -> None:
    repository = defs.get_repository_def()
    assert {job.name for job in repository.get_all_jobs()} >= {"bank_pipeline"}
    groups = {node.group_name for node in defs.resolve_asset_graph().asset_nodes}
    assert groups == set(STAGES)


def test_release_is_downstream_of_every_raw_table() -> None:
    graph = build_definitions(load_catalog()).resolve_asset_graph()
    release = dg.AssetKey(["bank", "release", "gaussian_copula"])
    ancestors: set[dg.AssetKey] = set()
    frontier = [release]
    while frontier:
        current = frontier.pop()
        for parent in graph.get(current).parent_keys:
            if parent not in ancestors:
                ancestors.add(parent)
                frontier.append(parent)
    assert dg.AssetKey(["bank", "raw", "customers"]) in ancestors
    assert dg.AssetKey(["bank", "raw", "transactions"]) in ancestors
