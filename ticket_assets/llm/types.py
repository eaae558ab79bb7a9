"""What flows through the LLM layer: requests, answers, and one accounting record per call."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
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
    # The node's offline responder (`PromptNode.offline_answer`), used by the offline provider.
    offline_answer: Callable[..., dict[str, Any]] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class CallRecord:
    """The ledger row of one call (cache hits included, at zero cost). `key` holds the ticket
    ids the call answered; `attempt` counts repairs (1 = first ask), `http_attempts` retries."""

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
    language: str = ""
    batch: str = ""
    tickets: int = 1
    cached_tokens: int = 0
    http_attempts: int = 1
    batch_api: bool = False
    price_source: str = "offline"
    # Identifies a paid call across the journal and the ledger, so it is booked exactly once.
    call_id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class Rejection:
    """A ticket whose answer was still invalid after its repairs (or whose calls kept
    failing): left out of the node's output and recorded in the `rejects` table."""

    node: str
    key: str
    reason: str
    attempts: int
    model: str
    language: str = ""
    batch: str = ""


class LLMOutputError(RuntimeError):
    """More of a step's tickets were quarantined than `max_reject_rate` allows."""


class LLMCallError(RuntimeError):
    """Calls that failed for good (after retries), past the configured error rate."""


class BudgetExceeded(RuntimeError):
    """The next call could take the run past its budget, so it was not made."""


class CostLimitError(RuntimeError):
    """A single call cost more than `cost_limits.error`."""


@dataclass(frozen=True)
class ProviderReply:
    """What a remote model answered: the raw text and the usage it reported."""

    text: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0


class ProviderError(RuntimeError):
    """A call that failed. Messages name the model and the cause, never an API key."""


class RateLimited(ProviderError):
    """HTTP 429: slow down; `retry_after` is the server's Retry-After in seconds, if sent."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransientProviderError(ProviderError):
    """Timeouts, 5xx, dropped connections: worth retrying after a backoff."""


class ProviderTimeout(TransientProviderError):
    """No answer within `timeout_s`. The server may still finish the request and bill it."""


class PermanentProviderError(ProviderError):
    """Authentication, bad requests, unknown models: retrying cannot help."""


class EndpointError(PermanentProviderError):
    """The endpoint cannot serve this model at all (key refused, unknown model, server
    unreachable): neither retries nor other calls can help, so the node stops at once."""


class UnreachableError(TransientProviderError):
    """No connection to the endpoint (refused, host name does not resolve). Retried like other
    transient errors, but a few in a row from an endpoint that never answered are fatal."""

    def __init__(self, message: str, *, summary: str, hint: str) -> None:
        super().__init__(message)
        self.summary = summary  # e.g. "openai/gpt-4o-mini at http://…/v1: connection refused"
        self.hint = hint  # the fix, e.g. "is the server running? …"

    def fatal(self, attempts: int) -> EndpointError:
        return EndpointError(f"{self.summary} ({attempts} attempts); {self.hint}")
