"""Which LLM each node calls, what a call may cost, and prices and currencies for the bill."""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ticket_assets.config.base import StrictModel


class ModelConfig(StrictModel):
    """Which LLM a node calls and how. `model` is `provider/name` as litellm spells it.
    API keys are never configured here: litellm reads them from the environment."""

    model: str = "offline"
    max_tokens: int = Field(default=800, gt=0)
    temperature: float = Field(default=0.7, ge=0, le=2)
    api_base: str | None = None
    tickets_per_call: int = Field(default=1, ge=1, le=50)
    concurrency: int = Field(default=16, ge=1, le=1024)
    workers: int = Field(default=1, ge=1, le=64)
    requests_per_minute: int | None = Field(default=None, gt=0)
    tokens_per_minute: int | None = Field(default=None, gt=0)
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=6, ge=0, le=20)
    max_repairs: int = Field(default=2, ge=0, le=10)
    batch: bool = False
    batch_poll_s: float = Field(default=30.0, gt=0)
    # How answers are constrained: a JSON-schema response_format, or JSON mode with the schema
    # in the prompt only; `auto` picks json_schema where the model or its api_base allows it.
    structured_output: Literal["auto", "json_schema", "json_object"] = "auto"

    @model_validator(mode="after")
    def _batch_needs_openai(self) -> ModelConfig:
        if self.batch and self.provider != "openai":
            raise ValueError(
                f"batch: true needs an OpenAI Batch API (model openai/...), not {self.model!r}"
            )
        return self

    @model_validator(mode="after")
    def _model_has_provider(self) -> ModelConfig:
        if self.model != "offline" and "/" not in self.model:
            raise ValueError(
                f"model {self.model!r} needs a provider prefix, e.g. openai/{self.model}; "
                "or use offline"
            )
        return self

    @property
    def provider(self) -> str:
        return self.model.split("/", 1)[0] if "/" in self.model else self.model


class CostLimits(StrictModel):
    """USD thresholds for one LLM call: `warn` logs, `error` fails the step."""

    warn: float = Field(default=0.001, ge=0)
    error: float = Field(default=0.01, ge=0)

    @model_validator(mode="after")
    def _warn_below_error(self) -> CostLimits:
        if self.warn > self.error:
            raise ValueError(f"warn ({self.warn}) must not exceed error ({self.error})")
        return self


class PriceOverride(StrictModel):
    """USD per million tokens, for models litellm's price map lacks or prices differently."""

    input_per_million: float = Field(ge=0)
    output_per_million: float = Field(ge=0)
    batch_input_per_million: float | None = Field(default=None, ge=0)
    batch_output_per_million: float | None = Field(default=None, ge=0)


class CurrencyConfig(StrictModel):
    """Units of each currency per US dollar, as of `date`."""

    date: dt.date = dt.date(2026, 11, 1)
    rates: dict[str, float] = Field(default_factory=lambda: {"EUR": 0.86})

    @field_validator("rates")
    @classmethod
    def _check_rates(cls, rates: dict[str, float]) -> dict[str, float]:
        checked = {}
        for code, rate in rates.items():
            if not re.fullmatch(r"[A-Za-z]{3}", code):
                raise ValueError(f"{code!r} is not a three-letter currency code")
            if rate <= 0:
                raise ValueError(f"rate for {code} must be positive, got {rate}")
            checked[code.upper()] = float(rate)
        return checked
