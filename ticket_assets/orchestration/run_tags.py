"""The tags every run carries (mode, dataset, model), whoever launched it: the jobs declare
them, and a node step adds those a run lacks (runs of an asset selection or a backfill,
which Dagster starts without job tags)."""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from ticket_assets.config import RunConfig
from ticket_assets.nodes import build_pipeline


def run_tags(config: RunConfig, nodes: Iterable[str]) -> dict[str, str]:
    """Mode, dataset and the models of `nodes` (comma-separated when they differ)."""
    models = sorted({config.model_for(node).model for node in nodes})
    return {"mode": config.mode, "dataset": config.dataset, "model": ", ".join(models)}


def tag_run(context: dg.AssetExecutionContext, config: RunConfig) -> None:
    """Add the tags this run lacks, for the nodes it materializes."""
    names = build_pipeline(config).names
    selection = context.run.asset_selection
    nodes = [n for n in names if selection is None or dg.AssetKey(n) in selection] or names
    missing = {k: v for k, v in run_tags(config, nodes).items() if k not in context.run.tags}
    if missing:
        context.instance.add_run_tags(context.run.run_id, missing)
