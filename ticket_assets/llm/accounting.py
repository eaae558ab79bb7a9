"""Where a node's calls are accounted: the ledger, the run's budget, the per-call cost limits.

Kept apart from request processing, and from the facade: the remote engine and a worker
process account into an `Accounts` of their own, which needs nothing but the run's config.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ticket_assets.llm.budget import Budget
from ticket_assets.llm.ledger import Ledger
from ticket_assets.llm.progress import ProgressLog
from ticket_assets.llm.types import CallRecord, CostLimitError

if TYPE_CHECKING:
    from ticket_assets.config import RunConfig


class Accounts:
    """A ledger of call records, the budget calls reserve from, and the cost limits."""

    def __init__(
        self,
        config: RunConfig,
        *,
        budget: Budget | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.ledger = Ledger()
        self.budget = budget or Budget(config.budget_usd)
        self.cost_limits = config.cost_limits
        self.log = logger or logging.getLogger("ticket_assets.llm")
        # The step's progress report while a node's calls run (LLMClient.complete).
        self.progress: ProgressLog | None = None

    def account(self, record: CallRecord) -> None:
        """Add a call to the ledger and apply the per-call cost limits."""
        self.ledger.add(record)
        if self.progress is not None:
            self.progress.add(record)
        limits = self.cost_limits
        if record.cost_usd > limits.error:
            raise CostLimitError(
                f"node {record.node}: one call (tickets {record.key}) with {record.model} "
                f"cost ${record.cost_usd:.6f}, over cost_limits.error ${limits.error}"
            )
        if record.cost_usd > limits.warn:
            self.log.warning(
                "node %s: one call (tickets %s) with %s cost $%.6f, over cost_limits.warn $%s",
                record.node,
                record.key,
                record.model,
                record.cost_usd,
                limits.warn,
            )
