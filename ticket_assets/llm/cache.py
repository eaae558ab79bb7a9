"""A persistent response cache keyed by the content of a call, in one SQLite file, with the
journal of paid calls (journal.py) beside it, and optionally a tier shared by every machine
(shared_cache.py).

Several processes may read and write at once: WAL mode lets readers run beside the single
writer, and the busy timeout makes writers queue instead of failing. Each put is its own
committed transaction (the answer and its journal entry together), so a crashed or killed
process loses nothing that was already put. The engine keeps only valid answers here for
later runs: a repaired answer replaces the invalid one under the first question's key, and
the answers of a ticket that stayed invalid are discarded. Calls are short and synchronous;
coroutines may call them directly.

With the shared tier (DuckLake on a Postgres catalog), the local file stays the first place
looked and the only place journaled (a machine folds its own journal); a local miss asks the
shared table and copies a hit here. A fresh answer goes to both, and the shared table's first
answer under a key wins: `put` returns it, so every machine writes the same rows. The
answer to a call claimed by another machine (claims.py) is copied here with `adopt`, and the
payer's claim is released by its `put`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ticket_assets.llm import journal
from ticket_assets.llm.journal import PaidCall
from ticket_assets.llm.shared_cache import (
    RESPONSE_COLUMNS,
    CacheStats,
    SharedCache,
    SharedCacheError,
    SharedEntry,
)
from ticket_assets.llm.types import ProviderReply

if TYPE_CHECKING:
    from ticket_assets.config import RunConfig

__all__ = ["CacheCorruptError", "CacheStats", "ResponseCache"]

BUSY_TIMEOUT_S = 30.0

_SCHEMA = f"CREATE TABLE IF NOT EXISTS responses ({RESPONSE_COLUMNS})"


class CacheCorruptError(RuntimeError):
    """The cache file is not a readable SQLite database."""


def _jsonable(value: object) -> object:
    # Messages and params may arrive as read-only mappings; JSON only knows dicts.
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"cannot use {type(value).__name__} in a cache key")


def _enable_wal(connection: sqlite3.Connection) -> None:
    """Switches the file to WAL (a persistent setting) unless it is already.

    SQLite answers "database is locked" at once, without its busy handler, when two processes
    convert a new file at the same moment, so the switch is retried here.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class ResponseCache:
    """The local file, and the shared table when `shared` is given (see `for_config`)."""

    def __init__(self, path: Path, shared: SharedCache | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.shared = shared
        self._local = threading.local()

    @classmethod
    def for_config(cls, config: RunConfig) -> ResponseCache:
        """The cache of a run: the data directory's file, and the shared table in the
        catalog's database when the DuckLake catalog is in Postgres (decided here only)."""
        conninfo = config.storage.postgres_conninfo
        return cls(config.cache_path, SharedCache(conninfo) if conninfo else None)

    # Connections belong to one thread and one process; a pickled copy opens its own.
    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "shared": self.shared}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path = state["path"]
        self.shared = state["shared"]
        self._local = threading.local()

    @staticmethod
    def key(
        *,
        model: str,
        messages: Sequence[Mapping[str, str]],
        params: Mapping[str, Any],
        schema: Mapping[str, Any] | None,
    ) -> str:
        """sha256 of a canonical JSON of everything that shapes the answer.

        `params` holds temperature, max_tokens, seed, api_base and the like, never an API key:
        rotating a key must not invalidate the cache.
        """
        if any("api_key" in name.lower() for name in params):
            raise ValueError("API keys do not belong in a cache key")
        canonical = json.dumps(
            {"model": model, "messages": list(messages), "params": params, "schema": schema},
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
            default=_jsonable,
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def get(self, key: str) -> ProviderReply | None:
        """The answer stored under `key`: here, else in the shared table (then copied here,
        unjournaled: nobody paid for it on this machine)."""
        with self._guard():
            row = (
                self._connection()
                .execute(
                    "SELECT text, input_tokens, output_tokens, cached_tokens FROM responses"
                    " WHERE key = ?",
                    (key,),
                )
                .fetchone()
            )
        if row is not None:
            return ProviderReply(*row)
        entry = None if self.shared is None else self.shared.get(key)
        return None if entry is None else self.adopt(key, entry)

    def adopt(self, key: str, entry: SharedEntry) -> ProviderReply:
        """Copy an answer found in the shared table here (unjournaled: nobody paid for it on
        this machine) and return it: a `get` that hit there, or the answer to a call that
        another machine had claimed (claims.py)."""
        self._store(key, entry)
        return entry.reply

    def put(
        self,
        key: str,
        reply: ProviderReply,
        *,
        model: str,
        paid: PaidCall,
        claimant: str | None = None,
    ) -> ProviderReply:
        """Store a freshly paid answer and journal the call that paid for it, in one
        transaction; returns the answer to use. That is `reply`, unless another machine
        stored an answer under `key` in the shared table first: that one wins, here too.
        The shared tier releases `claimant`'s claim on `key` as it stores the answer."""
        entry = SharedEntry(reply, model, _now())
        with self._guard(), self._transaction() as connection:
            journal.insert(connection, paid)
            _insert(connection, key, entry)
        if self.shared is None:
            return reply
        try:
            stored = self.shared.put_new(key, entry, claimant)
        except SharedCacheError:
            # An answer only this machine knows would be replayed here while the others pay
            # for theirs, and rows would differ: better paid once more after the outage.
            self._delete(key)
            raise
        if stored != entry:
            self._store(key, stored)
        return stored.reply

    def replace(self, key: str, reply: ProviderReply, *, model: str) -> None:
        """Store an answer paid for under another key (a repair) in place of the one under
        `key` (the ticket's first question), in both tiers; its journal entry is the call's."""
        entry = SharedEntry(reply, model, _now())
        self._store(key, entry)
        if self.shared is not None:
            self.shared.replace(key, entry)

    def discard(self, key: str) -> None:
        """Forget an answer that failed validation, in both tiers: a later run asks afresh."""
        self._delete(key)
        if self.shared is not None:
            self.shared.discard(key)

    def journal(self, paid: PaidCall) -> None:
        """Journal a paid call whose answer is not cached (`--no-cache`)."""
        with self._guard():
            journal.insert(self._connection(), paid)

    def paid_calls(self, database: str, dataset: str) -> list[PaidCall]:
        """The journaled calls of `dataset` (ledger in `database`) not yet known folded."""
        with self._guard():
            return journal.select(self._connection(), database, dataset)

    def forget_paid(self, call_ids: Sequence[str]) -> None:
        """Drop journal entries once the ledger holds them."""
        with self._guard(), self._transaction() as connection:
            journal.delete(connection, call_ids)

    def clear(self, model: str | None = None) -> int:
        """Removes the local entries of `model`, or all; returns how many (the shared
        table's are the team's: `shared.clear`, asked for on purpose).

        Clearing all of a corrupt file deletes the file, which is the way out that
        CacheCorruptError recommends.
        """
        try:
            with self._guard():
                connection = self._connection()
                if model is None:
                    return connection.execute("DELETE FROM responses").rowcount
                return connection.execute(
                    "DELETE FROM responses WHERE model = ?", (model,)
                ).rowcount
        except CacheCorruptError:
            if model is not None:
                raise
            self._close()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            return 0

    def stats(self) -> CacheStats:
        """The local file's figures (`shared.stats` for the shared table's)."""
        with self._guard():
            rows = (
                self._connection()
                .execute("SELECT model, COUNT(*) FROM responses GROUP BY model ORDER BY model")
                .fetchall()
            )
        per_model = dict(rows)
        size = sum(
            os.path.getsize(name)
            for name in (self.path, f"{self.path}-wal")
            if os.path.exists(name)
        )
        return CacheStats(entries=sum(per_model.values()), size_bytes=size, per_model=per_model)

    def _store(self, key: str, entry: SharedEntry) -> None:
        with self._guard():
            _insert(self._connection(), key, entry)

    def _delete(self, key: str) -> None:
        with self._guard():
            self._connection().execute("DELETE FROM responses WHERE key = ?", (key,))

    def _connection(self) -> sqlite3.Connection:
        # The pid check keeps a forked child from sharing its parent's connection.
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            local.connection = self._open()
            local.pid = os.getpid()
        return local.connection

    def _open(self) -> sqlite3.Connection:
        # isolation_level=None: autocommit, so every statement is committed on its own.
        connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            _enable_wal(connection)
            # A commit reaches the WAL file, not the disk: it survives kill -9 and OOM (what
            # the journal of paid calls is for), not a power cut, and costs no fsync per call.
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute(_SCHEMA)
            connection.execute(journal.SCHEMA)
        except BaseException:
            connection.close()
            raise
        return connection

    def _close(self) -> None:
        if getattr(self._local, "pid", None) == os.getpid():
            self._local.connection.close()
        self._local = threading.local()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError:
            raise  # locked, read-only, disk full: not the file's fault
        except sqlite3.DatabaseError as error:
            raise CacheCorruptError(
                f"the LLM response cache {self.path} is corrupt ({error}); delete it or run "
                "`python -m ticket_assets cache clear`"
            ) from error


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _insert(connection: sqlite3.Connection, key: str, entry: SharedEntry) -> None:
    connection.execute(
        "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?)", entry.row(key)
    )
