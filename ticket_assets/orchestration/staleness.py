"""Staleness you can see in the asset graph and the catalog: the `in_sync_with_upstream`
check of each node asset fails, listing the partitions, while a partition of the asset was
last materialized before the same partition of the node it reads (after a translate-only
rerun: `first_response`, for the partitions translated again).

Dagster runs a check with its own asset, and the graph shows each check's latest result. A
check of `first_response` alone would stay green after a translate-only run, so one
multi-asset check holds the check of every node and runs in every run that materializes a
node, after the run's nodes: it evaluates the selected nodes' checks and, for each selected
node whose downstream node the run leaves alone, that node's check too (logged as an
evaluation of its check, since a step may only return results for the checks selected in
it). The red shows when the upstream's run ends and clears when the stale partitions are
materialized again, from the UI, a backfill or the CLI alike. The first node's check has no
upstream and always passes; it is there so that a topic-only run evaluates `email_draft`.

Order is the Dagster instance's: the storage id of each partition's latest materialization
(one query per asset), which grows with every event, unlike timestamps. Partitions of
languages or batches no longer configured are left out.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg

from ticket_assets.config import RunConfig
from ticket_assets.nodes import build_pipeline
from ticket_assets.orchestration.partitions import batch_partitions_name, split_keys

CHECK_NAME = "in_sync_with_upstream"
SHOWN_PARTITIONS = 20


@dataclass(frozen=True)
class Staleness:
    """How `node`'s partitions compare with `upstream`'s (None for the first node)."""

    node: str
    upstream: str | None
    stale: tuple[str, ...] = ()  # partition keys materialized before the upstream's
    compared: int = 0  # partitions materialized in both

    def description(self) -> str:
        if self.upstream is None:
            return f"{self.node} is the first node: it reads no other asset."
        if not self.stale:
            return (
                f"No partition of {self.node} is older than the same partition of {self.upstream}."
            )
        return (
            f"{len(self.stale)} partition(s) of {self.node} were materialized before the same "
            f"partition of {self.upstream}: {self.listed()}. Materialize {self.node} for them."
        )

    def listed(self) -> str:
        more = len(self.stale) - SHOWN_PARTITIONS
        return ", ".join(self.stale[:SHOWN_PARTITIONS]) + (f" and {more} more" if more > 0 else "")

    def metadata(self) -> dict[str, Any]:
        if self.upstream is None:
            return {}
        return {
            "upstream": dg.MetadataValue.asset(dg.AssetKey(self.upstream)),
            "stale_partitions": len(self.stale),
            "partitions": dg.MetadataValue.text(self.listed()),
            "partitions_compared": self.compared,
        }

    def result(self) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(
            asset_key=self.node,
            check_name=CHECK_NAME,
            passed=not self.stale,
            metadata=self.metadata(),
            description=self.description(),
        )

    def evaluation(self) -> dg.AssetCheckEvaluation:
        return dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey(self.node),
            check_name=CHECK_NAME,
            passed=not self.stale,
            metadata=self.metadata(),
            description=self.description(),
        )


class _LatestMaterializations:
    """Per asset, the storage id of each configured partition's latest materialization."""

    def __init__(self, config: RunConfig, instance: dg.DagsterInstance) -> None:
        self._instance = instance
        self._languages = set(config.languages)
        self._batches = set(instance.get_dynamic_partitions(batch_partitions_name(config)))
        self._cache: dict[str, Mapping[str, int]] = {}

    def of(self, asset: str) -> Mapping[str, int]:
        if asset not in self._cache:
            latest = self._instance.get_latest_storage_id_by_partition(
                dg.AssetKey(asset), dg.DagsterEventType.ASSET_MATERIALIZATION
            )
            self._cache[asset] = {
                key: storage_id for key, storage_id in latest.items() if self._configured(key)
            }
        return self._cache[asset]

    def _configured(self, key: str) -> bool:
        ((language, batch),) = split_keys([key])
        return language in self._languages and batch in self._batches

    def staleness(self, node: str, upstream: str | None) -> Staleness:
        if upstream is None:
            return Staleness(node, None)
        mine, theirs = self.of(node), self.of(upstream)
        compared = [key for key in mine if key in theirs]
        stale = tuple(sorted(key for key in compared if mine[key] < theirs[key]))
        return Staleness(node, upstream, stale, len(compared))


def staleness_check(config: RunConfig) -> dg.AssetChecksDefinition:
    """The `in_sync_with_upstream` check of every node asset, in one subsettable op."""
    names = build_pipeline(config).names
    upstream_of = dict(zip(names, [None, *names[:-1]], strict=True))
    downstream_of = dict(zip(names, [*names[1:], None], strict=True))
    specs = [
        dg.AssetCheckSpec(
            CHECK_NAME,
            asset=name,
            additional_deps=[upstream] if upstream else None,
            description=(
                f"Fails, listing them, while partitions of {name} are older than the same "
                f"partitions of {upstream}: materialize {name} for them."
                if upstream
                else f"{name} is the first node; passes always."
            ),
        )
        for name, upstream in upstream_of.items()
    ]

    @dg.multi_asset_check(
        specs=specs,
        can_subset=True,
        name="node_staleness",
        description="Whether each node asset's partitions are newer than its upstream's.",
    )
    def _check(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
        selected = {key.asset_key.to_user_string() for key in context.selected_asset_check_keys}
        latest = _LatestMaterializations(config, context.instance)
        for name in names:
            if name in selected:
                yield latest.staleness(name, upstream_of[name]).result()
        for name in names:
            below = downstream_of[name]
            if name in selected and below is not None and below not in selected:
                evaluation = latest.staleness(below, name).evaluation()
                context.op_execution_context.log_event(evaluation)

    return _check
