"""Prices per token: configured overrides first, then litellm's bundled price map.

We compute cost from reported token counts ourselves, so cached, batched and repaired
calls are all charged by one rule, and a ledger total can be checked against the server.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache

from ticket_assets.config import ModelConfig, PriceOverride, RunConfig
from ticket_assets.llm.types import ProviderReply

log = logging.getLogger(__name__)
PER_MILLION = 1_000_000


@dataclass(frozen=True)
class Price:
    """USD per token; `source` says where the numbers came from."""

    input: float
    output: float
    cached_input: float
    batch_input: float
    batch_output: float
    source: str

    def cost(self, reply: ProviderReply, *, batch: bool = False) -> float:
        if batch:
            return reply.input_tokens * self.batch_input + reply.output_tokens * self.batch_output
        uncached = max(0, reply.input_tokens - reply.cached_tokens)
        return (
            uncached * self.input
            + reply.cached_tokens * self.cached_input
            + reply.output_tokens * self.output
        )

    def max_cost(self, input_tokens: int, max_output_tokens: int, *, batch: bool = False) -> float:
        if batch:
            return input_tokens * self.batch_input + max_output_tokens * self.batch_output
        return input_tokens * self.input + max_output_tokens * self.output


FREE = Price(0.0, 0.0, 0.0, 0.0, 0.0, "offline")


def _from_override(override: PriceOverride) -> Price:
    batch_in = override.batch_input_per_million
    batch_out = override.batch_output_per_million
    return Price(
        input=override.input_per_million / PER_MILLION,
        output=override.output_per_million / PER_MILLION,
        cached_input=override.input_per_million / PER_MILLION,
        batch_input=(override.input_per_million if batch_in is None else batch_in) / PER_MILLION,
        batch_output=(override.output_per_million if batch_out is None else batch_out)
        / PER_MILLION,
        source="config",
    )


@cache
def _from_litellm(model: str) -> Price:
    import litellm  # seconds to import: only for models the config does not price

    try:
        info = litellm.get_model_info(model)
    except Exception:  # litellm raises a bare Exception for unmapped models
        log.warning(
            "no price known for %s: its tokens are counted at $0; set prices.%s in the config",
            model,
            model,
        )
        return Price(0.0, 0.0, 0.0, 0.0, 0.0, "unknown")
    input_price = float(info.get("input_cost_per_token") or 0.0)
    output_price = float(info.get("output_cost_per_token") or 0.0)
    return Price(
        input=input_price,
        output=output_price,
        cached_input=float(info.get("cache_read_input_token_cost") or input_price),
        batch_input=float(info.get("input_cost_per_token_batches") or input_price),
        batch_output=float(info.get("output_cost_per_token_batches") or output_price),
        source="litellm",
    )


def price_for(config: RunConfig, model: ModelConfig) -> Price:
    if model.provider == "offline":
        return FREE
    override = config.prices.get(model.model)
    return _from_override(override) if override else _from_litellm(model.model)
