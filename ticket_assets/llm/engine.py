"""Running one node's requests against a remote model.

Round 1 asks every ticket, several per call where `tickets_per_call` > 1 (tickets that share
a system prompt share a call, answers are matched back by ticket id). Tickets whose answer
was invalid, missing or whose call failed are asked again alone, with the validation error,
for up to `max_repairs` more rounds; what is still invalid then comes back as a `Rejection`
(the ticket is quarantined, the step goes on). Every call goes through the response cache,
then the budget, then the throttle (concurrency, rate limits, retries), then litellm. A paid
call is journaled as it is sent and again, with its answer cached, the moment it arrives.
A repaired answer is cached under the ticket's first question too, and the answers of a
quarantined ticket are taken out of the cache: no later run replays an invalid answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import multiprocessing
import os
import statistics
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ticket_assets.llm.cache import ResponseCache
from ticket_assets.llm.journal import PaidCall
from ticket_assets.llm.pricing import price_for
from ticket_assets.llm.remote import LiteLLMProvider
from ticket_assets.llm.throttle import Throttle, ThrottleSettings
from ticket_assets.llm.types import (
    BudgetExceeded,
    CallRecord,
    CostLimitError,
    EndpointError,
    LLMCallError,
    LLMRequest,
    PermanentProviderError,
    ProviderError,
    ProviderReply,
    ProviderTimeout,
    Rejection,
)

if TYPE_CHECKING:
    from ticket_assets.config import ModelConfig, RunConfig
    from ticket_assets.llm.client import LLMClient

SINGLE_INSTRUCTIONS = (
    "Answer with one JSON object that matches this JSON schema, and nothing else:\n{schema}"
)
GROUP_INSTRUCTIONS = (
    "The user message holds {count} separate tickets, each under a line '### Ticket <id>'. "
    "Handle each one on its own, following the instructions above. Answer with one JSON "
    'object {{"items": [...]}} holding exactly one item per ticket, each with its "id" and '
    "the fields of this JSON schema, and nothing else:\n{schema}"
)
BATCH_KEY_VARIABLE = "OPENAI_API_KEY"
# Below this many requests per worker, starting processes costs more than it saves.
MIN_PER_WORKER = 64
# Calls finished before the error rate is judged, so one early failure does not stop a run.
MIN_CALLS_FOR_ERROR_RATE = 20
UNANSWERED_PRICE_SOURCE = "estimated: no answer received"


@cache
def _provider() -> LiteLLMProvider:
    return LiteLLMProvider()


def _split(limit: int | None, parts: int) -> int | None:
    return None if limit is None else max(1, limit // parts)


@cache
def _worker_pool(workers: int) -> ProcessPoolExecutor:
    """Kept for the whole process, so later nodes do not pay the workers' start-up again."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _work(
    config: RunConfig, node: str, requests: list[LLMRequest], use_cache: bool, run_id: str
) -> tuple[list[BaseModel | Rejection], list[CallRecord], BaseException | None]:
    """A worker's slice: its answers, its ledger records, and the error that stopped it (the
    records come back even then, so every paid call reaches the parent's ledger)."""
    from ticket_assets.llm.client import LLMClient
    from ticket_assets.orchestration.assets import tables_for

    client = LLMClient(config, tables_for(config), use_cache=use_cache, run_id=run_id)
    engine = RemoteEngine(client, node, config.model_for(node))
    try:
        return engine.run(requests), client.ledger.records, None
    except (LLMCallError, BudgetExceeded, CostLimitError) as error:
        return [], client.ledger.records, error


@cache
def _throttle(model: str, api_base: str | None, settings: ThrottleSettings) -> Throttle:
    """One throttle per model and endpoint for the whole process, so the per-minute limits
    hold across the nodes and steps that share a model."""
    return Throttle(settings)


def batch_api_key(model: ModelConfig) -> str:
    """The OpenAI SDK behind batch mode needs the key itself (litellm reads it for us
    elsewhere); it only ever lives in the SDK client, never in state or messages."""
    key = os.environ.get(BATCH_KEY_VARIABLE)
    if not key:
        raise PermanentProviderError(f"{model.model}: batch mode needs {BATCH_KEY_VARIABLE}")
    return key


@dataclass
class _Invalid:
    reason: str
    repair_turns: list[dict[str, str]] = field(default_factory=list)


class _NodeStopped(Exception):
    """Raised in place of a call once the node has stopped (never leaves the engine)."""


@dataclass
class _Fetched:
    """A call's reply and its ledger record, or the error that ended it."""

    reply: ProviderReply | None = None
    record: CallRecord | None = None
    error: str = ""


@dataclass
class _Call:
    indices: list[int]
    messages: list[dict[str, str]]
    schema: dict[str, Any]
    schema_name: str
    max_tokens: int
    first: LLMRequest  # partition, prompt version
    tickets: str  # the ticket ids the call answers, comma-joined
    cache_key: str = ""


def _partition(request: LLMRequest) -> tuple[str, str]:
    """Calls stay inside one partition, so each ledger row belongs to one."""
    return request.variables.get("language", ""), request.variables.get("batch", "")


@cache
def _schema(output_model: type[BaseModel]) -> dict[str, Any]:
    """Generating a JSON schema costs about half a millisecond: once per model class."""
    return output_model.model_json_schema()


@cache
def _item_schema(output_model: type[BaseModel]) -> dict[str, Any]:
    schema = _schema(output_model)
    properties = {"id": {"type": "string"}, **schema.get("properties", {})}
    required = ["id", *schema.get("required", [])]
    return {**schema, "properties": properties, "required": required}


class RemoteEngine:
    def __init__(self, client: LLMClient, node: str, model: ModelConfig) -> None:
        self.client = client
        self.node = node
        self.model = model
        self.price = price_for(client.config, model)
        # The file also holds the journal of paid calls, which is kept with --no-cache too.
        self.cache = ResponseCache(client.config.cache_path)
        self.use_cache = client.use_cache
        self.throttle = _throttle(
            model.model,
            model.api_base,
            ThrottleSettings(
                concurrency=model.concurrency,
                requests_per_minute=model.requests_per_minute,
                tokens_per_minute=model.tokens_per_minute,
                max_retries=model.max_retries,
            ),
        )
        self.calls_finished = 0
        self.calls_failed: list[str] = []
        # Journal entries of calls that timed out, and the output tokens of answered calls.
        self.unanswered: list[PaidCall] = []
        self.output_tokens: list[int] = []
        # Set when the node must stop (budget, error rate): no new call starts, calls in
        # flight finish and are accounted, then this is raised.
        self.stop: Exception | None = None

    def run(self, requests: Sequence[LLMRequest]) -> list[BaseModel | Rejection]:
        workers = self.model.workers
        if workers > 1 and not self.model.batch and len(requests) >= workers * MIN_PER_WORKER:
            return self._run_in_workers(requests, workers)
        return asyncio.run(self._run(requests))

    def _run_in_workers(
        self, requests: Sequence[LLMRequest], workers: int
    ) -> list[BaseModel | Rejection]:
        """Spread the calls over worker processes: litellm costs ~6 ms of CPU per call, so
        one event loop saturates a core near 130 calls/s. Each worker gets a contiguous slice
        (partitions stay together), its share of concurrency, rate limits and budget."""
        config = self.client.config
        share = self.model.model_copy(
            update={
                "workers": 1,
                "concurrency": max(1, self.model.concurrency // workers),
                "requests_per_minute": _split(self.model.requests_per_minute, workers),
                "tokens_per_minute": _split(self.model.tokens_per_minute, workers),
            }
        )
        budget = self.client.budget
        remaining = (
            None
            if budget.limit_usd is None
            else max(0.0, budget.limit_usd - budget.spent_usd - budget.reserved_usd) / workers
        )
        worker_config = config.model_copy(
            update={"models": {**config.models, self.node: share}, "budget_usd": remaining}
        )
        size = -(-len(requests) // workers)
        slices = [list(requests[i : i + size]) for i in range(0, len(requests), size)]
        pool = _worker_pool(workers)
        futures = [
            pool.submit(
                _work, worker_config, self.node, part, self.client.use_cache, self.client.run_id
            )
            for part in slices
        ]
        outputs: list[BaseModel | Rejection] = []
        error: BaseException | None = None
        for future in futures:
            part_outputs, records, part_error = future.result()
            outputs.extend(part_outputs)
            self.client.ledger.extend(records)
            budget.settle(0.0, sum(r.cost_usd for r in records))
            error = error or part_error
        if error is not None:
            raise error
        return outputs

    async def _run(self, requests: Sequence[LLMRequest]) -> list[BaseModel | Rejection]:
        results: dict[int, BaseModel | _Invalid] = dict.fromkeys(
            range(len(requests)), _Invalid("not asked")
        )
        todo = list(range(len(requests)))
        asked = dict.fromkeys(todo, 0)
        made: list[_Call] = []
        first_asked: dict[int, str] = {}  # a ticket's first call of its own: its cache key
        for attempt in range(1, self.model.max_repairs + 2):
            if not todo:
                break
            for index in todo:
                asked[index] += 1
            calls = self._plan(requests, todo, results, grouped=attempt == 1)
            made.extend(calls)
            if self.model.batch:
                fetched = await asyncio.to_thread(self._fetch_batch, calls, attempt)
            else:
                fetched = await asyncio.gather(*(self._fetch(call, attempt) for call in calls))
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
            self._book_unanswered()
            if over_limit:
                raise over_limit[0]
            if self.stop is not None:
                raise self.stop
            todo = [i for i, result in results.items() if isinstance(result, _Invalid)]
        self._forget_answers_of(set(todo), made)
        return [
            self._reject(requests[i], r.reason, asked[i]) if isinstance(r, _Invalid) else r
            for i, r in results.items()
        ]

    def _reject(self, request: LLMRequest, reason: str, attempts: int) -> Rejection:
        language, batch = _partition(request)
        return Rejection(
            self.node, request.key, reason, attempts, self.model.model, language, batch
        )

    # --- building calls ---------------------------------------------------------------

    def plan_calls(self, requests: Sequence[LLMRequest]) -> list[_Call]:
        """The first round's calls, as they would be sent (used by `estimate`)."""
        unanswered: dict[int, BaseModel | _Invalid] = dict.fromkeys(
            range(len(requests)), _Invalid("not asked")
        )
        return self._plan(requests, list(unanswered), unanswered, grouped=True)

    def _plan(
        self,
        requests: Sequence[LLMRequest],
        todo: list[int],
        results: Mapping[int, BaseModel | _Invalid],
        *,
        grouped: bool,
    ) -> list[_Call]:
        size = self.model.tickets_per_call if grouped else 1
        calls: list[_Call] = []
        batch: list[int] = []
        for index in todo:
            if batch and (
                len(batch) == size
                or requests[index].messages[0] != requests[batch[0]].messages[0]
                or _partition(requests[index]) != _partition(requests[batch[0]])
            ):
                calls.append(self._call(requests, batch, results))
                batch = []
            batch.append(index)
        if batch:
            calls.append(self._call(requests, batch, results))
        return calls

    def _call(
        self,
        requests: Sequence[LLMRequest],
        indices: list[int],
        results: Mapping[int, BaseModel | _Invalid],
    ) -> _Call:
        first = requests[indices[0]]
        system = first.messages[0]["content"]
        tickets = ",".join(requests[i].key for i in indices)
        if len(indices) == 1:
            schema = _schema(first.output_model)
            previous = results[indices[0]]
            repair = previous.repair_turns if isinstance(previous, _Invalid) else []
            return _Call(
                indices,
                [
                    {
                        "role": "system",
                        "content": f"{system}\n\n"
                        + SINGLE_INSTRUCTIONS.format(schema=json.dumps(schema, ensure_ascii=False)),
                    },
                    dict(first.messages[1]),
                    *repair,
                ],
                schema,
                first.output_model.__name__,
                self.model.max_tokens,
                first,
                tickets,
            )
        item = _item_schema(first.output_model)
        schema = {
            "type": "object",
            "properties": {"items": {"type": "array", "items": item}},
            "required": ["items"],
        }
        grouped = "\n\n".join(
            f"### Ticket {requests[i].key}\n{requests[i].messages[1]['content']}" for i in indices
        )
        instructions = GROUP_INSTRUCTIONS.format(
            count=len(indices), schema=json.dumps(item, ensure_ascii=False)
        )
        return _Call(
            indices,
            [
                {"role": "system", "content": f"{system}\n\n{instructions}"},
                {"role": "user", "content": grouped},
            ],
            schema,
            f"{first.output_model.__name__}Items",
            self.model.max_tokens * len(indices),
            first,
            tickets,
        )

    # --- making calls -----------------------------------------------------------------

    def _cache_key(self, call: _Call) -> str:
        params = {
            "temperature": self.model.temperature,
            "max_tokens": call.max_tokens,
            "api_base": self.model.api_base,
            "seed": self.client.config.seed,
        }
        return ResponseCache.key(
            model=self.model.model, messages=call.messages, params=params, schema=call.schema
        )

    def _request_body(self, call: _Call) -> dict[str, Any]:
        return {
            "messages": call.messages,
            "max_tokens": call.max_tokens,
            "temperature": self.model.temperature,
            "response_format": _provider().response_format(
                self.model, call.schema, call.schema_name
            ),
            "seed": self.client.config.seed,
        }

    async def _fetch(self, call: _Call, attempt: int) -> _Fetched:
        """The reply to one call: from the cache, or online through the throttle."""
        if self.stop is not None:
            return _Fetched(error="not asked: the node stopped early")
        started = time.perf_counter()
        call.cache_key = self._cache_key(call)
        cached = self.cache.get(call.cache_key) if self.use_cache else None
        if cached is not None:
            return _Fetched(cached, self._record(call, cached, attempt, cache_hit=True))
        prompt_tokens = sum(len(m["content"]) for m in call.messages) // 4
        worst_case = self.price.max_cost(prompt_tokens, call.max_tokens)
        try:
            self.client.budget.reserve(worst_case, f"a {self.node} call with {self.model.model}")
        except BudgetExceeded as error:
            self.stop = self.stop or error
            return _Fetched(error=str(error))
        body = self._request_body(call)
        model = self.model.model_copy(update={"max_tokens": call.max_tokens})
        answered: list[PaidCall] = []

        async def send() -> ProviderReply:
            # Checked here, after waiting for a slot: the node may have stopped meanwhile.
            if self.stop is not None:
                raise _NodeStopped
            sent = self._paid(self._estimate(call, attempt, prompt_tokens))
            left: list[PaidCall] = []

            def on_send() -> None:
                # Journaled as it leaves: if the process dies from here on, it may be billed.
                self.cache.journal(sent)
                left.append(sent)

            try:
                reply = await _provider().acomplete(
                    model,
                    call.messages,
                    body["response_format"],
                    self.client.config.seed,
                    sent.record.call_id,
                    on_send=on_send,
                )
            except ProviderTimeout:
                self.unanswered.extend(left[:1])  # a server may finish and bill it anyway
                raise
            except ProviderError:
                self.cache.forget_paid([sent.record.call_id])  # an error answer: not billed
                raise
            answered.append(sent)
            return reply

        reply: ProviderReply | None = None
        try:
            reply, attempts = await self.throttle.call(send, tokens=prompt_tokens + call.max_tokens)
        except _NodeStopped:
            return _Fetched(error="not asked: the node stopped early")
        except ProviderError as error:
            if isinstance(error, EndpointError):  # no other call can succeed: stop at once
                self.stop = self.stop or LLMCallError(f"node {self.node}: {error}")
            self._count(failure=str(error))
            return _Fetched(error=str(error))
        finally:
            self.client.budget.settle(worst_case, self.price.cost(reply) if reply else 0.0)
        self._count()
        record = self._record(
            call,
            reply,
            attempt,
            http_attempts=attempts,
            latency_s=time.perf_counter() - started,
            call_id=answered[-1].record.call_id,
        )
        self._keep(call, reply, record)
        self.output_tokens.append(reply.output_tokens)
        return _Fetched(reply, record)

    def _paid(self, record: CallRecord) -> PaidCall:
        config = self.client.config
        return PaidCall(str(config.database_path), config.dataset, self.client.run_id, record)

    def _keep(self, call: _Call, reply: ProviderReply, record: CallRecord) -> None:
        """Journal a paid call's answer as soon as it arrives (replacing the entry made when
        it was sent), with the answer cached in the same transaction."""
        paid = self._paid(record)
        if self.use_cache:
            self.cache.put(call.cache_key, reply, model=self.model.model, paid=paid)
        else:
            self.cache.journal(paid)

    def _estimate(
        self, call: _Call, attempt: int, prompt_tokens: int, output_tokens: int = 0
    ) -> CallRecord:
        """The ledger record of a call sent without an answer received (yet): tokens as
        estimated, a price source that says so."""
        estimate = ProviderReply("", prompt_tokens, output_tokens)
        record = self._record(call, estimate, attempt)
        return dataclasses.replace(record, price_source=UNANSWERED_PRICE_SOURCE)

    def _book_unanswered(self) -> None:
        """Calls that timed out count as paid: a provider finishes and bills a request whose
        client stopped waiting. Their output is estimated as the node's mean so far."""
        mean_output = round(statistics.fmean(self.output_tokens)) if self.output_tokens else 0
        for sent in self.unanswered:
            record = dataclasses.replace(
                sent.record,
                output_tokens=mean_output,
                cost_usd=self.price.cost(ProviderReply("", sent.record.input_tokens, mean_output)),
            )
            self.client.budget.settle(0.0, record.cost_usd)
            self.client.account(record)
        self.unanswered.clear()

    def _record(
        self,
        call: _Call,
        reply: ProviderReply,
        attempt: int,
        *,
        cache_hit: bool = False,
        batch: bool = False,
        http_attempts: int = 1,
        latency_s: float = 0.0,
        call_id: str | None = None,
    ) -> CallRecord:
        language, batch_name = _partition(call.first)
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

    def _fetch_batch(self, calls: Sequence[_Call], attempt: int) -> list[_Fetched]:
        """The replies to a round's calls through the provider's Batch API (half price,
        hours of latency); cached calls are not resubmitted, a stopped wait resumes."""
        from ticket_assets.llm.batch import BatchRunner, BatchSettings

        fetched: dict[int, _Fetched] = {}
        pending: list[tuple[str, dict[str, Any]]] = []
        for position, call in enumerate(calls):
            call.cache_key = self._cache_key(call)
            cached = self.cache.get(call.cache_key) if self.use_cache else None
            if cached is not None:
                record = self._record(call, cached, attempt, cache_hit=True)
                fetched[position] = _Fetched(cached, record)
            else:
                pending.append((str(position), self._request_body(call)))
        if pending:
            worst_case = sum(
                self.price.max_cost(
                    sum(len(m["content"]) for m in body["messages"]) // 4,
                    body["max_tokens"],
                    batch=True,
                )
                for _, body in pending
            )
            self.client.budget.reserve(worst_case, f"a {self.node} batch with {self.model.model}")
            runner = BatchRunner(
                state_path=self.client.config.batch_state_path,
                api_base=self.model.api_base,
                api_key=batch_api_key(self.model),
                settings=BatchSettings(poll_interval_s=self.model.batch_poll_s),
            )
            spent = 0.0
            try:
                results = runner.run(
                    f"{self.client.config.dataset}/{self.node}/{attempt}",
                    self.model.model.removeprefix("openai/"),
                    pending,
                )
                for custom_id, result in results.items():
                    position = int(custom_id)
                    if isinstance(result, ProviderError):
                        self._count(failure=str(result))
                        fetched[position] = _Fetched(error=str(result))
                        continue
                    self._count()
                    spent += self.price.cost(result, batch=True)
                    record = self._record(
                        calls[position], result, attempt, batch=True, http_attempts=0
                    )
                    self._keep(calls[position], result, record)
                    fetched[position] = _Fetched(result, record)
            except ProviderError as error:
                for custom_id, _ in pending:
                    fetched.setdefault(int(custom_id), _Fetched(error=str(error)))
            finally:
                self.client.budget.settle(worst_case, spent)
        return [fetched[position] for position in range(len(calls))]

    def _settle(
        self, call: _Call, fetched: _Fetched, requests: Sequence[LLMRequest]
    ) -> dict[int, BaseModel | _Invalid]:
        """Account for a fetched reply and turn it into answers (or reasons to ask again)."""
        if fetched.reply is None or fetched.record is None:
            return {i: _Invalid(f"call failed: {fetched.error}") for i in call.indices}
        self.client.account(fetched.record)
        text = fetched.reply.text
        if len(call.indices) == 1:
            index = call.indices[0]
            return {index: self._validate(requests[index], text, call.messages[2:])}
        return self._split(call, requests, text)

    def _remember_repair(
        self,
        call: _Call,
        fetched: _Fetched,
        outcome: Mapping[int, BaseModel | _Invalid],
        first_asked: dict[int, str],
    ) -> None:
        """Cache a repaired answer under the ticket's first question too, in place of the
        invalid answer it got there: a rerun is served the valid answer at once."""
        if len(call.indices) != 1 or not call.cache_key:
            return
        index = call.indices[0]
        first = first_asked.setdefault(index, call.cache_key)
        valid = not isinstance(outcome[index], _Invalid)
        if valid and first != call.cache_key and fetched.reply is not None and self.use_cache:
            self.cache.put(first, fetched.reply, model=self.model.model, paid=None)

    def _forget_answers_of(self, rejected: set[int], calls: Sequence[_Call]) -> None:
        """Take the answers that only served quarantined tickets out of the cache, so the
        next run asks those tickets afresh instead of replaying a failure."""
        for call in calls:
            if call.cache_key and set(call.indices) <= rejected:
                self.cache.discard(call.cache_key)

    def _validate(
        self, request: LLMRequest, text: str, earlier_turns: Sequence[dict[str, str]] = ()
    ) -> BaseModel | _Invalid:
        """The answer, or why not plus the conversation so far (each repair sees every earlier
        try, which also keeps a repeated repair from matching a cached answer)."""
        from ticket_assets.llm.client import validate_answer

        result = validate_answer(request, text, check_language=True)
        if not isinstance(result, str):
            return result
        return _Invalid(
            result,
            [
                *earlier_turns,
                {"role": "assistant", "content": text},
                {
                    "role": "user",
                    "content": f"That answer is invalid: {result}. "
                    "Answer again with the corrected JSON object only.",
                },
            ],
        )

    def _split(
        self, call: _Call, requests: Sequence[LLMRequest], text: str
    ) -> dict[int, BaseModel | _Invalid]:
        try:
            items = json.loads(text)["items"]
            by_id = {str(item["id"]): item for item in items if isinstance(item, Mapping)}
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            reason = f"grouped answer is not a JSON object with 'items' ({type(error).__name__})"
            return {i: _Invalid(reason) for i in call.indices}
        outcome: dict[int, BaseModel | _Invalid] = {}
        for index in call.indices:
            request = requests[index]
            item = by_id.get(request.key)
            if item is None:
                outcome[index] = _Invalid("missing from the grouped answer")
                continue
            fields = {k: v for k, v in item.items() if k != "id"}
            result = self._validate(request, json.dumps(fields, ensure_ascii=False))
            # A grouped answer's repair turns would not fit a single call: ask afresh.
            outcome[index] = _Invalid(result.reason) if isinstance(result, _Invalid) else result
        return outcome

    def _count(self, failure: str | None = None) -> None:
        """Count a finished call (as it finishes) and stop the node past the error rate."""
        self.calls_finished += 1
        if failure is None:
            return
        self.calls_failed.append(failure)
        rate = len(self.calls_failed) / self.calls_finished
        limit = self.client.config.max_error_rate
        if self.stop is None and self.calls_finished >= MIN_CALLS_FOR_ERROR_RATE and rate > limit:
            examples = "; ".join(dict.fromkeys(self.calls_failed[-3:]))
            self.stop = LLMCallError(
                f"node {self.node}: {len(self.calls_failed)} of {self.calls_finished} calls to "
                f"{self.model.model} failed after retries ({rate:.0%} > max_error_rate "
                f"{limit:.0%}); stopped early. Last errors: {examples}"
            )
