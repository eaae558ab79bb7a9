"""Running one node's requests against a remote model: rounds, repairs, settling.

Round 1 asks every ticket, several per call where `tickets_per_call` > 1 (planning.py).
Tickets whose answer was invalid, missing or whose call failed are asked again alone, with
the validation error, for up to `max_repairs` more rounds; what is still invalid then comes
back as a `Rejection` (the ticket is quarantined, the step goes on). A round's calls are
fetched by the processor of the model's mode (processors/: online through cache, budget,
throttle and provider; or the Batch API), or the whole node is spread over worker processes.
Every reply is settled into the accounts before anything is raised, so each paid call is in
the ledger. A repaired answer is cached under the ticket's first question too, and the
answers of a quarantined ticket are taken out of the cache: no later run replays an invalid
answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel

from ticket_assets.llm.accounting import Accounts
from ticket_assets.llm.planning import Call, partition, plan, plan_calls
from ticket_assets.llm.processors import Fetched, NodeCalls, processor_for
from ticket_assets.llm.processors.workers import MIN_PER_WORKER, run_in_workers, uses_workers
from ticket_assets.llm.types import (
    BudgetExceeded,
    CallRecord,
    CostLimitError,
    LLMCallError,
    LLMRequest,
    Rejection,
)
from ticket_assets.llm.validation import Invalid, check_answer, check_grouped

if TYPE_CHECKING:
    from ticket_assets.config import ModelConfig, RunConfig

__all__ = ["MIN_PER_WORKER", "RemoteEngine"]


def _work(
    config: RunConfig, node: str, requests: list[LLMRequest], use_cache: bool, run_id: str
) -> tuple[list[BaseModel | Rejection], list[CallRecord], BaseException | None]:
    """A worker process's slice (processors/workers.py): its answers, its ledger records,
    and the error that stopped it (the records come back even then, so every paid call
    reaches the parent's ledger). It accounts into accounts of its own."""
    accounts = Accounts(config)
    engine = RemoteEngine(
        config, node, config.model_for(node), accounts, use_cache=use_cache, run_id=run_id
    )
    try:
        return engine.run(requests), accounts.ledger.records, None
    except (LLMCallError, BudgetExceeded, CostLimitError) as error:
        return [], accounts.ledger.records, error


class RemoteEngine:
    """One node's requests with one remote model. `accounts` takes the ledger records and
    holds the budget; `run_id` names the run the calls are paid in (the journal records it)."""

    def __init__(
        self,
        config: RunConfig,
        node: str,
        model: ModelConfig,
        accounts: Accounts,
        *,
        use_cache: bool | None = None,
        run_id: str = "",
    ) -> None:
        self.node = node
        self.model = model
        self.accounts = accounts
        self.calls = NodeCalls(
            config,
            node,
            model,
            accounts,
            use_cache=config.cache if use_cache is None else use_cache,
            run_id=run_id,
        )
        self.status = self.calls.status
        self.processor = processor_for(self.calls)

    def run(self, requests: Sequence[LLMRequest]) -> list[BaseModel | Rejection]:
        if uses_workers(self.model, len(requests)):
            return run_in_workers(_work, self.calls, requests)
        return asyncio.run(self._run(requests))

    def plan_calls(self, requests: Sequence[LLMRequest]) -> list[Call]:
        """The first round's calls, as they would be sent (used by `estimate`)."""
        return plan_calls(self.model, requests)

    async def _run(self, requests: Sequence[LLMRequest]) -> list[BaseModel | Rejection]:
        results: dict[int, BaseModel | Invalid] = dict.fromkeys(
            range(len(requests)), Invalid("not asked")
        )
        todo = list(range(len(requests)))
        asked = dict.fromkeys(todo, 0)
        made: list[Call] = []
        first_asked: dict[int, str] = {}  # a ticket's first call of its own: its cache key
        for attempt in range(1, self.model.max_repairs + 2):
            if not todo:
                break
            for index in todo:
                asked[index] += 1
            calls = plan(self.model, requests, todo, results, grouped=attempt == 1)
            made.extend(calls)
            fetched = await self.processor.fetch(calls, attempt)
            # Settle every reply before raising anything, so each paid call is in the ledger.
            over_limit: list[CostLimitError] = []
            for call, reply in zip(calls, fetched, strict=True):
                try:
                    outcome = self._settle(call, reply, requests)
                except CostLimitError as error:
                    over_limit.append(error)
                    continue
                results.update(outcome)
                self._remember_repair(call, reply, outcome, first_asked)
            self.processor.book_unanswered()
            if over_limit:
                raise over_limit[0]
            if self.status.stop is not None:
                raise self.status.stop
            todo = [i for i, result in results.items() if isinstance(result, Invalid)]
        self._forget_answers_of(set(todo), made)
        return [
            self._reject(requests[i], r.reason, asked[i]) if isinstance(r, Invalid) else r
            for i, r in results.items()
        ]

    def _reject(self, request: LLMRequest, reason: str, attempts: int) -> Rejection:
        language, batch = partition(request)
        return Rejection(
            self.node, request.key, reason, attempts, self.model.model, language, batch
        )

    def _settle(
        self, call: Call, fetched: Fetched, requests: Sequence[LLMRequest]
    ) -> dict[int, BaseModel | Invalid]:
        """Account for a fetched reply and turn it into answers (or reasons to ask again)."""
        if fetched.reply is None or fetched.record is None:
            return {i: Invalid(f"call failed: {fetched.error}") for i in call.indices}
        self.accounts.account(fetched.record)
        text = fetched.reply.text
        if len(call.indices) == 1:
            index = call.indices[0]
            return {index: check_answer(requests[index], text, call.messages[2:])}
        return check_grouped(call.indices, requests, text)

    def _remember_repair(
        self,
        call: Call,
        fetched: Fetched,
        outcome: Mapping[int, BaseModel | Invalid],
        first_asked: dict[int, str],
    ) -> None:
        """Cache a repaired answer under the ticket's first question too, in place of the
        invalid answer it got there: a rerun is served the valid answer at once."""
        if len(call.indices) != 1 or not call.cache_key:
            return
        index = call.indices[0]
        first = first_asked.setdefault(index, call.cache_key)
        valid = not isinstance(outcome[index], Invalid)
        if valid and first != call.cache_key and fetched.reply is not None and self.calls.use_cache:
            self.calls.cache.replace(first, fetched.reply, model=self.model.model)

    def _forget_answers_of(self, rejected: set[int], calls: Sequence[Call]) -> None:
        """Take the answers that only served quarantined tickets out of the cache, so the
        next run asks those tickets afresh instead of replaying a failure."""
        if not self.calls.use_cache:
            return  # nothing was cached; what is there was checked by the run that put it
        for call in calls:
            if call.cache_key and set(call.indices) <= rejected:
                self.calls.cache.discard(call.cache_key)
