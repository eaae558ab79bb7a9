"""The throttle: concurrency cap, AIMD on rate limits, RPM/TPM buckets, retries and backoff."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest

from ticket_assets.llm.providers.rate_limits import Quota, duration_s, quota
from ticket_assets.llm.throttle import Throttle, ThrottleSettings
from ticket_assets.llm.types import (
    EndpointError,
    PermanentProviderError,
    RateLimited,
    TransientProviderError,
    UnreachableError,
)

T = TypeVar("T")


class FakeTime:
    """Virtual time: sleepers wake one at a time in time order, once every task has settled."""

    def __init__(self) -> None:
        self.now = 0.0
        self.delays: list[float] = []
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.delays.append(delay)
        waiter = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + delay, next(self._order), waiter))
        await waiter

    def throttle(self, settings: ThrottleSettings, seed: int = 0) -> Throttle:
        return Throttle(settings, sleep=self.sleep, clock=self.clock, rng=random.Random(seed))

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        return asyncio.run(self._drive(main))

    async def _drive(self, main: Coroutine[Any, Any, T]) -> T:
        task = asyncio.ensure_future(main)
        idle_rounds = 0
        while not task.done():
            for _ in range(50):  # let every runnable task reach its next wait
                await asyncio.sleep(0)
            if task.done():
                break
            if not self._sleepers:
                idle_rounds += 1
                assert idle_rounds < 100, "deadlock: tasks wait but nobody sleeps"
                continue
            idle_rounds = 0
            when, _, waiter = heapq.heappop(self._sleepers)
            self.now = max(self.now, when)
            waiter.set_result(None)
        return task.result()


class Probe:
    """A fake provider call that takes `latency` fake seconds and measures calls in flight."""

    def __init__(self, fake: FakeTime, latency: float = 1.0) -> None:
        self.fake = fake
        self.latency = latency
        self.in_flight = 0
        self.max_in_flight = 0
        self.starts: list[float] = []

    def __call__(self, failures: list[Exception] | None = None) -> Callable[[], Awaitable[str]]:
        pending = list(failures or [])

        async def fn() -> str:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.starts.append(self.fake.now)
            try:
                await self.fake.sleep(self.latency)
                if pending:
                    raise pending.pop(0)
                return "ok"
            finally:
                self.in_flight -= 1

        return fn


def test_concurrency_never_exceeds_the_limit() -> None:
    fake = FakeTime()
    throttle = fake.throttle(ThrottleSettings(concurrency=8))
    probe = Probe(fake)

    async def main() -> list[tuple[str, int]]:
        return await asyncio.gather(*(throttle.call(probe(), tokens=10) for _ in range(100)))

    results = fake.run(main())
    assert results == [("ok", 1)] * 100
    assert probe.max_in_flight == 8
    # 13 rounds of 1 s; paced starts (below) spread the last round by less than 0.9 s.
    assert 13.0 <= fake.now < 13.9
    stats = throttle.stats
    assert (stats.calls, stats.successes, stats.retries) == (100, 100, 0)


def test_calls_released_together_are_paced_over_the_round_trip() -> None:
    """Once a latency is known, starts are at least 0.9 x latency / concurrency apart, so
    answers that would come back together (and queue in the client) are spread out."""
    fake = FakeTime()
    throttle = fake.throttle(ThrottleSettings(concurrency=8))
    probe = Probe(fake)

    async def main() -> list[tuple[str, int]]:
        return await asyncio.gather(*(throttle.call(probe(), tokens=10) for _ in range(24)))

    fake.run(main())
    assert probe.starts[:8] == [0.0] * 8  # no latency known yet
    later = probe.starts[8:]
    assert min(b - a for a, b in itertools.pairwise(later)) >= 0.9 / 8 - 1e-9
    assert probe.max_in_flight == 8


def test_a_burst_of_rate_limits_halves_concurrency_once() -> None:
    fake = FakeTime()
    throttle = fake.throttle(ThrottleSettings(concurrency=32))
    probe = Probe(fake)

    async def main() -> list[tuple[str, int]]:
        calls = (throttle.call(probe([RateLimited("429", 2.0)]), tokens=1) for _ in range(32))
        return await asyncio.gather(*calls)

    results = fake.run(main())
    assert results == [("ok", 2)] * 32
    stats = throttle.stats
    assert stats.rate_limited == 32
    assert stats.retries == 32
    assert stats.concurrency_min_seen == 16
    assert probe.max_in_flight == 32  # the retries then ran at most 16 at a time
    assert stats.concurrency_now == 17  # 16 retries succeeded: one round trip, +1


def test_a_call_started_after_the_decrease_halves_again() -> None:
    fake = FakeTime()
    throttle = fake.throttle(ThrottleSettings(concurrency=16, min_concurrency=3))
    probe = Probe(fake)

    async def main() -> None:
        for expected in (8, 4, 3, 3):  # one congestion episode at a time, floored at min
            await throttle.call(probe([RateLimited("429", 1.0)]), tokens=1)
            assert throttle.stats.concurrency_min_seen == expected

    fake.run(main())


def test_concurrency_recovers_to_the_maximum_after_successes() -> None:
    fake = FakeTime()
    throttle = fake.throttle(ThrottleSettings(concurrency=16))
    probe = Probe(fake)
    seen: list[int] = []

    async def main() -> None:
        await throttle.call(probe([RateLimited("429", 1.0)]), tokens=1)
        for _ in range(200):
            await throttle.call(probe(), tokens=1)
            seen.append(throttle.stats.concurrency_now)

    fake.run(main())
    assert seen[0] == 8
    # +1 per `concurrency_now` successes: 8 + 9 + ... + 15 = 92 successes to get back to 16,
    # the first being the retry of the rate-limited call.
    assert seen.index(16) == 92 - 2
    assert max(seen) == 16
    assert seen == sorted(seen)


def test_retry_after_is_honoured() -> None:
    fake = FakeTime()
    throttle = fake.throttle(ThrottleSettings())
    probe = Probe(fake, latency=0.0)

    result = fake.run(throttle.call(probe([RateLimited("429", retry_after=7.5)]), tokens=1))
    assert result == ("ok", 2)
    assert fake.delays == [0.0, 7.5, 0.0]  # call, wait as told, call again


def test_transient_errors_are_retried_with_bounded_jittered_backoff() -> None:
    fake = FakeTime()
    settings = ThrottleSettings(backoff_base_s=0.5, backoff_max_s=3.0)
    throttle = fake.throttle(settings, seed=7)
    probe = Probe(fake, latency=0.0)
    failures: list[Exception] = [TransientProviderError(f"503 #{i}") for i in range(5)]

    result = fake.run(throttle.call(probe(failures), tokens=1))
    assert result == ("ok", 6)
    backoffs = fake.delays[1::2]  # the calls themselves sleep 0
    assert len(backoffs) == 5
    for retry, delay in enumerate(backoffs):
        assert 0 <= delay <= min(3.0, 0.5 * 2**retry)
    assert len(set(backoffs)) == 5  # jittered, not a fixed schedule
    stats = throttle.stats
    assert (stats.transient_errors, stats.retries, stats.successes) == (5, 5, 1)
    assert stats.concurrency_now == 16  # transient errors are not congestion


def test_rate_limit_without_retry_after_backs_off_with_jitter() -> None:
    fake = FakeTime()
    throttle = fake.throttle(ThrottleSettings(backoff_base_s=1.0))
    probe = Probe(fake, latency=0.0)

    assert fake.run(throttle.call(probe([RateLimited("429")]), tokens=1)) == ("ok", 2)
    assert 0 <= fake.delays[1] <= 1.0


@pytest.mark.parametrize(
    "error", [PermanentProviderError("401 bad key"), ValueError("bug in the caller")]
)
def test_permanent_and_unexpected_errors_are_not_retried(error: Exception) -> None:
    fake = FakeTime()
    throttle = fake.throttle(ThrottleSettings())
    probe = Probe(fake, latency=0.0)

    with pytest.raises(type(error)) as raised:
        fake.run(throttle.call(probe([error]), tokens=1))
    assert raised.value is error
    assert len(probe.starts) == 1
    assert fake.delays == [0.0]  # no backoff
    assert throttle.stats.permanent_errors == 1
    assert throttle.stats.retries == 0


@pytest.mark.parametrize("kind", ["transient", "rate_limited"])
def test_exhausted_retries_reraise_the_last_error(kind: str) -> None:
    fake = FakeTime()
    throttle = fake.throttle(ThrottleSettings(max_retries=2, min_concurrency=16))
    probe = Probe(fake, latency=0.0)
    failures: list[Exception] = [
        TransientProviderError(f"#{i}") if kind == "transient" else RateLimited(f"#{i}", 1.0)
        for i in range(10)
    ]

    with pytest.raises(type(failures[0])) as raised:
        fake.run(throttle.call(probe(failures), tokens=1))
    assert raised.value is failures[2]
    assert len(probe.starts) == 3
    assert throttle.stats.retries == 2


def test_retry_wait_does_not_hold_a_slot() -> None:
    fake = FakeTime()
    throttle = fake.throttle(ThrottleSettings(concurrency=1))
    probe = Probe(fake, latency=1.0)

    async def main() -> None:
        slow = throttle.call(probe([RateLimited("429", retry_after=100.0)]), tokens=1)
        first = asyncio.ensure_future(slow)
        await asyncio.sleep(0)
        assert await throttle.call(probe(), tokens=1) == ("ok", 1)
        assert fake.now < 100  # ran while the first call waited for its retry
        assert await first == ("ok", 2)

    fake.run(main())


def test_requests_per_minute_are_respected() -> None:
    fake = FakeTime()
    throttle = fake.throttle(ThrottleSettings(concurrency=64, requests_per_minute=60))
    probe = Probe(fake, latency=0.5)

    async def main() -> None:
        await asyncio.gather(*(throttle.call(probe(), tokens=1) for _ in range(150)))

    fake.run(main())
    starts = sorted(probe.starts)
    # A full bucket allows a burst of 60, then one request a second.
    assert starts[:60] == [0.0] * 60
    assert starts[60:] == pytest.approx([float(i) for i in range(1, 91)])
    for t in starts:
        assert sum(s <= t for s in starts) <= 60 + t + 1e-9


def test_tokens_per_minute_are_respected() -> None:
    fake = FakeTime()
    throttle = fake.throttle(ThrottleSettings(concurrency=64, tokens_per_minute=10_000))
    probe = Probe(fake, latency=0.5)

    async def main() -> None:
        await asyncio.gather(*(throttle.call(probe(), tokens=1_000) for _ in range(30)))

    fake.run(main())
    starts = sorted(probe.starts)
    # Ten calls fit the bucket; then 1,000 tokens refill every 6 s.
    assert starts[:10] == [0.0] * 10
    assert starts[10:] == pytest.approx([6.0 * i for i in range(1, 21)])


def test_both_budgets_apply_at_once() -> None:
    fake = FakeTime()
    settings = ThrottleSettings(requests_per_minute=6, tokens_per_minute=6_000)
    throttle = fake.throttle(settings)
    probe = Probe(fake, latency=0.0)

    async def main() -> None:
        await asyncio.gather(*(throttle.call(probe(), tokens=2_000) for _ in range(6)))

    fake.run(main())
    # Tokens bind first (3 calls fit, then 20 s per call); requests would allow 6 at once.
    assert sorted(probe.starts) == pytest.approx([0.0, 0.0, 0.0, 20.0, 40.0, 60.0])


def test_a_call_larger_than_the_token_budget_does_not_deadlock() -> None:
    fake = FakeTime()
    throttle = fake.throttle(ThrottleSettings(tokens_per_minute=10_000))
    probe = Probe(fake, latency=0.0)

    async def main() -> None:
        for _ in range(3):
            assert await throttle.call(probe(), tokens=25_000) == ("ok", 1)

    fake.run(main())
    # Each passes once the bucket is full again; its overdraft of 25,000 tokens takes 150 s.
    assert probe.starts == pytest.approx([0.0, 150.0, 300.0])


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="min_concurrency"):
        ThrottleSettings(concurrency=4, min_concurrency=5)
    with pytest.raises(ValueError, match="requests_per_minute"):
        ThrottleSettings(requests_per_minute=0)
    with pytest.raises(ValueError, match="max_retries"):
        ThrottleSettings(max_retries=-1)


def test_real_clock_throughput_and_cap() -> None:
    throttle = Throttle(ThrottleSettings(concurrency=32))
    in_flight = 0
    max_in_flight = 0

    async def fn() -> None:
        nonlocal in_flight, max_in_flight
        in_flight += 1
        max_in_flight = max(max_in_flight, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1

    async def main() -> None:
        await asyncio.gather(*(throttle.call(fn, tokens=1) for _ in range(200)))

    started = time.perf_counter()
    asyncio.run(main())
    elapsed = time.perf_counter() - started
    bound = -(-200 // 32) * 0.02  # 7 rounds of 20 ms
    assert elapsed < 3 * bound
    assert max_in_flight == 32


def test_real_clock_retries_rate_limits_and_cancellation_frees_slots() -> None:
    settings = ThrottleSettings(concurrency=2, requests_per_minute=6000, backoff_base_s=0.05)
    throttle = Throttle(settings)
    failures = [RateLimited("429", retry_after=0.01), TransientProviderError("timeout")]

    async def flaky() -> str:
        if failures:
            raise failures.pop(0)
        return "ok"

    async def main() -> None:
        hung = [asyncio.ensure_future(throttle.call(asyncio.Event().wait, tokens=1)) for _ in "ab"]
        queued = asyncio.ensure_future(throttle.call(flaky, tokens=1))
        await asyncio.sleep(0.01)
        assert not queued.done()  # both slots are taken
        for task in [*hung, queued]:
            task.cancel()
        await asyncio.gather(*hung, queued, return_exceptions=True)
        assert await asyncio.wait_for(throttle.call(flaky, tokens=1), 0.9) == ("ok", 3)

    started = time.perf_counter()
    asyncio.run(main())
    assert time.perf_counter() - started < 1.0
    # A Throttle outlives its event loop: the next asyncio.run can use it.
    assert asyncio.run(throttle.call(flaky, tokens=1)) == ("ok", 1)


def _refused() -> UnreachableError:
    return UnreachableError(
        "ConnectionError", summary="m at http://127.0.0.1:9/v1: connection refused", hint="fix"
    )


def test_an_endpoint_error_fails_later_calls_at_once_for_a_while() -> None:
    fake = FakeTime()
    throttle = fake.throttle(ThrottleSettings(dead_for_s=30.0))
    probe = Probe(fake, latency=0.0)

    with pytest.raises(EndpointError, match="key was refused"):
        fake.run(throttle.call(probe([EndpointError("key was refused")]), tokens=1))
    with pytest.raises(EndpointError, match="key was refused"):
        fake.run(throttle.call(probe(), tokens=1))
    assert len(probe.starts) == 1  # the second call sent nothing
    assert throttle.stats.refused_dead == 1
    fake.now += 30.0  # then the endpoint is tried again (a server started, a key fixed)
    assert fake.run(throttle.call(probe(), tokens=1)) == ("ok", 1)


def test_connection_failures_in_a_row_are_fatal_without_the_backoff_schedule() -> None:
    fake = FakeTime()
    throttle = fake.throttle(ThrottleSettings(max_retries=6, backoff_base_s=0.5))
    probe = Probe(fake, latency=0.0)

    with pytest.raises(EndpointError) as raised:
        fake.run(throttle.call(probe([_refused() for _ in range(10)]), tokens=1))
    assert str(raised.value) == "m at http://127.0.0.1:9/v1: connection refused (3 attempts); fix"
    assert len(probe.starts) == 3
    assert sum(fake.delays) <= 0.5 + 1.0  # two short backoffs, not seven rising ones


def test_connection_failures_from_an_endpoint_that_answered_before_are_retried() -> None:
    fake = FakeTime()
    throttle = fake.throttle(ThrottleSettings(max_retries=4, backoff_base_s=0.01))
    probe = Probe(fake, latency=0.0)

    assert fake.run(throttle.call(probe(), tokens=1)) == ("ok", 1)
    with pytest.raises(UnreachableError):
        fake.run(throttle.call(probe([_refused() for _ in range(10)]), tokens=1))
    assert len(probe.starts) == 1 + 5  # the full retry budget, as for any transient error


def test_calls_in_flight_when_the_endpoint_dies_fail_with_the_same_message() -> None:
    fake = FakeTime()
    throttle = fake.throttle(ThrottleSettings(concurrency=8))
    probe = Probe(fake, latency=1.0)

    async def main() -> list[BaseException | tuple[str, int]]:
        calls = [throttle.call(probe([_refused() for _ in range(10)]), tokens=1) for _ in range(12)]
        return await asyncio.gather(*calls, return_exceptions=True)

    outcomes = fake.run(main())
    assert {str(outcome) for outcome in outcomes} == {
        "m at http://127.0.0.1:9/v1: connection refused (3 attempts); fix"
    }
    assert all(isinstance(outcome, EndpointError) for outcome in outcomes)
    # The first wave, and two waiting calls that took the slots of the first two failures
    # before the third made the verdict; the last two were refused unsent.
    assert len(probe.starts) == 8 + 2


# --- recovery from rate limits: once per window, by its share; slow start; stated quotas ------


def test_a_burst_within_one_window_cuts_once_by_the_share_of_429s() -> None:
    fake = FakeTime()
    throttle = fake.throttle(ThrottleSettings(concurrency=32))
    probe = Probe(fake)

    async def main() -> None:
        limited = [throttle.call(probe([RateLimited("429", 1.0)]), tokens=1) for _ in range(8)]
        fine = [throttle.call(probe(), tokens=1) for _ in range(24)]
        await asyncio.gather(*limited, *fine)

    fake.run(main())
    stats = throttle.stats
    assert stats.rate_limited == 8
    # One reaction to the window's 8 of 32 answers, not one per 429 (which would reach 1).
    assert stats.concurrency_min_seen == 24


def test_stray_429s_below_the_tolerated_share_keep_the_limit() -> None:
    """A backend that refuses a few calls at random whatever the load: cutting would only
    lose throughput, and each refused call still waits its Retry-After."""
    fake = FakeTime()
    throttle = fake.throttle(ThrottleSettings(concurrency=32))
    probe = Probe(fake)
    rng = random.Random(5)

    async def main() -> None:
        calls = []
        for _ in range(640):
            failures: list[Exception] = [RateLimited("429", 1.0)] if rng.random() < 0.03 else []
            calls.append(throttle.call(probe(failures), tokens=1))
        await asyncio.gather(*calls)

    fake.run(main())
    assert throttle.stats.rate_limited > 10
    # Halving once per window with a 429 (the old rule) ended at the minimum here; now only
    # windows where chance put several 429s together cut, a little, and slow start undoes it.
    assert throttle.stats.concurrency_min_seen >= 24
    assert throttle.stats.concurrency_now == 32


def test_retry_after_holds_only_the_call_that_got_it() -> None:
    fake = FakeTime()
    throttle = fake.throttle(ThrottleSettings(concurrency=4))
    probe = Probe(fake, latency=1.0)
    finished: list[float] = []

    async def one(failures: list[Exception]) -> None:
        await throttle.call(probe(failures), tokens=1)
        finished.append(fake.now)

    async def main() -> None:
        await asyncio.gather(one([RateLimited("429", 30.0)]), *(one([]) for _ in range(12)))

    fake.run(main())
    # The other twelve use all four slots meanwhile: four round trips, not thirty seconds.
    assert max(sorted(finished)[:12]) < 4.5
    assert max(finished) >= 1.0 + 30.0 + 1.0  # its own wait, then its answer
    assert throttle.stats.concurrency_min_seen == 3  # one 429 of four answers: one slot


def test_after_a_burst_concurrency_regrows_by_slow_start_to_the_last_good_level() -> None:
    fake = FakeTime()
    throttle = fake.throttle(ThrottleSettings(concurrency=32))
    probe = Probe(fake)

    async def main() -> None:
        # A full window at 32 answered: 32 is a good level.
        await asyncio.gather(*(throttle.call(probe(), tokens=1) for _ in range(64)))
        # Then the server refuses everything for a moment (all 32 in flight).
        hiccup = [RateLimited("429", 0.5)]
        await asyncio.gather(*(throttle.call(probe(list(hiccup)), tokens=1) for _ in range(32)))

    fake.run(main())
    stats = throttle.stats
    assert stats.concurrency_min_seen == 16
    # +1 per success up to 31 (a level that drew a burst is not good: 32 is reached again one
    # slot per round trip), where additive growth alone would be at 17 (see the test above
    # without a good level).
    assert stats.concurrency_now == 31


def _quota(requests: int | None, reset_s: float, tokens: int | None = None) -> Quota:
    return Quota(requests=requests, requests_reset_s=reset_s, tokens=tokens, tokens_reset_s=reset_s)


def test_a_stated_quota_spreads_starts_until_it_resets() -> None:
    fake = FakeTime()
    throttle = fake.throttle(ThrottleSettings(concurrency=8))
    probe = Probe(fake, latency=0.0)
    throttle.observe(_quota(4, 2.0))

    async def main() -> None:
        await asyncio.gather(*(throttle.call(probe(), tokens=1) for _ in range(6)))

    fake.run(main())
    # Four requests left for 2 s: one every 0.5 s; then the window has reset.
    assert sorted(probe.starts) == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.0])


def test_no_tokens_left_waits_for_the_reset_and_plenty_left_does_not_pace() -> None:
    fake = FakeTime()
    throttle = fake.throttle(ThrottleSettings(concurrency=8))
    probe = Probe(fake, latency=0.0)
    throttle.observe(_quota(None, 3.0, tokens=50))

    assert fake.run(throttle.call(probe(), tokens=100)) == ("ok", 1)
    assert probe.starts == [3.0]
    throttle.observe(_quota(10_000, 60.0, tokens=10_000_000))

    async def eight() -> None:
        await asyncio.gather(*(throttle.call(probe(), tokens=100) for _ in range(8)))

    fake.run(eight())
    assert probe.starts[1:] == [3.0] * 8
    throttle.observe(None)  # an answer without rate-limit headers changes nothing


def test_rate_limit_headers_are_read() -> None:
    headers = {
        "x-ratelimit-remaining-requests": "59",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-remaining-tokens": "149000",
        "x-ratelimit-reset-tokens": "6m0s",
    }
    assert quota(headers) == Quota(59, 1.0, 149000, 360.0)
    assert quota({}) is None
    assert duration_s("20ms") == pytest.approx(0.02)
    assert duration_s("1h2m3.5s") == pytest.approx(3723.5)
    assert duration_s("0.5") == 0.5
    assert duration_s("soon") is None
