"""In-flight claims (claims.py) through the online processor, against a real PostgreSQL and
real HTTP: each processor with its own data directory is a machine, the machines share one
database and one model server, and each call is paid by one machine only. (The claims
table's own statements: test_shared_cache.py.)"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from pydantic import BaseModel

from ticket_assets.config import RunConfig, build_config
from ticket_assets.llm.accounting import Accounts
from ticket_assets.llm.claims import LEASE_MARGIN_S, Claims, ClaimTaken
from ticket_assets.llm.planning import Call, cache_key
from ticket_assets.llm.processors import Fetched, NodeCalls
from ticket_assets.llm.processors.online import OnlineProcessor
from ticket_assets.llm.shared_cache import CLAIMS, SharedCache
from ticket_assets.llm.types import LLMRequest
from ticket_assets_tests.fake_llm_server import FakeLLMState, fake_llm_server
from ticket_assets_tests.services import PostgresServer
from ticket_assets_tests.test_cache import REPLY, paid
from ticket_assets_tests.test_shared_cache import claims, lake_config, local_reply, machine


@pytest.fixture
def conninfo(postgres_server: PostgresServer) -> str:
    return postgres_server.create_database(f"claims_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, FakeLLMState]]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    with fake_llm_server() as running:
        yield running


class Answer(BaseModel):
    subject: str
    body: str


def questions(count: int) -> list[Call]:
    """`count` different calls, new objects each time (a processor writes their keys)."""
    request = LLMRequest("topic", "t", (), {"language": "EN", "batch": "b0"}, Answer, "v1")
    schema = Answer.model_json_schema()
    return [
        Call([0], [{"role": "user", "content": f"Ticket {i}"}], schema, "Answer", 99, request, "t")
        for i in range(count)
    ]


def online(tmp_path: Path, name: str, conninfo: str, url: str, **model: Any) -> OnlineProcessor:
    """A machine's online processor for one node, with its model at `url`."""
    settings = {"model": "openai/gpt-4o-mini", "api_base": url, "timeout_s": 5.0, **model}
    config = lake_config(tmp_path / name, conninfo, models={"default": settings})
    node = NodeCalls(config, "topic", config.model_for("topic"), Accounts(config), True, name)
    return OnlineProcessor(node)


def test_two_machines_asking_at_once_pay_each_call_once(
    tmp_path: Path, conninfo: str, server: tuple[str, FakeLLMState]
) -> None:
    url, state = server
    state.latency_s = 0.05
    # Each its own throttle (concurrency differs), as in processes of their own.
    machines = [
        online(tmp_path, "a", conninfo, url),
        online(tmp_path, "b", conninfo, url, concurrency=8),
    ]
    start = threading.Barrier(len(machines))

    def ask(processor: OnlineProcessor) -> list[Fetched]:
        start.wait(timeout=30)  # the same calls at the same moment; a repeated one too
        return asyncio.run(processor.fetch(questions(12) + questions(1), 1))

    with ThreadPoolExecutor(len(machines)) as pool:
        a, b = pool.map(ask, machines)
    assert state.calls == 12 and len(set(state.billed_digests)) == 12
    assert [f.reply for f in a] == [f.reply for f in b] and a[0].reply is not None
    records = [f.record for f in a + b if f.record is not None]
    assert len(records) == 26 and sum(not record.cache_hit for record in records) == 12
    assert claims(conninfo) == {}


def test_a_waiting_call_is_served_the_owners_answer_as_a_cache_hit(
    tmp_path: Path, conninfo: str, server: tuple[str, FakeLLMState]
) -> None:
    url, state = server
    waiter, [call] = online(tmp_path, "b", conninfo, url), questions(1)
    key = cache_key(call, waiter.ctx.model, waiter.ctx.config.seed)
    owner = machine(tmp_path, "a", conninfo)
    assert owner.shared is not None and owner.shared.claim(key, "a#1", 60) == (True, None)

    async def ask_while_the_owner_pays() -> Fetched:
        asked = asyncio.ensure_future(waiter.fetch([call], 1))
        await asyncio.sleep(0.5)
        owner.put(key, REPLY, model="openai/gpt-4o-mini", paid=paid(), claimant="a#1")
        return (await asked)[0]

    served = asyncio.run(ask_while_the_owner_pays())
    assert served.reply == REPLY and served.record is not None and served.record.cache_hit
    assert (served.record.cost_usd, served.record.http_attempts) == (0.0, 0)
    assert state.requests == 0 and waiter.throttle.stats.calls == 0  # no slot, no request
    assert local_reply(waiter.ctx.cache, key) == REPLY


def test_claims_of_dead_owners_are_taken_over(
    tmp_path: Path, conninfo: str, server: tuple[str, FakeLLMState]
) -> None:
    url, state = server
    processor, calls = online(tmp_path, "a", conninfo, url), questions(2)
    keys = [cache_key(call, processor.ctx.model, processor.ctx.config.seed) for call in calls]
    assert processor.ctx.cache.get("warm-up") is None  # creates the tables
    with psycopg2.connect(conninfo) as connection, connection.cursor() as cursor:
        # Owners killed mid-call: one lease ran out already, one runs out in a second.
        cursor.execute(
            f"INSERT INTO {CLAIMS} VALUES (%s, 'gone#1', now() - interval '1 second'),"
            " (%s, 'gone#2', now() + interval '1 second')",
            keys,
        )
    started = time.monotonic()
    fetched = asyncio.run(processor.fetch(calls, 1))
    assert time.monotonic() - started > 1 and state.calls == 2
    assert all(f.record is not None and not f.record.cache_hit for f in fetched)
    assert claims(conninfo) == {}


def test_the_claim_is_released_when_the_call_fails(
    tmp_path: Path, conninfo: str, server: tuple[str, FakeLLMState]
) -> None:
    url, state = server
    state.faults = ["500"]
    processor = online(tmp_path, "a", conninfo, url, max_retries=0)
    [failed] = asyncio.run(processor.fetch(questions(1), 1))
    assert failed.reply is None and "500" in failed.error
    assert claims(conninfo) == {}


def test_no_claims_without_a_shared_tier(tmp_path: Path, conninfo: str) -> None:
    def claiming(config: RunConfig, use_cache: bool) -> bool:
        node = NodeCalls(
            config, "topic", config.model_for("topic"), Accounts(config), use_cache, "r"
        )
        return OnlineProcessor(node).claims is not None

    assert claiming(lake_config(tmp_path / "a", conninfo), use_cache=True)
    assert not claiming(lake_config(tmp_path / "a", conninfo), use_cache=False)
    assert not claiming(build_config({"data_dir": str(tmp_path / "b")}), use_cache=True)


def test_a_claim_that_waited_past_the_margin_is_renewed_or_given_up(conninfo: str) -> None:
    claims_of_a = Claims(SharedCache(conninfo), lease_s=60)
    renewed, taken = claims_of_a.take("k1")[0], claims_of_a.take("k2")[0]
    assert renewed is not None and taken is not None
    with psycopg2.connect(conninfo) as connection, connection.cursor() as cursor:
        # k2's lease ran out as its call waited for a slot, and another machine took it.
        cursor.execute(f"UPDATE {CLAIMS} SET owner = 'b#1' WHERE key = 'k2'")
    for claim in (renewed, taken):
        claim.renewed_at -= LEASE_MARGIN_S + 1
    renewed.hold()
    assert time.monotonic() - renewed.renewed_at < 1 and renewed.held
    with pytest.raises(ClaimTaken):
        taken.hold()
    assert not taken.held and claims(conninfo)["k2"] == "b#1"


def test_claims_of_this_machines_dead_processes_are_freed_at_once(conninfo: str) -> None:
    """A rerun after kill -9 does not wait out the killed process's leases."""
    shared = SharedCache(conninfo)
    assert shared.get("warm-up") is None  # creates the tables
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    host = socket.gethostname()
    with psycopg2.connect(conninfo) as connection, connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {CLAIMS} SELECT key, owner, now() + interval '1 hour'"
            " FROM unnest(%s, %s) AS c(key, owner)",
            (
                ["k1", "k2", "k3"],
                [f"{host}:{dead}:a#1", f"{host}:{os.getpid()}:a#2", "other:1:x#1"],
            ),
        )
    Claims(shared, lease_s=60)
    assert set(claims(conninfo)) == {"k2", "k3"}  # a live process's and another host's stay
