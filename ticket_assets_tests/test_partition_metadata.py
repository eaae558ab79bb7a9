"""Each partition's materialization carries that partition's own figures, equal to what DuckDB
holds for it and to the ledger's sums for (node, language, batch), also when one step
materializes many partitions; schema and lineage are the asset definition's."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from ticket_assets.config import RunConfig, load_config
from ticket_assets.orchestration.definitions import build_definitions
from ticket_assets.orchestration.jobs import FULL_JOB
from ticket_assets.orchestration.partitions import full_range_tags, register_batches, split_keys
from ticket_assets.orchestration.resources import TicketStoreResource
from ticket_assets.storage import REJECTS_TABLE, TicketStore

FIGURES = ["llm/calls", "llm/cache_hits", "llm/input_tokens", "llm/output_tokens", "llm/cost_usd"]


def expected_figures(
    store: TicketStore, node: str, language: str, batch: str, run_id: str
) -> dict[str, float]:
    """What DuckDB holds for the partition, and the ledger's sums for the calls of the run
    that materialized it (the ledger keeps every run's calls)."""
    rows = store.read_partitions(node, [(language, batch)])
    calls = store.read_table("llm_calls")
    calls = calls[
        (calls["node"] == node)
        & (calls["language"] == language)
        & (calls["batch"] == batch)
        & (calls["run_id"] == run_id)
    ]
    paid = calls[~calls["cache_hit"].astype(bool)]
    rejects = store.read_partitions(REJECTS_TABLE, [(language, batch)])
    return {
        "dagster/row_count": len(rows),
        "llm/calls": len(paid),
        "llm/cache_hits": int(calls["cache_hit"].astype(bool).sum()),
        "llm/input_tokens": int(paid["input_tokens"].sum()),
        "llm/output_tokens": int(paid["output_tokens"].sum()),
        "llm/cost_usd": float(calls["cost_usd"].sum()),
        "llm/rejected": int((rejects["node"] == node).sum()),
    }


def test_a_many_partition_step_gives_each_partition_its_own_figures(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    # 14 tickets a language in batches of at most 6: three uneven batches a language.
    config = load_config(
        overrides={"rows": 28, "batch_size": 6, "languages": "DE,EN", "data_dir": str(tmp_path)}
    )
    register_batches(instance, config)
    defs = build_definitions(config)
    result = defs.resolve_job_def(FULL_JOB).execute_in_process(
        instance=instance, tags=full_range_tags(config)
    )
    assert result.success
    store = TicketStoreResource.for_config(config).get_store()
    events = [e for e in result.get_asset_materialization_events() if e.partition]
    by_node: dict[str, list[int]] = {}
    for event in events:
        node = event.asset_key.to_user_string()
        metadata = event.materialization.metadata
        ((language, batch),) = split_keys([event.partition])
        expected = expected_figures(store, node, language, batch, result.run_id)
        actual = {key: metadata[key].value for key in expected}
        assert actual == pytest.approx(expected), (node, event.partition)
        assert "llm/cost_eur" in metadata  # each configured currency
        assert "duckdb/rows_written" not in metadata  # one key per figure
        assert metadata["preview"].value.startswith("| ticket_id |")
        by_node.setdefault(node, []).append(metadata["dagster/row_count"].value)
    assert sorted(by_node) == sorted(config.pipeline)
    # Each partition's own rows (14 a language in 5, 4 and 5), never the step's 28.
    assert all(sorted(counts) == [4, 4, 5, 5, 5, 5] for counts in by_node.values()), by_node
    for event in events:
        if event.asset_key == dg.AssetKey("translate"):
            metadata = event.materialization.metadata
            # EN drafts: one translation per DE ticket, none for EN tickets.
            rows = metadata["dagster/row_count"].value if event.partition.endswith("DE") else 0
            assert metadata["llm/calls"].value == rows


def test_schema_and_lineage_are_the_definitions_and_match_the_tables(
    small_config: RunConfig, instance: dg.DagsterInstance
) -> None:
    register_batches(instance, small_config)
    defs = build_definitions(small_config)
    result = defs.resolve_job_def(FULL_JOB).execute_in_process(
        instance=instance, tags=full_range_tags(small_config)
    )
    assert result.success
    store = TicketStoreResource.for_config(small_config).get_store()
    for node in small_config.pipeline:
        asset = defs.resolve_assets_def(node)
        metadata = asset.metadata_by_key[asset.key]
        schema = metadata["dagster/column_schema"]
        stored = store.read_table(node)
        assert [column.name for column in schema.columns] == list(stored.columns), node
        if node != "topic":
            lineage = metadata["dagster/column_lineage"].deps_by_column
            assert list(lineage) == list(stored.columns)
    types = {
        c.name: c.type
        for c in defs.resolve_assets_def("tagging")
        .metadata_by_key[dg.AssetKey("tagging")]["dagster/column_schema"]
        .columns
    }
    assert types["tags"] == "list" and types["queue"] == "enum" and types["ticket_id"] == "string"
