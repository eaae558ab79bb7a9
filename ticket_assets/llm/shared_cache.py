"""The shared tier of the response cache: one Postgres table that every machine of a team
reads and writes, so a call paid on one machine is never paid again on another.

It lives in the database of the DuckLake catalog (`storage.postgres_conninfo`). The first
answer stored under a key is the canonical one: `put_new` never replaces it and returns it,
so two machines that paid for the same call at the same moment both keep the same answer,
and every machine writes the same rows. Repairs replace (`replace`), failed answers go
(`discard`). Journals of paid calls stay local (journal.py): they are per machine.

A second table holds claims on calls being paid (claims.py): `claim` takes a key for a lease
(or takes over one whose lease ran out), `watch` tells a waiting machine whether the answer
is stored and whether the claim still holds, and `put_new` releases the payer's claim in the
statement that stores its answer, so a waiter never sees neither.

One connection per process, opened on first use (psycopg2 is imported then: `--help` and
the code location never load it), autocommit, with a short statement timeout; reopened in a
forked child and once after a broken connection. Each get, put, discard, claim, release and
watch is one round trip. Every failure is a `SharedCacheError` of one line that names the
server, never its password.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ticket_assets.core.secrets import redact
from ticket_assets.llm.types import ProviderReply

if TYPE_CHECKING:
    from psycopg2.extensions import connection as Connection
    from psycopg2.extensions import cursor as Cursor

TABLE = "ticket_assets_llm_responses"
CLAIMS = "ticket_assets_llm_claims"
# Long enough for a loaded server, short enough that a stuck one stops the step, not hangs it.
STATEMENT_TIMEOUT_S = 5
CONNECT_TIMEOUT_S = 5
# `cache clear` and `cache stats` scan the whole table: a longer limit for them alone.
MAINTENANCE_TIMEOUT = "10min"
_COLUMNS = "key, model, text, input_tokens, output_tokens, cached_tokens, created_at"
# Shown in place of a connection string, so no password reaches an error, a log or the CLI.
_SHOWN_KEYWORDS = ("host", "hostaddr", "port", "dbname", "user")

# The responses table's columns, the same in the local SQLite file (cache.py) and here.
RESPONSE_COLUMNS = """
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL,
    created_at TEXT NOT NULL
"""
_SCHEMA = f"CREATE TABLE IF NOT EXISTS {TABLE} ({RESPONSE_COLUMNS})"
_CLAIMS_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {CLAIMS} (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
)
"""
_ENTRY = "text, input_tokens, output_tokens, cached_tokens, model, created_at"
_GET = f"SELECT {_ENTRY} FROM {TABLE} WHERE key = %s"
# DO UPDATE with no change, not DO NOTHING: RETURNING then yields the stored row on a
# conflict too (even one committed after this statement's snapshot), in the same round trip.
_PUT_NEW = (
    f"INSERT INTO {TABLE} AS stored ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)"
    f" ON CONFLICT (key) DO UPDATE SET created_at = stored.created_at RETURNING {_ENTRY}"
)
# Ahead of _PUT_NEW when the payer holds a claim: released by the statement that stores the
# answer, so a waiter sees the claim or the answer, never neither.
_RELEASED_BY_PUT = f"WITH released AS (DELETE FROM {CLAIMS} WHERE key = %s AND owner = %s) "


def _stored_and_claim(condition: str) -> str:
    """A query of the answer stored under %(key)s (NULLs where none is), and whether a claim
    on the key meets `condition`: one snapshot."""
    return (
        "SELECT stored.text, stored.input_tokens, stored.output_tokens, stored.cached_tokens,"
        f" stored.model, stored.created_at, EXISTS (SELECT 1 FROM {CLAIMS} AS held"
        f" WHERE held.key = %(key)s AND {condition}) FROM (VALUES (%(key)s)) AS asked (key)"
        f" LEFT JOIN {TABLE} AS stored ON stored.key = asked.key"
    )


# Claims are written with asynchronous commit: no wait for the disk, and a claim lost in a
# server crash costs at most one call paid twice. The INSERT takes the claim, takes over one
# whose lease ran out, or renews the owner's own (`Claim.hold`, or a retry after a broken
# connection). The SELECT after it, with a snapshot of its own, says whether the claim is
# the owner's and shows an answer stored meanwhile: a payer that released its claim just
# before stored its answer in the same transaction, so the claimant sees it, not pays again.
_CLAIM = (
    "SET LOCAL synchronous_commit = off;"
    f" INSERT INTO {CLAIMS} AS held (key, owner, expires_at)"
    " VALUES (%(key)s, %(owner)s, now() + make_interval(secs => %(lease_s)s))"
    " ON CONFLICT (key) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at"
    " WHERE held.expires_at < now() OR held.owner = EXCLUDED.owner; "
) + _stored_and_claim("held.owner = %(owner)s")
_RELEASE = (
    "SET LOCAL synchronous_commit = off;"
    f" DELETE FROM {CLAIMS} WHERE key = %(key)s AND owner = %(owner)s"
)
# For a waiting machine: the answer, and whether a live claim is still held.
_WATCH = _stored_and_claim("held.expires_at >= now()")
_REPLACE = (
    f"INSERT INTO {TABLE} ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (key) DO UPDATE SET model = EXCLUDED.model, text = EXCLUDED.text,"
    " input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens,"
    " cached_tokens = EXCLUDED.cached_tokens, created_at = EXCLUDED.created_at"
)
_STATS = (
    f"SET LOCAL statement_timeout = '{MAINTENANCE_TIMEOUT}';"
    f" SELECT pg_total_relation_size('{TABLE}'),"
    f" (SELECT json_object_agg(model, n) FROM"
    f" (SELECT model, count(*) AS n FROM {TABLE} GROUP BY model) AS counts)"
)

T = TypeVar("T")
# Connections a forked child inherited, kept referenced and never closed: freeing one would
# end its parent's session on the socket they share.
_INHERITED: list[Connection] = []


class SharedCacheError(RuntimeError):
    """The shared cache's server could not answer; the message is one line."""


@dataclass(frozen=True)
class SharedEntry:
    """A stored answer with the model and time it was stored with, copied as they are."""

    reply: ProviderReply
    model: str
    created_at: str

    def row(self, key: str) -> tuple[Any, ...]:
        """The values of the responses table's columns, in order."""
        reply = self.reply
        return (
            key,
            self.model,
            reply.text,
            reply.input_tokens,
            reply.output_tokens,
            reply.cached_tokens,
            self.created_at,
        )


@dataclass(frozen=True)
class CacheStats:
    """What one tier holds (cache.py's local file, or this table)."""

    entries: int
    size_bytes: int  # the SQLite file and its log; the table with its index and TOAST
    per_model: dict[str, int]


def describe(conninfo: str) -> str:
    """`host=… port=… dbname=… user=…` of a libpq connection string (keyword or URI form),
    without its password or any other setting."""
    from psycopg2 import ProgrammingError
    from psycopg2.extensions import parse_dsn

    try:
        parsed = parse_dsn(conninfo)
    except ProgrammingError:
        return "an unreadable connection string (storage.catalog)"
    return " ".join(f"{k}={parsed[k]}" for k in _SHOWN_KEYWORDS if k in parsed) or "defaults"


class SharedCache:
    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._lock = threading.Lock()
        self._cursor: Cursor | None = None
        self._pid: int | None = None

    # A connection belongs to one process; a pickled copy (a worker) opens its own.
    def __getstate__(self) -> dict[str, Any]:
        return {"conninfo": self.conninfo}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.conninfo = state["conninfo"]
        self._lock = threading.Lock()
        self._cursor = None
        self._pid = None

    @property
    def name(self) -> str:
        """Where the table is, for messages: the server and database, never the password."""
        return f"{TABLE} on {describe(self.conninfo)}"

    def get(self, key: str) -> SharedEntry | None:
        row = self._run(lambda cursor: _fetch(cursor, _GET, (key,)))
        return None if row is None else _entry(row)

    def put_new(self, key: str, entry: SharedEntry, claimant: str | None = None) -> SharedEntry:
        """Store a freshly paid answer unless the key already has one; returns the entry
        stored under the key (the canonical one, which every machine uses). `claimant`'s
        claim on the key, if given, is released in the same statement."""
        statement, params = _PUT_NEW, entry.row(key)
        if claimant is not None:
            statement, params = _RELEASED_BY_PUT + statement, (key, claimant, *params)
        return _entry(self._run(lambda cursor: _fetch(cursor, statement, params)))

    def claim(self, key: str, owner: str, lease_s: float) -> tuple[bool, SharedEntry | None]:
        """Claim `key` for `owner` for `lease_s` seconds, unless another owner holds a live
        claim on it (the owner's own is renewed). Returns whether the claim is `owner`'s,
        and the answer stored under `key`, if one is by now."""
        params = {"key": key, "owner": owner, "lease_s": lease_s}
        entry, owned = _stored(self._run(lambda cursor: _fetch(cursor, _CLAIM, params)))
        return owned, entry

    def release(self, key: str, owner: str) -> None:
        """Drop `owner`'s claim on `key` (another owner's, taken over meanwhile, stays)."""
        params = {"key": key, "owner": owner}
        self._run(lambda cursor: cursor.execute(_RELEASE, params))

    def claim_owners(self, prefix: str) -> list[str]:
        """The distinct owners of live claims whose name starts with `prefix`."""
        return self._run(
            lambda cursor: _owners(
                cursor,
                f"SELECT DISTINCT owner FROM {CLAIMS} WHERE owner LIKE %s AND expires_at >= now()",
                prefix,
            )
        )

    def release_owners(self, owners: list[str]) -> None:
        """Drop every claim of `owners` (processes known to be gone)."""
        if owners:
            self._run(
                lambda cursor: cursor.execute(
                    f"DELETE FROM {CLAIMS} WHERE owner = ANY(%s)", (owners,)
                )
            )

    def watch(self, key: str) -> tuple[SharedEntry | None, bool]:
        """The entry stored under `key`, if any, and whether a live claim is held on it."""
        return _stored(self._run(lambda cursor: _fetch(cursor, _WATCH, {"key": key})))

    def replace(self, key: str, entry: SharedEntry) -> None:
        """Store an answer in place of the key's (a repair under the first question's key)."""
        self._run(lambda cursor: cursor.execute(_REPLACE, entry.row(key)))

    def discard(self, key: str) -> None:
        self._run(lambda cursor: cursor.execute(f"DELETE FROM {TABLE} WHERE key = %s", (key,)))

    def clear(self, model: str | None = None) -> int:
        """Removes the entries of `model`, or all, for every machine; returns how many."""
        where, params = ("", ()) if model is None else (" WHERE model = %s", (model,))
        statement = f"SET LOCAL statement_timeout = '{MAINTENANCE_TIMEOUT}'; DELETE FROM {TABLE}"

        def delete(cursor: Cursor) -> int:
            cursor.execute(statement + where, params)
            return int(cursor.rowcount)

        return self._run(delete)

    def stats(self) -> CacheStats:
        size, per_model = self._run(lambda cursor: _fetch(cursor, _STATS, ()))
        counts = {str(k): int(v) for k, v in sorted((per_model or {}).items())}
        return CacheStats(sum(counts.values()), int(size), counts)

    def _run(self, work: Callable[[Cursor], T]) -> T:
        """`work` on this process's connection; once more on a fresh connection when the
        old one turns out broken (a restarted server, a dropped idle link). Every statement
        here is safe to repeat: a put that did commit conflicts with itself on the retry, a
        claim that did renews itself."""
        import psycopg2

        with self._lock:
            try:
                fresh = self._cursor is None or self._pid != os.getpid()
                cursor = self._open() if fresh else self._cursor
                try:
                    return work(cursor)
                except (psycopg2.OperationalError, psycopg2.InterfaceError):
                    if fresh or not cursor.connection.closed:
                        raise  # a timeout or a refusal: the server answered, retrying won't help
                return work(self._open())
            except psycopg2.Error as error:
                raise SharedCacheError(self._explain(error)) from None

    def _open(self) -> Cursor:
        """A new connection's cursor, kept for every later statement (the lock serializes
        them): a cursor per statement would cost more CPU than the statement's own work."""
        import psycopg2
        from psycopg2.extensions import parse_dsn

        if self._cursor is not None:
            if self._pid == os.getpid():
                self._cursor.connection.close()
            else:
                _INHERITED.append(self._cursor.connection)
        self._cursor = None
        settings = parse_dsn(self.conninfo)
        options = f"{settings.get('options', '')} -c statement_timeout={STATEMENT_TIMEOUT_S}s"
        settings["options"] = options.strip()
        settings.setdefault("connect_timeout", str(CONNECT_TIMEOUT_S))
        settings.setdefault("application_name", "ticket_assets llm cache")
        connection = psycopg2.connect(**settings)
        try:
            connection.autocommit = True
            cursor = connection.cursor()
            _create_table(cursor)
        except BaseException:
            connection.close()
            raise
        self._cursor, self._pid = cursor, os.getpid()
        return cursor

    def _explain(self, error: Exception) -> str:
        """One line: what failed, where, and what to do; the driver's text is cut to its
        first line and rid of secrets (it may quote the connection string)."""
        from psycopg2 import OperationalError, ProgrammingError
        from psycopg2.extensions import parse_dsn

        first = next(iter(str(error).strip().splitlines()), type(error).__name__)
        try:
            password = parse_dsn(self.conninfo).get("password")
        except ProgrammingError:
            password, first = None, "invalid connection string"
        if password:
            first = first.replace(password, "***")
        where = f"the shared LLM cache ({self.name})"
        if isinstance(error, OperationalError):
            advice = (
                "check that PostgreSQL runs and is reachable, storage.catalog, and the password "
                "in PGPASSWORD or ~/.pgpass"
            )
            return redact(f"{where} did not answer: {first}; {advice}")
        return redact(f"{where} failed: {first}")


def _fetch(cursor: Cursor, statement: str, params: tuple[Any, ...]) -> Any:
    cursor.execute(statement, params)
    return cursor.fetchone()


def _entry(row: tuple[Any, ...]) -> SharedEntry:
    text, input_tokens, output_tokens, cached_tokens, model, created_at = row
    return SharedEntry(
        ProviderReply(text, input_tokens, output_tokens, cached_tokens), model, created_at
    )


def _owners(cursor: Cursor, query: str, prefix: str) -> list[str]:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    cursor.execute(query, (escaped + "%",))
    return [str(row[0]) for row in cursor.fetchall()]


def _stored(row: tuple[Any, ...]) -> tuple[SharedEntry | None, bool]:
    """A row of `_stored_and_claim`: the entry (None where no answer is stored) and the flag."""
    return (None if row[0] is None else _entry(row[:6])), bool(row[6])


def _create_table(cursor: Cursor) -> None:
    """Creates the tables unless they exist, looking first: a user who may not create tables
    (PostgreSQL 15's default for `public`) still uses tables an administrator made."""
    from psycopg2 import errors

    cursor.execute(
        "SELECT to_regclass(%s) IS NOT NULL, to_regclass(%s) IS NOT NULL", (TABLE, CLAIMS)
    )
    for exists, schema in zip(cursor.fetchone(), (_SCHEMA, _CLAIMS_SCHEMA), strict=True):
        if exists:
            continue
        # Another process may create it at the same moment: IF NOT EXISTS is not atomic, and
        # the loser's error is any of these (its row type's name is taken: DuplicateObject).
        with suppress(errors.UniqueViolation, errors.DuplicateTable, errors.DuplicateObject):
            cursor.execute(schema)
