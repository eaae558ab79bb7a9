"""The asset factory: one partitioned asset per configured node, chained in pipeline order,
plus the unpartitioned export. Assets only wire nodes to storage; the work is in nodes/, and
the services (store, tables, LLM facade) are the resources of resources.py."""

import warnings
from collections.abc import Sequence

import dagster as dg
import pandas as pd

from ticket_assets.config import RunConfig
from ticket_assets.export import EXPORT_COLUMNS, distribution_tables, export_files
from ticket_assets.llm.quarantine import check_reject_rate, current_rejects, rejection_frame
from ticket_assets.nodes import NodeContext, build_pipeline
from ticket_assets.orchestration.accounting import fold_journal
from ticket_assets.orchestration.io_manager import LEDGER_TABLE, NodeOutput
from ticket_assets.orchestration.metadata import (
    node_definition_metadata,
    partition_figures,
    preview,
)
from ticket_assets.orchestration.partitions import (
    Partition,
    batch_partitions_name,
    split_keys,
    ticket_partitions,
)
from ticket_assets.orchestration.quality_checks import (
    export_check_results,
    export_check_specs,
    ledger_costs,
    quality_inputs,
)
from ticket_assets.orchestration.resources import LLMResource, TablesResource, TicketStoreResource
from ticket_assets.orchestration.run_tags import tag_run
from ticket_assets.plan import batch_index, plan_frame, rows_in_partition
from ticket_assets.preflight import check_run_environment
from ticket_assets.publish import publish
from ticket_assets.schema import ticket_schema, validate_or_raise
from ticket_assets.storage import (
    REJECT_COLUMNS,
    REJECTS_TABLE,
    MissingTableError,
    TicketStore,
)

# Single-run backfills are what make a many-partition backfill fast; we rely on them knowingly.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)

NODE_GROUP = "tickets"
EXPORT_ASSET = "tickets_export"
OWNERS = ["team:data-ml"]


def backfill_policy(config: RunConfig) -> dg.BackfillPolicy:
    """One run per backfill range (language or batch), or runs of at most N partitions."""
    if config.backfill_partitions_per_run is None:
        return dg.BackfillPolicy.single_run()
    return dg.BackfillPolicy.multi_run(config.backfill_partitions_per_run)


def llm_pool(provider: str) -> str | None:
    """The concurrency pool of the node steps calling `provider` (limits in dagster.yaml).

    A step holds its slot from start to end, and a node step is LLM calls followed by one
    short DuckDB transaction. So the pool is the provider's: its rate limits are enforced per
    step, and a pool limit of 1 makes them hold across runs. Steps of different providers may
    overlap (as may two that claim a free slot at the same instant on SQLite instance storage);
    their DuckDB writes then wait for each other through the store's lock retries. The offline
    provider has no limits to hold: its steps are in no pool, so a backfill's runs overlap.
    """
    return None if provider == "offline" else f"llm_{provider}"


def _require_upstream_rows(
    config: RunConfig,
    store: TicketStore,
    upstream: str,
    frame: pd.DataFrame,
    partitions: Sequence[Partition],
) -> None:
    present = set(zip(frame["language"], frame["batch"], strict=True)) if len(frame) else set()
    empty = [
        (language, batch)
        for language, batch in partitions
        if (language, batch) not in present
        and rows_in_partition(config, language, batch_index(batch)) > 0
    ]
    quarantined = _partitions_with_rejects(config, store, upstream, empty)
    missing = [
        f"{batch}|{language}" for language, batch in empty if (language, batch) not in quarantined
    ]
    if missing:
        raise dg.Failure(
            f"asset {upstream!r} has no rows for partitions {', '.join(missing[:5])}"
            f"{' …' if len(missing) > 5 else ''}; materialize {upstream!r} for them first"
        )


def _partitions_with_rejects(
    config: RunConfig, store: TicketStore, upstream: str, partitions: Sequence[Partition]
) -> set[Partition]:
    """Which of `partitions` have tickets in quarantine at `upstream` or a node before it:
    empty there because every ticket was, not because `upstream` never ran."""
    if not partitions:
        return set()
    try:
        rejects = store.read_partitions(REJECTS_TABLE, partitions)
    except MissingTableError:
        return set()
    names = build_pipeline(config).names
    nodes = names[: names.index(upstream) + 1]
    rejects = rejects[rejects["node"].isin(nodes)]
    return set(zip(rejects["language"], rejects["batch"], strict=True))


def _run_node(
    context: dg.AssetExecutionContext,
    config: RunConfig,
    node_name: str,
    frame: pd.DataFrame,
    services: tuple[TicketStore, TablesResource, LLMResource],
) -> dg.Output[NodeOutput]:
    store, tables_resource, llm = services
    tag_run(context, config)
    tables = tables_resource.get_tables()
    run_id = context.run.run_id
    # Calls a killed run paid for and never booked: booked now, charged to the run resuming it.
    recovered = fold_journal(config, store, run_id)
    llm.get_budget(run_id).settle(0.0, sum(record.cost_usd for record in recovered))
    if recovered:
        context.log.info(f"booked {len(recovered)} paid calls of an interrupted run")
    client = llm.get_client(context.log, run_id)
    node = build_pipeline(config).nodes[node_name]
    try:
        result = node.run(frame, NodeContext(config, tables, client))
        check_reject_rate(node_name, len(frame), client.rejections, config.max_reject_rate)
        validate_or_raise(
            ticket_schema(config, tables, result.columns), result, f"node {node_name}"
        )
    except Exception:
        # The calls were paid for even though no row is written: keep them in the ledger.
        store.append_rows(LEDGER_TABLE, client.ledger.table_rows(run_id=run_id, mode=config.mode))
        raise
    calls = client.ledger.table_rows(run_id=run_id, mode=config.mode)
    rejects = rejection_frame(client.rejections, run_id)
    figures = partition_figures(
        config,
        node_name,
        split_keys(context.partition_keys),
        result,
        client.ledger.records,
        client.rejections,
    )
    # Only what holds for every partition of the step goes on the output itself.
    metadata = {"llm/model": config.model_for(node_name).model, "mode": config.mode}
    return dg.Output(NodeOutput(result, calls, rejects, figures), metadata=metadata)


def node_asset(config: RunConfig, node_name: str, upstream: str | None) -> dg.AssetsDefinition:
    """The asset of `node_name`, reading the asset of the node before it (`upstream`)."""
    node = build_pipeline(config).nodes[node_name]
    model = config.model_for(node_name)
    decorator = dg.asset(
        name=node_name,
        partitions_def=ticket_partitions(config),
        ins={"previous": dg.AssetIn(key=upstream)} if upstream else None,
        backfill_policy=backfill_policy(config),
        description=f"{node.description}\n\nReads: {', '.join(node.reads)}. "
        f"Writes: {', '.join(node.writes)}. Model: {model.model}.",
        group_name=NODE_GROUP,
        owners=OWNERS,
        kinds={"python", "duckdb"},
        tags={"llm_provider": model.provider},
        pool=llm_pool(model.provider),
        metadata=node_definition_metadata(config, node_name, upstream),
    )

    if upstream is None:

        @decorator
        def _root(
            context: dg.AssetExecutionContext,
            store: TicketStoreResource,
            tables: TablesResource,
            llm: LLMResource,
        ) -> dg.Output[NodeOutput]:
            check_run_environment(config, context.run.run_id)  # before any write or call
            partitions = split_keys(context.partition_keys)
            ticket_store = store.get_store()
            frame = plan_frame(config, partitions, ticket_store.dataset_code(config.dataset))
            services = (ticket_store, tables, llm)
            return _run_node(context, config, node_name, frame, services)

        return _root

    @decorator
    def _chained(
        context: dg.AssetExecutionContext,
        previous: pd.DataFrame,
        store: TicketStoreResource,
        tables: TablesResource,
        llm: LLMResource,
    ) -> dg.Output[NodeOutput]:
        check_run_environment(config, context.run.run_id)  # before any write or call
        ticket_store = store.get_store()
        partitions = split_keys(context.partition_keys)
        _require_upstream_rows(config, ticket_store, upstream, previous, partitions)
        services = (ticket_store, tables, llm)
        return _run_node(context, config, node_name, previous, services)

    return _chained


def dataset_rows(
    context: dg.AssetExecutionContext, config: RunConfig, frame: pd.DataFrame
) -> pd.DataFrame:
    """The rows that make up the dataset now: configured languages, registered batches."""
    batches = set(context.instance.get_dynamic_partitions(batch_partitions_name(config)))
    keep = frame["language"].isin(list(config.languages)) & frame["batch"].isin(batches)
    return frame[keep].sort_values("ticket_id").reset_index(drop=True)


def dataset_rejects(
    context: dg.AssetExecutionContext, config: RunConfig, store: TicketStore
) -> pd.DataFrame:
    """The dataset's quarantined tickets now: its nodes, languages and registered batches."""
    try:
        rejects = store.read_table(REJECTS_TABLE)
    except MissingTableError:
        return pd.DataFrame(columns=list(REJECT_COLUMNS))
    batches = context.instance.get_dynamic_partitions(batch_partitions_name(config))
    return current_rejects(rejects, build_pipeline(config).names, config.languages, batches)


def export_asset(config: RunConfig) -> dg.AssetsDefinition:
    last = build_pipeline(config).names[-1]

    @dg.asset(
        name=EXPORT_ASSET,
        ins={"tickets": dg.AssetIn(key=last)},
        description=(
            f"The finished tickets in {config.exports_path} as "
            f"{', '.join(export_files(config.export).values())} "
            f"(columns {', '.join(EXPORT_COLUMNS)}, then extras); tags are a list in Parquet and "
            "JSON Lines and comma-joined in CSV. Written atomically, after the quality checks, "
            "with the dataset card (README.md), its PNG plots and quality.json next to them."
        ),
        group_name="export",
        owners=OWNERS,
        kinds={"parquet", *(fmt for fmt in config.export.formats if fmt in ("csv", "jsonl"))},
        check_specs=export_check_specs(EXPORT_ASSET),
    )
    def _export(
        context: dg.AssetExecutionContext,
        tickets: pd.DataFrame,
        store: TicketStoreResource,
        tables: TablesResource,
    ) -> dg.MaterializeResult:
        tag_run(context, config)
        rows = dataset_rows(context, config, tickets)
        loaded = tables.get_tables()
        validate_or_raise(ticket_schema(config, loaded, rows.columns), rows, "export")
        ticket_store = store.get_store()
        inputs = quality_inputs(config, ticket_store, loaded)
        rejects = dataset_rejects(context, config, ticket_store)
        costs = ledger_costs(config, ticket_store)
        release = publish(rows, config, inputs, costs, rejects, log=context.log)
        exported = release.rows
        metadata: dict[str, object] = {
            "dagster/row_count": len(exported),
            **{
                f"{key.replace('/', '_')}_path": dg.MetadataValue.path(str(path))
                for key, path in release.exports.files.items()
            },
            "card_path": dg.MetadataValue.path(str(release.card)),
            **(
                {"copied_to": dg.MetadataValue.md("\n".join(f"- `{c}`" for c in release.copies))}
                if release.copies
                else {}
            ),
            "rows_generated": len(rows),
            "tickets/rejected": rejects["ticket_id"].nunique(),
            **{f"rows_left_out/{name}": n for name, n in release.report.dropped.items()},
            "preview": dg.MetadataValue.md(preview(exported[list(EXPORT_COLUMNS)])),
        }
        for column, counts in distribution_tables(exported).items():
            metadata[f"rows_by_{column}"] = dg.MetadataValue.md(counts.to_markdown(index=False))
            for value, count in zip(counts[column], counts["rows"], strict=True):
                metadata[f"rows/{column}/{value}"] = int(count)
        return dg.MaterializeResult(
            metadata=metadata, check_results=export_check_results(release.report)
        )

    return _export
