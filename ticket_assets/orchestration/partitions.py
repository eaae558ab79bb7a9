"""Partitions: language (static, from config) x batch (dynamic, so refreshes can add batches)."""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from ticket_assets.config import RunConfig
from ticket_assets.plan import batch_keys
from ticket_assets.storage import Partition


def batch_partitions_name(config: RunConfig) -> str:
    # Per dataset, so two datasets in one Dagster instance keep their own batches.
    return f"{config.dataset}_batch"


def ticket_partitions(config: RunConfig) -> dg.MultiPartitionsDefinition:
    return dg.MultiPartitionsDefinition(
        {
            "batch": dg.DynamicPartitionsDefinition(name=batch_partitions_name(config)),
            "language": dg.StaticPartitionsDefinition(list(config.languages)),
        }
    )


def partition_key(language: str, batch: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"batch": batch, "language": language})


def split_keys(keys: Iterable[str]) -> list[Partition]:
    """(language, batch) pairs of multi-partition keys such as "b0000|DE" (dimensions are
    ordered by name in key strings, so batch comes first)."""
    pairs = []
    for key in keys:
        if isinstance(key, dg.MultiPartitionKey):
            dims = key.keys_by_dimension
            pairs.append((dims["language"], dims["batch"]))
        else:
            batch, language = str(key).split("|")
            pairs.append((language, batch))
    return sorted(pairs)


def register_batches(instance: dg.DagsterInstance, config: RunConfig) -> list[str]:
    """Add the configured batches missing from the instance; returns the ones added."""
    name = batch_partitions_name(config)
    known = set(instance.get_dynamic_partitions(name))
    missing = [key for key in batch_keys(config) if key not in known]
    if missing:
        instance.add_dynamic_partitions(name, missing)
    return missing


def full_range_tags(config: RunConfig) -> dict[str, str]:
    """Run tags selecting every configured (language, batch): Dagster takes the rectangle."""
    batches = batch_keys(config)
    languages = list(config.languages)
    return {
        "dagster/asset_partition_range_start": str(partition_key(languages[0], batches[0])),
        "dagster/asset_partition_range_end": str(partition_key(languages[-1], batches[-1])),
    }
