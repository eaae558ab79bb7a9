"""What flows through the LLM layer: requests, answers, and one accounting record per call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class LLMRequest:
    """One call: rendered messages for remote models, the raw variables for the offline one."""

    node: str
    key: str
    messages: tuple[Mapping[str, str], ...]
    variables: Mapping[str, Any]
    output_model: type[BaseModel]
    prompt_version: str
    validation_context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CallRecord:
    """The ledger row of one call (cache hits included, at zero cost)."""

    node: str
    key: str
    model: str
    provider: str
    prompt_version: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_s: float
    cache_hit: bool = False
    attempt: int = 1


class LLMOutputError(RuntimeError):
    """An answer that still fails validation after the allowed repairs; names every failure."""
