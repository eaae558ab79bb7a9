"""What the request processors share: a node's calls context and the records it makes, and
the node's status (calls finished and failed, and why it stopped), kept apart from them.

A paid call is journaled as it is sent (the online processor) and again, with its answer
cached in the same transaction, the moment its answer arrives (`NodeCalls.keep`). With a
shared cache, the answer kept is the one stored first under the call's key by any machine:
the processors use what `keep` returns, while the ledger records the call they made; and
`keep` releases the claim the call was paid under (claims.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ticket_assets.llm.accounting import Accounts
from ticket_assets.llm.budget import Budget
from ticket_assets.llm.cache import ResponseCache
from ticket_assets.llm.journal import PaidCall
from ticket_assets.llm.planning import Call, cache_key, partition
from ticket_assets.llm.pricing import Price, price_for
from ticket_assets.llm.providers import remote_provider
from ticket_assets.llm.types import CallRecord, LLMCallError, ProviderReply

if TYPE_CHECKING:
    from ticket_assets.config import ModelConfig, RunConfig
    from ticket_assets.llm.claims import Claim
    from ticket_assets.llm.shared_cache import SharedEntry

# Calls finished before the error rate is judged, so one early failure does not stop a run.
MIN_CALLS_FOR_ERROR_RATE = 20
UNANSWERED_PRICE_SOURCE = "estimated: no answer received"


class NodeStopped(Exception):
    """Raised in place of a call once the node has stopped (never leaves the processors)."""


@dataclass
class Fetched:
    """A call's reply and its ledger record, or the error that ended it."""

    reply: ProviderReply | None = None
    record: CallRecord | None = None
    error: str = ""


class Processor(Protocol):
    """Fetches a round's calls (one reply or error per call, in order) in one mode."""

    async def fetch(self, calls: Sequence[Call], attempt: int) -> list[Fetched]: ...

    def book_unanswered(self) -> None:
        """Account the calls sent this round whose answer never came (they count as paid)."""
        ...


class NodeStatus:
    """How a node's calls went so far, and the error it stopped for (budget, error rate, a
    dead endpoint): once set, no new call starts; calls in flight finish and are accounted,
    then the engine raises it."""

    def __init__(self, node: str, model: str, max_error_rate: float) -> None:
        self.node = node
        self.model = model
        self.max_error_rate = max_error_rate
        self.calls_finished = 0
        self.calls_failed: list[str] = []
        self.stop: Exception | None = None

    def halt(self, error: Exception) -> None:
        """Stop the node for `error`, unless it already stopped for another."""
        self.stop = self.stop or error

    def count(self, failure: str | None = None) -> None:
        """Count a finished call (as it finishes) and stop the node past the error rate."""
        self.calls_finished += 1
        if failure is None:
            return
        self.calls_failed.append(failure)
        rate = len(self.calls_failed) / self.calls_finished
        limit = self.max_error_rate
        if self.stop is None and self.calls_finished >= MIN_CALLS_FOR_ERROR_RATE and rate > limit:
            examples = "; ".join(dict.fromkeys(self.calls_failed[-3:]))
            self.stop = LLMCallError(
                f"node {self.node}: {len(self.calls_failed)} of {self.calls_finished} calls to "
                f"{self.model} failed after retries ({rate:.0%} > max_error_rate "
                f"{limit:.0%}); stopped early. Last errors: {examples}"
            )


@dataclass
class NodeCalls:
    """One node's calls with one model: what they cost, where their answers and journal
    entries go, who pays (`accounts`, `run_id`), and how the node stands."""

    config: RunConfig
    node: str
    model: ModelConfig
    accounts: Accounts
    use_cache: bool
    run_id: str
    price: Price = field(init=False)
    cache: ResponseCache = field(init=False)
    status: NodeStatus = field(init=False)

    def __post_init__(self) -> None:
        self.price = price_for(self.config, self.model)
        # The file also holds the journal of paid calls, which is kept with --no-cache too
        # (the shared tier is then never asked).
        self.cache = ResponseCache.for_config(self.config)
        self.status = NodeStatus(self.node, self.model.model, self.config.max_error_rate)

    @property
    def budget(self) -> Budget:
        return self.accounts.budget

    def cached(self, call: Call, attempt: int) -> Fetched | None:
        """The call's answer from the response cache (a free ledger row), if it is there."""
        call.cache_key = cache_key(call, self.model, self.config.seed)
        reply = self.cache.get(call.cache_key) if self.use_cache else None
        return None if reply is None else self.hit(call, reply, attempt)

    def served(self, call: Call, entry: SharedEntry, attempt: int) -> Fetched:
        """The answer another machine paid for while this one waited on its claim, found in
        the shared tier: copied to this machine's file and served as a cache hit."""
        return self.hit(call, self.cache.adopt(call.cache_key, entry), attempt)

    def hit(self, call: Call, reply: ProviderReply, attempt: int) -> Fetched:
        """A cached answer as the call's reply: a free ledger row."""
        return Fetched(reply, self.record(call, reply, attempt, cache_hit=True))

    def request_body(self, call: Call) -> dict[str, Any]:
        return {
            "messages": call.messages,
            "max_tokens": call.max_tokens,
            "temperature": self.model.temperature,
            "response_format": remote_provider().response_format(
                self.model, call.schema, call.schema_name
            ),
            "seed": self.config.seed,
        }

    def paid(self, record: CallRecord) -> PaidCall:
        return PaidCall(str(self.config.database_path), self.config.dataset, self.run_id, record)

    def keep(
        self, call: Call, reply: ProviderReply, record: CallRecord, claim: Claim | None = None
    ) -> ProviderReply:
        """Journal a paid call's answer as soon as it arrives (replacing the entry made when
        it was sent), with the answer cached in the same transaction, and `claim` released
        as it is shared. Returns the answer to use: `reply`, or the one another machine
        stored under the call's key first (so every machine writes the same rows)."""
        paid = self.paid(record)
        if not self.use_cache:
            self.cache.journal(paid)
            return reply
        if claim is None:
            return self.cache.put(call.cache_key, reply, model=self.model.model, paid=paid)
        kept = self.cache.put(
            call.cache_key, reply, model=self.model.model, paid=paid, claimant=claim.owner
        )
        claim.held = False  # released by the put, with the answer
        return kept

    def estimate(
        self, call: Call, attempt: int, prompt_tokens: int, output_tokens: int = 0
    ) -> CallRecord:
        """The ledger record of a call sent without an answer received (yet): tokens as
        estimated, a price source that says so."""
        estimate = ProviderReply("", prompt_tokens, output_tokens)
        record = self.record(call, estimate, attempt)
        return dataclasses.replace(record, price_source=UNANSWERED_PRICE_SOURCE)

    def record(
        self,
        call: Call,
        reply: ProviderReply,
        attempt: int,
        *,
        cache_hit: bool = False,
        batch: bool = False,
        http_attempts: int = 1,
        latency_s: float = 0.0,
        call_id: str | None = None,
    ) -> CallRecord:
        language, batch_name = partition(call.first)
        return CallRecord(
            **({"call_id": call_id} if call_id else {}),
            node=self.node,
            key=call.tickets,
            model=self.model.model,
            provider=self.model.provider,
            prompt_version=call.first.prompt_version,
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            cost_usd=0.0 if cache_hit else self.price.cost(reply, batch=batch),
            latency_s=latency_s,
            cache_hit=cache_hit,
            attempt=attempt,
            tickets=len(call.indices),
            cached_tokens=reply.cached_tokens,
            http_attempts=0 if cache_hit else http_attempts,
            batch_api=batch,
            price_source=self.price.source,
            language=language,
            batch=batch_name,
        )
