"""Online calls: each call on its own through the response cache, the budget, the throttle
(concurrency, rate limits, retries) and the remote provider, all of a round at once.

A call is journaled the moment its request is written (the provider's `on_send`), so a process
killed from then on still has it booked; an error answer takes the entry out (not billed),
a timeout leaves it (a server may finish and bill it anyway, see `book_unanswered`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import time
from collections.abc import Sequence
from functools import cache

from ticket_assets.llm.journal import PaidCall
from ticket_assets.llm.planning import Call
from ticket_assets.llm.processors.base import Fetched, NodeCalls, NodeStopped
from ticket_assets.llm.providers import remote_provider
from ticket_assets.llm.providers.rate_limits import quota
from ticket_assets.llm.throttle import Throttle, ThrottleSettings
from ticket_assets.llm.types import (
    BudgetExceeded,
    EndpointError,
    LLMCallError,
    ProviderError,
    ProviderReply,
    ProviderTimeout,
)


@cache
def throttle_for(model: str, api_base: str | None, settings: ThrottleSettings) -> Throttle:
    """One throttle per model and endpoint for the whole process, so the per-minute limits
    hold across the nodes and steps that share a model."""
    return Throttle(settings)


class OnlineProcessor:
    def __init__(self, calls: NodeCalls) -> None:
        self.ctx = calls
        model = calls.model
        self.throttle = throttle_for(
            model.model,
            model.api_base,
            ThrottleSettings(
                concurrency=model.concurrency,
                requests_per_minute=model.requests_per_minute,
                tokens_per_minute=model.tokens_per_minute,
                max_retries=model.max_retries,
            ),
        )
        throttle = self.throttle
        self.on_headers = lambda headers: throttle.observe(quota(headers))
        # Journal entries of calls that timed out, and the output tokens of answered calls.
        self.unanswered: list[PaidCall] = []
        self.output_tokens: list[int] = []

    async def fetch(self, calls: Sequence[Call], attempt: int) -> list[Fetched]:
        return list(await asyncio.gather(*(self._fetch(call, attempt) for call in calls)))

    async def _fetch(self, call: Call, attempt: int) -> Fetched:
        """The reply to one call: from the cache, or online through the throttle."""
        ctx, status = self.ctx, self.ctx.status
        if status.stop is not None:
            return Fetched(error="not asked: the node stopped early")
        started = time.perf_counter()
        cached = ctx.cached(call, attempt)
        if cached is not None:
            return cached
        prompt_tokens = call.prompt_tokens
        worst_case = ctx.price.max_cost(prompt_tokens, call.max_tokens)
        try:
            ctx.budget.reserve(worst_case, f"a {ctx.node} call with {ctx.model.model}")
        except BudgetExceeded as error:
            status.halt(error)
            return Fetched(error=str(error))
        body = ctx.request_body(call)
        model = ctx.model.model_copy(update={"max_tokens": call.max_tokens})
        answered: list[PaidCall] = []

        async def send() -> ProviderReply:
            # Checked here, after waiting for a slot: the node may have stopped meanwhile.
            if status.stop is not None:
                raise NodeStopped
            sent = ctx.paid(ctx.estimate(call, attempt, prompt_tokens))
            left: list[PaidCall] = []

            def on_send() -> None:
                # Journaled as it leaves: if the process dies from here on, it may be billed.
                ctx.cache.journal(sent)
                left.append(sent)

            try:
                reply = await remote_provider().acomplete(
                    model,
                    call.messages,
                    body["response_format"],
                    ctx.config.seed,
                    sent.record.call_id,
                    on_send=on_send,
                    on_headers=self.on_headers,
                )
            except ProviderTimeout:
                self.unanswered.extend(left[:1])  # a server may finish and bill it anyway
                raise
            except ProviderError:
                ctx.cache.forget_paid([sent.record.call_id])  # an error answer: not billed
                raise
            answered.append(sent)
            return reply

        reply: ProviderReply | None = None
        try:
            reply, attempts = await self.throttle.call(send, tokens=prompt_tokens + call.max_tokens)
        except NodeStopped:
            return Fetched(error="not asked: the node stopped early")
        except ProviderError as error:
            if isinstance(error, EndpointError):  # no other call can succeed: stop at once
                status.halt(LLMCallError(f"node {ctx.node}: {error}"))
            status.count(failure=str(error))
            return Fetched(error=str(error))
        finally:
            ctx.budget.settle(worst_case, ctx.price.cost(reply) if reply else 0.0)
        status.count()
        record = ctx.record(
            call,
            reply,
            attempt,
            http_attempts=attempts,
            latency_s=time.perf_counter() - started,
            call_id=answered[-1].record.call_id,
        )
        kept = ctx.keep(call, reply, record)  # another machine's answer, if stored first
        self.output_tokens.append(reply.output_tokens)
        return Fetched(kept, record)

    def book_unanswered(self) -> None:
        """Calls that timed out count as paid: a provider finishes and bills a request whose
        client stopped waiting. Their output is estimated as the node's mean so far."""
        ctx = self.ctx
        mean_output = round(statistics.fmean(self.output_tokens)) if self.output_tokens else 0
        for sent in self.unanswered:
            record = dataclasses.replace(
                sent.record,
                output_tokens=mean_output,
                cost_usd=ctx.price.cost(ProviderReply("", sent.record.input_tokens, mean_output)),
            )
            ctx.budget.settle(0.0, record.cost_usd)
            ctx.accounts.account(record)
        self.unanswered.clear()
