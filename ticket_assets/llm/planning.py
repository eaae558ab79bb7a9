"""Which calls a round of a node's requests becomes, as they are sent.

The first round asks several tickets per call where `tickets_per_call` > 1 (tickets that
share a system prompt and a partition share a call; answers are matched back by ticket id);
repair rounds ask each ticket alone, with its earlier turns. `estimate` plans with the same
code, so its call count is the run's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ticket_assets.llm.cache import ResponseCache
from ticket_assets.llm.types import LLMRequest
from ticket_assets.llm.validation import Invalid

if TYPE_CHECKING:
    from ticket_assets.config import ModelConfig

SINGLE_INSTRUCTIONS = (
    "Answer with one JSON object that matches this JSON schema, and nothing else:\n{schema}"
)
GROUP_INSTRUCTIONS = (
    "The user message holds {count} separate tickets, each under a line '### Ticket <id>'. "
    "Handle each one on its own, following the instructions above. Answer with one JSON "
    'object {{"items": [...]}} holding exactly one item per ticket, each with its "id" and '
    "the fields of this JSON schema, and nothing else:\n{schema}"
)


@dataclass
class Call:
    indices: list[int]
    messages: list[dict[str, str]]
    schema: dict[str, Any]
    schema_name: str
    max_tokens: int
    first: LLMRequest  # partition, prompt version
    tickets: str  # the ticket ids the call answers, comma-joined
    cache_key: str = ""

    @property
    def prompt_tokens(self) -> int:
        """Estimated at four characters a token (budget reservations, rate limits)."""
        return sum(len(m["content"]) for m in self.messages) // 4


def partition(request: LLMRequest) -> tuple[str, str]:
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


def plan_calls(model: ModelConfig, requests: Sequence[LLMRequest]) -> list[Call]:
    """The first round's calls, as they would be sent (used by `estimate`)."""
    unanswered: dict[int, BaseModel | Invalid] = dict.fromkeys(
        range(len(requests)), Invalid("not asked")
    )
    return plan(model, requests, list(unanswered), unanswered, grouped=True)


def plan(
    model: ModelConfig,
    requests: Sequence[LLMRequest],
    todo: list[int],
    results: Mapping[int, BaseModel | Invalid],
    *,
    grouped: bool,
) -> list[Call]:
    size = model.tickets_per_call if grouped else 1
    calls: list[Call] = []
    batch: list[int] = []
    for index in todo:
        if batch and (
            len(batch) == size
            or requests[index].messages[0] != requests[batch[0]].messages[0]
            or partition(requests[index]) != partition(requests[batch[0]])
        ):
            calls.append(_call(model, requests, batch, results))
            batch = []
        batch.append(index)
    if batch:
        calls.append(_call(model, requests, batch, results))
    return calls


def _call(
    model: ModelConfig,
    requests: Sequence[LLMRequest],
    indices: list[int],
    results: Mapping[int, BaseModel | Invalid],
) -> Call:
    first = requests[indices[0]]
    system = first.messages[0]["content"]
    tickets = ",".join(requests[i].key for i in indices)
    if len(indices) == 1:
        schema = _schema(first.output_model)
        previous = results[indices[0]]
        repair = previous.repair_turns if isinstance(previous, Invalid) else []
        return Call(
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
            model.max_tokens,
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
    return Call(
        indices,
        [
            {"role": "system", "content": f"{system}\n\n{instructions}"},
            {"role": "user", "content": grouped},
        ],
        schema,
        f"{first.output_model.__name__}Items",
        model.max_tokens * len(indices),
        first,
        tickets,
    )


def cache_key(call: Call, model: ModelConfig, seed: int) -> str:
    """The call's key in the response cache: model, messages, parameters, seed and schema."""
    params = {
        "temperature": model.temperature,
        "max_tokens": call.max_tokens,
        "api_base": model.api_base,
        "seed": seed,
    }
    return ResponseCache.key(
        model=model.model, messages=call.messages, params=params, schema=call.schema
    )
