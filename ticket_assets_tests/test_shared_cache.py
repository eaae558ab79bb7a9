"""The shared tier of the LLM cache against a real PostgreSQL: each ResponseCache with its
own SQLite file is a machine, and the machines share one database."""

from __future__ import annotations

import argparse
import multiprocessing
import pickle
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pandas as pd
import psycopg2
import pytest
import yaml

from ticket_assets.__main__ import main
from ticket_assets.cli import cache as cache_command
from ticket_assets.config import RunConfig, build_config
from ticket_assets.llm.accounting import Accounts
from ticket_assets.llm.cache import ResponseCache
from ticket_assets.llm.client import LLMClient
from ticket_assets.llm.planning import Call
from ticket_assets.llm.processors import NodeCalls
from ticket_assets.llm.shared_cache import (
    CLAIMS,
    TABLE,
    SharedCache,
    SharedCacheError,
    SharedEntry,
    describe,
)
from ticket_assets.llm.types import ProviderReply
from ticket_assets.nodes import NODES, NodeContext
from ticket_assets.plan import batch_key, plan_frame
from ticket_assets.tables.loaded import tables_for
from ticket_assets_tests.fake_llm_server import FakeLLMState, fake_llm_server
from ticket_assets_tests.services import PostgresServer
from ticket_assets_tests.test_cache import REPLY, paid

PASSWORD = "pg-canary-7d41c9e2b8"
OTHER = ProviderReply('{"subject": "Andere"}', 41, 10, 0)


@pytest.fixture
def conninfo(postgres_server: PostgresServer) -> str:
    """A database of the test's own: the team's shared cache."""
    return postgres_server.create_database(f"cache_{uuid.uuid4().hex[:12]}")


def machine(tmp_path: Path, name: str, conninfo: str) -> ResponseCache:
    """A machine: its own data directory's SQLite file, the shared database."""
    return ResponseCache(tmp_path / name / "llm_cache.sqlite", SharedCache(conninfo))


def shared_rows(conninfo: str) -> dict[str, tuple[Any, ...]]:
    with psycopg2.connect(conninfo) as connection, connection.cursor() as cursor:
        cursor.execute(f"SELECT key, text, input_tokens, output_tokens, model FROM {TABLE}")
        return {row[0]: row[1:] for row in cursor.fetchall()}


def local_reply(cache: ResponseCache, key: str) -> ProviderReply | None:
    """What the machine's own file holds, without asking the shared tier."""
    return ResponseCache(cache.path).get(key)


def journaled(cache: ResponseCache) -> int:
    return len(ResponseCache(cache.path).paid_calls("tickets.duckdb", "support_tickets"))


def claims(conninfo: str) -> dict[str, str]:
    with psycopg2.connect(conninfo) as connection, connection.cursor() as cursor:
        cursor.execute(f"SELECT key, owner FROM {CLAIMS}")
        return dict(cursor.fetchall())


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_describe_drops_the_password_in_either_form() -> None:
    keywords = f"host=db.internal port=5433 dbname=lake user=u password={PASSWORD} sslmode=require"
    uri = f"postgresql://u:{PASSWORD}@db.internal:5433/lake?sslmode=require"
    for conninfo in (keywords, uri):
        assert describe(conninfo) == "host=db.internal port=5433 dbname=lake user=u"
    assert PASSWORD not in describe(f"host=x password='{PASSWORD}")  # unreadable: not echoed


def test_a_pickled_cache_keeps_the_shared_tier_but_no_connection(
    tmp_path: Path, conninfo: str
) -> None:
    cache = machine(tmp_path, "a", conninfo)
    cache.put("k", REPLY, model="m", paid=paid())  # opens both connections
    copy = pickle.loads(pickle.dumps(cache))
    assert copy.shared is not None and copy.shared.conninfo == conninfo
    assert copy.get("k") == REPLY


def test_machines_creating_the_tables_at_once_all_go_on(postgres_server: PostgresServer) -> None:
    failures: list[BaseException] = []

    def first_get(cache: SharedCache, start: threading.Barrier) -> None:
        start.wait(timeout=30)
        try:
            cache.get("k")
        except SharedCacheError as error:
            failures.append(error)

    for _ in range(16):  # one round in a few loses the race to create the tables
        conninfo = postgres_server.create_database(f"tables_{uuid.uuid4().hex[:12]}")
        start = threading.Barrier(4)
        threads = [
            threading.Thread(target=first_get, args=(SharedCache(conninfo), start))
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert failures == []


def test_a_put_on_one_machine_is_a_hit_on_another(tmp_path: Path, conninfo: str) -> None:
    a, b = machine(tmp_path, "a", conninfo), machine(tmp_path, "b", conninfo)
    assert b.get("k") is None
    assert a.put("k", REPLY, model="m", paid=paid()) == REPLY
    assert b.get("k") == REPLY
    assert local_reply(b, "k") == REPLY  # copied: the next get stays on the machine
    assert (journaled(a), journaled(b)) == (1, 0)  # B paid nothing, so journals nothing
    assert shared_rows(conninfo) == {"k": (REPLY.text, 40, 9, "m")}


def test_the_first_answer_stored_wins_on_every_machine(tmp_path: Path, conninfo: str) -> None:
    a, b = machine(tmp_path, "a", conninfo), machine(tmp_path, "b", conninfo)
    assert a.get("k") is None and b.get("k") is None  # both miss, both pay
    assert a.put("k", REPLY, model="m", paid=paid()) == REPLY
    assert b.put("k", OTHER, model="m", paid=paid()) == REPLY  # B's answer lost the race
    assert local_reply(b, "k") == REPLY
    assert journaled(b) == 1  # B's call was paid all the same: its journal keeps it


def test_concurrent_puts_of_different_answers_agree(tmp_path: Path, conninfo: str) -> None:
    keys = [f"k{i}" for i in range(60)]
    machines = {name: machine(tmp_path, name, conninfo) for name in ("a", "b")}
    start = threading.Barrier(2)
    kept: dict[str, list[ProviderReply]] = {}
    errors: list[BaseException] = []

    def pay_for_all(name: str) -> None:
        try:
            own = ProviderReply(f'{{"subject": "{name}"}}', 40, 9)
            replies = []
            for key in keys:
                start.wait(timeout=30)  # both put the same key at the same moment
                replies.append(machines[name].put(key, own, model="m", paid=paid()))
            kept[name] = replies
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=pay_for_all, args=(name,)) for name in machines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert kept["a"] == kept["b"]
    stored = shared_rows(conninfo)
    for key, reply in zip(keys, kept["a"], strict=True):
        assert stored[key][0] == reply.text
        assert local_reply(machines["a"], key) == local_reply(machines["b"], key) == reply
    assert journaled(machines["a"]) == journaled(machines["b"]) == len(keys)


def test_discard_and_replace_reach_both_tiers(tmp_path: Path, conninfo: str) -> None:
    a, b = machine(tmp_path, "a", conninfo), machine(tmp_path, "b", conninfo)
    a.put("k", REPLY, model="m", paid=paid())
    assert b.get("k") == REPLY
    b.replace("k", OTHER, model="m")  # B repaired the answer under the first question's key
    assert local_reply(b, "k") == OTHER and shared_rows(conninfo)["k"][0] == OTHER.text
    b.discard("k")
    assert local_reply(b, "k") is None and shared_rows(conninfo) == {}
    assert local_reply(a, "k") == REPLY  # A's own copy stays until A discards it too
    a.discard("k")
    assert a.get("k") is None


def test_an_unreachable_server_is_one_line_naming_it_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    port = closed_port()
    cache = machine(tmp_path, "a", f"postgresql://u:{PASSWORD}@127.0.0.1:{port}/lake")
    with pytest.raises(SharedCacheError) as raised:
        cache.get("k")
    message = str(raised.value)
    assert len(message.splitlines()) == 1
    assert f"host=127.0.0.1 port={port} dbname=lake user=u" in message
    assert "PGPASSWORD or ~/.pgpass" in message and "did not answer" in message
    assert PASSWORD not in message and raised.value.__cause__ is None
    # A fresh answer that cannot be shared is not kept here either (no machine may hold an
    # answer the others lack), but its paid call is journaled.
    with pytest.raises(SharedCacheError):
        cache.put("k", REPLY, model="m", paid=paid())
    assert local_reply(cache, "k") is None and journaled(cache) == 1
    with pytest.raises(SharedCacheError, match=f"port={port} dbname=lake"):  # claims alike
        SharedCache(f"postgresql://u:{PASSWORD}@127.0.0.1:{port}/lake").claim("k", "a#1", 60)


def test_server_errors_never_show_the_password(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    conninfo = f"{postgres_server.conninfo('no_such_db')} password={PASSWORD}"
    with pytest.raises(SharedCacheError, match="no_such_db") as raised:
        machine(tmp_path, "a", conninfo).get("k")
    assert PASSWORD not in str(raised.value)


def test_a_broken_connection_is_reopened(tmp_path: Path, conninfo: str) -> None:
    cache = machine(tmp_path, "a", conninfo)
    cache.put("k", REPLY, model="m", paid=paid())
    with psycopg2.connect(conninfo) as admin, admin.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    ResponseCache(cache.path).discard("k")  # so the get has to ask the server
    assert cache.get("k") == REPLY


def _put_in_child(cache: ResponseCache) -> None:
    cache.put("from-child", REPLY, model="m", paid=paid())


def test_a_forked_child_opens_its_own_connection(tmp_path: Path, conninfo: str) -> None:
    cache = machine(tmp_path, "a", conninfo)
    assert cache.get("warm-up") is None  # the parent's connection is open, and inherited
    backend = cache.shared._cursor.connection.get_backend_pid()  # type: ignore[union-attr]
    child = multiprocessing.get_context("fork").Process(target=_put_in_child, args=(cache,))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    assert cache.get("from-child") == REPLY
    assert cache.shared._cursor.connection.get_backend_pid() == backend  # type: ignore[union-attr]


def lake_config(data: Path, conninfo: str, **settings: Any) -> RunConfig:
    storage = {"backend": "ducklake", "catalog": f"postgres:{conninfo}", "data_path": str(data)}
    return build_config({"data_dir": str(data), "storage": storage, **settings})


def test_cache_commands_name_both_tiers_and_keep_the_shared_one(
    tmp_path: Path, conninfo: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = lake_config(tmp_path / "a", conninfo)
    cache = ResponseCache.for_config(config)
    assert cache.shared is not None and cache.shared.conninfo == conninfo
    cache.put("k", REPLY, model="m", paid=paid())
    machine(tmp_path, "b", conninfo).put("k2", OTHER, model="m2", paid=paid())

    def run(action: str, shared: bool = False) -> list[str]:
        arguments = argparse.Namespace(action=action, shared=shared)
        assert cache_command.handle(arguments, config, tmp_path / "log") == 0
        return capsys.readouterr().out.splitlines()

    local, shared = run("stats")
    assert local.startswith(f"{config.cache_path} (this machine): 1 cached responses")
    assert shared.startswith(f"{TABLE} on host=127.0.0.1") and "2 cached responses" in shared
    assert "(m: 1, m2: 1)" in shared
    removed, kept = run("clear")
    assert removed == f"removed 1 cached responses from {config.cache_path} (this machine)"
    assert kept.startswith("kept the shared cache") and "--shared" in kept
    assert len(shared_rows(conninfo)) == 2
    assert run("clear", shared=True)[1] == (
        f"removed 2 cached responses from {cache.shared.name} (every machine's)"
    )
    assert shared_rows(conninfo) == {}


def test_cache_stats_with_the_server_down_ends_in_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    catalog = f"postgres:host=127.0.0.1 port={closed_port()} dbname=lake user=u"
    storage = {"backend": "ducklake", "catalog": catalog, "data_path": str(tmp_path / "lake")}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"storage": storage}), encoding="utf-8")
    arguments = ["cache", "stats", "--config", str(config), "--data-dir", str(tmp_path / "d")]
    assert main(arguments) == 1
    out, err = capsys.readouterr()
    assert "(this machine): 0 cached responses" in out
    assert err.count("\n") == 1 and err.startswith("error: the shared LLM cache")
    assert "dbname=lake" in err and "Traceback" not in err and PASSWORD not in err


def test_cache_clear_shared_without_a_shared_tier_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = build_config({"data_dir": str(tmp_path)})
    arguments = argparse.Namespace(action="clear", shared=True)
    assert cache_command.handle(arguments, config, tmp_path / "log") == 2
    assert "--shared: there is no shared cache" in capsys.readouterr().err


def test_keep_hands_the_processors_the_answer_stored_first(tmp_path: Path, conninfo: str) -> None:
    machine(tmp_path, "a", conninfo).put("k", REPLY, model="m", paid=paid())
    config = lake_config(tmp_path / "b", conninfo)
    call = Call([0], [], {}, "answer", 100, cast(Any, None), "t1", cache_key="k")
    record = paid().record

    def node_calls(use_cache: bool) -> NodeCalls:
        model = config.model_for("topic")
        return NodeCalls(config, "topic", model, Accounts(config), use_cache, "run-b")

    assert node_calls(use_cache=True).keep(call, OTHER, record) == REPLY
    assert local_reply(ResponseCache(config.cache_path), "k") == REPLY
    # --no-cache: the call is journaled, and the shared tier neither read nor written.
    assert node_calls(use_cache=False).keep(call, OTHER, record) == OTHER
    assert shared_rows(conninfo)["k"][0] == REPLY.text


@pytest.fixture
def server() -> Iterator[tuple[str, FakeLLMState]]:
    with fake_llm_server() as running:
        yield running


def test_a_second_machine_makes_no_requests_for_calls_the_first_paid(
    tmp_path: Path,
    conninfo: str,
    server: tuple[str, FakeLLMState],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, state = server
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")

    def run_topic(name: str) -> pd.DataFrame:
        config = lake_config(tmp_path / name, conninfo, rows=12, batch_size=6)
        config = config.with_model(model="openai/gpt-4o-mini", api_base=url)
        tables = tables_for(config)
        frame = plan_frame(config, [("EN", batch_key(0)), ("DE", batch_key(0))], 1)
        return NODES["topic"].run(frame, NodeContext(config, tables, LLMClient(config, tables)))

    first = run_topic("a")
    paid_by_a = state.requests
    assert paid_by_a > 0
    second = run_topic("b")
    assert state.requests == paid_by_a
    pd.testing.assert_frame_equal(first, second)


def test_a_claim_is_its_owners_until_its_answer_is_stored(conninfo: str) -> None:
    a, b = SharedCache(conninfo), SharedCache(conninfo)  # two machines
    assert a.claim("k", "a#1", 60) == (True, None)
    assert b.claim("k", "b#1", 60) == (False, None) and b.watch("k") == (None, True)
    assert a.claim("k", "a#1", 60) == (True, None)  # renewed by its owner
    stored = a.put_new("k", SharedEntry(REPLY, "m", "now"), claimant="a#1")
    assert claims(conninfo) == {} and b.watch("k") == (stored, False)
    # A claim taken just after the answer was stored sees it, so nobody pays again.
    assert b.claim("k", "b#2", 60) == (True, stored)
