"""Running one node's requests against a remote model.

Round 1 asks every ticket, several per call where `tickets_per_call` > 1 (tickets that share
a system prompt share a call, answers are matched back by ticket id). Tickets whose answer
was invalid, missing or whose call failed are asked again alone, with the validation error,
for up to `max_repairs` more rounds. Every call goes through the response cache, then the
budget, then the throttle (concurrency, rate limits, retries), then litellm.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ticket_assets.llm.cache import ResponseCache
from ticket_assets.llm.pricing import price_for
from ticket_assets.llm.remote import LiteLLMProvider
from ticket_assets.llm.throttle import Throttle, ThrottleSettings
from ticket_assets.llm.types import (
    CallRecord,
    LLMCallError,
    LLMRequest,
    ProviderError,
    ProviderReply,
)

if TYPE_CHECKING:
    from ticket_assets.config import ModelConfig
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
# Calls finished before the error rate is judged, so one early failure does not stop a run.
MIN_CALLS_FOR_ERROR_RATE = 20


@cache
def _provider() -> LiteLLMProvider:
    return LiteLLMProvider()


@dataclass
class _Invalid:
    reason: str
    repair_turns: list[dict[str, str]] = field(default_factory=list)


@dataclass
class _Call:
    indices: list[int]
    messages: list[dict[str, str]]
    schema: dict[str, Any]
    schema_name: str
    max_tokens: int


def _partition(request: LLMRequest) -> tuple[str, str]:
    """Calls stay inside one partition, so each ledger row belongs to one."""
    return request.variables.get("language", ""), request.variables.get("batch", "")


def _item_schema(output_model: type[BaseModel]) -> dict[str, Any]:
    schema = output_model.model_json_schema()
    properties = {"id": {"type": "string"}, **schema.get("properties", {})}
    required = ["id", *schema.get("required", [])]
    return {**schema, "properties": properties, "required": required}


class RemoteEngine:
    def __init__(self, client: LLMClient, node: str, model: ModelConfig) -> None:
        self.client = client
        self.node = node
        self.model = model
        self.price = price_for(client.config, model)
        self.cache = ResponseCache(client.config.cache_path) if client.use_cache else None
        self.calls_finished = 0
        self.calls_failed: list[str] = []
        self.abort_reason: str | None = None

    def run(self, requests: Sequence[LLMRequest]) -> list[BaseModel | str]:
        return asyncio.run(self._run(requests))

    async def _run(self, requests: Sequence[LLMRequest]) -> list[BaseModel | str]:
        # Asyncio primitives bind to one event loop, so each run gets its own throttle.
        self.throttle = Throttle(
            ThrottleSettings(
                concurrency=self.model.concurrency,
                requests_per_minute=self.model.requests_per_minute,
                tokens_per_minute=self.model.tokens_per_minute,
                max_retries=self.model.max_retries,
            )
        )
        results: list[BaseModel | _Invalid] = [_Invalid("not asked")] * len(requests)
        todo = list(range(len(requests)))
        for attempt in range(1, self.model.max_repairs + 2):
            if not todo:
                break
            calls = self._plan(requests, todo, results, grouped=attempt == 1)
            outcomes = await asyncio.gather(*(self._ask(call, requests, attempt) for call in calls))
            if self.abort_reason:
                raise LLMCallError(self.abort_reason)
            for outcome in outcomes:
                for index, result in outcome.items():
                    results[index] = result
            todo = [i for i, result in enumerate(results) if isinstance(result, _Invalid)]
        return [r.reason if isinstance(r, _Invalid) else r for r in results]

    # --- building calls ---------------------------------------------------------------

    def plan_calls(self, requests: Sequence[LLMRequest]) -> list[_Call]:
        """The first round's calls, as they would be sent (used by `estimate`)."""
        unanswered: list[BaseModel | _Invalid] = [_Invalid("not asked")] * len(requests)
        return self._plan(requests, list(range(len(requests))), unanswered, grouped=True)

    def _plan(
        self,
        requests: Sequence[LLMRequest],
        todo: list[int],
        results: list[BaseModel | _Invalid],
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
        self, requests: Sequence[LLMRequest], indices: list[int], results: list[Any]
    ) -> _Call:
        first = requests[indices[0]]
        system = first.messages[0]["content"]
        if len(indices) == 1:
            schema = first.output_model.model_json_schema()
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
            )
        item = _item_schema(first.output_model)
        schema = {
            "type": "object",
            "properties": {"items": {"type": "array", "items": item}},
            "required": ["items"],
        }
        tickets = "\n\n".join(
            f"### Ticket {requests[i].key}\n{requests[i].messages[1]['content']}" for i in indices
        )
        instructions = GROUP_INSTRUCTIONS.format(
            count=len(indices), schema=json.dumps(item, ensure_ascii=False)
        )
        return _Call(
            indices,
            [
                {"role": "system", "content": f"{system}\n\n{instructions}"},
                {"role": "user", "content": tickets},
            ],
            schema,
            f"{first.output_model.__name__}Items",
            self.model.max_tokens * len(indices),
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

    async def _fetch(self, call: _Call) -> tuple[ProviderReply, int, bool]:
        """(reply, HTTP attempts, cache hit) for a call; raises ProviderError when it fails."""
        key = self._cache_key(call)
        if self.cache is not None:
            cached = self.cache.get(key)
            if cached is not None:
                return cached, 0, True
        prompt_tokens = sum(len(m["content"]) for m in call.messages) // 4
        worst_case = self.price.max_cost(prompt_tokens, call.max_tokens)
        self.client.budget.reserve(worst_case, f"a {self.node} call with {self.model.model}")
        provider = _provider()
        response_format = provider.response_format(self.model, call.schema, call.schema_name)
        reply: ProviderReply | None = None
        try:
            reply, attempts = await self.throttle.call(
                lambda: provider.acomplete(
                    self.model.model_copy(update={"max_tokens": call.max_tokens}),
                    call.messages,
                    response_format,
                    self.client.config.seed,
                ),
                tokens=prompt_tokens + call.max_tokens,
            )
        finally:
            self.client.budget.settle(worst_case, self.price.cost(reply) if reply else 0.0)
        if self.cache is not None:
            self.cache.put(key, reply, model=self.model.model)
        return reply, attempts, False

    async def _ask(
        self, call: _Call, requests: Sequence[LLMRequest], attempt: int
    ) -> dict[int, BaseModel | _Invalid]:
        if self.abort_reason:
            return {i: _Invalid("not asked: the node stopped early") for i in call.indices}
        started = time.perf_counter()
        try:
            reply, http_attempts, cache_hit = await self._fetch(call)
        except ProviderError as error:
            self._count_failure(str(error))
            return {i: _Invalid(f"call failed: {error}") for i in call.indices}
        self.calls_finished += 1
        first = requests[call.indices[0]]
        self.client.account(
            CallRecord(
                node=self.node,
                key=",".join(requests[i].key for i in call.indices),
                model=self.model.model,
                provider=self.model.provider,
                prompt_version=first.prompt_version,
                input_tokens=reply.input_tokens,
                output_tokens=reply.output_tokens,
                cost_usd=0.0 if cache_hit else self.price.cost(reply),
                latency_s=time.perf_counter() - started,
                cache_hit=cache_hit,
                attempt=attempt,
                tickets=len(call.indices),
                cached_tokens=reply.cached_tokens,
                http_attempts=http_attempts,
                price_source=self.price.source,
                language=first.variables.get("language", ""),
                batch=first.variables.get("batch", ""),
            )
        )
        if len(call.indices) == 1:
            earlier_turns = call.messages[2:]
            return {
                call.indices[0]: self._validate(
                    requests[call.indices[0]], reply.text, earlier_turns
                )
            }
        return self._split(call, requests, reply.text)

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

    def _count_failure(self, message: str) -> None:
        self.calls_finished += 1
        self.calls_failed.append(message)
        rate = len(self.calls_failed) / self.calls_finished
        limit = self.client.config.max_error_rate
        if self.calls_finished >= MIN_CALLS_FOR_ERROR_RATE and rate > limit:
            examples = "; ".join(dict.fromkeys(self.calls_failed[-3:]))
            self.abort_reason = (
                f"node {self.node}: {len(self.calls_failed)} of {self.calls_finished} calls to "
                f"{self.model.model} failed after retries ({rate:.0%} > max_error_rate "
                f"{limit:.0%}); stopped early. Last errors: {examples}"
            )
