"""`lake maintain`: reclaim the space a DuckLake's rewrites leave behind (storage/lake.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ticket_assets.cli.errors import BAD_INPUT, RUN_FAILED, fail
from ticket_assets.config import RunConfig
from ticket_assets.storage import Lake, StoreError, backend_for


def handle(args: argparse.Namespace, config: RunConfig, log_path: Path) -> int:
    backend = backend_for(config)
    if not isinstance(backend, Lake):
        return fail(
            "lake: the tables are in a local DuckDB file (storage.backend: duckdb); "
            "`lake maintain` is for storage.backend: ducklake",
            BAD_INPUT,
        )
    try:
        done = backend.maintain(args.keep_days)
    except StoreError as error:
        return fail(str(error), RUN_FAILED)
    print(f"{backend}: " + ", ".join(f"{count} {label}" for label, count in done.items()))
    return 0
