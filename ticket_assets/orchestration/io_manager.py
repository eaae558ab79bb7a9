"""Dagster I/O manager storing ticket frames in DuckDB through `TicketStore`.

Partitioned assets (batch x language multi-partitions) rewrite exactly the partitions of the
step in one transaction, so a single-run backfill of many partitions is one atomic write.
Unpartitioned assets (exports, reports) replace their whole table atomically.
Each partition's materialization gets that partition's row count (`dagster/row_count`), and
a node's per-partition figures (metadata.py), never the step's totals.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import pandas as pd

from ticket_assets.orchestration.metadata import add_partition_metadata
from ticket_assets.orchestration.partitions import split_keys
from ticket_assets.orchestration.resources import TicketStoreResource
from ticket_assets.storage import Partition, TicketStore

LEDGER_TABLE = "llm_calls"


@dataclass(frozen=True)
class NodeOutput:
    """A node asset's result: its ticket rows, the ledger rows of the calls that made them and
    its quarantined tickets, written in one transaction so spend, data and rejects cannot
    drift apart; `metadata` holds each partition's figures for its materialization."""

    frame: pd.DataFrame
    llm_calls: pd.DataFrame
    rejects: pd.DataFrame
    metadata: Mapping[Partition, Mapping[str, Any]] = field(default_factory=dict)


class DuckDBPartitionIOManager(dg.ConfigurableIOManager):
    """Tables live in the store's dataset schema, named after the last component of the
    asset key. The store is the Definitions' `store` resource (resources.py)."""

    store: TicketStoreResource

    def handle_output(
        self, context: dg.OutputContext, obj: pd.DataFrame | NodeOutput | None
    ) -> None:
        if obj is None:
            return
        appended, rejects, figures = {}, None, {}
        if isinstance(obj, NodeOutput):
            appended, rejects, figures = {LEDGER_TABLE: obj.llm_calls}, obj.rejects, obj.metadata
            obj = obj.frame
        store = self._store()
        table = context.asset_key.path[-1]
        metadata = {"duckdb/table": dg.MetadataValue.text(f"{self.store.dataset}.{table}")}
        if context.has_asset_partitions:
            partitions = _partitions(context.asset_partition_keys, context.asset_partitions_def)
            store.write_partitions(table, obj, partitions, appended=appended, rejects=rejects)
            counts = obj.groupby(["language", "batch"]).size().to_dict() if len(obj) else {}
            add_partition_metadata(
                context,
                {
                    partition: {"dagster/row_count": int(counts.get(partition, 0))}
                    | dict(figures.get(partition, {}))
                    for partition in partitions
                },
            )
            empty = sorted(set(partitions) - set(counts))
            if empty:
                # Legitimate (the partitions are now empty) but usually worth noticing.
                context.log.warning(f"{table}: no rows for partitions {empty}; stored as empty")
        else:
            metadata["dagster/row_count"] = dg.MetadataValue.int(store.replace_table(table, obj))
        context.add_output_metadata(metadata)

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        store = self._store()
        table = context.asset_key.path[-1]
        if not context.has_asset_partitions or not _downstream_is_partitioned(context):
            return store.read_table(table)
        partitions = _partitions(context.asset_partition_keys, context.asset_partitions_def)
        return store.read_partitions(table, partitions)

    def _store(self) -> TicketStore:
        return self.store.get_store()


def _downstream_is_partitioned(context: dg.InputContext) -> bool:
    """Whether the consuming asset is partitioned.

    An unpartitioned consumer (an export over all partitions) gets the whole table. Dagster only
    exposes the consumer's partitioning on the step context; `has_partition_key` is not enough
    because single-run backfills of a range have no partition key either.
    """
    return context.step_context.entity_partitions_def is not None


def _partitions(keys: Sequence[str], partitions_def: dg.PartitionsDefinition) -> list[Partition]:
    if not isinstance(partitions_def, dg.MultiPartitionsDefinition) or set(
        partitions_def.partition_dimension_names
    ) != {"language", "batch"}:
        raise dg.DagsterInvariantViolationError(
            "DuckDBPartitionIOManager needs a MultiPartitionsDefinition with the dimensions"
            f" 'batch' and 'language', got {partitions_def!r}"
        )
    return split_keys(keys)
