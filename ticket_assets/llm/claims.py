"""In-flight claims: machines that share the response cache (shared_cache.py) pay each call
once, even when they ask for it at the same moment.

Before paying for a call that missed both tiers, the online processor claims its cache key
in the shared database for a lease (one round trip). The claim's owner pays, and its `put`
releases the claim with the answer; a failed or stopped call releases it in a `finally`,
and a killed process's claims run out with their lease (a later step on the same machine
frees them at once). A call whose key another owner
holds is not sent: it waits, outside the throttle, for the answer to appear in the shared
table and is served as a cache hit, or claims the key again once the claim is gone. An
answer the owner will find invalid reaches its waiters as any invalid cache hit would: they
repair it themselves, and the repair, the same call everywhere, is claimed in turn. (The
answers of a ticket the owner quarantines are discarded, engine.py: a machine that asks for
one afterwards pays for it afresh, as a later run would.)

Batch mode (processors/batch.py) does not claim: a batch is paid hours after it is
submitted, and the shared table's first answer still makes every machine's rows the same.

Claims cost nothing without a shared tier: no owner, no claim, no extra work per call.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from functools import cache
from itertools import count

from ticket_assets.core.processes import is_alive
from ticket_assets.llm.shared_cache import SharedCache, SharedCacheError, SharedEntry
from ticket_assets.llm.throttle import ThrottleSettings

# A claim is taken before its call waits for a throttle slot. The lease covers the call with
# every retry and backoff from its first request on, plus this margin for the wait before
# it: a call that waited longer for its slot renews its claim before sending (`hold`).
LEASE_MARGIN_S = 30.0
# How often a waiting call looks for the answer: soon at first (the payer's answer may be a
# fraction of a second away), then every second, each look one short query.
FIRST_POLL_S = 0.2
POLL_GROWTH = 1.5
LAST_POLL_S = 1.0


class ClaimTaken(Exception):
    """Raised in place of a request whose claim ran out while the call waited for a slot,
    and another owner took it over (never leaves the online processor)."""


def lease_for(settings: ThrottleSettings, timeout_s: float) -> float:
    """The lease of a claim: every attempt timing out, the longest backoff before each retry
    (the throttle's full-jitter ceilings), and the margin."""
    retries = settings.max_retries
    backoff = sum(
        min(settings.backoff_max_s, settings.backoff_base_s * 2**attempt)
        for attempt in range(retries)
    )
    return (retries + 1) * timeout_s + backoff + LEASE_MARGIN_S


@cache
def _process(pid: int) -> str:
    """Names this process among every machine's: host, pid, and a random token (a pid is
    reused, a host name may be shared by containers)."""
    return f"{socket.gethostname()}:{pid}:{secrets.token_hex(6)}"


_numbers = count(1)


@dataclass
class Claim:
    """A claim this process holds. Each has an owner of its own (the process's name and a
    number), so two calls of one process with the same key wait for each other too."""

    key: str
    owner: str
    claims: Claims
    renewed_at: float  # time.monotonic() just before the claim was (re)taken
    held: bool = True

    def hold(self) -> None:
        """Called as the claim's call is sent: renews the claim when waiting for a slot took
        longer than the margin (a round trip then only); raises ClaimTaken if it ran out and
        another owner took it meanwhile."""
        now = time.monotonic()
        if now - self.renewed_at <= LEASE_MARGIN_S:
            return
        owned, _ = self.claims.shared.claim(self.key, self.owner, self.claims.lease_s)
        if not owned:
            self.held = False
            raise ClaimTaken
        self.renewed_at = now

    def release(self) -> None:
        """Drop the claim if its call ended without storing an answer (a stored answer
        releases it). A server that cannot be reached leaves it to run out with its lease:
        the error that matters is the one the call is already raising or returning."""
        if self.held:
            self.held = False
            with suppress(SharedCacheError):
                self.claims.shared.release(self.key, self.owner)


class Claims:
    """Where this process claims calls: the shared tier, for `lease_s` seconds a claim."""

    def __init__(self, shared: SharedCache, lease_s: float) -> None:
        self.shared = shared
        self.lease_s = lease_s
        self._free_claims_of_dead_processes()

    def _free_claims_of_dead_processes(self) -> None:
        """Release the claims of this machine's processes that are gone (kill -9, OOM): a
        rerun would otherwise wait out their leases before paying for those calls itself.
        Owners are `host:pid:token#n`; other machines' claims run out with their lease."""
        host = socket.gethostname()
        dead = [
            owner
            for owner in self.shared.claim_owners(f"{host}:")
            if not is_alive(int(owner.split(":")[1]))
        ]
        self.shared.release_owners(dead)

    def take(self, key: str) -> tuple[Claim | None, SharedEntry | None]:
        """A claim on `key` (None while another owner holds a live one), and the answer
        stored under `key` if one is by now: one round trip. With an answer, a claim won is
        of no use: released at once."""
        owner = f"{_process(os.getpid())}#{next(_numbers)}"
        taken_at = time.monotonic()
        owned, entry = self.shared.claim(key, owner, self.lease_s)
        claim = Claim(key, owner, self, taken_at) if owned else None
        if claim is not None and entry is not None:
            claim.release()
            claim = None
        return claim, entry

    def watch(self, key: str) -> tuple[SharedEntry | None, bool]:
        """For a call another owner claimed: the answer, once stored, and whether a live
        claim is still held on it (False: released without an answer, or run out)."""
        return self.shared.watch(key)


def poll_delays() -> Iterator[float]:
    """The waits of a call for an answer another owner is paying for."""
    delay = FIRST_POLL_S
    while True:
        yield delay
        delay = min(delay * POLL_GROWTH, LAST_POLL_S)
