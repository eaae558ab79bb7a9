"""The local backend: the dataset's tables in one DuckDB file on this machine's disk.

DuckDB lets one process write a file at a time, and a read-only connection still conflicts
with a writer in another process. Every operation opens its own connection, closes it when
done (also on errors), and retries a lock conflict with jittered exponential backoff for up to
`lock_timeout` seconds. The file is created atomically (an empty database linked into place),
so two processes creating it at once never see a half-written header.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from ticket_assets.storage.errors import StoreLockedError


class LocalFile:
    """Tables in the DuckDB file `path`; schemas live in its default catalog."""

    catalog: str | None = None
    shared = False

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def __str__(self) -> str:
        return str(self.path)

    def exists(self) -> bool:
        return self.path.exists()

    @contextmanager
    def connect(
        self, *, read_only: bool, lock_timeout: float
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        con = self._open(read_only=read_only, lock_timeout=lock_timeout)
        try:
            yield con
        finally:
            con.close()

    def _create_file_once(self) -> None:
        """Create the database file atomically. Two processes creating it with
        `duckdb.connect` at the same moment fail: one reads the other's half-written header
        ("not a valid DuckDB database file"). A complete empty database is linked into place
        instead, which fails harmlessly if another process got there first."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.new")
        try:
            duckdb.connect(str(temp)).close()
            os.link(temp, self.path)
        except FileExistsError:
            pass
        finally:
            temp.unlink(missing_ok=True)

    def _open(self, *, read_only: bool, lock_timeout: float) -> duckdb.DuckDBPyConnection:
        path = str(self.path)
        if not read_only and not self.path.exists():
            self._create_file_once()
        deadline = time.monotonic() + lock_timeout
        delay = 0.02
        while True:
            try:
                return duckdb.connect(path, read_only=read_only)
            except duckdb.ConnectionException as exc:
                # This process already has the file open read-write (DuckDB shares one instance
                # per file and process and refuses a second configuration): share that one.
                if read_only and "different configuration" in str(exc):
                    return duckdb.connect(path)
                raise
            except duckdb.IOException as exc:
                if "Could not set lock" not in str(exc):
                    raise
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StoreLockedError(_lock_message(path, lock_timeout, exc)) from exc
                # Jitter so that processes waiting on the same lock do not retry in lockstep.
                time.sleep(min(remaining, delay * random.uniform(0.5, 1.0)))
                delay = min(delay * 2, 2.0)


def _lock_message(path: str, timeout: float, exc: duckdb.IOException) -> str:
    holder = re.search(r"held in (.*?\(PID \d+\))", str(exc))
    by = f" by {holder.group(1)}" if holder else ""
    return (
        f"DuckDB file {path} stayed locked{by} for {timeout:.0f} s. DuckDB allows one writing"
        " process per file: wait for that process, limit concurrent writer runs, or raise the"
        " lock timeout."
    )
