"""TicketStore: atomic partition rewrites, schema evolution, reads, locks, dataset codes."""

from __future__ import annotations

import functools
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from ticket_assets.storage import (
    MissingTableError,
    SchemaMismatchError,
    StoreError,
    StoreLockedError,
    TicketStore,
)
from ticket_assets.storage import write as store_module

SCHEMA = "support_tickets"
SPAWN = mp.get_context("spawn")  # fork would copy DuckDB's per-process database cache
WORKER_TIMEOUT = 30


def tickets(language: str, batch: str, count: int, start: int = 0, **extra: Any) -> pd.DataFrame:
    """`count` tickets of one partition; ids carry the partition so they are unique."""
    prefix = f"{ord(language[0]):03d}{int(batch[1:]):04d}"
    frame = pd.DataFrame(
        {
            "ticket_id": [f"{prefix}{start + i:06d}" for i in range(count)],
            "language": language,
            "batch": batch,
            "subject": [f"{language} subject {start + i}" for i in range(count)],
            "tags": [["Outage", f"t{i}"] for i in range(count)],
        }
    )
    for name, value in extra.items():
        frame[name] = value
    return frame


def counts(frame: pd.DataFrame) -> dict[tuple[str, str], int]:
    return frame.groupby(["language", "batch"]).size().to_dict()


def column_types(store: TicketStore, table: str) -> dict[str, str]:
    with duckdb.connect(str(store.backend.path), read_only=True) as con:
        rows = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = ? AND table_name = ?",
            [store.schema, table],
        ).fetchall()
    return dict(rows)


@pytest.fixture
def store(tmp_path: Path) -> TicketStore:
    return TicketStore(tmp_path / "data" / "tickets.duckdb", SCHEMA, lock_timeout=10)


@pytest.fixture
def seeded(store: TicketStore) -> TicketStore:
    """DE/b0000 (3 rows), EN/b0000 (2 rows), DE/b0001 (4 rows)."""
    for language, batch, count in [("DE", "b0000", 3), ("EN", "b0000", 2), ("DE", "b0001", 4)]:
        store.write_partitions("draft", tickets(language, batch, count), [(language, batch)])
    return store


def test_rewrite_one_partition_leaves_the_others_untouched(seeded: TicketStore) -> None:
    before = seeded.read_table("draft")
    written = seeded.write_partitions(
        "draft", tickets("DE", "b0000", 5, start=100), [("DE", "b0000")]
    )
    after = seeded.read_table("draft")

    assert written == 5
    assert counts(after) == {("DE", "b0000"): 5, ("DE", "b0001"): 4, ("EN", "b0000"): 2}
    assert after["ticket_id"].is_unique
    assert after["ticket_id"].is_monotonic_increasing
    others = before[~((before["language"] == "DE") & (before["batch"] == "b0000"))]
    untouched = after[~((after["language"] == "DE") & (after["batch"] == "b0000"))]
    pd.testing.assert_frame_equal(others.reset_index(drop=True), untouched.reset_index(drop=True))
    new = seeded.read_partitions("draft", [("DE", "b0000")])
    assert new["subject"].tolist() == [f"DE subject {i}" for i in range(100, 105)]


class FailingInsertConnection:
    """Wraps a DuckDB connection and fails the INSERT, after the DELETE has run."""

    def __init__(self, con: duckdb.DuckDBPyConnection, statements: list[str]) -> None:
        self._con = con
        self._statements = statements

    def execute(self, query: str, *args: Any) -> Any:
        self._statements.append(query.split()[0])
        if query.startswith("INSERT"):
            raise duckdb.ConversionException("injected failure after DELETE")
        return self._con.execute(query, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def test_failure_after_delete_rolls_back_to_the_old_rows(
    seeded: TicketStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = seeded.read_table("draft")
    statements: list[str] = []
    connect = duckdb.connect
    monkeypatch.setattr(
        store_module.duckdb,
        "connect",
        lambda *a, **k: FailingInsertConnection(connect(*a, **k), statements),
    )
    new = tickets("DE", "b0000", 5, start=100, summary="added column")
    with pytest.raises(duckdb.ConversionException, match="injected"):
        seeded.write_partitions("draft", new, [("DE", "b0000")])
    monkeypatch.undo()

    assert statements.index("ALTER") < statements.index("DELETE") < statements.index("INSERT")
    pd.testing.assert_frame_equal(seeded.read_table("draft"), before)
    assert "summary" not in column_types(seeded, "draft")


def test_incompatible_type_change_names_the_column_and_keeps_the_rows(
    store: TicketStore,
) -> None:
    store.write_partitions("draft", tickets("DE", "b0000", 2, score=7), [("DE", "b0000")])
    before = store.read_table("draft")
    with pytest.raises(SchemaMismatchError) as info:
        store.write_partitions("draft", tickets("EN", "b0000", 2, score="high"), [("EN", "b0000")])
    assert all(word in str(info.value) for word in ("support_tickets.draft", "score", "BIGINT"))
    assert "VARCHAR" in str(info.value)
    pd.testing.assert_frame_equal(store.read_table("draft"), before)


def test_reordered_columns_land_by_name(store: TicketStore) -> None:
    store.write_partitions("draft", tickets("DE", "b0000", 2), [("DE", "b0000")])
    reordered = tickets("EN", "b0000", 2)[["tags", "subject", "batch", "ticket_id", "language"]]
    store.write_partitions("draft", reordered, [("EN", "b0000")])

    en = store.read_partitions("draft", [("EN", "b0000")])
    assert en["subject"].tolist() == ["EN subject 0", "EN subject 1"]
    assert en["language"].tolist() == ["EN", "EN"]
    assert en["tags"].tolist() == [["Outage", "t0"], ["Outage", "t1"]]
    assert list(en.columns) == ["ticket_id", "language", "batch", "subject", "tags"]


def test_new_column_is_added_and_old_rows_get_null(seeded: TicketStore) -> None:
    old_de_b1 = seeded.read_partitions("draft", [("DE", "b0001")])
    extended = tickets("EN", "b0000", 2, summary="short", words=12).drop(columns=["subject"])
    seeded.write_partitions("draft", extended, [("EN", "b0000")])

    frame = seeded.read_table("draft")
    assert counts(frame) == {("DE", "b0000"): 3, ("DE", "b0001"): 4, ("EN", "b0000"): 2}
    en = frame[frame["language"] == "EN"]
    assert en["summary"].tolist() == ["short", "short"]
    assert en["subject"].isna().all()  # missing from the frame -> NULL
    assert frame.loc[frame["language"] == "DE", "summary"].isna().all()
    de_b1 = seeded.read_partitions("draft", [("DE", "b0001")])
    pd.testing.assert_frame_equal(de_b1[old_de_b1.columns], old_de_b1)
    assert column_types(seeded, "draft")["words"] == "BIGINT"


def test_integer_column_widens_to_double(store: TicketStore) -> None:
    store.write_partitions("draft", tickets("DE", "b0000", 2, score=3), [("DE", "b0000")])
    with_gap = tickets("EN", "b0000", 2)
    with_gap["score"] = [1.5, None]
    store.write_partitions("draft", with_gap, [("EN", "b0000")])

    assert column_types(store, "draft")["score"] == "DOUBLE"
    assert store.read_table("draft")["score"].tolist()[:3] == [3.0, 3.0, 1.5]


def test_rows_outside_the_selection_are_refused(seeded: TicketStore) -> None:
    before = seeded.read_table("draft")
    frame = pd.concat([tickets("DE", "b0000", 1), tickets("FR", "b0009", 1)])
    with pytest.raises(ValueError, match=r"outside.*'FR', 'b0009'"):
        seeded.write_partitions("draft", frame, [("DE", "b0000")])
    pd.testing.assert_frame_equal(seeded.read_table("draft"), before)

    with pytest.raises(ValueError, match="outside"):
        seeded.write_partitions("fresh", frame, [("DE", "b0000")])
    assert not seeded.table_exists("fresh")


def test_many_partitions_in_one_write(store: TicketStore) -> None:
    grid = [(language, batch) for language in ("DE", "EN", "ES") for batch in ("b0000", "b0001")]
    frame = pd.concat([tickets(lang, batch, 2) for lang, batch in grid], ignore_index=True)
    assert store.write_partitions("draft", frame, grid) == 12

    subset = [("EN", "b0000"), ("ES", "b0001")]
    store.write_partitions("draft", pd.concat([tickets(*p, 3, start=50) for p in subset]), subset)

    assert counts(store.read_table("draft")) == {p: (3 if p in subset else 2) for p in grid}
    assert counts(store.read_partitions("draft", subset)) == {p: 3 for p in subset}
    assert store.read_partitions("draft", []).empty


def test_lists_strings_and_ids_round_trip(store: TicketStore) -> None:
    frame = tickets("DE", "b0000", 3)
    frame["ticket_id"] = ["0000000000001", "0000000000002", "0012345678901"]
    frame["tags"] = [["Outage", "Tech Support"], [], None]
    frame["subject"] = ["Störung: Zugriff verweigert", None, '{"raw": "json"}']
    store.write_partitions("draft", frame, [("DE", "b0000")])

    back = store.read_table("draft")
    assert back["ticket_id"].tolist() == frame["ticket_id"].tolist()
    assert back["tags"].tolist() == [["Outage", "Tech Support"], [], None]
    assert all(isinstance(tag, str) for tag in back["tags"][0])
    assert back["subject"].tolist() == frame["subject"].tolist()
    types = column_types(store, "draft")
    assert types == {
        "ticket_id": "VARCHAR",
        "language": "VARCHAR",
        "batch": "VARCHAR",
        "subject": "VARCHAR",
        "tags": "VARCHAR[]",
    }


def test_empty_frame_empties_only_the_listed_partition(seeded: TicketStore) -> None:
    seeded.write_partitions("draft", tickets("DE", "b0000", 0), [("DE", "b0000")])
    assert counts(seeded.read_table("draft")) == {("EN", "b0000"): 2, ("DE", "b0001"): 4}
    with pytest.raises(ValueError, match="no partitions"):
        seeded.write_partitions("draft", tickets("DE", "b0000", 0), [])


def test_table_created_by_an_empty_frame_takes_real_types_later(store: TicketStore) -> None:
    store.write_partitions("draft", tickets("DE", "b0000", 0), [("DE", "b0000")])
    assert column_types(store, "draft")["tags"] == "VARCHAR"  # untyped: nothing to infer from
    store.write_partitions("draft", tickets("DE", "b0000", 2), [("DE", "b0000")])
    assert column_types(store, "draft")["tags"] == "VARCHAR[]"
    assert store.read_table("draft")["tags"].tolist() == [["Outage", "t0"], ["Outage", "t1"]]


def test_categorical_and_untyped_columns_are_stored_as_varchar(store: TicketStore) -> None:
    frame = tickets("DE", "b0000", 2)
    frame["queue"] = pd.Categorical(["Billing and Payments", "IT Support"])
    frame["answer"] = None
    store.write_partitions("draft", frame, [("DE", "b0000")])
    types = column_types(store, "draft")
    assert (types["queue"], types["answer"]) == ("VARCHAR", "VARCHAR")


def test_read_columns_and_missing_tables(store: TicketStore) -> None:
    with pytest.raises(MissingTableError, match="materialize the asset 'draft'"):
        store.read_table("draft")
    assert not store.backend.path.exists()  # reads never create the file
    assert not store.table_exists("draft")

    store.write_partitions("draft", tickets("DE", "b0000", 2), [("DE", "b0000")])
    assert store.table_exists("draft")
    with pytest.raises(MissingTableError, match=r"support_tickets\.translate"):
        store.read_partitions("translate", [("DE", "b0000")])
    ids = store.read_partitions("draft", [("DE", "b0000")], columns=["ticket_id"])
    assert list(ids.columns) == ["ticket_id"]


def test_replace_table_is_whole_and_atomic(store: TicketStore) -> None:
    report = pd.DataFrame({"language": ["DE", "EN"], "rows": [3, 2], "note": [None, None]})
    assert store.replace_table("report", report) == 2
    assert store.replace_table("report", report.iloc[:1]) == 1
    assert store.read_table("report")["rows"].tolist() == [3]
    assert column_types(store, "report")["note"] == "VARCHAR"
    assert store.replace_table("report", pd.DataFrame({"language": []})) == 0
    assert column_types(store, "report") == {"language": "VARCHAR"}  # not pandas' float64


def test_awkward_identifiers_are_quoted(tmp_path: Path) -> None:
    store = TicketStore(tmp_path / "x.duckdb", 'odd-"schema"')
    frame = tickets("DE", "b0000", 1)
    frame['a "quoted" column'] = "v"
    store.write_partitions('we"ird table', frame, [("DE", "b0000")])
    assert store.read_table('we"ird table')['a "quoted" column'].tolist() == ["v"]


def test_read_shares_an_open_read_write_connection_in_this_process(seeded: TicketStore) -> None:
    with duckdb.connect(str(seeded.backend.path)):
        assert len(seeded.read_table("draft")) == 9


def test_dataset_codes_are_stable_and_distinct(
    store: TicketStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = store.dataset_code("support_tickets")
    second = store.dataset_code("it_helpdesk")
    assert first != second
    assert TicketStore(store.backend.path, "other").dataset_code("support_tickets") == first
    assert {first, second} == {0, 1}

    monkeypatch.setattr(store_module, "MAX_DATASET_CODE", 1)
    with pytest.raises(StoreError, match="all 2 dataset codes are taken"):
        store.dataset_code("third")
    assert store.dataset_code("it_helpdesk") == second


# -- several processes -------------------------------------------------------------------------
# One pool of two spawned workers for the tests below: importing pandas and DuckDB in a fresh
# process costs ~2 s here, so the pool starts with the first test of the file (autouse) and warms
# up while the single-process tests run. Workers synchronise through marker files (polled every
# few ms) because pool tasks cannot receive multiprocessing events.


def _warm_up() -> None:
    """Pool initializer: unpickling it imports this module (pandas, DuckDB) in each worker."""


@pytest.fixture(scope="module", autouse=True)
def pool() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(max_workers=2, mp_context=SPAWN, initializer=_warm_up) as executor:
        for _ in range(2):  # a task submitted while no worker is idle spawns another worker
            executor.submit(os.getpid)
        yield executor


def _wait_for(path: Path, worker: Future[Any] | None = None) -> None:
    """Wait for a marker file; surface the worker's exception at once if it died first."""
    deadline = time.monotonic() + WORKER_TIMEOUT
    while not path.exists():
        if worker is not None and worker.done():
            worker.result()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.005)


def _write_rounds(database: Path, language: str, started: Path, go: Path, rounds: int = 1) -> str:
    store = TicketStore(database, SCHEMA, lock_timeout=WORKER_TIMEOUT)
    started.touch()
    _wait_for(go)
    for round_ in range(rounds):
        frame = tickets(language, "b0000", 3, start=round_ * 10)
        store.write_partitions("draft", frame, [(language, "b0000")])
    return language


def _dataset_codes(database: Path, name: str, started: Path, go: Path) -> tuple[int, int]:
    store = TicketStore(database, SCHEMA, lock_timeout=WORKER_TIMEOUT)
    started.touch()
    _wait_for(go)
    return store.dataset_code(name), store.dataset_code("shared")


def _hold_lock(database: Path, holding: Path, release: Path) -> int:
    with duckdb.connect(str(database)):
        holding.touch()
        _wait_for(release)
    return os.getpid()


def _start_together(
    pool: ProcessPoolExecutor, task: Callable[..., Any], store: TicketStore, names: Sequence[str]
) -> list[Any]:
    """Run `task(database, name, started, go)` per name in its own worker, released together."""
    markers = store.backend.path.parent.parent  # tmp_path; the database's folder may not exist
    go = markers / "go"
    started = [markers / f"started-{name}" for name in names]
    futures = [
        pool.submit(task, store.backend.path, name, marker, go)
        for name, marker in zip(names, started, strict=True)
    ]
    for marker, future in zip(started, futures, strict=True):
        _wait_for(marker, future)  # every worker is running before any of them starts
    go.touch()
    return [future.result(timeout=WORKER_TIMEOUT) for future in futures]


def test_two_processes_write_different_partitions_concurrently(
    store: TicketStore, pool: ProcessPoolExecutor
) -> None:
    task = functools.partial(_write_rounds, rounds=5)
    assert _start_together(pool, task, store, ["DE", "EN"]) == ["DE", "EN"]
    frame = store.read_table("draft")
    assert counts(frame) == {("DE", "b0000"): 3, ("EN", "b0000"): 3}
    assert frame["subject"].str.endswith(("40", "41", "42")).all()  # the last round won


def test_writer_waits_for_a_lock_held_by_another_process(
    store: TicketStore, pool: ProcessPoolExecutor, tmp_path: Path
) -> None:
    store.write_partitions("draft", tickets("DE", "b0000", 1), [("DE", "b0000")])
    started, go = tmp_path / "started", tmp_path / "go"
    go.touch()
    with duckdb.connect(str(store.backend.path)):  # this process holds the file lock
        writer = pool.submit(_write_rounds, store.backend.path, "EN", started, go)
        _wait_for(started, writer)
        time.sleep(0.3)  # the worker retries meanwhile
        assert not writer.done()
    assert writer.result(timeout=WORKER_TIMEOUT) == "EN"
    assert counts(store.read_table("draft")) == {("DE", "b0000"): 1, ("EN", "b0000"): 3}


def test_lock_timeout_names_the_file_and_the_holder(
    store: TicketStore, pool: ProcessPoolExecutor, tmp_path: Path
) -> None:
    store.write_partitions("draft", tickets("DE", "b0000", 1), [("DE", "b0000")])
    holding, release = tmp_path / "holding", tmp_path / "release"
    holder = pool.submit(_hold_lock, store.backend.path, holding, release)
    try:
        _wait_for(holding, holder)
        impatient = TicketStore(store.backend.path, SCHEMA, lock_timeout=0.3)
        with pytest.raises(StoreLockedError) as info:
            impatient.read_table("draft")
    finally:
        release.touch()
    pid = holder.result(timeout=WORKER_TIMEOUT)
    assert str(store.backend.path) in str(info.value)
    assert f"PID {pid}" in str(info.value)


def test_concurrent_dataset_code_allocation_is_distinct(
    store: TicketStore, pool: ProcessPoolExecutor
) -> None:
    (alpha, shared_a), (beta, shared_b) = _start_together(
        pool, _dataset_codes, store, ["alpha", "beta"]
    )
    assert alpha != beta
    assert shared_a == shared_b
    assert len({alpha, beta, shared_a}) == 3
    assert (store.dataset_code("alpha"), store.dataset_code("beta")) == (alpha, beta)


def test_processes_creating_the_database_file_at_once_all_succeed(
    tmp_path: Path, pool: ProcessPoolExecutor
) -> None:
    for attempt in range(5):
        database = tmp_path / f"attempt{attempt}" / "data" / "tickets.duckdb"
        database.parent.parent.mkdir()  # for the start markers; the data folder is new too
        store = TicketStore(database, SCHEMA)
        assert _start_together(pool, _write_rounds, store, ["DE", "EN"]) == ["DE", "EN"]
        assert counts(store.read_table("draft")) == {("DE", "b0000"): 3, ("EN", "b0000"): 3}
