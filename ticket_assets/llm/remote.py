"""Remote models through litellm: one JSON-mode chat completion per request.

litellm is imported here, lazily, because its import costs seconds; the price map is read
from the bundled copy (LITELLM_LOCAL_MODEL_COST_MAP) so it never touches the network.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ticket_assets.config import ModelConfig
from ticket_assets.llm.types import LLMRequest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


class RemoteCallError(RuntimeError):
    """A provider call that failed; the message names model and cause, never the key."""


class RemoteAnswer:
    __slots__ = ("content", "cost_usd", "input_tokens", "output_tokens")

    def __init__(self, content: Any, input_tokens: int, output_tokens: int, cost: float) -> None:
        self.content = content
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.cost_usd = cost


class LiteLLMProvider:
    def __init__(self) -> None:
        import litellm

        litellm.suppress_debug_info = True
        self._litellm = litellm

    def complete(self, request: LLMRequest, model: ModelConfig, repair: str | None) -> RemoteAnswer:
        messages = [dict(m) for m in request.messages]
        schema = json.dumps(request.output_model.model_json_schema(), ensure_ascii=False)
        messages[0] = {
            "role": "system",
            "content": f"{messages[0]['content']}\n\nAnswer with one JSON object matching "
            f"this JSON schema, nothing else:\n{schema}",
        }
        if repair:
            messages.append(
                {"role": "user", "content": f"Your last answer was invalid: {repair}. Try again."}
            )
        try:
            response = self._litellm.completion(
                model=model.model,
                messages=messages,
                max_tokens=model.max_tokens,
                temperature=model.temperature,
                api_base=model.api_base,
                response_format={"type": "json_object"},
            )
        except Exception as error:  # litellm raises many provider-specific types
            raise RemoteCallError(
                f"{model.model}: {type(error).__name__}: {str(error).splitlines()[0][:300]}"
            ) from None
        text = response.choices[0].message.content or ""
        usage = getattr(response, "usage", None)
        try:
            cost = float(self._litellm.completion_cost(completion_response=response))
        except Exception:  # no price known for this model: count tokens, charge nothing
            cost = 0.0
        try:
            content: Any = json.loads(text)
        except json.JSONDecodeError:
            content = text
        return RemoteAnswer(
            content,
            int(getattr(usage, "prompt_tokens", 0) or 0),
            int(getattr(usage, "completion_tokens", 0) or 0),
            cost,
        )
