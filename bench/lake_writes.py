"""Write throughput of the store: a local DuckDB file against a DuckLake (catalog in a private
PostgreSQL, Parquet data on a private S3 server, both started here on 127.0.0.1).

Writes the six node tables of a dataset partition by partition, each partition one
transaction (as the node steps do), with 1 writer process and with 4 at once (as 4 concurrent
runs, or 4 pods, would), at 1,000 and 10,000 tickets; rows of the size of real tickets. The
two backends are measured alternately, round after round, so that the machine's noise hits
both alike. Prints rows/s and partition writes/s (one partition of one node table, one
transaction) per setup and round; the rows are built in the writer, so both include that.

Usage: python bench/lake_writes.py [--rounds 2] [--tickets 1000 10000] [--batch-size 250]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ticket_assets.storage import Lake, LocalFile, TicketStore  # noqa: E402
from ticket_assets_tests.services import running_postgres, running_s3  # noqa: E402

NODES = ["topic", "email_draft", "tagging", "paraphrase", "translate", "first_response"]
LANGUAGES = ["DE", "EN", "ES", "FR", "PT"]
WORDS = [
    "printer",
    "outage",
    "invoice",
    "login",
    "password",
    "network",
    "server",
    "update",
    "refund",
    "ticket",
]


def text(rng: random.Random, chars: int) -> str:
    words: list[str] = []
    while sum(map(len, words)) + len(words) < chars:
        words.append(rng.choice(WORDS))
    return " ".join(words)


def partition_rows(language: str, batch: int, rows: int) -> pd.DataFrame:
    rng = random.Random(f"{language}{batch}")
    return pd.DataFrame(
        {
            "ticket_id": [f"1{batch:04d}{ord(language[0])}{i:05d}" for i in range(rows)],
            "language": language,
            "batch": f"b{batch:04d}",
            "subject": [text(rng, 60) for _ in range(rows)],
            "body": [text(rng, 600) for _ in range(rows)],
            "first_response": [text(rng, 400) for _ in range(rows)],
            "type": [rng.choice(["Incident", "Request", "Problem", "Change"]) for _ in range(rows)],
            "queue": [rng.choice(["IT Support", "Billing"]) for _ in range(rows)],
            "priority": [rng.choice(["Low", "Medium", "High"]) for _ in range(rows)],
            "tags": [rng.sample(WORDS, 5) for _ in range(rows)],
            "input_tokens": [rng.randint(100, 900) for _ in range(rows)],
        }
    )


def plan(tickets: int, batch_size: int) -> list[tuple[str, int, int]]:
    """(language, batch, rows) of every partition: tickets split evenly over languages."""
    partitions = []
    for language in LANGUAGES:
        left = tickets // len(LANGUAGES)
        batch = 0
        while left > 0:
            partitions.append((language, batch, min(batch_size, left)))
            left -= batch_size
            batch += 1
    return partitions


def write_share(backend: LocalFile | Lake, share: list[tuple[str, int, int]]) -> int:
    store = TicketStore(backend, "bench", lock_timeout=600)
    written = 0
    for language, batch, rows in share:
        frame = partition_rows(language, batch, rows)
        for node in NODES:
            store.write_partitions(node, frame, [(language, f"b{batch:04d}")])
            written += rows
    return written


def timed(
    backend: LocalFile | Lake, partitions: list[tuple[str, int, int]], writers: int
) -> tuple[float, int]:
    shares = [partitions[i::writers] for i in range(writers)]
    context = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=writers, mp_context=context) as pool:
        list(pool.map(abs, range(writers)))  # workers up before the clock starts
        started = time.perf_counter()
        rows = sum(pool.map(write_share, [backend] * writers, shares))
        return time.perf_counter() - started, rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tickets", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--batch-size", type=int, default=250)
    args = parser.parse_args()
    print(
        f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory(prefix="lake_bench_") as scratch:
        root = Path(scratch)
        with running_postgres(root / "pg") as postgres, running_s3(root / "s3") as s3:
            os.environ.update(s3.environment())
            results: dict[str, list[str]] = {}
            for round_ in range(1, args.rounds + 1):
                for tickets in args.tickets:
                    partitions = plan(tickets, args.batch_size)
                    for writers in (1, 4):
                        name = f"lake_{uuid.uuid4().hex[:8]}"
                        s3.create_bucket(name.replace("_", "-"))
                        catalog = f"postgres:{postgres.create_database(name)}"
                        lake = Lake(catalog, f"s3://{name.replace('_', '-')}/data/")
                        local = LocalFile(root / f"{name}.duckdb")
                        for label, backend in (("duckdb", local), ("ducklake", lake)):
                            seconds, rows = timed(backend, partitions, writers)
                            key = f"{tickets} tickets, {writers} writer(s), {label}"
                            line = (
                                f"{rows / seconds:8.0f} rows/s "
                                f"{len(partitions) * len(NODES) / seconds:6.1f} partition writes/s "
                                f"({seconds:.1f} s)"
                            )
                            results.setdefault(key, []).append(f"{rows / seconds:.0f}")
                            print(f"[{round_}] {key}: {line}", flush=True)
            print("\nmedian rows/s per setup:")
            for key, values in results.items():
                print(f"  {key}: {statistics.median(map(float, values)):.0f}")


if __name__ == "__main__":
    main()
