"""The one LLM facade nodes talk to.

`LLMClient.complete(node, requests)` returns one validated answer per request, in order, or
a `Rejection` for a ticket whose answer stayed invalid after its repairs (the client keeps
those in `rejections` too). Underneath, per node's model:
- a local provider (`offline`, test doubles): processors/local.py, one call per ticket;
- anything else: `RemoteEngine` (engine.py): rounds and repairs over the online or batch
  processor, or worker processes.
Both account into the client's `accounts` (accounting.py: ledger, budget, cost limits).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from pydantic import BaseModel

from ticket_assets.config import ModelConfig, RunConfig
from ticket_assets.llm.accounting import Accounts
from ticket_assets.llm.budget import Budget
from ticket_assets.llm.engine import RemoteEngine
from ticket_assets.llm.ledger import Ledger
from ticket_assets.llm.processors.local import complete_local
from ticket_assets.llm.progress import ProgressLog
from ticket_assets.llm.providers.local import LocalAnswer, LocalProvider, OfflineAdapter
from ticket_assets.llm.types import CallRecord, CostLimitError, LLMRequest, Rejection
from ticket_assets.llm.validation import describe, validate_answer
from ticket_assets.tables import Tables

# Imported from here by nodes, tests and plug-ins.
__all__ = [
    "CostLimitError",
    "LLMClient",
    "LocalAnswer",
    "LocalProvider",
    "OfflineAdapter",
    "describe",
    "validate_answer",
]


class LLMClient:
    """Facade: `complete(node, requests)` returns validated outputs in request order.

    `run_id` names the Dagster run the calls are paid for in (the journal of paid calls
    records it, see journal.py)."""

    def __init__(
        self,
        config: RunConfig,
        tables: Tables,
        *,
        logger: logging.Logger | None = None,
        budget: Budget | None = None,
        use_cache: bool | None = None,
        local_providers: Mapping[str, LocalProvider] | None = None,
        run_id: str = "",
    ) -> None:
        self.config = config
        self.run_id = run_id
        self.accounts = Accounts(config, budget=budget, logger=logger)
        self.rejections: list[Rejection] = []
        self.use_cache = config.cache if use_cache is None else use_cache
        self._local: dict[str, LocalProvider] = {"offline": OfflineAdapter(tables, config.seed)}
        self._local.update(local_providers or {})

    @property
    def ledger(self) -> Ledger:
        return self.accounts.ledger

    @property
    def budget(self) -> Budget:
        return self.accounts.budget

    @property
    def log(self) -> logging.Logger:
        return self.accounts.log

    def complete(self, node: str, requests: Sequence[LLMRequest]) -> list[BaseModel | Rejection]:
        model = self.config.model_for(node)
        if not requests:
            return []
        self.accounts.progress = progress = ProgressLog(node, len(requests), self.log)
        try:
            outputs = self._complete(node, model, requests)
        finally:
            self.accounts.progress = None
        progress.finish()
        self.rejections.extend(o for o in outputs if isinstance(o, Rejection))
        return outputs

    def _complete(
        self, node: str, model: ModelConfig, requests: Sequence[LLMRequest]
    ) -> list[BaseModel | Rejection]:
        local = self._local.get(model.provider)
        if local is not None:
            return [complete_local(r, model, local, self.accounts) for r in requests]
        engine = RemoteEngine(
            self.config, node, model, self.accounts, use_cache=self.use_cache, run_id=self.run_id
        )
        return engine.run(requests)

    def account(self, record: CallRecord) -> None:
        """Add a call to the ledger and apply the per-call cost limits."""
        self.accounts.account(record)
