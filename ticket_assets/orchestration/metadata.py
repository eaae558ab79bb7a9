"""Materialization metadata shared by node assets, checks and the export."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagster as dg
import pandas as pd

from ticket_assets.config import RunConfig
from ticket_assets.llm.ledger import UsageTotals
from ticket_assets.llm.quarantine import worst_reasons
from ticket_assets.llm.types import CallRecord, Rejection
from ticket_assets.nodes import Node

PREVIEW_ROWS = 5
PREVIEW_CHARS = 120


def column_schema(frame: pd.DataFrame) -> dg.TableSchema:
    def type_name(column: str) -> str:
        if column == "tags":
            return "list[str]"
        return "str" if frame[column].dtype == object else str(frame[column].dtype)

    return dg.TableSchema(
        columns=[dg.TableColumn(name=column, type=type_name(column)) for column in frame.columns]
    )


def preview(frame: pd.DataFrame, rows: int = PREVIEW_ROWS) -> str:
    shown = frame.head(rows).copy()
    for column in shown.columns:
        shown[column] = [
            ", ".join(v)
            if isinstance(v, list | tuple)
            else str(v).replace("\n", " ")[:PREVIEW_CHARS]
            for v in shown[column]
        ]
    return shown.to_markdown(index=False)


def column_lineage(
    frame: pd.DataFrame, upstream: str | None, upstream_columns: Sequence[str], node: Node
) -> dg.TableColumnLineage | None:
    """Passed-through columns come from the same upstream column; the columns the node writes
    come from the upstream columns it reads."""
    if upstream is None:
        return None
    key = dg.AssetKey(upstream)
    read = [c for c in node.reads if c in upstream_columns]
    deps = {}
    for column in frame.columns:
        if column in node.writes or column not in upstream_columns:
            deps[column] = [dg.TableColumnDep(asset_key=key, column_name=c) for c in read]
        else:
            deps[column] = [dg.TableColumnDep(asset_key=key, column_name=column)]
    return dg.TableColumnLineage(deps_by_column=deps)


def node_metadata(
    context: dg.AssetExecutionContext,
    frame: pd.DataFrame,
    records: list[CallRecord],
    config: RunConfig,
    model: str,
    lineage: dg.TableColumnLineage | None,
) -> dict[str, Any]:
    """The step's metadata, which Dagster copies onto every partition it materialized: LLM
    usage of the step, model and mode (row counts come from the I/O manager). The schema,
    lineage and preview go on the last partition only, the materialization the UI shows as
    latest: copied onto hundreds of partitions, their serialization cost more than the step's
    own work. (Per-partition values would need a `context.add_asset_metadata` call per
    partition, and each call lists the partitions in the range: quadratic in a run's
    partitions.)"""
    context.add_asset_metadata(
        {
            "dagster/column_schema": column_schema(frame),
            **({"dagster/column_lineage": lineage} if lineage is not None else {}),
            "preview": dg.MetadataValue.md(preview(frame)),
        },
        partition_key=max(context.partition_keys),
    )
    return {
        **UsageTotals.of(records).metadata(config.currency),
        "llm/model": model,
        "mode": config.mode,
    }


def quarantine_metadata(rejections: Sequence[Rejection]) -> dict[str, Any]:
    """How many of the step's tickets were quarantined, and the commonest reasons."""
    metadata: dict[str, Any] = {"tickets/rejected": len(rejections)}
    if rejections:
        metadata["tickets/rejected_reasons"] = dg.MetadataValue.text(
            worst_reasons([r.reason for r in rejections])
        )
    return metadata
