"""Whether a process of this machine is still running (for work a dead process left behind)."""

from __future__ import annotations

import os


def is_alive(pid: int) -> bool:
    """True while process `pid` runs (under this user or another); False for pid 0 or less."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, under another user
    return True
