"""Keeping API keys out of every text the project writes (messages, logs, trace files)."""

from __future__ import annotations

import os
import re

SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD)", re.IGNORECASE)
_KEY_SHAPE = re.compile(r"\b(sk|rk|pk|key|tok)[-_][A-Za-z0-9_\-]{8,}")


def redact(text: str) -> str:
    """Remove every secret-looking environment value and key-shaped token from `text`."""
    for name, value in os.environ.items():
        if value and len(value) >= 8 and SECRET_NAME.search(name):
            text = text.replace(value, "***")
    return _KEY_SHAPE.sub("***", text)
