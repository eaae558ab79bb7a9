"""Online calls: each call on its own through the response cache, the budget, the throttle
(concurrency, rate limits, retries) and the remote provider, all of a round at once.

A call is journaled the moment its request is written (the provider's `on_send`), so a process
killed from then on still has it booked; an error answer takes the entry out (not billed),
a timeout leaves it (a server may finish and bill it anyway, see `book_unanswered`).

With a shared cache, a call that missed both tiers is paid only under a claim on its key
(claims.py); a call another owner claimed waits for that answer outside the throttle (no
slot held, no request counted) and is served it as a cache hit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import time
from collections.abc import Sequence
from functools import cache

from ticket_assets.llm.claims import Claim, Claims, ClaimTaken, lease_for, poll_delays
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

NOT_ASKED = "not asked: the node stopped early"


@cache
def throttle_for(model: str, api_base: str | None, settings: ThrottleSettings) -> Throttle:
    """One throttle per model and endpoint for the whole process, so the per-minute limits
    hold across the nodes and steps that share a model."""
    return Throttle(settings)


class OnlineProcessor:
    def __init__(self, calls: NodeCalls) -> None:
        self.ctx = calls
        model = calls.model
        settings = ThrottleSettings(
            concurrency=model.concurrency,
            requests_per_minute=model.requests_per_minute,
            tokens_per_minute=model.tokens_per_minute,
            max_retries=model.max_retries,
        )
        self.throttle = throttle_for(model.model, model.api_base, settings)
        shared = calls.cache.shared if calls.use_cache else None
        self.claims = (
            None if shared is None else Claims(shared, lease_for(settings, model.timeout_s))
        )
        throttle = self.throttle
        self.on_headers = lambda headers: throttle.observe(quota(headers))
        # Journal entries of calls that timed out, and the output tokens of answered calls.
        self.unanswered: list[PaidCall] = []
        self.output_tokens: list[int] = []

    async def fetch(self, calls: Sequence[Call], attempt: int) -> list[Fetched]:
        claims = self.claims
        if claims is None:
            replies = (self._fetch(call, attempt) for call in calls)
        else:
            replies = (self._fetch_claimed(claims, call, attempt) for call in calls)
        return list(await asyncio.gather(*replies))

    async def _fetch_claimed(self, claims: Claims, call: Call, attempt: int) -> Fetched:
        """The reply to one call with a shared cache: from the cache; paid under a claim on
        its key; or, while another owner holds the claim, that owner's answer."""
        ctx = self.ctx
        if ctx.status.stop is not None:
            return Fetched(error=NOT_ASKED)
        cached = ctx.cached(call, attempt)
        if cached is not None:
            return cached
        while True:
            claim, stored = claims.take(call.cache_key)
            if stored is not None:  # by now another machine paid for it
                return ctx.served(call, stored, attempt)
            if claim is not None:
                try:
                    return await self._fetch(call, attempt, claim)
                except ClaimTaken:
                    pass  # it ran out as the call waited for a slot: wait for the new owner
                finally:
                    claim.release()
            fetched = await self._await_owner(claims, call, attempt)
            if fetched is not None:
                return fetched

    async def _await_owner(self, claims: Claims, call: Call, attempt: int) -> Fetched | None:
        """The answer to a call another owner claimed, served as a cache hit once stored;
        None once the claim is gone without one (its owner failed, or died and its lease ran
        out): the caller claims the call again. Waits outside the throttle."""
        ctx = self.ctx
        for delay in poll_delays():
            await asyncio.sleep(delay)
            if ctx.status.stop is not None:
                break
            stored, claimed = claims.watch(call.cache_key)
            if stored is not None:
                return ctx.served(call, stored, attempt)
            if not claimed:
                return None
        return Fetched(error=NOT_ASKED)

    async def _fetch(self, call: Call, attempt: int, claim: Claim | None = None) -> Fetched:
        """The reply to one call: from the cache, or online through the throttle. Under
        `claim` (the cache was just asked), raises ClaimTaken if another owner took the claim
        over before the call was sent."""
        ctx, status = self.ctx, self.ctx.status
        if status.stop is not None:
            return Fetched(error=NOT_ASKED)
        started = time.perf_counter()
        if claim is None:
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
            if claim is not None:
                claim.hold()
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
            return Fetched(error=NOT_ASKED)
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
        kept = ctx.keep(call, reply, record, claim)  # another machine's answer, if stored first
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
