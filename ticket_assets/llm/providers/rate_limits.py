"""What a provider says is left of its rate limits, from the headers OpenAI and most
compatible servers (OpenRouter, Together, vLLM behind a gateway, ...) send with each answer:
`x-ratelimit-remaining-requests/-tokens` and `x-ratelimit-reset-requests/-tokens` (a
duration such as `1s`, `6m0s`, `20ms`, or plain seconds). The throttle paces on them before
the server has to answer 429."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Quota:
    """Requests and tokens left in the provider's current windows, and the seconds until
    each window resets (None: not sent)."""

    requests: int | None = None
    requests_reset_s: float | None = None
    tokens: int | None = None
    tokens_reset_s: float | None = None


def _number(value: str | None) -> int | None:
    try:
        return None if value is None else int(float(value))
    except ValueError:
        return None


def duration_s(value: str | None) -> float | None:
    """`1s`, `6m0s`, `1h2m3.5s`, `20ms` or `0.5` as seconds; None when unreadable."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parts = _DURATION_PART.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value.strip():
        return None
    return sum(float(number) * _SECONDS[unit] for number, unit in parts)


def quota(headers: Mapping[str, str]) -> Quota | None:
    """The quota the headers state, or None when they state none (most self-hosted servers).
    `headers` must look names up case-insensitively, as aiohttp's and httpx's do."""
    requests = _number(headers.get("x-ratelimit-remaining-requests"))
    tokens = _number(headers.get("x-ratelimit-remaining-tokens"))
    if requests is None and tokens is None:
        return None
    return Quota(
        requests=requests,
        requests_reset_s=duration_s(headers.get("x-ratelimit-reset-requests")),
        tokens=tokens,
        tokens_reset_s=duration_s(headers.get("x-ratelimit-reset-tokens")),
    )
