"""Concurrency, rate limits and retries for provider calls; pure asyncio.

Concurrency adapts AIMD-style, once per congestion window: the first 429 (from a call started
after the last decrease) opens a window that closes when the calls then in flight have
finished; the limit then drops by the share of that window's answers that were 429s (at least
one slot, at most half), so a burst counts once and a stray 429 costs one slot, while a
server refusing a third of the calls gets a third fewer. Each 429'd call waits its own
Retry-After outside its slot; the others go on. Successes regrow the limit by one per
success (doubling per round trip) up to the last good level (the highest that finished a
full window without a 429, and below any level that drew a burst), then by one per round
trip. Where the provider states its quota (x-ratelimit-* headers, `observe`), starts are
spread so the quota lasts until it resets. Starts are paced over the round trip, so calls
started together do not keep coming back together. Requests and tokens per minute are token
buckets, kept as GCRA "theoretical arrival times" so a waiting call reserves its start time at
once, in arrival order, without locks. All waiting goes through the injected `sleep` and
`clock`.

An endpoint that cannot serve at all (EndpointError: key refused, unknown model; or
`unreachable_limit` connection failures in a row before any success) is remembered as dead for
`dead_for_s`: every call meanwhile fails at once with the same error, without a request.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeVar

from ticket_assets.llm.types import (
    EndpointError,
    RateLimited,
    TransientProviderError,
    UnreachableError,
)

if TYPE_CHECKING:
    from ticket_assets.llm.providers.rate_limits import Quota

T = TypeVar("T")

# 2**60 half-seconds is far beyond any backoff cap; it keeps the float conversion finite.
_MAX_BACKOFF_EXPONENT = 60
# Starts are at least this share of (latency / concurrency) apart: below 1, so pacing spreads
# bursts without capping the rate the concurrency allows.
_PACING_SHARE = 0.9
# A window whose share of 429s is at most this is not congestion: random 429s from an
# overloaded shared backend do not drop when we send less, so cutting for them only loses
# throughput (as BBRv2 tolerates a small loss rate); a limiter we overrun refuses more.
TOLERATED_SHARE = 0.1
# Weight of the newest call in the moving average of call latency.
_LATENCY_WEIGHT = 0.1


@dataclass(frozen=True)
class ThrottleSettings:
    concurrency: int = 16  # maximum (and starting) number of calls in flight
    min_concurrency: int = 1
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    max_retries: int = 6  # retries after the first attempt, for RateLimited and transient errors
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    # Connection failures in a row, before any success, that declare the endpoint dead.
    unreachable_limit: int = 3
    # How long a dead endpoint fails calls at once; short, so a server started (or a key
    # fixed) meanwhile is tried again by the next step or run in a long-lived process.
    dead_for_s: float = 30.0

    def __post_init__(self) -> None:
        if not 1 <= self.min_concurrency <= self.concurrency:
            raise ValueError(
                f"need 1 <= min_concurrency <= concurrency, got {self.min_concurrency} "
                f"and {self.concurrency}"
            )
        for name in ("requests_per_minute", "tokens_per_minute"):
            limit = getattr(self, name)
            if limit is not None and limit <= 0:
                raise ValueError(f"{name} must be positive or None, got {limit}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.backoff_base_s < 0 or self.backoff_max_s < 0:
            raise ValueError("backoff times must be >= 0")
        if self.unreachable_limit < 1:
            raise ValueError(f"unreachable_limit must be >= 1, got {self.unreachable_limit}")


@dataclass
class ThrottleStats:
    calls: int = 0  # attempts that reached `fn`, retries included
    successes: int = 0
    retries: int = 0
    rate_limited: int = 0
    transient_errors: int = 0
    permanent_errors: int = 0  # PermanentProviderError and any other exception from `fn`
    refused_dead: int = 0  # calls failed at once because the endpoint was dead
    concurrency_now: int = 0
    concurrency_min_seen: int = 0


class _Bucket:
    """A token bucket of `per_minute` capacity refilling continuously, as a GCRA.

    `_tat` is the time at which the bucket would be full again; the bucket holds
    `capacity - rate * max(0, tat - now)` tokens, negative levels being reservations.
    """

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._tat = float("-inf")

    def earliest_start(self, cost: float, now: float) -> float:
        # Clamping the cost to the capacity lets an oversized call through once the bucket is
        # full instead of waiting forever; its full cost still delays the calls after it.
        needed = min(cost, self.capacity)
        return max(now, self._tat + (needed - self.capacity) / self.rate)

    def reserve(self, cost: float, start: float) -> None:
        self._tat = max(self._tat, start) + cost / self.rate


class Throttle:
    def __init__(
        self,
        settings: ThrottleSettings,
        *,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._limit = settings.concurrency
        self._in_flight = 0
        # Plain futures from the running loop rather than an asyncio.Condition, so the slot
        # count can be resized and one Throttle can serve successive event loops.
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._requests = (
            _Bucket(settings.requests_per_minute) if settings.requests_per_minute else None
        )
        self._tokens = _Bucket(settings.tokens_per_minute) if settings.tokens_per_minute else None
        self._started = 0  # attempts started so far; numbers each attempt
        self._decreased_at = 0  # value of `_started` at the last decrease
        self._successes_since_change = 0
        self._clean = 0  # successes since the last 429 or change of the limit
        self._good: int | None = None  # the last good level (module docstring)
        # The open congestion window: answers still to count, answers counted, 429s counted.
        self._window: list[int] | None = None
        self._window_limit = 0
        # The provider's stated quota: requests and tokens left, when they reset; next start.
        self._quota_left: list[float | None] = [None, None]
        self._quota_reset = [float("-inf"), float("-inf")]
        self._quota_next = float("-inf")
        self._latency_s: float | None = None  # moving average of successful calls
        self._next_start = float("-inf")
        self._unreachable_in_a_row = 0
        self._dead: EndpointError | None = None
        self._dead_until = float("-inf")
        self._stats = ThrottleStats(concurrency_now=self._limit, concurrency_min_seen=self._limit)

    @property
    def stats(self) -> ThrottleStats:
        return replace(self._stats, concurrency_now=self._limit)

    async def call(self, fn: Callable[[], Awaitable[T]], *, tokens: int) -> tuple[T, int]:
        """Run fn under the limits; returns (result, attempts used, 1-based). `tokens` = estimated
        tokens of the call (prompt + max output) for the TPM budget."""
        attempt = 0
        while True:
            attempt += 1
            number = 0  # this attempt's place in the start order, once it starts
            await self._acquire_slot()
            try:
                self._refuse_if_dead()
                await self._wait_for_budget(tokens)
                await self._wait_for_quota(tokens)
                await self._pace()
                self._started += 1
                number = self._started
                self._stats.calls += 1
                started = self._clock()
                result = await fn()
                self._measure(self._clock() - started)
            except RateLimited as error:
                self._unreachable_in_a_row = 0
                self._stats.rate_limited += 1
                self._slow_down(number, rate_limited=True)
                if attempt > self._settings.max_retries:
                    raise
                delay = None if error.retry_after is None else max(0.0, error.retry_after)
            except UnreachableError as error:
                self._stats.transient_errors += 1
                self._give_up_if_dead(error)
                if attempt > self._settings.max_retries:
                    raise
                delay = None
            except TransientProviderError:
                self._unreachable_in_a_row = 0
                self._stats.transient_errors += 1
                self._count_in_window(rate_limited=False)
                if attempt > self._settings.max_retries:
                    raise
                delay = None
            except EndpointError as error:
                self._stats.permanent_errors += 1
                if not self._is_dead():  # refusing a call must not prolong the verdict
                    self._declare_dead(error)
                raise
            except Exception:
                # PermanentProviderError and anything unexpected: retrying cannot help.
                self._stats.permanent_errors += 1
                raise
            else:
                self._unreachable_in_a_row = 0
                self._stats.successes += 1
                self._speed_up()
                return result, attempt
            finally:
                self._release_slot()
            # The retry wait happens outside the slot so other calls keep the pipe full.
            self._stats.retries += 1
            await self._sleep(self._backoff(attempt) if delay is None else delay)

    def _is_dead(self) -> bool:
        return self._dead is not None and self._clock() < self._dead_until

    def _refuse_if_dead(self) -> None:
        if self._is_dead():
            self._stats.refused_dead += 1
            raise EndpointError(str(self._dead))

    def _declare_dead(self, error: EndpointError) -> None:
        self._dead = error
        self._dead_until = self._clock() + self._settings.dead_for_s

    def _give_up_if_dead(self, error: UnreachableError) -> None:
        """Raise the fatal error once enough connection failures came in a row from an
        endpoint that never answered a call: waiting out the backoff would not revive it."""
        self._unreachable_in_a_row += 1
        if self._is_dead():  # calls in flight when the verdict fell: the same message
            raise EndpointError(str(self._dead)) from None
        limit = self._settings.unreachable_limit
        if self._unreachable_in_a_row >= limit and not self._stats.successes:
            fatal = error.fatal(self._unreachable_in_a_row)
            self._declare_dead(fatal)
            raise fatal from None

    def _backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**(attempt - 1))]; first retry <= base."""
        exponent = min(attempt - 1, _MAX_BACKOFF_EXPONENT)
        ceiling = min(self._settings.backoff_max_s, self._settings.backoff_base_s * 2**exponent)
        return self._rng.uniform(0, ceiling)

    async def _wait_for_budget(self, tokens: int) -> None:
        buckets = [(b, c) for b, c in ((self._requests, 1), (self._tokens, tokens)) if b]
        if not buckets:
            return
        now = self._clock()
        start = max(bucket.earliest_start(cost, now) for bucket, cost in buckets)
        # Reserve before sleeping (no await in between): later callers queue behind this one.
        for bucket, cost in buckets:
            bucket.reserve(cost, start)
        if start > now:
            await self._sleep(start - now)

    async def _pace(self) -> None:
        """Keep starts a fraction of a round trip apart. Calls released together (the first
        wave, or slots freed by answers that arrived together) would come back together,
        and each answer would wait for the client to process the ones ahead of it; paced
        starts spread the answers over the round trip."""
        if self._latency_s is None:
            return
        now = self._clock()
        start = max(now, self._next_start)
        self._next_start = start + _PACING_SHARE * self._latency_s / self._limit
        if start > now:
            await self._sleep(start - now)

    def _measure(self, latency_s: float) -> None:
        if self._latency_s is None:
            self._latency_s = latency_s
        else:
            self._latency_s += _LATENCY_WEIGHT * (latency_s - self._latency_s)

    async def _acquire_slot(self) -> None:
        if self._in_flight < self._limit and not self._waiters:
            self._in_flight += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release_slot()  # the slot was handed over just before the cancellation
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def _release_slot(self) -> None:
        self._in_flight -= 1
        self._hand_over_slots()

    def _hand_over_slots(self) -> None:
        # The slot is counted for the waiter as it is handed over, so no newcomer can take it.
        while self._waiters and self._in_flight < self._limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._in_flight += 1
                waiter.set_result(None)

    def _slow_down(self, number: int, *, rate_limited: bool) -> None:
        """Count a 429; the first one from a call started after the last decrease opens a
        window over the calls in flight now (this one included)."""
        self._clean = 0
        if self._window is None and number > self._decreased_at:
            self._window = [self._in_flight, 0, 0]
            self._window_limit = self._limit
        self._count_in_window(rate_limited=rate_limited)

    def _count_in_window(self, *, rate_limited: bool) -> None:
        window = self._window
        if window is None:
            return
        window[1] += 1
        window[2] += rate_limited
        if window[1] < window[0]:
            return
        # The window is complete: cut by the share of 429s, at least one slot, at most half.
        self._window = None
        limit, share = self._window_limit, window[2] / window[1]
        if share <= TOLERATED_SHARE:
            return
        cut = min(limit - limit // 2, max(1, int(limit * share)))
        self._limit = max(self._settings.min_concurrency, limit - cut)
        if self._good is not None and window[2] > 1:
            self._good = min(self._good, limit - 1)  # a level that drew a burst is not good
        self._decreased_at = self._started
        self._successes_since_change = 0
        self._stats.concurrency_min_seen = min(self._stats.concurrency_min_seen, self._limit)

    def _speed_up(self) -> None:
        self._count_in_window(rate_limited=False)
        self._clean += 1
        if self._clean >= self._limit:
            self._good = max(self._good or 0, self._limit)
        if self._limit >= self._settings.concurrency:
            return
        self._successes_since_change += 1
        slow_start = self._good is not None and self._limit < self._good
        if slow_start or self._successes_since_change >= self._limit:
            self._successes_since_change = 0
            self._clean = 0
            self._limit += 1
            self._hand_over_slots()

    def observe(self, quota: Quota | None) -> None:
        """Take the quota a provider stated with an answer (providers/rate_limits.py)."""
        if quota is None:
            return
        now = self._clock()
        stated = ((quota.requests, quota.requests_reset_s), (quota.tokens, quota.tokens_reset_s))
        for i, (left, reset_s) in enumerate(stated):
            if left is not None:
                self._quota_left[i] = float(left)
                self._quota_reset[i] = now + (reset_s if reset_s is not None else 60.0)

    async def _wait_for_quota(self, tokens: int) -> None:
        """Spread starts so a stated quota lasts until it resets, once fewer requests (or
        tokens) are left than a window of calls would use; with none left, wait for the
        reset. Each start counts against the quota until the next answer restates it."""
        now = self._clock()
        start, spacing = max(now, self._quota_next), 0.0
        for i, cost in enumerate((1.0, float(tokens))):
            left, reset_at = self._quota_left[i], self._quota_reset[i]
            if left is None or reset_at <= start:
                continue
            if left < cost:
                start = reset_at
                continue
            if left < cost * self._limit:
                spacing = max(spacing, (reset_at - start) * cost / left)
            self._quota_left[i] = left - cost
        if start == now and not spacing:
            return
        self._quota_next = start + spacing
        if start > now:
            await self._sleep(start - now)
