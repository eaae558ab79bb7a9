"""Randomness that depends only on its inputs: same seed and ticket, same text, in any process."""

from __future__ import annotations

import hashlib
import random

# Joins the parts so that ("a|b", "c") and ("a", "b|c") cannot collide.
_SEPARATOR = "\x1f"


def stable_rng(*parts: object) -> random.Random:
    """A generator seeded from a blake2b digest of `parts` (never `hash()`, which is salted)."""
    digest = hashlib.blake2b(_SEPARATOR.join(map(str, parts)).encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))
