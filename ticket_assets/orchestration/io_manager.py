"""Dagster I/O manager storing ticket frames in DuckDB through `TicketStore`.

Partitioned assets (batch x language multi-partitions) rewrite exactly the partitions of the
step in one transaction, so a single-run backfill of many partitions is one atomic write.
Unpartitioned assets (exports, reports) replace their whole table atomically.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg
import pandas as pd

from ticket_assets.orchestration.partitions import split_keys
from ticket_assets.orchestration.resources import TicketStoreResource
from ticket_assets.storage import Partition, TicketStore

LEDGER_TABLE = "llm_calls"


@dataclass(frozen=True)
class NodeOutput:
    """A node asset's result: its ticket rows, the ledger rows of the calls that made them and
    its quarantined tickets, written in one transaction so spend, data and rejects cannot
    drift apart."""

    frame: pd.DataFrame
    llm_calls: pd.DataFrame
    rejects: pd.DataFrame


class DuckDBPartitionIOManager(dg.ConfigurableIOManager):
    """Tables live in the store's dataset schema, named after the last component of the
    asset key. The store is the Definitions' `store` resource (resources.py)."""

    store: TicketStoreResource

    def handle_output(
        self, context: dg.OutputContext, obj: pd.DataFrame | NodeOutput | None
    ) -> None:
        if obj is None:
            return
        appended, rejects = {}, None
        if isinstance(obj, NodeOutput):
            appended, rejects, obj = {LEDGER_TABLE: obj.llm_calls}, obj.rejects, obj.frame
        store = self._store()
        table = context.asset_key.path[-1]
        metadata = {"duckdb/table": dg.MetadataValue.text(f"{self.store.dataset}.{table}")}
        if context.has_asset_partitions:
            partitions = _partitions(context.asset_partition_keys, context.asset_partitions_def)
            rows = store.write_partitions(
                table, obj, partitions, appended=appended, rejects=rejects
            )
            # This metadata goes on every partition's materialization: a row count only when
            # there is one (node assets add their own per partition), else the step's total.
            count_key = "dagster/row_count" if len(partitions) == 1 else "duckdb/rows_written"
            metadata[count_key] = dg.MetadataValue.int(rows)
            empty = sorted(set(partitions) - set(zip(obj["language"], obj["batch"], strict=True)))
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
