"""A step's calls as they are answered: how many tickets, what they cost so far, and what the
step will cost at that rate. Reported as log records through the step's logger (in Dagster,
the run's log: the UI's run view shows them, and the CLI's progress line reads them), at most
one every few seconds and one at the end."""

from __future__ import annotations

import logging
import time

from ticket_assets.core.progress import PROGRESS_EXTRA, CallProgress
from ticket_assets.llm.types import CallRecord

INTERVAL_S = 2.0


class ProgressLog:
    """Counts a step's call records and logs a `CallProgress` now and then."""

    def __init__(self, node: str, planned: int, log: logging.Logger) -> None:
        self.node = node
        self.planned = planned
        self.done = 0
        self.spent_usd = 0.0
        self._log = log
        self._last = time.monotonic()

    def add(self, record: CallRecord) -> None:
        # A repair re-asks tickets already counted: its cost counts, its tickets do not.
        if record.attempt == 1:
            self.done += record.tickets
        self.spent_usd += record.cost_usd
        if time.monotonic() - self._last >= INTERVAL_S:
            self._report(CallProgress(self.node, self.planned, self.done, self.spent_usd))

    def finish(self) -> None:
        self._report(CallProgress(self.node, self.planned, self.planned, self.spent_usd, True))

    def _report(self, progress: CallProgress) -> None:
        self._last = time.monotonic()
        projected = progress.projected_usd
        self._log.info(
            "%s: %d of %d tickets answered, $%.4f spent%s",
            progress.node,
            min(progress.done, progress.planned),
            progress.planned,
            progress.spent_usd,
            "" if projected is None or progress.final else f", about ${projected:.4f} for the step",
            extra={PROGRESS_EXTRA: progress},
        )
