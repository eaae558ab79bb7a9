"""How many tickets each (language, batch) partition holds.

Rows are split across languages by weight (largest remainder, so they add up to `rows`),
then each language's rows are split evenly over the same number of batches, so every
partition holds at most `batch_size` tickets. Batches past the configured ones (added later
by refreshes) hold the same quota as batch 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from ticket_assets.config import RunConfig
from ticket_assets.core.ids import ticket_id

BATCH_KEY_PREFIX = "b"


def batch_key(index: int) -> str:
    return f"{BATCH_KEY_PREFIX}{index:04d}"


def batch_index(key: str) -> int:
    if not (key.startswith(BATCH_KEY_PREFIX) and key[1:].isdigit()):
        raise ValueError(f"batch partition key {key!r} is not of the form b0000")
    return int(key[1:])


def rows_per_language(config: RunConfig) -> dict[str, int]:
    total_weight = sum(config.languages.values())
    exact = {code: config.rows * w / total_weight for code, w in config.languages.items()}
    counts = {code: math.floor(value) for code, value in exact.items()}
    leftover = config.rows - sum(counts.values())
    by_remainder = sorted(exact, key=lambda code: (counts[code] - exact[code], code))
    for code in by_remainder[:leftover]:
        counts[code] += 1
    return counts


def batch_count(config: RunConfig) -> int:
    return max(1, math.ceil(max(rows_per_language(config).values()) / config.batch_size))


def batch_keys(config: RunConfig) -> list[str]:
    return [batch_key(index) for index in range(batch_count(config))]


def rows_in_partition(config: RunConfig, language: str, batch: int) -> int:
    batches = batch_count(config)
    language_rows = rows_per_language(config)[language]
    if batch >= batches:
        batch = 0
    base, extra = divmod(language_rows, batches)
    return base + (1 if batch < extra else 0)


def plan_frame(
    config: RunConfig, partitions: Sequence[tuple[str, str]], dataset_code: int
) -> pd.DataFrame:
    """The id, language and batch of every ticket the given (language, batch) partitions hold."""
    rows = [
        (ticket_id(dataset_code, language, batch_index(batch), row), language, batch)
        for language, batch in partitions
        for row in range(rows_in_partition(config, language, batch_index(batch)))
    ]
    return pd.DataFrame(rows, columns=["ticket_id", "language", "batch"])
