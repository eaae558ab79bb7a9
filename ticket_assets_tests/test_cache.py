"""The SQLite response cache: keys, round trips, persistence, clearing, several processes
(the shared tier in Postgres: test_shared_cache.py)."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import traceback
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path
from typing import Any

import pytest

from ticket_assets.config import build_config
from ticket_assets.llm.cache import CacheCorruptError, ResponseCache
from ticket_assets.llm.journal import PaidCall
from ticket_assets.llm.types import CallRecord, ProviderReply

MESSAGES = [{"role": "system", "content": "Schreibe höflich."}, {"role": "user", "content": "Hi"}]
PARAMS = {"temperature": 0.7, "max_tokens": 512, "seed": 3, "api_base": None}
SCHEMA = {"type": "object", "properties": {"subject": {"type": "string"}}}
REPLY = ProviderReply(
    text='{"subject": "Grüße"}', input_tokens=40, output_tokens=9, cached_tokens=4
)


def paid() -> PaidCall:
    """A journal entry for a paid call (each with its own call id)."""
    record = CallRecord("topic", "t1", "openai/gpt-4o-mini", "openai", "v1", 40, 9, 0.001, 0.2)
    return PaidCall("tickets.duckdb", "support_tickets", "run-1", record)


def make_key(**changes: Any) -> str:
    inputs: dict[str, Any] = {
        "model": "openai/gpt-4o-mini",
        "messages": MESSAGES,
        "params": PARAMS,
        "schema": SCHEMA,
    }
    return ResponseCache.key(**{**inputs, **changes})


def test_round_trip(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "deep" / "er" / "cache.sqlite")
    key = make_key()
    assert cache.get(key) is None
    assert cache.put(key, REPLY, model="openai/gpt-4o-mini", paid=paid()) == REPLY
    assert cache.get(key) == REPLY
    cache.put(key, ProviderReply("{}", 1, 1), model="openai/gpt-4o-mini", paid=paid())  # replaces
    assert cache.get(key) == ProviderReply("{}", 1, 1)


def test_replace_keeps_the_journal_and_discard_forgets(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "cache.sqlite")
    cache.put("k", REPLY, model="m", paid=paid())
    cache.replace("k", ProviderReply("{}", 1, 1), model="m")  # a repair, paid under its own key
    assert cache.get("k") == ProviderReply("{}", 1, 1)
    assert len(cache.paid_calls("tickets.duckdb", "support_tickets")) == 1
    cache.discard("k")
    assert cache.get("k") is None


@pytest.mark.parametrize(
    ("storage", "shared"),
    [
        ({}, False),
        ({"backend": "ducklake", "catalog": "lake.ducklake", "data_path": "lake/"}, False),
        (
            {"backend": "ducklake", "catalog": "postgres:host=db dbname=lake", "data_path": "d/"},
            True,
        ),
    ],
)
def test_only_a_postgres_catalog_brings_a_shared_tier(
    tmp_path: Path, storage: dict[str, str], shared: bool
) -> None:
    config = build_config({"data_dir": str(tmp_path), "storage": storage})
    cache = ResponseCache.for_config(config)
    assert cache.path == config.cache_path
    assert (cache.shared is not None) == shared
    if cache.shared is not None:
        assert cache.shared.conninfo == "host=db dbname=lake"  # nothing connects until used


def test_key_depends_on_every_input_and_not_on_dict_order() -> None:
    base = make_key()
    changed = {
        make_key(model="anthropic/claude-3-5-haiku"),
        make_key(messages=[*MESSAGES[:1], {"role": "user", "content": "Hi!"}]),
        make_key(messages=MESSAGES[:1]),
        make_key(params={**PARAMS, "temperature": 0.2}),
        make_key(params={**PARAMS, "seed": 4}),
        make_key(params={**PARAMS, "api_base": "http://localhost:4000"}),
        make_key(params={**PARAMS, "max_tokens": 513}),
        make_key(schema=None),
        make_key(schema={**SCHEMA, "required": ["subject"]}),
    }
    assert base not in changed
    assert len(changed) == 9
    reordered = make_key(
        messages=[dict(reversed(m.items())) for m in MESSAGES],
        params=dict(reversed(PARAMS.items())),
        schema={"properties": SCHEMA["properties"], "type": "object"},
    )
    assert reordered == base
    assert make_key(messages=tuple(MESSAGES)) == base
    assert len(base) == 64


def test_key_refuses_api_keys() -> None:
    with pytest.raises(ValueError, match="API keys"):
        make_key(params={**PARAMS, "api_key": "sk-secret"})


def test_entries_persist_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    ResponseCache(path).put("k", REPLY, model="m", paid=paid())
    reopened = ResponseCache(path)
    assert reopened.get("k") == REPLY
    stats = reopened.stats()
    assert (stats.entries, stats.per_model) == (1, {"m": 1})
    assert stats.size_bytes > 0
    columns = sqlite3.connect(path).execute("SELECT model, created_at FROM responses").fetchone()
    assert columns[0] == "m"
    assert columns[1].startswith("20")


def test_clear_all_and_per_model(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "cache.sqlite")
    for i in range(3):
        cache.put(f"a{i}", REPLY, model="model-a", paid=paid())
    for i in range(2):
        cache.put(f"b{i}", REPLY, model="model-b", paid=paid())
    assert cache.stats().per_model == {"model-a": 3, "model-b": 2}
    assert cache.clear("model-a") == 3
    assert cache.clear("model-a") == 0
    assert cache.get("a0") is None
    assert cache.get("b0") == REPLY
    assert cache.clear() == 2
    assert cache.stats().entries == 0


def test_corrupt_file_names_the_file_and_clear_deletes_it(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    path.write_bytes(b"this is not a database, just bytes " * 100)
    cache = ResponseCache(path)
    with pytest.raises(CacheCorruptError, match=r"cache\.sqlite.*cache clear"):
        cache.get("k")
    with pytest.raises(CacheCorruptError):
        cache.clear("some-model")
    assert cache.clear() == 0
    assert not path.exists()
    cache.put("k", REPLY, model="m", paid=paid())
    assert cache.get("k") == REPLY


def test_each_thread_gets_its_own_connection(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "cache.sqlite")
    cache.put("main", REPLY, model="m", paid=paid())
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            for i in range(50):
                cache.put(f"{name}-{i}", REPLY, model=name, paid=paid())
            assert cache.get("main") == REPLY
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert cache.stats().entries == 1 + 4 * 50


def _write_many(cache: ResponseCache, name: str, count: int, start: Barrier, results: Any) -> None:
    try:
        start.wait(timeout=30)
        for i in range(count):
            cache.put(f"{name}-{i}", ProviderReply(f"{name} {i}", i, i), model=name, paid=paid())
            # Overlapping keys too: both processes replace the same rows.
            cache.put(f"shared-{i % 20}", ProviderReply(name, 0, 0), model="shared", paid=paid())
        results.put("ok")
    except BaseException:
        results.put(traceback.format_exc())


def test_concurrent_writers_in_two_processes_lose_nothing(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    cache = ResponseCache(tmp_path / "cache.sqlite")
    start = context.Barrier(2)
    results = context.Queue()
    writers = [
        context.Process(target=_write_many, args=(cache, name, 200, start, results))
        for name in ("p1", "p2")
    ]
    for writer in writers:
        writer.start()
    outcomes = [results.get(timeout=120) for _ in writers]
    for writer in writers:
        writer.join(timeout=30)
    assert outcomes == ["ok", "ok"], outcomes
    assert cache.stats().per_model == {"p1": 200, "p2": 200, "shared": 20}
    assert cache.get("p2-199") == ProviderReply("p2 199", 199, 199)


def _put_then_signal(cache: ResponseCache, written: Event) -> None:
    cache.put("from-child", REPLY, model="m", paid=paid())
    written.set()


def _read_after_signal(cache: ResponseCache, written: Event, results: Any) -> None:
    cache.get("warm-up")  # an open connection must still see later writes
    written.wait(timeout=60)
    results.put(cache.get("from-parent"))


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_a_put_is_visible_to_another_process_at_once(tmp_path: Path, method: str) -> None:
    context = multiprocessing.get_context(method)
    cache = ResponseCache(tmp_path / "cache.sqlite")
    assert cache.get("from-child") is None  # the parent's connection is open (and forked)

    written = context.Event()
    child = context.Process(target=_put_then_signal, args=(cache, written))
    child.start()
    assert written.wait(timeout=60)
    assert cache.get("from-child") == REPLY  # before the child has even exited
    child.join(timeout=30)
    assert child.exitcode == 0

    written = context.Event()
    results = context.Queue()
    reader = context.Process(target=_read_after_signal, args=(cache, written, results))
    reader.start()
    cache.put("from-parent", REPLY, model="m", paid=paid())
    written.set()
    assert results.get(timeout=60) == REPLY
    reader.join(timeout=30)
