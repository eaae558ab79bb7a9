"""Materialization metadata shared by node assets, checks and the export.

A node step usually materializes many partitions at once (single-run backfills), so every
figure is computed per partition: rows, LLM calls, tokens, cost and quarantined tickets of
that partition, from the very rows the step writes to DuckDB (`partition_figures`). The
column schema and lineage do not depend on the data: they are definition metadata
(`node_definition_metadata`), which the asset page shows next to whichever partition's
materialization it opens on, at no cost per partition.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import pandas as pd
from dagster._core.execution.context.metadata_logging import (
    AssetMetadataHandle,
    OutputMetadataAccumulator,
)

from ticket_assets.config import RunConfig
from ticket_assets.llm.ledger import UsageTotals
from ticket_assets.llm.quarantine import worst_reasons
from ticket_assets.llm.types import CallRecord, Rejection
from ticket_assets.nodes import PLAN_COLUMNS, PromptNode, build_pipeline
from ticket_assets.orchestration.partitions import split_keys
from ticket_assets.storage import Partition
from ticket_assets.tables.spec import Choice, Choices, Integer, Output, Text

PREVIEW_ROWS = 5
PREVIEW_CHARS = 120
# The type names of output declarations (tables/spec.py), as the asset page lists them.
_TYPE_NAMES: dict[type, str] = {Text: "string", Choice: "enum", Choices: "list", Integer: "integer"}


def node_columns(config: RunConfig, node_name: str) -> list[str]:
    """The columns of `node_name`'s table, in order: the plan's, then each column first
    written by a node up to this one, with each prompt node's prompt version column."""
    columns = list(PLAN_COLUMNS)
    for name, node in build_pipeline(config).nodes.items():
        columns += [column for column in node.writes if column not in columns]
        if isinstance(node, PromptNode) and node.version_column not in columns:
            columns.append(node.version_column)
        if name == node_name:
            return columns
    raise KeyError(node_name)


def _column_types(config: RunConfig, node_name: str) -> dict[str, Output]:
    """The declared type of each column of `node_name`'s table (the last writer's so far)."""
    outputs: dict[str, Output] = {}
    for name, node in build_pipeline(config).nodes.items():
        outputs.update(node.outputs)
        if name == node_name:
            break
    return outputs


def node_schema(config: RunConfig, node_name: str) -> dg.TableSchema:
    """The table's columns with their declared types and descriptions (plan columns and
    prompt versions are strings; a column written without a declaration is `undeclared`)."""
    outputs = _column_types(config, node_name)
    columns = []
    for column in node_columns(config, node_name):
        output = outputs.get(column)
        if output is None:
            declared = column in PLAN_COLUMNS or column.endswith("_prompt_version")
            kind, description = ("string" if declared else "undeclared"), ""
        else:
            kind, description = _TYPE_NAMES[type(output)], output.description
        columns.append(dg.TableColumn(name=column, type=kind, description=description or None))
    return dg.TableSchema(columns=columns)


def node_lineage(config: RunConfig, node_name: str, upstream: str) -> dg.TableColumnLineage:
    """Passed-through columns come from the same upstream column; the columns the node writes
    come from the upstream columns it reads."""
    node = build_pipeline(config).nodes[node_name]
    upstream_columns = node_columns(config, upstream)
    key = dg.AssetKey(upstream)
    read = [c for c in node.reads if c in upstream_columns]
    deps = {}
    for column in node_columns(config, node_name):
        if column in node.writes or column not in upstream_columns:
            deps[column] = [dg.TableColumnDep(asset_key=key, column_name=c) for c in read]
        else:
            deps[column] = [dg.TableColumnDep(asset_key=key, column_name=column)]
    return dg.TableColumnLineage(deps_by_column=deps)


def node_definition_metadata(
    config: RunConfig, node_name: str, upstream: str | None
) -> dict[str, Any]:
    """The asset definition's schema and column lineage (lineage only below the first node)."""
    metadata: dict[str, Any] = {"dagster/column_schema": node_schema(config, node_name)}
    if upstream is not None:
        metadata["dagster/column_lineage"] = node_lineage(config, node_name, upstream)
    return metadata


def _cell(value: Any) -> str:
    text = ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
    return text.replace("\n", " ").replace("|", "\\|")[:PREVIEW_CHARS]


def preview(frame: pd.DataFrame, rows: int = PREVIEW_ROWS) -> str:
    """The first rows as a Markdown table, long texts cut. Built by hand: `to_markdown`
    (tabulate) takes milliseconds a table, and a step previews each of its partitions."""
    columns = [str(column).replace("|", "\\|") for column in frame.columns]
    lines = [f"| {' | '.join(columns)} |", f"|{'---|' * len(columns)}"]
    for record in frame.head(rows).itertuples(index=False):
        lines.append(f"| {' | '.join(_cell(value) for value in record)} |")
    return "\n".join(lines)


def partition_figures(
    config: RunConfig,
    node_name: str,
    partitions: Sequence[Partition],
    frame: pd.DataFrame,
    records: Sequence[CallRecord],
    rejections: Sequence[Rejection],
) -> dict[Partition, dict[str, Any]]:
    """Each partition's own LLM usage (its ledger rows: calls, cache hits, tokens, cost in
    USD and each configured currency), quarantined tickets and a preview of the columns the
    node wrote. Row counts are the I/O manager's (what it wrote)."""
    calls: dict[Partition, list[CallRecord]] = defaultdict(list)
    for record in records:
        calls[(record.language, record.batch)].append(record)
    rejected: dict[Partition, list[str]] = defaultdict(list)
    for rejection in rejections:
        rejected[(rejection.language, rejection.batch)].append(rejection.reason)
    node = build_pipeline(config).nodes[node_name]
    shown = ["ticket_id", *(column for column in node.writes if column in frame.columns)]
    heads = frame.groupby(["language", "batch"], sort=False).head(PREVIEW_ROWS)
    previews = {key: group[shown] for key, group in heads.groupby(["language", "batch"])}
    figures = {}
    for partition in partitions:
        metadata: dict[str, Any] = {
            **UsageTotals.of(calls.get(partition, [])).metadata(config.currency),
            "llm/rejected": len(rejected.get(partition, [])),
        }
        if partition in rejected:
            metadata["llm/rejected_reasons"] = dg.MetadataValue.text(
                worst_reasons(rejected[partition])
            )
        if partition in previews:
            metadata["preview"] = dg.MetadataValue.md(preview(previews[partition]))
        figures[partition] = metadata
    return figures


def add_partition_metadata(
    context: dg.OutputContext, by_partition: Mapping[Partition, Mapping[str, Any]]
) -> None:
    """Attach each partition's metadata to that partition's materialization only (metadata
    of the step's output goes on every partition's), from the I/O manager's `handle_output`.

    This is what `context.add_asset_metadata(metadata, partition_key=…)` does, for all of a
    step's partitions at once: that call lists every key of the run's partition range to
    check the one it is given, about 8 ms a call at 400 partitions (3 s a step), so the
    partitions are checked here against the output's own and merged into the step's
    metadata in one go, which Dagster reads when it records the materializations.
    """
    keys = {split_keys([key])[0]: key for key in context.asset_partition_keys}
    unknown = sorted(set(by_partition) - set(keys))
    if unknown:
        raise dg.DagsterInvariantViolationError(
            f"metadata for partitions {unknown} that {context.asset_key.to_user_string()}"
            " does not materialize in this step"
        )
    step = context.step_context
    merged = dict(step._metadata_accumulator.per_output_metadata)
    for partition, metadata in by_partition.items():
        handle = AssetMetadataHandle(asset_key=context.asset_key, partition_key=keys[partition])
        merged[handle] = {**merged.get(handle, {}), **metadata}
    step._metadata_accumulator = OutputMetadataAccumulator(per_output_metadata=merged)
