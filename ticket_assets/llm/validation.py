"""Answers checked against a node's output model, and the repair turns an invalid one gets.

`validate_answer` is the one rule for every provider: the answer as the node's pydantic model,
or why not. The remote engine wraps it: an invalid answer becomes an `Invalid` holding the
reason and the conversation so far, which the next round sends back to the model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from ticket_assets.llm.types import LLMRequest


@dataclass
class Invalid:
    """Why a ticket has no valid answer yet, and the turns a repair call appends."""

    reason: str
    repair_turns: list[dict[str, str]] = field(default_factory=list)


def describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        location = ".".join(str(p) for p in item["loc"]) or "answer"
        parts.append(f"{location}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def validate_answer(request: LLMRequest, content: Any, *, check_language: bool) -> BaseModel | str:
    """The answer as the node's output model, or why it is not one."""
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except json.JSONDecodeError as error:
            return f"answer is not valid JSON ({error.msg} at position {error.pos})"
    context = {**request.validation_context, "check_language": check_language}
    try:
        return request.output_model.model_validate(content, context=context)
    except ValidationError as error:
        return describe(error)


def check_answer(
    request: LLMRequest, text: str, earlier_turns: Sequence[dict[str, str]] = ()
) -> BaseModel | Invalid:
    """The answer, or why not plus the conversation so far (each repair sees every earlier
    try, which also keeps a repeated repair from matching a cached answer)."""
    result = validate_answer(request, text, check_language=True)
    if not isinstance(result, str):
        return result
    return Invalid(
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


def check_grouped(
    indices: Sequence[int], requests: Sequence[LLMRequest], text: str
) -> dict[int, BaseModel | Invalid]:
    """A grouped answer (`{"items": [...]}`, matched back by ticket id), per ticket."""
    try:
        items = json.loads(text)["items"]
        by_id = {str(item["id"]): item for item in items if isinstance(item, Mapping)}
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        reason = f"grouped answer is not a JSON object with 'items' ({type(error).__name__})"
        return {i: Invalid(reason) for i in indices}
    outcome: dict[int, BaseModel | Invalid] = {}
    for index in indices:
        request = requests[index]
        item = by_id.get(request.key)
        if item is None:
            outcome[index] = Invalid("missing from the grouped answer")
            continue
        fields = {k: v for k, v in item.items() if k != "id"}
        result = check_answer(request, json.dumps(fields, ensure_ascii=False))
        # A grouped answer's repair turns would not fit a single call: ask afresh.
        outcome[index] = Invalid(result.reason) if isinstance(result, Invalid) else result
    return outcome
