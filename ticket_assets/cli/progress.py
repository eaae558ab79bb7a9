"""The CLI's progress line: tickets through the nodes, spend so far and the projected total
while calls run, then each stage of publishing. Fed by the run's materializations and
progress records (core/progress.py), which Dagster hands to the CLI's logger."""

from __future__ import annotations

import sys

from tqdm import tqdm

from ticket_assets.config import RunConfig
from ticket_assets.core.progress import CallProgress, StageProgress
from ticket_assets.nodes import build_pipeline
from ticket_assets.orchestration.partitions import split_keys
from ticket_assets.plan import batch_index, rows_in_partition


class RunProgress:
    """A tqdm bar over ticket-steps (tickets × nodes run) with the spend in its postfix."""

    def __init__(self, config: RunConfig, nodes: list[str]) -> None:
        self._config = config
        self._nodes = nodes
        remote = set(build_pipeline(config).remote_nodes)
        self._remote = [node for node in nodes if node in remote]
        self._bar = tqdm(
            total=config.rows * len(nodes), unit="ticket-steps", desc="generating", file=sys.stderr
        )
        self._finished = 0  # ticket-steps of materialized partitions
        self._current: CallProgress | None = None
        self._spent: dict[str, float] = {}  # USD per node step whose calls are done

    def materialized(self, asset: str, partition: str | None) -> None:
        if asset in self._nodes and partition is not None:
            ((language, batch),) = split_keys([partition])
            self._finished += rows_in_partition(self._config, language, batch_index(batch))
            self._show(asset)

    def report(self, progress: CallProgress | StageProgress) -> None:
        if isinstance(progress, StageProgress):
            self._publishing(progress)
            return
        if progress.final:
            self._spent[progress.node] = progress.spent_usd
            self._current = None
        else:
            self._current = progress
        self._show(progress.node)

    def close(self) -> None:
        self._bar.close()

    def _show(self, node: str) -> None:
        live = self._current.done if self._current is not None else 0
        self._bar.set_postfix_str(" · ".join([node, *self._spend()]), refresh=False)
        # update() redraws at most every tqdm's mininterval: cheap on 400-partition runs.
        self._bar.update(min(self._finished + live, self._bar.total) - self._bar.n)

    def _spend(self) -> list[str]:
        """Spend so far and, once calls were paid for, the projected total: the nodes done at
        their cost, the running one and those to come at the cost per ticket so far."""
        if not self._remote:
            return []
        current = self._current if self._current and self._current.node in self._remote else None
        spent = sum(self._spent.values()) + (current.spent_usd if current else 0.0)
        rows = self._config.rows
        done_tickets = rows * sum(node in self._spent for node in self._remote)
        done_tickets += current.done if current else 0
        if not spent or not done_tickets:
            return [f"${spent:.4f} spent"]
        to_come = sum(node not in self._spent for node in self._remote)
        remaining = rows * to_come - (current.done if current else 0)
        projected = spent + spent / done_tickets * remaining
        return [f"${spent:.4f} spent", f"about ${projected:.4f} in all"]

    def _publishing(self, stage: StageProgress) -> None:
        self._bar.n = self._bar.total  # publishing starts when every node is done
        self._bar.set_description_str(stage.work, refresh=False)
        self._bar.set_postfix_str(f"{stage.name} ({stage.index}/{stage.total})", refresh=False)
        self._bar.refresh()
