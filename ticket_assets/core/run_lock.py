"""One CLI run per data directory at a time.

An OS lock (`flock`) on `<data_dir>/run.lock`, held from before the first write until the
process ends. The kernel releases it when the process dies, however it dies, so a killed run
never leaves a stale lock. The file holds the holder's pid, command and start time, so a
second run can say who is using the directory.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = "run.lock"
# The holder writes its details right after taking the lock: wait this long to read them.
HOLDER_WRITE_WAIT_S = 1.0


class DataDirBusyError(RuntimeError):
    """Another process runs on the same data directory."""


@contextmanager
def hold_data_dir(data_path: Path, command: str) -> Iterator[None]:
    """Hold the data directory's run lock, or raise DataDirBusyError at once."""
    data_path.mkdir(parents=True, exist_ok=True)
    lock_path = data_path / LOCK_FILE
    # Not truncated on open: the file may belong to the holder, whose details we report.
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataDirBusyError(
                f"{data_path} is in use by another run ({_holder(lock_path)}); wait for it to "
                "finish, or use another --data-dir"
            ) from None
        os.ftruncate(descriptor, 0)
        os.write(descriptor, _holder_text(command).encode())
        try:
            yield
        finally:
            os.ftruncate(descriptor, 0)  # however the run ends: nobody holds it now
    finally:
        os.close(descriptor)  # releases the lock


def _holder_text(command: str) -> str:
    started = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    return f"pid {os.getpid()}, `{command}`, started {started}\n"


def _holder(lock_path: Path) -> str:
    deadline = time.monotonic() + HOLDER_WRITE_WAIT_S
    while True:
        text = lock_path.read_text(encoding="utf-8", errors="replace").strip()
        if text or time.monotonic() > deadline:
            return text or "a process that has not said who it is yet"
        time.sleep(0.05)
