"""What the machine says now: API keys, endpoints that answer, the DuckDB file and the LLM
cache. Nothing here writes: a failing check leaves the data directory as it was."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import httpx

from ticket_assets.config import RunConfig
from ticket_assets.nodes import build_pipeline
from ticket_assets.preflight.configuration import is_http_url, remote_settings
from ticket_assets.storage import Lake, StoreError, StoreLockedError, TicketStore, backend_for

PROBE_TIMEOUT_S = 2.0
# A writer's transaction holds the DuckDB lock briefly; a lock held longer is another process's.
LOCK_WAIT_S = 5.0


def credential_problems(config: RunConfig) -> list[str]:
    """API keys the remote models' providers need, from the environment (names, not values)."""
    remote = build_pipeline(config).remote_nodes
    if not remote:
        return []
    from ticket_assets.llm.providers.litellm_adapter import missing_credentials

    return missing_credentials(config, remote)


def endpoint_problems(config: RunConfig) -> list[str]:
    """Something answers at each api_base. Any HTTP answer will do (many servers lack
    /models, or want a key for it, which is never sent here); refused, unresolved or silent
    connections stop the run here rather than after its first calls."""
    problems = []
    for url, key in remote_settings(config, "api_base").items():
        if not is_http_url(url):
            continue  # url_problems says so
        failure = _unreachable(url)
        if failure:
            problems.append(
                config.problem(
                    key,
                    f"nothing answers at {_shown_url(url)} ({failure}); start the server, or "
                    "fix the URL",
                )
            )
    return problems


def _unreachable(url: str) -> str | None:
    """Why no HTTP answer came from `url`/models, or None when one did."""
    try:
        httpx.get(f"{url.rstrip('/')}/models", timeout=PROBE_TIMEOUT_S)
    except httpx.ConnectTimeout:
        return f"no connection within {PROBE_TIMEOUT_S:g} s"
    except httpx.ConnectError as error:
        from ticket_assets.llm.providers.litellm_adapter import connection_failure

        return connection_failure(error) or str(error)
    except httpx.HTTPError:
        return None  # connected: what the calls get is theirs to say
    return None


def _shown_url(url: str) -> str:
    """The URL without user, password or query, which may hold secrets."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


def data_dir_problems(config: RunConfig) -> list[str]:
    """The data directory is one, or can be made, and can be written."""
    path = config.data_path
    existing = next(parent for parent in (path, *path.parents) if parent.exists())
    if not existing.is_dir():
        return [
            f"{existing}: not a directory, so the data directory {path} cannot be made; "
            "choose another (--data-dir or data_dir)"
        ]
    if not os.access(existing, os.W_OK | os.X_OK):
        return [
            f"{existing}: not writable, so nothing can be stored in {path}; "
            "choose another data directory (--data-dir or data_dir)"
        ]
    return []


def database_problems(config: RunConfig) -> list[str]:
    """The DuckDB file, where it exists, is a database this process can open now; a DuckLake
    opens, and its data path can be listed (credentials, endpoint and bucket are right)."""
    if config.storage.is_lake:
        return lake_problems(config)
    path = config.database_path
    if not path.exists():
        return []
    if not path.is_file():
        return [_not_a_file(path, "DuckDB database")]
    try:
        TicketStore(path, config.dataset, lock_timeout=LOCK_WAIT_S).table_exists("llm_calls")
    except StoreLockedError as error:
        return [f"{path}: {error}"]
    except duckdb.Error as error:
        return [
            f"{path}: not a readable DuckDB database ({_first_line(error)}); move it away, "
            "or choose another data directory (--data-dir or data_dir)"
        ]
    return _writable_file(path)


def lake_problems(config: RunConfig) -> list[str]:
    backend = backend_for(config)
    try:
        TicketStore(backend, config.dataset, lock_timeout=LOCK_WAIT_S).table_exists("llm_calls")
        if isinstance(backend, Lake):
            backend.probe_data_path()
    except StoreError as error:
        return [config.problem(("storage",), str(error))]
    return []


def cache_problems(config: RunConfig) -> list[str]:
    """The LLM cache (and journal of paid calls), where it exists, is a readable SQLite file;
    every step reads its journal."""
    path = config.cache_path
    if not path.exists():
        return []
    if not path.is_file():
        return [_not_a_file(path, "SQLite file")]
    try:
        _read_sqlite(path)
    except sqlite3.OperationalError as error:
        return [f"{path}: cannot read the LLM cache ({error}); is another program using it?"]
    except sqlite3.DatabaseError as error:
        return [
            f"{path}: the LLM cache is corrupt ({error}); delete it or run "
            "`python -m ticket_assets cache clear`"
        ]
    return _writable_file(path)


def _read_sqlite(path: Path) -> None:
    """Read every table of the file, read-only, so a damaged page shows now. Without a
    write-ahead log beside it the file is all there is: read as immutable, so that SQLite
    creates no -wal and -shm files next to it."""
    immutable = int(not Path(f"{path}-wal").exists())
    uri = f"{path.resolve().as_uri()}?mode=ro&immutable={immutable}"
    connection = sqlite3.connect(uri, uri=True, timeout=LOCK_WAIT_S)
    try:
        tables = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        for (table,) in tables.fetchall():
            connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    finally:
        connection.close()


def _not_a_file(path: Path, kind: str) -> str:
    return (
        f"{path}: is a directory or special file, not a {kind}; move it away, or choose "
        "another data directory (--data-dir or data_dir)"
    )


def _writable_file(path: Path) -> list[str]:
    if os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK):
        return []
    return [f"{path}: not writable; fix its permissions or choose another data directory"]


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def environment_problems(config: RunConfig, *, nodes: bool = True) -> list[str]:
    """What the machine must offer now; `nodes`: the run generates (keys and endpoints)."""
    problems = credential_problems(config) + endpoint_problems(config) if nodes else []
    problems += data_dir_problems(config)
    return problems + database_problems(config) + cache_problems(config)
