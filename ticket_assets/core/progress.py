"""Progress carried by log records (`extra={PROGRESS_EXTRA: ...}`): a step reports through
its logger (in Dagster, the run's log, which the UI shows) and the CLI's progress line reads
the same records, so no callback is threaded through the code."""

from __future__ import annotations

import logging
from dataclasses import dataclass

# The attribute of the log record that carries a CallProgress or a StageProgress.
PROGRESS_EXTRA = "ticket_assets_progress"


@dataclass(frozen=True)
class CallProgress:
    """`done` of `planned` tickets of `node` answered (or given up), for `spent_usd`."""

    node: str
    planned: int
    done: int = 0
    spent_usd: float = 0.0
    final: bool = False

    @property
    def projected_usd(self) -> float | None:
        """What the step will cost at the rate so far (None before the first answer)."""
        if not self.done:
            return None
        return self.spent_usd / self.done * max(self.planned, self.done)


@dataclass(frozen=True)
class StageProgress:
    """Stage `index` (from 1) of `total` of a longer piece of work, named `name`."""

    work: str
    name: str
    index: int
    total: int


class Stages:
    """Logs each stage of a piece of work as it starts."""

    def __init__(self, work: str, names: tuple[str, ...], log: logging.Logger | None) -> None:
        self._work = work
        self._names = names
        self._log = log

    def start(self, name: str) -> None:
        if self._log is None:
            return
        stage = StageProgress(self._work, name, self._names.index(name) + 1, len(self._names))
        self._log.info(
            "%s: %s (%d of %d)",
            stage.work,
            stage.name,
            stage.index,
            stage.total,
            extra={PROGRESS_EXTRA: stage},
        )
